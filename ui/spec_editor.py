"""The Custom backbone's editor (a popover): paste a spec, upload one, or start from a built-in's exported spec.

A spec is data only: JSON parsed by ``json`` and checked by the engine (``core.load_spec``: schema,
bounds, cost), never executed, and read from an upload into memory only (at most ``MAX_SPEC_BYTES``).
A refused spec is one line, quoted as inert text, and the last valid network stays on screen. Parsing
is cached by content (``ui.spec_link``), so nothing here costs a slider move anything: the editor's
body runs only while its popover is open.
"""
from __future__ import annotations

import json
from dataclasses import replace

import streamlit as st

from core.network.families import BACKBONE_NAMES, resolve
from core.network.spec import MAX_SPEC_BYTES, MAX_STAGES
from ui.labels import backbone_label
from ui.safe_text import quoted
from ui.sidebar import CUSTOM_EDITOR, explorer_state, set_network
from ui.spec_link import CUSTOM, MAX_SPEC_TEXT_CHARS, canonical, network_of, parse_spec_text, spec_arch
from ui.state import ExplorerState, preset_state

TEXT = "custom_spec_text"  # the text area (what the editor shows; the network is the state's spec)
SHOWN = "custom_spec_shown"  # the spec the text area was last filled from
ERROR = "custom_spec_error"
UPLOAD = "custom_spec_upload"
START = "custom_start_from"


def pretty(spec: str) -> str:
    """A canonical spec as the editor shows it: one field per line."""
    return json.dumps(json.loads(spec), indent=1)


def apply_spec(text: str) -> bool:
    """Make ``text`` the Explorer's network if the engine accepts it (a callback); else keep the last valid one
    and leave the refusal for the editor to show. True when it was used."""
    spec, error = parse_spec_text(text)
    if spec is None:
        st.session_state[ERROR] = error
        return False
    st.session_state[ERROR] = ""
    state = explorer_state()
    if state.backbone == CUSTOM and state.spec == spec:
        return True
    before = resolve(state.network)
    after = resolve(network_of(spec))
    moved = replace(state, backbone=CUSTOM, spec=spec)
    if (before[1].width, before[1].depth, before[1].resolution) != (after[1].width, after[1].depth,
                                                                    after[1].resolution):
        moved = preset_state(CUSTOM, moved, spec)  # its own defaults: a new network starts where it says
    elif len(before[0].stages) != len(after[0].stages):
        moved = replace(moved, sw=(), sd=())
    set_network(moved)
    st.session_state[TEXT] = pretty(spec)
    st.session_state[SHOWN] = spec
    return True


def _on_submit() -> None:
    apply_spec(st.session_state.get(TEXT) or "")


def _on_start_from() -> None:
    apply_spec(canonical(st.session_state[START]))


def _on_upload() -> None:
    """An uploaded file, read into memory only when small enough, then parsed as any pasted spec."""
    uploaded = st.session_state.get(UPLOAD)
    if uploaded is None:
        return
    if uploaded.size > MAX_SPEC_BYTES:
        st.session_state[ERROR] = f"spec: the file is {uploaded.size:,} bytes; a spec may be at most {MAX_SPEC_BYTES:,}"
        return
    try:
        text = uploaded.getvalue().decode("utf-8")
    except UnicodeDecodeError:
        st.session_state[ERROR] = "spec: the file is not UTF-8 text (a spec is a JSON file)"
        return
    if not apply_spec(text):
        st.session_state[TEXT] = text  # in the editor, to fix


def spec_error() -> None:
    """The last refusal, one line, outside the editor: seen when it is closed too."""
    error = st.session_state.get(ERROR)
    if error:
        st.error(f"This spec was not used, the network shown is the last valid one: {quoted(error, 240)}",
                 icon=":material/error:")


def spec_editor(container, state: ExplorerState) -> None:
    """The Custom network's popover, in ``container``: where the spec is pasted, uploaded or copied from a
    built-in. A popover floats over the page, so opening it moves nothing on a projector's first screen."""
    box = container.popover("Custom network", key=CUSTOM_EDITOR, on_change="rerun", icon=":material/edit_note:",
                            width="stretch", help="Paste, upload or start from a built-in's spec")
    if not box.open:
        return
    if st.session_state.get(SHOWN) != state.spec:  # the network changed elsewhere (the sidebar, a link)
        st.session_state[TEXT] = pretty(state.spec)
        st.session_state[SHOWN] = state.spec
    arch = spec_arch(state.spec)
    with box:
        with st.form("custom_spec_form", border=False):
            st.text_area("Spec (JSON)", key=TEXT, height=180, max_chars=MAX_SPEC_TEXT_CHARS,
                         help="The format `core.export_spec(name)` writes: stem, stages, head, classifier, "
                              "rules, norm and defaults")
            st.form_submit_button("Use this spec", icon=":material/check:", on_click=_on_submit, key="custom_use")
        start, upload = st.columns(2)
        start.selectbox("Or start from a built-in", BACKBONE_NAMES, key=START, format_func=backbone_label,
                        index=BACKBONE_NAMES.index(st.session_state.get("explorer_last_builtin", "mobilenet_v2")))
        start.button("Copy its spec here", key="custom_start", on_click=_on_start_from,
                     icon=":material/content_copy:", width="stretch")
        upload.file_uploader(f"Or upload one (.json, {MAX_SPEC_BYTES // 1024} KB at most)", type=["json"],
                             key=UPLOAD, on_change=_on_upload, max_upload_size=1)
        st.download_button("Download this spec", pretty(state.spec).encode(), file_name=f"{arch.name}.json",
                           mime="application/json", key="custom_download", on_click="ignore",
                           icon=":material/download:")
        st.caption(f"Now: {quoted(arch.title, 60)}, {len(arch.stages)} stages, named `{arch.name}` by its content. "
                   f"A spec is data only: checked against the schema and the engine's bounds (at most {MAX_STAGES} "
                   f"stages, {MAX_SPEC_BYTES // 1024} KB), never run.")
