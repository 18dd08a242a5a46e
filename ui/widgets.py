"""Widgets the pages share: the Explorer sidebar, metric cards, latency panel, pins, downloads."""
from __future__ import annotations

import os
from dataclasses import fields

import pandas as pd
import streamlit as st

import core
from core import reference
from core.counting import Profile
from core.families import ARCHITECTURES, BACKBONE_NAMES, resolve
from core.latency import available_devices, supported_dtypes
from core.scaling import DEPTH_RANGE, RESOLUTION_RANGE, WIDTH_RANGE
from core.units import si, size_bytes
from ui import charts
from ui.engine import cached_profile, latency_jobs
from ui.routing import page_url
from ui.state import (
    BATCH_RANGE,
    COMPOUND_BASE_RANGE,
    DTYPES,
    MODES,
    PHI_RANGE,
    UNITS,
    ExplorerState,
    parse_query,
    preset_state,
)

PREFIX = "explorer_"
CONVENTION = ("**MACs** = multiply-accumulates of convolution and linear layers (the papers' and "
              "torchvision's convention); **FLOPs = 2 x MACs**. Batch norm, activations and pooling are "
              "not counted. Parameters include batch-norm scale and shift.")
LATENCY_PRESETS = ("mobilenet_v3_small", "mobilenet_v2_050", "mobilenet_v3_large", "mobilenet_v2",
                   "mobilenet_v1", "efficientnet_b0", "efficientnet_b1", "resnet18", "resnet50")


def backbone_label(name: str) -> str:
    """'efficientnet_b3' -> 'EfficientNet-B3 (efficientnet_b3)'."""
    return f"{resolve(name)[1].title} ({name})"


def variant_label(backbone: str, width: float, depth: float, resolution: int) -> str:
    return f"{backbone} w{width:.2f} d{depth:.2f} {resolution}px"


def _key(field: str) -> str:
    return PREFIX + field


def _state_from_session() -> ExplorerState:
    return ExplorerState(**{field.name: st.session_state[_key(field.name)] for field in fields(ExplorerState)})


def _load_state(state: ExplorerState) -> None:
    for field in fields(ExplorerState):
        st.session_state[_key(field.name)] = getattr(state, field.name)


def _on_backbone_change() -> None:
    """Picking a backbone moves the sliders to its own (preset) values."""
    state = preset_state(st.session_state[_key("backbone")], _state_from_session())
    _load_state(state)


def explorer_sidebar() -> ExplorerState:
    """The Explorer's controls; state starts from the link once per session and is written back to it."""
    if _key("loaded") not in st.session_state:
        state, warnings = parse_query(st.query_params.to_dict())
        _load_state(state)
        st.session_state[_key("loaded")] = True
        st.session_state[_key("warnings")] = warnings
    sidebar = st.sidebar
    sidebar.selectbox("Backbone or preset", BACKBONE_NAMES, key=_key("backbone"), format_func=backbone_label,
                      on_change=_on_backbone_change, persist_state="session")
    sidebar.segmented_control("Scaling", MODES, key=_key("mode"), required=True, persist_state="session",
                              format_func=lambda mode: {"sliders": "Width / depth / resolution",
                                                        "compound": "Compound (phi)"}[mode])
    if st.session_state[_key("mode")] == "sliders":
        sidebar.slider("Width multiplier (channels)", *WIDTH_RANGE, step=0.05, key=_key("width"),
                       persist_state="session", help="Every layer's channels x width, rounded to a multiple of 8")
        sidebar.slider("Depth multiplier (repeats)", *DEPTH_RANGE, step=0.1, key=_key("depth"),
                       persist_state="session", help="Each stage repeats ceil(repeats x depth) blocks")
        sidebar.slider("Resolution (px)", *RESOLUTION_RANGE, step=1, key=_key("resolution"),
                       persist_state="session")
    else:
        sidebar.slider("Compound coefficient phi", *PHI_RANGE, step=0.1, key=_key("phi"), persist_state="session",
                       help="depth = alpha^phi, width = beta^phi, resolution = gamma^phi x base")
        columns = sidebar.columns(3)
        for column, name in zip(columns, ("alpha", "beta", "gamma")):
            column.number_input(name, *COMPOUND_BASE_RANGE, step=0.01, key=_key(name), persist_state="session")
    sidebar.segmented_control("Cost unit", UNITS, key=_key("unit"), required=True, persist_state="session",
                              help="FLOPs = 2 x MACs (a multiply and an add counted apart)")
    with sidebar.expander("Activation memory settings"):
        st.selectbox("Activation dtype", DTYPES, key=_key("dtype"), persist_state="session")
        st.number_input("Batch (activation memory)", *BATCH_RANGE, key=_key("batch"), persist_state="session")
    state = _state_from_session()
    sync_query(state.to_query())
    return state


def sync_query(query: dict[str, str]) -> None:
    """Make the address bar hold ``query`` (written only when it differs)."""
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)


def share_link(query: dict[str, str], url_path: str = "") -> None:
    """The link that reopens this exact view, for page ``url_path`` ('' is the Explorer)."""
    st.sidebar.caption("Share this view: copy this link (the address bar holds the same state).")
    st.sidebar.code(page_url(st.context.url or "", url_path, query), language=None, wrap_lines=True)


def url_warnings(key: str = _key("warnings")) -> None:
    """Warnings about a link's bad values (kept in session state under ``key``) until dismissed."""
    warnings = st.session_state.get(key)
    if warnings:
        st.warning("This link had values that could not be used as they were:\n\n" +
                   "\n".join(f"- {warning}" for warning in warnings))
        if st.button("Dismiss", key=f"{key}_dismiss"):
            st.session_state[key] = []
            st.rerun()


def _change(value: float, base: float) -> str | None:
    """'+23% vs base'; nothing where the variant is the base."""
    return f"{(value / base - 1) * 100:+.0f}% vs base" if base and value != base else None


def variant_accuracy(cost: Profile) -> tuple[reference.PublishedAccuracy | None, reference.AccuracyEstimate | None]:
    """The published top-1 if this is exactly a published model, and the estimate on its family's curve."""
    return (reference.published_top1(cost.base, cost.width, cost.depth, cost.resolution),
            reference.estimate_top1(cost.base, cost.macs))


def metric_cards(cost: Profile, base: Profile, unit: str) -> None:
    """Params, cost, memory, weights and the accuracy estimate, each against the unscaled backbone."""
    factor = charts.unit_factor(unit)
    published, estimate = variant_accuracy(cost)
    cards = st.columns(5)
    cards[0].metric("Parameters", si(cost.params), _change(cost.params, base.params), delta_color="off",
                    help=f"{cost.params:,} exactly; includes batch norm and biases")
    cards[1].metric(unit, si(cost.macs * factor), _change(cost.macs, base.macs), delta_color="off",
                    help=f"{cost.macs * factor:,} per image. {CONVENTION}")
    cards[2].metric("Activation memory", size_bytes(cost.activation_bytes),
                    _change(cost.activation_bytes, base.activation_bytes), delta_color="off",
                    help=f"Sum of every layer's output, {cost.dtype}, batch {cost.batch}. Peak of one layer's "
                         f"input + output (estimate): {size_bytes(cost.peak_activation_bytes)}")
    weights = cost.weight_bytes
    cards[3].metric("Weights (fp32)", size_bytes(weights["fp32"]), _change(cost.params, base.params),
                    delta_color="off", help="4 bytes per parameter")
    cards[3].caption(f"fp16 {size_bytes(weights['fp16'])} · int8 {size_bytes(weights['int8'])}")
    if published is not None:
        cards[4].metric("Top-1 (published)", f"{published.top1:.1f}%",
                        help=f"Published for this exact configuration ({published.variant}): {published.source}")
    elif estimate is None:
        cards[4].metric("Top-1 (estimate)", "n/a", help="No published curve of this family covers this cost")
    else:
        cards[4].metric("Top-1 (estimate)", f"~{estimate.top1:.1f}%", help=(
            f"Estimate: interpolated (linear in log MACs) on {estimate.curve} between {estimate.low_variant} "
            f"and {estimate.high_variant}. Not a published result; the model was never trained."))
    base_arch = ARCHITECTURES[cost.base]
    st.caption(f"Deltas against {base_arch.title} at width 1, depth 1, {base_arch.default_resolution} px. "
               + CONVENTION)


def profile_or_error(backbone: str, width: float, depth: float, resolution: int, batch: int = 1,
                     dtype: str = "float32") -> Profile | None:
    """The profile, or None after showing what to change (the rest of the page still renders)."""
    try:
        return cached_profile(backbone, width, depth, resolution, batch, dtype)
    except core.ScalingError as error:
        st.error(f"This configuration can't be profiled: {error}.", icon=":material/warning:")
        return None


def pins() -> list[dict]:
    """Variants pinned for the Compare page (session state: survives reruns, page switches, errors)."""
    return st.session_state.setdefault("pins", [])


def pin_variant(cost: Profile, announce: bool = True) -> None:
    """Add a variant to the pins (once); ``announce`` shows a toast."""
    label = variant_label(cost.backbone, cost.width, cost.depth, cost.resolution)
    if any(pin["label"] == label for pin in pins()):
        if announce:
            st.toast(f"{label} is already pinned")
        return
    published, estimate = variant_accuracy(cost)
    if published is not None:
        top1, basis = published.top1, f"published ({published.variant})"
    elif estimate is not None:
        top1, basis = round(estimate.top1, 2), f"estimate on {estimate.curve}"
    else:
        top1, basis = None, "no published curve at this cost"
    pins().append({"label": label, "backbone": cost.backbone, "base": cost.base, "width": cost.width,
                   "depth": cost.depth, "resolution": cost.resolution, "params": cost.params,
                   "macs": cost.macs, "flops": cost.flops, "activation_bytes": cost.activation_bytes,
                   "weight_bytes_fp32": cost.weight_bytes["fp32"], "top1": top1, "top1_basis": basis,
                   "latency_ms": latency_for(cost)})
    if announce:
        st.toast(f"Pinned {label}; see the Compare page")


def download_csv(table: pd.DataFrame, file_name: str, label: str = "Download CSV", key: str | None = None) -> None:
    st.download_button(label, table.to_csv(index=False).encode(), file_name=file_name, mime="text/csv",
                       key=key, on_click="ignore")


# ---- latency ---------------------------------------------------------------------------------

def _latency_settings() -> dict:
    """The panel's device settings (kept in session state, shared by every measurement)."""
    devices = available_devices()
    columns = st.columns(5)
    device = columns[0].selectbox("Device", devices, key="latency_device", persist_state="session")
    dtype = columns[1].selectbox("dtype", supported_dtypes(device), key="latency_dtype", persist_state="session")
    batch = columns[2].number_input("Batch", 1, 64, 1, key="latency_batch", persist_state="session")
    threads = columns[3].number_input("CPU threads", 1, os.cpu_count() or 1, min(4, os.cpu_count() or 1),
                                      key="latency_threads", persist_state="session")
    channels_last = columns[4].checkbox("channels_last", key="latency_channels_last", persist_state="session")
    return dict(device=device, dtype=dtype, batch=int(batch), threads=int(threads), channels_last=channels_last,
                warmup=3, repeats=20, time_budget_s=10.0)


def _job_settings(cost: Profile, settings: dict) -> dict:
    return dict(backbone=cost.backbone, width=cost.width, depth=cost.depth, resolution=cost.resolution, **settings)


def latency_for(cost: Profile) -> float | None:
    """The last measured median for this configuration at the panel's settings, if any."""
    settings = st.session_state.get("latency_last_settings")
    job = latency_jobs().get(**_job_settings(cost, settings)) if settings else None
    return None if job is None or job.result is None else round(job.result.median_ms, 3)


def latency_panel(cost: Profile, unit: str) -> None:
    """Measure on demand in the background; the sliders never wait for a forward pass."""
    st.caption("Real forward passes under torch.inference_mode(): 3 warm-up runs, then up to 20 timed runs "
               "(10 s budget); median and p10-p90 spread. Runs are queued one at a time on the server, and "
               "results are cached per configuration.")
    settings = _latency_settings()
    st.session_state["latency_last_settings"] = settings
    preset_settings = dict(settings, repeats=10, time_budget_s=5.0)
    watched = [(variant_label(cost.backbone, cost.width, cost.depth, cost.resolution), cost, settings)] + [
        (name, cached_profile(name, None, None, None), preset_settings) for name in LATENCY_PRESETS]
    jobs = latency_jobs()
    left, right = st.columns(2)
    if left.button("Measure this variant", type="primary", key="latency_measure"):
        jobs.submit(**_job_settings(cost, settings))
    if right.button("Measure reference presets", key="latency_presets",
                    help="Times " + ", ".join(LATENCY_PRESETS) + " with the same settings, 10 runs each"):
        for _, preset, config in watched[1:]:
            jobs.submit(**_job_settings(preset, config))
    running = any(job is not None and job.running for job in _watched_jobs(watched))
    st.fragment(run_every=0.5 if running else None)(_latency_results)(watched, unit, running)


def _watched_jobs(watched: list) -> list:
    jobs = latency_jobs()
    return [jobs.get(**_job_settings(item, config)) for _, item, config in watched]


def _latency_results(watched: list, unit: str, was_running: bool) -> None:
    """The variant's result or progress, and latency against MACs for everything measured so far."""
    found = _watched_jobs(watched)
    label, job = watched[0][0], found[0]
    if job is None:
        st.info("Press **Measure this variant** to time it on this machine.")
    elif job.error:
        st.error(f"Not measured: {job.error}", icon=":material/warning:")
    elif job.running:
        st.progress(job.done / job.total if job.total else 0.0,
                    text=f"Measuring {label}: {job.done}/{job.total or '?'} forward passes")
    else:
        result = job.result
        columns = st.columns(4)
        columns[0].metric("Median latency", f"{result.median_ms:.2f} ms")
        columns[1].metric("Spread (p10-p90)", f"{result.p10_ms:.2f}-{result.p90_ms:.2f} ms")
        columns[2].metric("Throughput", f"{result.images_per_s:,.1f} img/s")
        columns[3].metric("Timed runs", f"{result.runs}")
        st.caption(f"{result.device}, {result.dtype}, batch {result.batch}, {result.threads} threads, "
                   f"channels_last={result.channels_last}, torch {result.torch_version}; "
                   f"memory estimate {result.estimated_memory_mb:,.0f} MB")
    pending = sum(1 for job in found[1:] if job is not None and job.running)
    if pending:
        st.caption(f"{pending} reference preset(s) still queued or running…")
    rows = [{"label": name, "macs": item.macs, "params": item.params, "median_ms": job.result.median_ms,
             "p10_ms": job.result.p10_ms, "p90_ms": job.result.p90_ms, "images_per_s": job.result.images_per_s}
            for (name, item, _), job in zip(watched, found) if job is not None and job.result is not None]
    if len(rows) >= 2:
        table = pd.DataFrame(rows)
        st.plotly_chart(charts.latency_figure(table, unit), key="latency_chart")
        st.caption("Depthwise convolutions do few MACs per byte moved: on real hardware they are memory-bound, "
                   "so latency does not follow MACs. Measured here, on this server's device.")
        download_csv(table, "latency.csv", key="latency_csv")
    if was_running and not any(job is not None and job.running for job in found):
        st.rerun()  # everything finished: a full rerun redraws the panel without polling
