"""ptflops on demand, beside the engine's count, with the difference explained item by item.

ptflops patches torch globally, so it runs in the latency worker (one job at a time), never
in the web server where two sessions could interleave.
"""
from __future__ import annotations

import streamlit as st

from core.measurement.job_settings import job_network
from core.measurement.jobs import QueueFull, StoreUnavailable
from core.network.counting import Profile
from ui.engine import latency_queue
from ui.latency_panel import session_id, unavailable
from ui.safe_text import quoted


def _settings(cost: Profile) -> dict:
    """The job: the network as the latency queue names it (a custom one carries its spec, per stage its lists)."""
    return dict(task="ptflops", **job_network(cost), width=cost.width, depth=cost.depth,
                resolution=cost.resolution)


def ptflops_panel(cost: Profile) -> None:
    """A button that queues ptflops for this variant, then its figure and the itemised difference."""
    try:
        _ptflops_panel(cost)
    except StoreUnavailable as error:
        st.warning(unavailable(error, "ptflops results"), icon=":material/database:")


def _ptflops_panel(cost: Profile) -> None:
    queue = latency_queue()
    settings = _settings(cost)
    if st.button("Run ptflops on this variant", key="ptflops_run", icon=":material/calculate:"):
        try:
            queue.submit(settings, session_id())
        except QueueFull as error:
            st.warning(f"Not queued: {error}.")
        queue.ensure_worker()
    state = queue.find(settings)
    st.fragment(run_every=1.0 if state is not None and state.active else None)(_ptflops_result)(settings)


def _ptflops_result(settings: dict) -> None:
    """The fragment that polls the job; a store fault while it polls is one line."""
    try:
        _ptflops_result_now(settings)
    except StoreUnavailable as error:
        st.warning(unavailable(error, "ptflops results"), icon=":material/database:")


def _ptflops_result_now(settings: dict) -> None:
    import pandas as pd
    state = latency_queue().find(settings)
    if state is None:
        st.caption("ptflops (0.7.5, pytorch backend) counts more than conv + linear MACs. Run it to see by how "
                   "much, and why, for this exact network.")
    elif state.active:
        latency_queue().ensure_worker()
        st.progress(0.0, text=f"ptflops: {state.status}, {state.position} job(s) ahead, {state.elapsed_s:.0f} s")
    elif state.error:
        st.error(f"ptflops did not run: {quoted(state.error, 300)}")
    else:
        result = state.result
        parts = pd.DataFrame({"part": list(result["breakdown"]), "operations": list(result["breakdown"].values())})
        parts["% of engine MACs"] = (parts.operations / result["engine_macs"] * 100).round(2)
        st.dataframe(parts, hide_index=True, column_config={
            "operations": st.column_config.NumberColumn(format="localized")})
        verdict = ("equals" if result["explained"] else "does not equal")
        st.caption(f"ptflops reported {result['ptflops_ops']:,} operations and {result['ptflops_params']:,} "
                   f"parameters (engine: {result['engine_params']:,}); the itemised prediction {verdict} its "
                   "figure. The engine counts conv + linear multiply-accumulates only, as the papers do.")
