"""Real latency: small runs on CPU, memory guard, serialization, progress."""
import re
import threading
import time

import pytest

import core
from core.measurement.latency import (
    LatencyError,
    available_devices,
    estimate_memory_bytes,
    measure_latency,
)


def test_measures_median_and_spread_with_progress():
    seen = []
    result = measure_latency("mobilenet_v3_small", 0.5, 1.0, 96, warmup=1, repeats=5,
                             progress=lambda done, total: seen.append((done, total)))
    assert result.runs == 5 and result.warmup == 1 and result.device == "cpu"
    assert 0 < result.p10_ms <= result.median_ms <= result.p90_ms
    assert result.images_per_s == pytest.approx(1000 / result.median_ms)
    assert seen[-1] == (6, 6)


def test_cap_stops_adding_runs_but_keeps_three():
    result = measure_latency("mobilenet_v2", 0.35, 1.0, 64, warmup=0, repeats=100_000, cap_s=5.0)
    assert 3 <= result.runs < 100_000 and result.wall_s < 6.0


def test_refuses_up_front_what_cannot_fit_the_cap():
    """The issue's case: about 80 s per forward pass here; refused at once with what to lower."""
    started = time.perf_counter()
    with pytest.raises(LatencyError, match=r"above the 30 s cap: lower the resolution \(about \d+ px would fit\)"):
        # (a memory limit it fits: at the default 2 GB the memory guard refuses it first)
        core.measure_latency("efficientnet_b7", width=3.0, depth=4.0, resolution=1024, memory_limit_mb=8192)
    assert time.perf_counter() - started < 30


def test_result_says_how_busy_the_host_was():
    result = measure_latency("resnet18", 0.25, 0.5, 64, warmup=0, repeats=3, threads=1)
    assert result.threads == 1
    assert result.other_load_cores is None or result.other_load_cores >= 0
    assert result.host_busy == (result.other_load_cores is not None and result.other_load_cores > 0.5)


def test_refuses_runs_above_the_memory_limit_before_allocating():
    needed = estimate_memory_bytes("efficientnet_b7", None, None, None, batch=8)
    assert needed > 256 * 2 ** 20
    with pytest.raises(LatencyError, match="above the 256 MB limit: lower the batch"):
        measure_latency("efficientnet_b7", batch=8, memory_limit_mb=256)


@pytest.mark.parametrize("kwargs,message", [({"device": "quantum"}, "not available"),
                                            ({"dtype": "float16"}, "not supported on cpu"),
                                            ({"batch": 0}, "batch 0 is out of range"),
                                            ({"threads": 0}, "threads 0 is out of range: use 1 to")])
def test_refuses_bad_settings(kwargs, message):
    with pytest.raises(LatencyError, match=message):
        measure_latency("mobilenet_v2", **kwargs)


def test_runs_are_serialized(monkeypatch):
    """Three threads timing at once: the lock keeps their timed runs from overlapping."""
    import core.measurement.latency as latency

    original, active, overlaps, results = latency._timed_runs, [], [], []

    def tracking(*args, **kwargs):
        active.append(1)
        overlaps.append(len(active))
        try:
            return original(*args, **kwargs)
        finally:
            active.pop()

    monkeypatch.setattr(latency, "_timed_runs", tracking)
    threads = [threading.Thread(target=lambda: results.append(
        measure_latency("resnet18", 0.25, 0.5, 64, warmup=0, repeats=3))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and max(overlaps) == 1


def test_cpu_is_always_available():
    assert available_devices()[0] == "cpu"
    assert core.measure_latency("resnet18", 0.25, 0.5, 64, repeats=3, warmup=0).runs == 3


@pytest.mark.parametrize("call,message", [
    (lambda: measure_latency("mobilenet_v2", memory_limit_mb=float("nan")), "memory_limit_mb must be a finite"),
    (lambda: measure_latency("mobilenet_v2", cap_s=float("inf")), "cap_s) must be a finite number"),
    (lambda: measure_latency("mobilenet_v2", threads=True), "threads must be a whole number"),
    (lambda: measure_latency("mobilenet_v2", threads=1_000_000), "more than this host's"),
    (lambda: core.profile("mobilenet_v2", True), "width multiplier True is out of range"),
    (lambda: core.profile("mobilenet_v2", 1.0, float("nan")), "depth multiplier nan is out of range"),
])
def test_api_arguments_are_finite_numbers_not_booleans(call, message):
    with pytest.raises(core.ScalingError, match=re.escape(message)):
        call()


def test_the_accuracy_estimate_refuses_a_non_finite_resolution():
    from core.published.reference import estimate_top1
    with pytest.raises(core.ScalingError, match="resolution inf must be a whole number"):
        estimate_top1("mobilenet_v2", 1.0, 1.0, float("inf"))
