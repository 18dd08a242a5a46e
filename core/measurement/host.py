"""What a timed run needs from the host: torch's thread count, its dtypes, and the other processes' load.

Shared by the whole-network timer (``core.measurement.latency``), the per-kernel timer
(``core.measurement.kernel_timing``) and the host-roofline measurement, none of which import each other.
"""
from __future__ import annotations

import os

import torch

TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class torch_threads:
    """Set torch's intra-op threads for a block and restore them after."""

    def __init__(self, threads: int):
        self.threads = threads

    def __enter__(self):
        self.previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)

    def __exit__(self, *exc):
        torch.set_num_threads(self.previous)


def cpu_jiffies() -> tuple[int, int] | None:
    """(busy jiffies of the whole host, jiffies of this process), where /proc says; else None."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(value) for value in handle.readline().split()[1:]]
        with open("/proc/self/stat") as handle:
            own = handle.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle, int(own[11]) + int(own[12])


def other_load(before, after, seconds: float) -> float | None:
    """Cores' worth of CPU other processes used between two ``cpu_jiffies`` readings."""
    if before is None or after is None or seconds <= 0:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    others = (after[0] - before[0]) - (after[1] - before[1])
    return max(0.0, others / ticks / seconds)
