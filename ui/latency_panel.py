"""The Explorer's latency view: ask the worker for measurements, show the queue, the results and the chart.

The web process never times anything: it queues settings in the shared store and reads
back position, progress and results. A result measured once for some settings is shown
to everyone who asks for the same settings, also after a restart.
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace

import streamlit as st

from core.measurement.job_settings import default_cap_s, host_cores, job_network
from core.measurement.jobs import MAX_ACTIVE_PER_SESSION, JobState, QueueFull, StoreUnavailable
from core.measurement.memory import child_memory_limit_mb
from core.measurement.quality import quality
from core.measurement.run_budget import before_queueing
from core.network.counting import Profile
from core.network.scaling import ScalingError
from core.units import duration_ms, duration_range_ms, size_bytes
from ui import charts
from ui.downloads import download_csv
from ui.engine import cached_profile, latency_queue
from ui.labels import display_name, variant_label
from ui.safe_text import quoted
from ui.sidebar import latency_controls
from ui.state import PIN_SETTINGS, ExplorerState, Pin

REFERENCE_PRESETS = ("mobilenet_v3_small", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "resnet18")


FALLBACK_RUNTIMES = {"torch": {"cpu": ["float32", "bfloat16"]}, "onnxruntime": {"cpu": ["float32", "int8"]}}
WARMUP, REPEATS, PRESET_REPEATS = 3, 20, 10
CHILD_BASELINE_MB = 250.0  # a measuring process's RSS before its first job, until the worker reports its own


def session_id() -> str:
    """An id for this browser: whose queued runs are whose, so the per-session cap survives a reload.

    Derived from a cookie the browser keeps across reloads (nginx's affinity cookie, else Streamlit's
    XSRF cookie), hashed; a fresh id per session where neither exists (tests, cookies refused).
    """
    if "session_id" not in st.session_state:
        cookies = st.context.cookies
        kept = cookies.get("csl_sticky") or _xsrf_token(cookies.get("_streamlit_xsrf"))
        st.session_state["session_id"] = (hashlib.sha256(f"csl:{kept}".encode()).hexdigest()[:32] if kept
                                          else uuid.uuid4().hex)
    return st.session_state["session_id"]


def _xsrf_token(cookie: str | None) -> str | None:
    """The stable token inside Tornado's XSRF cookie ('2|mask|masked token|time': re-masked on every page
    load, the token itself kept for the browser's life)."""
    parts = (cookie or "").split("|")
    try:
        mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
    except (IndexError, ValueError):
        return cookie or None
    return bytes(byte ^ mask[index % len(mask)] for index, byte in enumerate(masked)).hex() if mask else cookie


def unavailable(error: StoreUnavailable, what: str = "Latency results") -> str:
    """The one line a page shows where stored results would be, when the result store fails."""
    return f"{what} are unavailable: {quoted(error, 160)}. The engine's numbers are unaffected."


def _device_settings(state: ExplorerState, runtime: str | None = None, dtype: str | None = None) -> dict:
    """The measurement settings from the Explorer's state: one dtype and batch for memory and latency.

    ``runtime`` and ``dtype`` override the state's (the chart looks up the other runtimes' results).
    The memory format is torch's alone.
    """
    runtime, dtype = runtime or state.runtime, dtype or state.dtype
    return dict(runtime=runtime, device=state.device, dtype=dtype, batch=state.batch, threads=state.threads,
                channels_last=state.memory_format == "channels_last" and runtime == "torch", warmup=WARMUP)


def _unmeasurable(state: ExplorerState, runtimes: dict[str, dict[str, list[str]]]) -> str | None:
    """Why these settings cannot be timed here, naming what to pick instead; None if they can."""
    if state.threads > host_cores():  # the worker runs on this host and would refuse the row
        return (f"{state.threads} threads is more than this server's {host_cores()} cores: pick at most "
                f"{host_cores()} CPU threads.")
    devices = runtimes.get(state.runtime, {})
    if state.device not in devices:
        return f"{state.device} is not available to {state.runtime} on this server: pick {', '.join(devices)}."
    if state.dtype not in devices[state.device]:
        other = [runtime for runtime, choices in runtimes.items()
                 if runtime != state.runtime and state.dtype in choices.get(state.device, [])]
        instead = f"runtime {other[0]}, or " if other else ""
        return (f"{state.dtype} cannot be timed with {state.runtime} on {state.device}: pick {instead}"
                f"{' or '.join(devices[state.device])} in the sidebar's dtype.")
    return None


def _comparisons(state: ExplorerState, runtimes: dict[str, dict[str, list[str]]]) -> list[dict]:
    """The panel's settings under every other runtime and dtype this server times on the device (for the chart)."""
    current = (state.runtime, state.dtype)
    return [_device_settings(state, runtime, dtype) for runtime, devices in runtimes.items()
            for dtype in devices.get(state.device, []) if (runtime, dtype) != current]


def _runtimes(info: dict) -> dict[str, dict[str, list[str]]]:
    """Runtime -> device -> dtypes the worker reported, or what this server can be expected to time."""
    return info.get("runtimes") or dict(FALLBACK_RUNTIMES, torch=info.get("devices", FALLBACK_RUNTIMES["torch"]))


def _settings(cost: Profile, device: dict, repeats: int = REPEATS) -> dict:
    """A job's settings: the network as ``job_settings.job_network`` names it (a built-in uniform network by its
    name alone, as results were always stored; a custom one with its ``spec``; per-stage lists where set)."""
    return dict(**job_network(cost), width=cost.width, depth=cost.depth, resolution=cost.resolution,
                repeats=repeats, **device)


def pin_latencies(items: list[tuple[Profile, Pin]]) -> list[tuple[float | None, str | None]]:
    """(stored median, its quality) of each pinned network at its own settings; Nones where none is stored."""
    # the queue times classifiers: a dense-task pin has no stored latency (the CLI times those)
    classifiers = [(cost, pin) for cost, pin in items if pin.task == "classification"]
    requests = [_settings(cost, _device_settings(replace(ExplorerState(), **{key: getattr(pin, key) for key in
                                                                             PIN_SETTINGS})))
                for cost, pin in classifiers]
    try:
        jobs = iter(latency_queue().find_many(requests) if requests else [])
    except StoreUnavailable:
        return [(None, None)] * len(items)
    found = [next(jobs) if pin.task == "classification" else None for _, pin in items]
    return [(None, None) if job is None or job.result is None
            else (round(job.result["median_ms"], 3), quality(job.result).label) for job in found]


def stored_job(cost: Profile, state: ExplorerState) -> JobState | None:
    """This variant's measurement at the Explorer's settings: stored, queued or running (queues nothing).

    Raises ``StoreUnavailable`` when the result store fails: callers show ``unavailable`` in its place.
    An answer up to half a second old will do: every move asks, the poll while measuring asks each second.
    """
    return latency_queue().find_many([_settings(cost, _device_settings(state))], max_age_s=0.5)[0]


def measure_variant(cost: Profile, state: ExplorerState) -> str | None:
    """Queue this variant at the Explorer's settings; why not, where it cannot be timed here."""
    try:
        blocked = _unmeasurable(state, _runtimes(latency_queue().worker_info() or {}))
    except StoreUnavailable as error:
        return unavailable(error)
    if blocked is None:
        blocked = _submit([_settings(cost, _device_settings(state))], show=False)  # the caller shows it
    return blocked


def latency_panel(cost: Profile, state: ExplorerState) -> None:
    """Queue measurements and watch them; the sliders never wait for a forward pass.

    A failing result store leaves one line in the panel's place, and the rest of the page as it was.
    """
    try:
        _latency_panel(cost, state)
    except StoreUnavailable as error:
        st.warning(unavailable(error), icon=":material/database:")


def _latency_panel(cost: Profile, state: ExplorerState) -> None:
    queue = latency_queue()
    info = queue.worker_info() or {}
    cap = info.get("cap_s", 30)
    st.caption(f"Real forward passes in a separate worker process, one run at a time for the whole server: eager "
               "torch under torch.inference_mode(), or onnxruntime on the same module exported to ONNX (int8 by "
               f"static quantization; exporting and quantizing count in the cap, and the files are cached). "
               f"{WARMUP} warm-up runs, then up to {REPEATS} timed runs, all within a {cap:g} s cap (runs that "
               "cannot fit are refused with what to lower). Results are stored per configuration and settings, "
               "and shared with everyone who asks for the same.")
    runtimes = _runtimes(info)
    latency_controls(sorted({device for devices in runtimes.values() for device in devices}),
                     info.get("cpu_count") or 1)
    device = _device_settings(state)
    blocked = _unmeasurable(state, runtimes)
    if blocked:
        st.info(blocked, icon=":material/info:")
    watched = [(variant_label(display_name(cost.backbone), cost.width, cost.depth, cost.resolution), cost,
                _settings(cost, device))]
    watched += [(name, preset, _settings(preset, device, PRESET_REPEATS))
                for name in REFERENCE_PRESETS for preset in [cached_profile(name, None, None, None)]]
    others = [(name, item, dict(settings, **other)) for other in _comparisons(state, runtimes)
              for name, item, settings in watched]
    left, right = st.columns(2)
    if left.button("Measure this variant", type="primary", key="latency_measure", disabled=bool(blocked)):
        _submit([watched[0][2]])
    if right.button("Measure reference presets", key="latency_presets", disabled=bool(blocked),
                    help=f"Times {', '.join(REFERENCE_PRESETS)} with the same settings, {PRESET_REPEATS} runs each"):
        _submit([settings for _, _, settings in watched[1:]])
    states = _states(watched)
    active = any(state is not None and state.active for state in states)
    st.fragment(run_every=0.5 if active else None)(_results)(watched, others, state.unit, active)


def _submit(requests: list[dict], show: bool = True) -> str | None:
    """Queue each run that fits; one that cannot fit its cap or the memory limit is refused here, before
    queueing, by the same check the measuring process makes (``core.measurement.run_budget``). Returns the first
    refusal."""
    queue = latency_queue()
    refusals = []
    try:
        info = queue.worker_info() or {}
        for settings in requests:
            refusal = _refusal(settings, info)
            if refusal:
                refusals.append(refusal)
            else:
                queue.submit(settings, session_id())
    except QueueFull as error:
        refusals.insert(0, f"{error} (at most {MAX_ACTIVE_PER_SESSION} per session)")
    except ScalingError as error:  # settings no run may use (core.measurement.job_settings)
        refusals.insert(0, quoted(error, 160))
    except StoreUnavailable as error:
        refusals.insert(0, unavailable(error))
    try:
        queue.ensure_worker()  # for what was queued before any refusal
    except StoreUnavailable:
        pass  # said above
    if refusals and show:
        st.warning(f"Not queued: {refusals[0]}" + (f" ({len(refusals) - 1} more refused)" if len(refusals) > 1
                                                    else ""), icon=":material/block:")
    return f"Not queued: {refusals[0]}" if refusals else None


def _refusal(settings: dict, info: dict) -> str | None:
    """Why this run cannot fit, computed as the measuring process will (memory with the worker's reported
    baseline, time by the calibrated model), or None."""
    runtime = settings["runtime"]
    stages = [tuple(settings[key]) if key in settings else None for key in ("stage_width", "stage_depth")]
    cost = cached_profile(settings["backbone"], settings["width"], settings["depth"], settings["resolution"],
                          settings["batch"], "float32" if runtime == "onnxruntime" else settings["dtype"],
                          stage_width=stages[0], stage_depth=stages[1])
    return before_queueing(cost, runtime, settings["dtype"], settings["threads"], settings["warmup"],
                           info.get("cap_s") or default_cap_s(), info.get("rss_mb") or CHILD_BASELINE_MB,
                           info.get("memory_limit_mb") or child_memory_limit_mb())


def _states(watched: list) -> list[JobState | None]:
    return latency_queue().find_many([settings for _, _, settings in watched])


def _row(name: str, item: Profile, result: dict, measured: bool, current: bool) -> dict:
    """One stored result as the chart and the CSV show it, its quality beside the value."""
    runtime = result.get("runtime", "torch")  # results stored before runtimes existed are torch's
    return {"label": name, "measured": measured, "runtime": runtime, "dtype": result["dtype"],
            "series": f"{runtime} {result['dtype']}", "current": current, "macs": item.macs, "params": item.params,
            "median_ms": result["median_ms"], "p10_ms": result["p10_ms"], "p90_ms": result["p90_ms"],
            "images_per_s": result["images_per_s"], "runs": result["runs"],
            "other_load_cores": result.get("other_load_cores"), "quality": quality(result).label}


def _results(watched: list, others: list, unit: str, was_active: bool) -> None:
    """The variant's queue position, progress or result, and latency against MACs for what is measured.

    The chart adds results already stored for the same configurations under the other runtimes and dtypes.
    A fragment that polls on its own: a store fault while it polls is its one line too.
    """
    try:
        _results_now(watched, others, unit, was_active)
    except StoreUnavailable as error:
        st.warning(unavailable(error), icon=":material/database:")


def _results_now(watched: list, others: list, unit: str, was_active: bool) -> None:
    import pandas as pd
    states = _states(watched)
    if any(state is not None and state.active for state in states):
        latency_queue().ensure_worker()  # an idle worker may have exited: start it again
    _variant_status(watched[0][0], states[0])
    pending = sum(1 for state in states[1:] if state is not None and state.active)
    if pending:
        st.caption(f"{pending} reference preset(s) still queued or running…")
    rows = [_row(name, item, state.result, index % len(watched) == 0, index < len(watched))
            for index, ((name, item, _), state) in enumerate(zip(watched + others, states + _states(others)))
            if state is not None and state.result is not None]
    if len(rows) >= 2:
        table = pd.DataFrame(rows)
        st.plotly_chart(charts.latency_figure(table, unit), key="latency_chart")
        provisional = int(table.quality.str.startswith("provisional").sum())
        if provisional:
            st.caption(f"Hollow points ({provisional}) are provisional: measured while the host was busy or with "
                       "a wide spread. Measure replaces them; the worker also measures them again when the host "
                       "is quiet.")
        st.caption("Depthwise convolutions do few MACs per byte moved: on real hardware they are memory-bound, "
                   "so latency does not follow MACs; the runtime (one colour each) can change the ranking, and "
                   "int8 helps some networks more than others. Measured here, on this server's device; switch "
                   "the runtime or dtype and measure again to add its points.")
        download_csv(table, "latency.csv", "Download latencies (CSV)", key="latency_csv")
    if was_active and not any(state is not None and state.active for state in states):
        st.rerun()  # everything finished: a full rerun redraws the panel without polling


def _variant_status(label: str, state: JobState | None) -> None:
    if state is None or state.status == "cancelled":
        st.info("Press **Measure this variant** to time it on this machine.")
    elif state.status == "failed":
        st.error(f"Not measured: {quoted(state.error, 300)}", icon=":material/warning:")
    elif state.active:
        retry = "Second attempt (the worker restarted during the first). " if state.attempts > 1 else ""
        if state.status == "queued":
            text = (f"Queued: {state.position} run(s) ahead of this one, waiting "
                    f"{state.elapsed_s:.0f} s" if state.position else f"Queued: next, waiting {state.elapsed_s:.0f} s")
            st.progress(0.0, text=retry + text)
        else:
            text = (f"Measuring {label}: {state.done}/{state.total} forward passes, {state.elapsed_s:.0f} s"
                    if state.total else f"Measuring {label}: building the model, {state.elapsed_s:.0f} s")
            st.progress(state.done / state.total if state.total else 0.0, text=retry + text)
        if not latency_queue().is_waiting(state.id, session_id()):
            st.caption("Someone else asked for the same run: its result shows here too when it is done.")
        elif st.button("Cancel", key="latency_cancel", icon=":material/cancel:"):
            latency_queue().cancel(state.id, session_id())
            st.rerun()
    else:
        _result_cards(state.result)


def _result_cards(result: dict) -> None:
    onnx = result.get("runtime", "torch") == "onnxruntime"
    columns = st.columns([1, 1.4, 1.2, 0.8])  # the spread holds two numbers: the widest card
    columns[0].metric("Median latency", duration_ms(result["median_ms"]))
    columns[1].metric("Spread (p10-p90)", duration_range_ms(result["p10_ms"], result["p90_ms"]),
                      help=f"p10 {result['p10_ms']:.3f} ms, p90 {result['p90_ms']:.3f} ms")
    columns[2].metric("Throughput", f"{result['images_per_s']:,.1f} img/s")
    columns[3].metric("Timed runs", f"{result['runs']}")
    if onnx:
        int8 = result["dtype"] == "int8"
        files = st.columns(4)
        files[0].metric(f"ONNX file ({result['dtype']})", size_bytes(result["model_file_bytes"]),
                        help="The exported (and quantized) model file this run loaded, as measured on disk")
        if int8:
            files[1].metric("ONNX file (float32)", size_bytes(result["fp32_file_bytes"]))
            files[2].metric("int8 file smaller by", f"x{result['fp32_file_bytes'] / result['model_file_bytes']:.2f}")
        runtime = (f"onnxruntime {result['onnxruntime_version']} (exported from torch {result['torch_version']}; "
                   f"export {result['export_s']:.1f} s" + (f", quantization {result['quantize_s']:.1f} s" if int8
                                                            else "")
                   + (" when first made, cached since)" if result["prepared_cached"] else ", in this run)"))
    else:
        runtime = f"torch {result['torch_version']}, channels_last={result['channels_last']}"
    st.caption(f"{result['device']}, {result['dtype']}, batch {result['batch']}, {result['threads']} threads, "
               f"{runtime}; {result['wall_s']:.1f} s in all; memory estimate "
               f"{result['estimated_memory_mb']:,.0f} MB")
    if onnx and result["dtype"] == "int8":
        st.info(result["note"], icon=":material/info:")
    grade = quality(result)
    if grade.provisional:
        st.warning(f"Provisional: {grade.why}. Treat this figure as noisy; **Measure this variant** replaces "
                   "it, and the worker measures it again when the host is quiet.", icon=":material/speed:")
