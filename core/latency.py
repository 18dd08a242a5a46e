"""Real latency: build the module, run timed forwards, report median and spread.

Runs in one process are serialized by one lock, so two callers (two browser
sessions, say) never time each other's work. Before any allocation the memory a
run needs is estimated from the analytic profile, and runs above a limit are
refused with a message that says what to change.
"""
from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from core.counting import DTYPE_BYTES, Profile, profile
from core.modules import build_model
from core.scaling import ScalingError

DEFAULT_MEMORY_LIMIT_MB = int(os.environ.get("CSL_LATENCY_MEMORY_LIMIT_MB", "2048"))
TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_RUN_LOCK = threading.Lock()


class LatencyError(ScalingError):
    """A latency run the engine refuses (memory, device, dtype); the message says what to change."""


@dataclass(frozen=True)
class LatencyResult:
    """Milliseconds per batch, over ``runs`` timed forwards after ``warmup`` untimed ones."""

    backbone: str
    width: float
    depth: float
    resolution: int
    device: str
    batch: int
    dtype: str
    channels_last: bool
    threads: int
    warmup: int
    runs: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    images_per_s: float
    estimated_memory_mb: float
    torch_version: str

    def as_dict(self) -> dict:
        return asdict(self)


def available_devices() -> list[str]:
    """Devices this machine can time on: cpu always, cuda and mps where present."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def supported_dtypes(device: str) -> list[str]:
    """float16 only where kernels exist for it; bfloat16 runs on CPU and recent GPUs."""
    return ["float32", "bfloat16"] if device == "cpu" else ["float32", "float16", "bfloat16"]


def estimate_memory_bytes(backbone: str, width: float | None, depth: float | None,
                          resolution: int | None, batch: int = 1, dtype: str = "float32") -> int:
    """Weights plus twice the largest layer input+output at this batch: an estimate, not a measurement."""
    return _memory_bytes(profile(backbone, width, depth, resolution, batch=batch, dtype=dtype))


def _memory_bytes(cost: Profile) -> int:
    return cost.params * DTYPE_BYTES[cost.dtype] + 2 * cost.peak_activation_bytes


def _percentile(sorted_values: list[float], fraction: float) -> float:
    index = fraction * (len(sorted_values) - 1)
    low = int(index)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (index - low)


def _synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def measure_latency(backbone: str, width: float | None = None, depth: float | None = None,
                    resolution: int | None = None, device: str = "cpu", batch: int = 1,
                    dtype: str = "float32", channels_last: bool = False, warmup: int = 3,
                    repeats: int = 20, time_budget_s: float = 10.0, threads: int | None = None,
                    memory_limit_mb: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> LatencyResult:
    """Time ``repeats`` forward passes under ``torch.inference_mode()``.

    Stops early once ``time_budget_s`` is spent (after at least 3 timed runs).
    ``progress(done, total)`` is called after each warm-up and timed run.
    """
    if device not in available_devices():
        raise LatencyError(f"device {device!r} is not available here: use one of {', '.join(available_devices())}")
    if dtype not in supported_dtypes(device):
        choices = ", ".join(supported_dtypes(device))
        raise LatencyError(f"dtype {dtype!r} is not supported on {device}: use one of {choices}")
    if not (isinstance(batch, int) and 1 <= batch <= 1024):
        raise LatencyError(f"batch {batch!r} is out of range: use 1 to 1024")
    if warmup < 0 or repeats < 1 or time_budget_s <= 0:
        raise LatencyError("warmup must be at least 0, repeats at least 1 and the time budget positive")
    cost = profile(backbone, width, depth, resolution, batch=batch, dtype=dtype)
    needed = _memory_bytes(cost)
    limit_mb = DEFAULT_MEMORY_LIMIT_MB if memory_limit_mb is None else memory_limit_mb
    if needed > limit_mb * 2 ** 20:
        raise LatencyError(
            f"this run needs about {needed / 2 ** 20:,.0f} MB, above the {limit_mb:,} MB limit: "
            "lower the batch, resolution or width")
    with _RUN_LOCK:
        previous_threads = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            return _timed_runs(cost, device, batch, dtype, channels_last, warmup, repeats,
                               time_budget_s, needed, progress)
        finally:
            torch.set_num_threads(previous_threads)


def _timed_runs(cost, device, batch, dtype, channels_last, warmup, repeats, time_budget_s,
                needed, progress) -> LatencyResult:
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(cost.backbone, cost.width, cost.depth, cost.num_classes)
    model = model.to(device=device, dtype=TORCH_DTYPES[dtype], memory_format=memory_format)
    images = torch.randn(batch, 3, cost.resolution, cost.resolution, device=device,
                         dtype=TORCH_DTYPES[dtype]).contiguous(memory_format=memory_format)
    total = warmup + repeats
    timings: list[float] = []
    deadline = time.perf_counter() + time_budget_s
    with torch.inference_mode():
        for step in range(total):
            start = time.perf_counter()
            model(images)
            _synchronize(device)
            elapsed = time.perf_counter() - start
            if step >= warmup:
                timings.append(elapsed * 1000)
            if progress is not None:
                progress(step + 1, total)
            if len(timings) >= 3 and time.perf_counter() > deadline:
                break
    ordered = sorted(timings)
    median = statistics.median(ordered)
    return LatencyResult(
        backbone=cost.backbone, width=cost.width, depth=cost.depth, resolution=cost.resolution,
        device=device, batch=batch, dtype=dtype, channels_last=channels_last,
        threads=torch.get_num_threads(), warmup=warmup, runs=len(timings), median_ms=median,
        p10_ms=_percentile(ordered, 0.1), p90_ms=_percentile(ordered, 0.9),
        images_per_s=batch * 1000 / median, estimated_memory_mb=needed / 2 ** 20,
        torch_version=torch.__version__)
