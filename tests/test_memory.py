"""The memory guard holds: a real worker's child peaks (VmHWM from /proc) within 1.5x of the estimate
the guard refused or allowed the run on, for torch, onnxruntime fp32 and int8 at batch 1 and 32 and for
ptflops; a run over the limit is refused up front, and the worker lives on."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from core.measurement.jobs import LatencyQueue
from tests.conftest import ROOT
from tests.test_faults import SMALL, finished, running_worker

NETWORK = dict(SMALL, backbone="mobilenet_v2", width=1.0, resolution=160, warmup=1, repeats=2)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Every kind of job once through one worker (export and quantization included: a fresh cache)."""
    data = tmp_path_factory.mktemp("memory")
    queue = LatencyQueue(data / "latency.sqlite3")
    jobs = {f"{runtime} {dtype} batch {batch}": dict(NETWORK, runtime=runtime, dtype=dtype, batch=batch)
            for runtime, dtype in (("torch", "float32"), ("onnxruntime", "float32"), ("onnxruntime", "int8"))
            for batch in (1, 32)}
    jobs["ptflops"] = dict(task="ptflops", backbone="efficientnet_b0", width=1.5, depth=1.0, resolution=320)
    with running_worker(data, cap_s=120) as worker:
        states = {name: finished(queue, queue.submit(settings, "memory").id, 180) for name, settings in jobs.items()}
        big = finished(queue, queue.submit(dict(NETWORK, backbone="efficientnet_b7", resolution=600, batch=64),
                                          "memory").id)
        after = finished(queue, queue.submit(SMALL, "memory").id)
        alive = worker.poll() is None
    return states, big, after, alive


@pytest.mark.parametrize("name", [f"{runtime} batch {batch}" for runtime in ("torch float32", "onnxruntime float32",
                                                                            "onnxruntime int8") for batch in (1, 32)]
                         + ["ptflops"])
def test_the_child_peaks_within_1_5x_of_the_estimate(measured, name):
    state = measured[0][name]
    assert state.status == "done", state.error
    peak, estimate = state.result["peak_rss_mb"], state.result["estimated_memory_mb"]
    print(f"{name}: peak {peak:.0f} MB, estimate {estimate:.0f} MB, ratio {peak / estimate:.2f}")
    assert peak <= 1.5 * estimate, f"{name}: peak {peak:.0f} MB against an estimate of {estimate:.0f} MB"
    assert estimate <= 2.0 * peak, f"{name}: estimate {estimate:.0f} MB for a peak of {peak:.0f} MB"


def test_a_run_over_the_limit_is_refused_up_front_and_the_worker_goes_on(measured):
    _, big, after, alive = measured
    assert big.status == "failed" and "MB limit: lower the batch" in big.error
    assert big.elapsed_s < 5  # refused before anything was built
    assert after.status == "done" and alive


def test_the_address_space_backstop_turns_a_runaway_allocation_into_memory_error():
    script = textwrap.dedent("""
        from core.measurement.memory import limit_address_space
        limit_address_space(300)
        try:
            block = bytearray(4 * 2 ** 30)
        except MemoryError:
            print("MemoryError")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "MemoryError", result.stderr
