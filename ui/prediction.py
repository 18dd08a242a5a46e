"""Predicted latency on every slider move, beside the measured value; the roofline and lane alignment.

Reads the analytic profile and a calibration the worker or the CLI wrote: never builds weights,
never imports torch, never times anything itself. Where this host has no calibration yet for the
page's runtime, dtype and threads, it queues one for the worker (after any queued measurement) and
shows how far it got; ``CSL_AUTO_CALIBRATE=0`` leaves calibrating to the operator, with the command.
"""
from __future__ import annotations

import os

import streamlit as st

from core.measurement.jobs import QueueFull, StoreUnavailable
from core.measurement.quality import quality
from core.network.counting import Profile
from core.network.scaling import ScalingError
from core.prediction.latency_model import LatencyPrediction, NotCalibrated
from core.prediction.roofline import published_devices
from core.units import duration_ms, ratio, si
from ui import charts
from ui.engine import cached_prediction, cached_profile, latency_queue
from ui.latency_panel import measure_variant, session_id, stored_job, unavailable
from ui.safe_text import quoted
from ui.state import ExplorerState

SWEEP_STEP, SWEEP_POINTS = 0.025, 10  # the staircase chart: this many steps either side of the width


def _predict(cost: Profile, state: ExplorerState) -> LatencyPrediction:
    return cached_prediction(cost, state.runtime, state.target, state.threads)


def prediction_row(cost: Profile, state: ExplorerState, card) -> None:
    """Predicted latency (or a roofline bound on another device: the sidebar's "Predict latency on") in
    ``card``, the metric row's last column; below the cards, one line: the measured value and 'Measure'."""
    predicted, measured = card, st.container()
    try:
        prediction = _predict(cost, state)
    except NotCalibrated as error:
        with predicted:
            _calibrating(state, error, measured)
        return
    except ScalingError as error:  # a dtype this host's runtimes do not time; a device with no peak for it
        host = state.target == "host"
        predicted.metric("Latency (predicted)" if host else "Latency bound (roofline)", "n/a", help=str(error))
        measured.caption(f"No {'prediction' if host else 'bound'}: {error}.")
        return
    if prediction.method != "calibrated model":
        predicted.metric("Latency bound (roofline)", f">= {duration_ms(prediction.total_ms)}",
                         help=f"A lower bound, not a prediction of a real engine: {prediction.basis}.")
        measured.caption("Nothing to measure here: this server is not that device. The Latency view shows "
                         "every layer on its roofline.")
        return
    predicted.metric("Latency (predicted)", duration_ms(prediction.total_ms),
                     help=f"Predicted, not measured: {prediction.basis}. Batch {cost.batch}, {cost.dtype}, "
                          f"{prediction.threads} thread(s); press Measure to check it.")
    try:
        job = stored_job(cost, state)
    except StoreUnavailable as error:
        measured.caption(unavailable(error))
        return
    active = job is not None and job.active
    with measured:  # a polling fragment only while a run is queued or running: a fragment costs every move
        if active:
            st.fragment(run_every=1.0)(_measured)(cost, state, prediction.total_ms, active)
        else:
            _measured(cost, state, prediction.total_ms, active, job)


def prediction_versus(predicted_ms: float, measured_ms: float) -> str:
    """'predicted x0.7 ↓': the prediction as a multiple of the measurement, the arrow pointing the way it errs."""
    arrow = "" if predicted_ms == measured_ms else "↓" if predicted_ms < measured_ms else "↑"
    return f"predicted {ratio(predicted_ms, measured_ms)} {arrow}".rstrip()


def _calibration_settings(state: ExplorerState) -> dict:
    return {"task": "calibrate", "runtime": state.runtime, "dtype": state.dtype, "threads": state.threads}


def _calibrating(state: ExplorerState, error: NotCalibrated, beside) -> None:
    """No latency model for these settings yet: the worker fits one (after queued measurements); show how far."""
    # The worker calibrates what the hosted recipe does (the Explorer's default threads); other thread
    # counts, or CSL_AUTO_CALIBRATE=0, are the operator's to calibrate (minutes of the worker each).
    if os.environ.get("CSL_AUTO_CALIBRATE", "1") == "0" or state.threads != ExplorerState().threads:
        st.metric("Latency (predicted)", "not calibrated", help=str(error))
        beside.caption(f"No latency model here yet: run `{error.command}` on the server (a few minutes).")
        return
    settings = _calibration_settings(state)
    try:
        queue = latency_queue()
        job = queue.find(settings)
        if job is None or job.status == "cancelled":
            job = queue.submit(settings, session_id())
            queue.ensure_worker()
    except StoreUnavailable as fault:
        st.metric("Latency (predicted)", "not calibrated", help=str(error))
        beside.caption(unavailable(fault))
        return
    except (QueueFull, ScalingError) as refusal:
        st.metric("Latency (predicted)", "not calibrated", help=str(error))
        beside.caption(f"Not calibrating now ({quoted(refusal, 120)}); on the server, `{error.command}` does it.")
        return
    if job.status == "failed":
        st.metric("Latency (predicted)", "not calibrated", help=str(error))
        beside.caption(f"Calibrating this host failed: {quoted(job.error, 160)}. On the server, `{error.command}` "
                       "tries again and prints why.")
        return
    if job.status == "done":  # finished, yet no model loads (a damaged file, other library versions)
        st.metric("Latency (predicted)", "not calibrated", help=str(error))
        beside.caption(f"This host's calibration cannot be used: run `{error.command}` on the server.")
        return
    st.fragment(run_every=2.0)(_calibration_progress)(settings)
    beside.caption(f"Fitting this host's {state.runtime} {state.dtype} latency model in the worker (once, a few "
                   "minutes): the prediction appears here.")


def _calibration_progress(settings: dict) -> None:
    """'calibrating (k of n)' while the worker times the calibration networks; a full rerun once it is done."""
    try:
        job = latency_queue().find(settings)
    except StoreUnavailable as fault:
        st.caption(unavailable(fault))
        return
    if job is None or not job.active:
        st.rerun()  # done (or failed): the row shows the prediction, or why not
    elif job.status == "queued":
        st.metric("Latency (predicted)", "calibrating (queued)",
                  help=f"{job.position} run(s) ahead of this host's calibration")
    else:
        progress = f"{job.done} of {job.total}" if job.total else "starting"
        st.metric("Latency (predicted)", f"calibrating ({progress})",
                  help="Timing real networks to fit this host's latency model")


_ASK = object()  # _measured's job not known yet: it asks the store (each poll does)


def _measured(cost: Profile, state: ExplorerState, predicted_ms: float, was_active: bool, job=_ASK) -> None:
    """The stored measurement beside the prediction (``job``: as the row just read it); polls while one is
    queued or running."""
    if job is _ASK:
        try:
            job = stored_job(cost, state)
        except StoreUnavailable as error:
            st.caption(unavailable(error))
            return
    grade = quality(job.result) if job is not None and job.result is not None else None
    line = st.container(horizontal=True, vertical_alignment="center", gap="small")
    if grade is not None:
        value = job.result["median_ms"]
        line.markdown(f"{'Measured, provisional' if grade.provisional else 'Measured'}: **{duration_ms(value)}** "
                      f"({prediction_versus(predicted_ms, value)})", width="content",
                      help="Median of real forward passes in the worker at these settings"
                           + (f"; provisional: {grade.why} (Measure replaces it)" if grade.provisional else ""))
    elif job is not None and job.active:
        line.markdown("Measured: *measuring…*", width="content", help="Queued or running in the worker (Latency view)")
    elif job is not None and job.status == "failed":
        line.caption(f"Not measured: {quoted(job.error, 300)}")
    if (job is None or not job.active and (job.result is None or grade.provisional)) and line.button(
            "Measure", key="prediction_measure", icon=":material/timer:",
            help="Time this variant for real in the worker (its queue is in the Latency view)"):
        blocked = measure_variant(cost, state)
        if blocked:
            st.caption(blocked)
        else:
            st.rerun()  # a full rerun: the fragment starts polling
    if was_active and not (job is not None and job.active):
        st.rerun()  # finished: stop polling


def roofline_panel(cost: Profile, state: ExplorerState) -> None:
    """Every layer on the target's roofline, lanes wasted by unaligned channels, and the width staircase."""
    try:
        prediction = _predict(cost, state)
    except ScalingError as error:  # said in the panels' place, not only in the prediction row's tooltip
        st.info(f"No roofline and no channel alignment here: {error}.", icon=":material/info:")
        return
    host = prediction.method == "calibrated model"
    if host:
        peak, bandwidth, title = _host_roofline(state, prediction)
    else:
        device = published_devices()[state.target]
        peak, bandwidth, title = device.peak(cost.dtype), device.bandwidth, device.name
    layers = prediction.layers
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.roofline_figure(layers, title, peak, bandwidth, modelled=host), key="roofline_chart")
    left.caption(roofline_caption(layers, peak, bandwidth, host, prediction, state.runtime))
    _alignment(right, prediction)
    if host:
        _staircase(cost, state)


def roofline_caption(layers, peak: float, bandwidth: float, host: bool, prediction: LatencyPrediction,
                     runtime: str) -> str:
    """What the roofline shows, every claim computed from the numbers it describes."""
    with_macs = layers[layers.macs > 0]
    memory = with_macs[with_macs.bound == "memory"]
    depthwise = layers[layers.type == "dwconv"]
    bound_dw = int((depthwise.bound == "memory").sum())
    source = "this host as measured (one roofline for every runtime)" if host else "published peaks"
    text = (f"Lower bounds from {source} (ridge at {peak / bandwidth:.3g} FLOPs/byte): {len(memory)} of "
            f"{len(with_macs)} layers with MACs are memory-bound")
    if len(depthwise):
        text += f", {bound_dw} of the {len(depthwise)} depthwise ones"
        if bound_dw == len(depthwise):
            text += ": depthwise layers do few MACs per byte moved, so bandwidth, not arithmetic, limits them"
        elif bound_dw == 0:
            text += ": at this size even the depthwise layers move few enough bytes per MAC to be compute-bound"
    text += "."
    if host and prediction.total_ms > 0:
        text += (f" {runtime} is predicted to reach {prediction.bound_ms / prediction.total_ms:.0%} of this host's "
                 "roofline on this network (the bound's time over the predicted time). Hollow points: where the "
                 "calibrated model puts each layer.")
    return text


def _host_roofline(state: ExplorerState, prediction: LatencyPrediction) -> tuple[float, float, str]:
    """(peak FLOP/s, bandwidth, title) of this host as its calibration measured it."""
    from core.prediction.latency_model import load_calibration

    calibration = load_calibration(state.runtime, prediction.dtype, prediction.threads)
    return calibration.peak_flops, calibration.bandwidth, "this host (measured)"


def _alignment(column, prediction: LatencyPrediction) -> None:
    """Layers whose channel counts are not a multiple of the lane width, with the padded MACs they waste."""
    import pandas as pd
    lanes = prediction.lanes
    layers = prediction.layers
    wasted = layers[layers.padded_macs > layers.macs]
    if not lanes:
        column.markdown("**Channel alignment**")
        column.caption(f"No lane width is known for {prediction.dtype} on this device: nothing to align to.")
        return
    column.markdown(f"**Channel alignment** ({lanes} lanes at {prediction.dtype})")
    if wasted.empty:
        column.caption("Every layer's channels are a multiple of the lane width: no padded MACs.")
        return
    table = pd.DataFrame({"layer": wasted.name, "type": wasted.type,
                          "waste": (1 - wasted.macs / wasted.padded_macs) * 100,
                          "padded": wasted.padded_macs - wasted.macs}).sort_values("padded", ascending=False)
    table["padded MACs"] = table.padded.map(si)  # G for 10^9, as on the cards ("compact" writes "B")
    column.dataframe(table, hide_index=True, height=260, column_order=["layer", "type", "waste", "padded MACs"],
                     column_config={"waste": st.column_config.NumberColumn("waste %", format="%.1f"),
                                    "padded MACs": st.column_config.TextColumn(alignment="right")})
    column.caption(f"{len(wasted)} layers pad channels to a multiple of {lanes}: {prediction.lane_waste:.1%} of "
                   "the padded MACs are padding (blocked layouts and tensor-core tiles pad input and output "
                   "channels).")


def _staircase(cost: Profile, state: ExplorerState) -> None:
    """Predicted latency over nearby widths, with stored measurements of the same settings."""
    from dataclasses import replace

    import pandas as pd

    from core.network.scaling import WIDTH_RANGE

    rows = []
    for step in range(-SWEEP_POINTS, SWEEP_POINTS + 1):
        width = round(cost.width + step * SWEEP_STEP, 4)
        if not WIDTH_RANGE[0] <= width <= WIDTH_RANGE[1]:
            continue
        try:
            variant = cached_profile(cost.source, width, cost.depth, cost.resolution, cost.batch, cost.dtype,
                                     stage_width=cost.stage_width, stage_depth=cost.stage_depth)
        except ScalingError:
            continue
        try:
            job = stored_job(variant, replace(state, width=width))
        except StoreUnavailable:
            job = None  # the prediction row says why there are no measurements
        rows.append({"width": width, "predicted_ms": _predict(variant, state).total_ms,
                     "measured_ms": job.result["median_ms"] if job is not None and job.result else None})
    st.plotly_chart(charts.width_sweep_figure(pd.DataFrame(rows), cost.width), key="staircase_chart")
    st.caption("Channels round to multiples of 8, so latency climbs in steps as the width slider moves. Red points "
               "are stored measurements at these settings (measure a few widths to see the real staircase; "
               "`python bench/bench_latency_model.py` prints a fine sweep).")
