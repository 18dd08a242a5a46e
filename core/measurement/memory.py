"""How much memory a measuring process uses, what a job will add, and the limits that bound it.

The estimates are fitted to peak RSS measured from ``/proc`` over the backbones at batch 1 to 64
(``bench/bench_memory.py`` measures them again and prints the ratios): what a job adds is a
constant for the libraries it loads plus multiples of the fp32 weights, of the largest layer's
input and output at the run's batch, and (export, quantization, ptflops) of one image's
activations. A run is refused up front when the process's present RSS plus that estimate is over
the limit; the worker also kills a child whose RSS passes the limit, and the child's address space
is capped as a backstop, so an overrun is one failed job, never a dead worker or an out-of-memory
killer picking a victim. Torch-free: the worker imports it.
"""
from __future__ import annotations

import ctypes
import math
import os
import resource
from dataclasses import dataclass

from core.network.counting import Profile

MB = 2 ** 20
DEFAULT_LIMIT_MB = 2048.0
ADDRESS_SPACE_FACTOR = 3  # virtual reservations (thread stacks, allocator arenas) run well past RSS


@dataclass(frozen=True)
class JobMemory:
    """Bytes a kind of job adds to its process: ``base + weights x W + peak x P + image x I``.

    W: the fp32 weights; P: the largest layer's input plus output at the run's batch and dtype;
    I: the sum of every layer's output for one image (what tracing, calibration and ptflops' hooks touch).
    """

    base: float
    weights: float
    peak: float
    image: float = 0.0

    def bytes(self, cost: Profile, one_image: Profile) -> float:
        return (self.base + self.weights * cost.params * 4 + self.peak * cost.peak_activation_bytes
                + self.image * one_image.activation_bytes)


# Fitted (non-negative least squares on relative error) to peaks measured with /proc on 11 configurations
# per kind, MobileNet V1 to EfficientNet-B4 at batch 1 to 64, then raised about 10%: measured/estimated
# came out 0.81-1.07 (torch), 0.79-1.33 (onnxruntime fp32), 0.85-1.04 (int8); ptflops (batch 1 only, under
# torch.no_grad) 0.75-1.0, see bench/bench_memory.py.
# onnxruntime's figures include exporting (and quantizing), which a cached file skips: an overestimate then.
JOB_MEMORY = {
    "torch": JobMemory(base=30 * MB, weights=0.95, peak=2.65, image=0.25),
    "onnxruntime": JobMemory(base=85 * MB, weights=3.0, peak=1.9, image=2.85),
    "int8": JobMemory(base=160 * MB, weights=2.9, peak=0.52, image=4.55),
    "ptflops": JobMemory(base=95 * MB, weights=0.9, peak=1.5, image=0.15),
}


def job_bytes(cost: Profile, one_image: Profile, runtime: str = "torch", dtype: str = "float32") -> float:
    """What a latency run adds to its process (with onnxruntime: exporting and quantizing included)."""
    kind = "torch" if runtime != "onnxruntime" else "int8" if dtype == "int8" else "onnxruntime"
    return JOB_MEMORY[kind].bytes(cost, one_image)


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident memory of a process now, from /proc (None where it cannot be read, e.g. it just exited)."""
    return _status_mb(pid, "VmRSS")


def peak_rss_mb() -> float:
    """This process's peak resident memory since the last ``reset_peak_rss``."""
    return _status_mb("self", "VmHWM") or 0.0


def reset_peak_rss() -> None:
    """Start this process's peak-RSS count again (Linux: clear_refs 5); a no-op where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _status_mb(pid, field: str) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def trim_heap() -> None:
    """Give freed heap back to the OS after a job, so the next job's estimate starts from what is in use."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def child_memory_limit_mb() -> float:
    """``CSL_LATENCY_MEMORY_LIMIT_MB`` (default 2048): the most a measuring process may hold, libraries included."""
    try:
        limit = float(os.environ.get("CSL_LATENCY_MEMORY_LIMIT_MB", DEFAULT_LIMIT_MB))
    except ValueError:
        return DEFAULT_LIMIT_MB
    return limit if math.isfinite(limit) and limit >= 256 else DEFAULT_LIMIT_MB


def limit_address_space(limit_mb: float) -> None:
    """Cap this process's address space at what it maps now plus a multiple of the limit: a runaway
    allocation then fails inside the job (MemoryError, or torch's 'can't allocate') instead of the host."""
    mapped = _status_mb("self", "VmSize") or 0.0
    cap = int((mapped + ADDRESS_SPACE_FACTOR * limit_mb) * MB)
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ValueError, OSError):
        pass


def out_of_memory_message(settings: dict, used_mb: float | None = None, limit_mb: float | None = None,
                          killed: bool = False) -> str:
    """One line for a run that ran out of memory, with what to lower."""
    what = f"batch {settings.get('batch', 1)}, {settings.get('resolution') or 'default'} px"
    if used_mb is not None:
        how = f"used {used_mb:,.0f} MB, past the {limit_mb:,.0f} MB limit"
    elif killed:
        how = "the measuring process was killed, most likely out of memory"
    else:
        how = "an allocation failed"
    return f"ran out of memory at {what} ({how}): lower the batch or the resolution"
