"""The Explorer's per-stage editor: one row per stage, its own width x and depth x on top of the global ones.

The stage table (block, stride, channels, repeats) is read-only; the two multipliers are clamped to
``STAGE_RANGE``, and all ones is the uniform network itself (no per-stage name, published figures
apply). The table is built and sent only while its popover is open: a slider move pays nothing.
"""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from core.network.families import resolve
from core.network.scaling import STAGE_RANGE, uniform
from ui.sidebar import STAGE_EDITOR, explorer_state, set_network
from ui.state import ExplorerState

BOX = "explorer_stage_box"
COLUMNS = {"width x": "sw", "depth x": "sd"}
BLOCKS = {"inverted_residual": "inv. residual"}  # the table fits half the page: seven columns


def _clamp(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 1.0
    if value != value:  # NaN: an emptied cell
        return 1.0
    low, high = STAGE_RANGE
    return min(max(value, low), high)


def _stored(values: list[float]) -> tuple[float, ...]:
    """A list as the state keeps it: () when every stage is at 1."""
    values = tuple(round(_clamp(value), 4) for value in values)
    return () if uniform(values) else values


def _lists(state: ExplorerState, count: int) -> dict[str, list[float]]:
    return {field: list(getattr(state, field) or (1.0,) * count) for field in COLUMNS.values()}


def _on_edit(count: int) -> None:
    """The table's edits (absolute values per changed cell) onto the state's lists."""
    state = explorer_state()
    lists = _lists(state, count)
    for row, changes in st.session_state[STAGE_EDITOR].get("edited_rows", {}).items():
        for column, value in changes.items():
            if column in COLUMNS and 0 <= int(row) < count:
                lists[COLUMNS[column]][int(row)] = _clamp(value)
    _store(state, lists, keep_edits=True)


def _store(state: ExplorerState, lists: dict[str, list[float]], keep_edits: bool) -> None:
    """The lists into the session (the editor is shown for classifiers only: no task changes with them);
    ``keep_edits`` False also forgets the table's edits (a reset)."""
    moved = replace(state, sw=_stored(lists["sw"]), sd=_stored(lists["sd"]))
    if keep_edits:
        st.session_state.update(explorer_sw=moved.sw, explorer_sd=moved.sd)
    else:
        set_network(moved)


def _on_reset(count: int) -> None:
    state = explorer_state()
    _store(state, {"sw": [1.0] * count, "sd": [1.0] * count}, keep_edits=False)


def stage_editor(container, state: ExplorerState) -> None:
    """The popover with the stage table, in ``container``; edits change the network (and the link: sw, sd).

    A popover floats over the page: opening it moves nothing on a projector's first screen."""
    box = container.popover("Per stage", key=BOX, on_change="rerun", icon=":material/view_column:", width="stretch",
                            help="Each stage's own width x and depth x, on top of the global multipliers")
    if not box.open:
        return
    import pandas as pd

    stages = resolve(state.network)[0].stages
    count = len(stages)
    lists = _lists(state, count)
    table = pd.DataFrame({"stage": range(1, count + 1), "block": [BLOCKS.get(stage.block, stage.block)
                                                                  for stage in stages],
                          "stride": [stage.stride for stage in stages],
                          "channels": [stage.out_channels for stage in stages],
                          "repeats": [stage.repeats for stage in stages],
                          "width x": lists["sw"], "depth x": lists["sd"]})
    low, high = STAGE_RANGE
    multiplier = dict(min_value=low, max_value=high, step=0.05, format="%.2f", required=True)
    with box:
        edited = st.data_editor(
            table, key=STAGE_EDITOR, on_change=_on_edit, args=(count,), hide_index=True, num_rows="fixed",
            disabled=["stage", "block", "stride", "channels", "repeats"], width="stretch",
            column_config={
                "stage": st.column_config.NumberColumn("#", width=30),
                "block": st.column_config.TextColumn("block", width=92),
                "stride": st.column_config.NumberColumn("stride", width=46),
                "channels": st.column_config.NumberColumn("ch", width=44, help="the stage table's output channels, "
                                                          "before any multiplier"),
                "repeats": st.column_config.NumberColumn("reps", width=42, help="blocks in the stage, before any "
                                                         "multiplier"),
                "width x": st.column_config.NumberColumn("width x", width=72, help="this stage's channels x this, "
                                                         f"on top of the global width ({low:g} to {high:g})",
                                                         **multiplier),
                "depth x": st.column_config.NumberColumn("depth x", width=72, help="this stage's repeats x this, "
                                                         f"on top of the global depth ({low:g} to {high:g})",
                                                         **multiplier)})
        shown = {"sw": _stored(edited["width x"].tolist()), "sd": _stored(edited["depth x"].tolist())}
        if (shown["sw"], shown["sd"]) != (state.sw, state.sd):  # edits the callback did not see (a restored table)
            _store(state, {key: list(values or (1.0,) * count) for key, values in shown.items()}, keep_edits=True)
            st.rerun()
        st.caption("Each stage's channels round to multiples of 8 and its repeats up to whole blocks after both "
                   "multipliers. All ones is the uniform network; anything else has no published accuracy, and "
                   "dense tasks are built on uniform networks only. The link carries the lists (sw, sd).")
        st.button("All stages to 1", key="explorer_stage_reset", on_click=_on_reset, args=(count,),
                  disabled=not state.per_stage, icon=":material/restart_alt:")
