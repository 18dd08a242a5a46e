"""The Explorer's latency view: ask the worker for measurements, show the queue, the results and the chart.

The web process never times anything: it queues settings in the shared store and reads
back position, progress and results. A result measured once for some settings is shown
to everyone who asks for the same settings, also after a restart.
"""
from __future__ import annotations

import uuid

import pandas as pd
import streamlit as st

from core.counting import Profile
from core.jobs import MAX_ACTIVE_PER_SESSION, JobState, QueueFull
from core.units import duration_ms, duration_range_ms
from ui import charts
from ui.downloads import download_csv
from ui.engine import cached_profile, latency_queue
from ui.labels import variant_label
from ui.sidebar import latency_controls
from ui.state import ExplorerState

REFERENCE_PRESETS = ("mobilenet_v3_small", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "resnet18")


FALLBACK_DEVICES = {"cpu": ["float32", "bfloat16"]}
WARMUP, REPEATS, PRESET_REPEATS = 3, 20, 10


def session_id() -> str:
    """An id for this browser session: whose queued runs are whose."""
    return st.session_state.setdefault("session_id", uuid.uuid4().hex)


def _device_settings(state: ExplorerState) -> dict:
    """The measurement settings from the Explorer's state: one dtype and batch for memory and latency."""
    return dict(device=state.device, dtype=state.dtype, batch=state.batch, threads=state.threads,
                channels_last=state.memory_format == "channels_last", warmup=WARMUP)


def _unmeasurable(state: ExplorerState, devices: dict[str, list[str]]) -> str | None:
    """Why these settings cannot be timed here, naming what to pick instead; None if they can."""
    if state.device not in devices:
        return f"{state.device} is not available on this server: pick {', '.join(devices)}."
    if state.dtype not in devices[state.device]:
        return (f"{state.dtype} cannot be timed with torch on {state.device}: pick "
                f"{' or '.join(devices[state.device])} in the sidebar's dtype.")
    return None


def _settings(cost: Profile, device: dict, repeats: int = REPEATS) -> dict:
    return dict(backbone=cost.backbone, width=cost.width, depth=cost.depth, resolution=cost.resolution,
                repeats=repeats, **device)


def latency_for(cost: Profile) -> float | None:
    """The stored median for this configuration at the panel's last settings, if one was measured."""
    device = st.session_state.get("latency_last_settings")
    job = latency_queue().find(_settings(cost, device)) if device else None
    return None if job is None or job.result is None else round(job.result["median_ms"], 3)


def stored_job(cost: Profile, state: ExplorerState) -> JobState | None:
    """This variant's measurement at the Explorer's settings: stored, queued or running (queues nothing)."""
    return latency_queue().find(_settings(cost, _device_settings(state)))


def measure_variant(cost: Profile, state: ExplorerState) -> str | None:
    """Queue this variant at the Explorer's settings; why not, where it cannot be timed here."""
    blocked = _unmeasurable(state, (latency_queue().worker_info() or {}).get("devices", FALLBACK_DEVICES))
    if blocked is None:
        _submit([_settings(cost, _device_settings(state))])
    return blocked


def latency_panel(cost: Profile, state: ExplorerState) -> None:
    """Queue measurements and watch them; the sliders never wait for a forward pass."""
    queue = latency_queue()
    info = queue.worker_info() or {}
    cap = info.get("cap_s", 30)
    st.caption(f"Real forward passes under torch.inference_mode(), in a separate worker process, one run at a "
               f"time for the whole server: {WARMUP} warm-up runs, then up to {REPEATS} timed runs, all within a "
               f"{cap:g} s cap (runs that cannot fit are refused with what to lower). Results are stored per "
               "configuration and settings, and shared with everyone who asks for the same.")
    devices = info.get("devices", FALLBACK_DEVICES)
    latency_controls(list(devices), info.get("cpu_count") or 1)
    device = _device_settings(state)
    st.session_state["latency_last_settings"] = device
    blocked = _unmeasurable(state, devices)
    if blocked:
        st.info(blocked, icon=":material/info:")
    watched = [(variant_label(cost.backbone, cost.width, cost.depth, cost.resolution), cost, _settings(cost, device))]
    watched += [(name, preset, _settings(preset, device, PRESET_REPEATS))
                for name in REFERENCE_PRESETS for preset in [cached_profile(name, None, None, None)]]
    left, right = st.columns(2)
    if left.button("Measure this variant", type="primary", key="latency_measure", disabled=bool(blocked)):
        _submit([watched[0][2]])
    if right.button("Measure reference presets", key="latency_presets", disabled=bool(blocked),
                    help=f"Times {', '.join(REFERENCE_PRESETS)} with the same settings, {PRESET_REPEATS} runs each"):
        _submit([settings for _, _, settings in watched[1:]])
    states = _states(watched)
    active = any(state is not None and state.active for state in states)
    st.fragment(run_every=0.5 if active else None)(_results)(watched, state.unit, active)


def _submit(requests: list[dict]) -> None:
    queue = latency_queue()
    try:
        for settings in requests:
            queue.submit(settings, session_id())
    except QueueFull as error:
        st.warning(f"Not queued: {error} (at most {MAX_ACTIVE_PER_SESSION} per session).",
                   icon=":material/hourglass_top:")
    queue.ensure_worker()


def _states(watched: list) -> list[JobState | None]:
    queue = latency_queue()
    return [queue.find(settings) for _, _, settings in watched]


def _results(watched: list, unit: str, was_active: bool) -> None:
    """The variant's queue position, progress or result, and latency against MACs for what is measured."""
    states = _states(watched)
    if any(state is not None and state.active for state in states):
        latency_queue().ensure_worker()  # an idle worker may have exited: start it again
    _variant_status(watched[0][0], states[0])
    pending = sum(1 for state in states[1:] if state is not None and state.active)
    if pending:
        st.caption(f"{pending} reference preset(s) still queued or running…")
    rows = [{"label": name, "measured": index == 0, "macs": item.macs, "params": item.params,
             "median_ms": state.result["median_ms"], "p10_ms": state.result["p10_ms"],
             "p90_ms": state.result["p90_ms"], "images_per_s": state.result["images_per_s"]}
            for index, ((name, item, _), state) in enumerate(zip(watched, states))
            if state is not None and state.result is not None]
    if len(rows) >= 2:
        table = pd.DataFrame(rows)
        st.plotly_chart(charts.latency_figure(table, unit), key="latency_chart")
        st.caption("Depthwise convolutions do few MACs per byte moved: on real hardware they are memory-bound, "
                   "so latency does not follow MACs. Measured here, on this server's device.")
        download_csv(table, "latency.csv", "Download latencies (CSV)", key="latency_csv")
    if was_active and not any(state is not None and state.active for state in states):
        st.rerun()  # everything finished: a full rerun redraws the panel without polling


def _variant_status(label: str, state: JobState | None) -> None:
    if state is None or state.status == "cancelled":
        st.info("Press **Measure this variant** to time it on this machine.")
    elif state.status == "failed":
        st.error(f"Not measured: {state.error}", icon=":material/warning:")
    elif state.active:
        if state.status == "queued":
            text = (f"Queued: {state.position} run(s) ahead of this one, waiting "
                    f"{state.elapsed_s:.0f} s" if state.position else f"Queued: next, waiting {state.elapsed_s:.0f} s")
            st.progress(0.0, text=text)
        else:
            text = (f"Measuring {label}: {state.done}/{state.total} forward passes, {state.elapsed_s:.0f} s"
                    if state.total else f"Measuring {label}: building the model, {state.elapsed_s:.0f} s")
            st.progress(state.done / state.total if state.total else 0.0, text=text)
        if st.button("Cancel", key="latency_cancel", icon=":material/cancel:"):
            latency_queue().cancel(state.id, session_id())
            st.rerun()
    else:
        _result_cards(state.result)


def _result_cards(result: dict) -> None:
    columns = st.columns(4)
    columns[0].metric("Median latency", duration_ms(result["median_ms"]))
    columns[1].metric("Spread (p10-p90)", duration_range_ms(result["p10_ms"], result["p90_ms"]))
    columns[2].metric("Throughput", f"{result['images_per_s']:,.1f} img/s")
    columns[3].metric("Timed runs", f"{result['runs']}")
    st.caption(f"{result['device']}, {result['dtype']}, batch {result['batch']}, {result['threads']} threads, "
               f"channels_last={result['channels_last']}, torch {result['torch_version']}; "
               f"{result['wall_s']:.1f} s in all; memory estimate {result['estimated_memory_mb']:,.0f} MB")
    if result.get("host_busy"):
        st.warning(f"Measured while the host was busy (other processes used about {result['other_load_cores']:g} "
                   "cores meanwhile): treat this figure as noisy.", icon=":material/speed:")
