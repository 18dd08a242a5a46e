"""Whether a latency run fits its cap and its memory limit: one answer, wherever it is asked.

The page asks before it queues a run (with the worker's reported baseline memory), the measuring
process asks again before it builds anything (with its own). Time comes from this host's calibrated
latency model (``core.prediction.latency_model``, the same model as the Explorer's predicted card) where one
exists; without one, the run's own measured speed of the family's base network decides. Torch-free.
"""
from __future__ import annotations

import math

from core.measurement.memory import MB, job_bytes
from core.network.counting import Profile
from core.network.profiling import profile
from core.network.scaling import ScalingError
from core.prediction.latency_model import HOST, predict_from_profile

MIN_TIMED_RUNS = 3


def predicted_forward_s(cost: Profile, runtime: str, dtype: str, threads: int) -> float | None:
    """Seconds per forward pass by this host's calibrated model (None without a calibration), for ``cost``'s
    network at ``dtype`` (an onnxruntime int8 run is predicted by the int8 calibration)."""
    at_dtype = cost if cost.dtype == dtype else profile(cost.backbone, cost.width, cost.depth, cost.resolution,
                                                        batch=cost.batch, dtype=dtype, task=cost.task,
                                                        head=cost.head)
    try:
        return predict_from_profile(at_dtype, runtime, HOST, threads).total_ms / 1000
    except ScalingError:  # not calibrated, or a runtime and dtype this host cannot time
        return None


def needed_bytes(cost: Profile, runtime: str, dtype: str, held_mb: float) -> int:
    """The run's peak resident memory: what its process holds already plus what the run adds (``core.measurement.memory``)."""
    one_image = cost if cost.batch == 1 and cost.dtype == "float32" else profile(
        cost.backbone, cost.width, cost.depth, cost.resolution, task=cost.task, head=cost.head)
    return int(held_mb * MB + job_bytes(cost, one_image, runtime, dtype))


def memory_refusal(cost: Profile, runtime: str, dtype: str, held_mb: float, limit_mb: float) -> str | None:
    """Why the run's process would pass ``limit_mb`` (it holds ``held_mb`` already), or None."""
    needed = needed_bytes(cost, runtime, dtype, held_mb)
    if needed <= limit_mb * MB:
        return None
    return (f"this run needs about {needed / MB:,.0f} MB with what the measuring process holds already, above the "
            f"{limit_mb:,.0f} MB limit: lower the batch, resolution or width")


def time_refusal(cost: Profile, forward_s: float, ready_s: float, warmup: int, cap_s: float,
                 making: bool = False, basis: str = "") -> str | None:
    """Why ``ready_s`` of building (exporting, quantizing) plus a warm-up and 3 timed passes of ``forward_s``
    each would pass ``cap_s``, naming a resolution that would fit; None if they fit."""
    planned = ready_s + (min(warmup, 1) + MIN_TIMED_RUNS) * forward_s
    if planned <= cap_s:
        return None
    fit = math.sqrt(cap_s / planned)
    side = max(cost.resolution) if isinstance(cost.resolution, tuple) else cost.resolution
    what = " (exporting, quantizing and timing)" if making else ""
    return (f"this run{what} would take about {seconds(planned)} (about {seconds(forward_s)} per forward pass on "
            f"this host{basis}), above the {cap_s:g} s cap: lower the resolution (about "
            f"{max(32, int(side * fit)) // 8 * 8} px would fit), the width, the depth or the batch")


def seconds(value: float) -> str:
    return f"{value:,.0f} s" if value >= 10 else f"{value:.1f} s"


def before_queueing(cost: Profile, runtime: str, dtype: str, threads: int, warmup: int, cap_s: float,
                    held_mb: float, limit_mb: float) -> str | None:
    """The page's check before it queues a run: memory, then time by the calibrated model (None: queue it).

    Without a calibration the time check waits for the run itself. Building the module is not counted
    here (it is small beside the passes of any run the cap refuses).
    """
    refusal = memory_refusal(cost, runtime, dtype, held_mb, limit_mb)
    if refusal:
        return refusal
    forward_s = predicted_forward_s(cost, runtime, dtype, threads)
    if forward_s is None:
        return None
    return time_refusal(cost, forward_s, 0.0, warmup, cap_s, basis=", by the calibrated model")
