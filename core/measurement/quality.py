"""How far a stored measurement can be trusted: quiet or busy host, spread, timed runs.

A result measured while other processes used the CPU, or whose p10-p90 spread is wide, is
*provisional*: pages show it as such, the next Measure replaces it, and the worker measures it
again when the host is quiet. Of several results for one network and settings, the best one is
shown (``rank``). Torch-free: the web server and the worker use it.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

BUSY_CORES = 0.5  # other processes' CPU while timing, in cores: above it the figure is noisy
WIDE_SPREAD = 0.5  # (p90 - p10) / median above it: the timings disagree with each other
QUIET_CORES = 0.3  # the whole host's CPU below it: quiet enough to measure again


@dataclass(frozen=True)
class Quality:
    """A result's quality, in a word and in a sentence."""

    provisional: bool
    why: str  # "" for a good result

    @property
    def label(self) -> str:
        return f"provisional: {self.why}" if self.provisional else "good"


def quality(result: dict) -> Quality:
    """Provisional where the host was busy or the spread is wide; the reason names the figure."""
    reasons = []
    others = result.get("other_load_cores")
    if result.get("host_busy") or (others is not None and others > BUSY_CORES):
        reasons.append(f"busy host ({others or 0:.1f} other cores)")
    spread = spread_of(result)
    if spread > WIDE_SPREAD:
        reasons.append(f"wide spread (p10-p90 {spread:.0%} of the median)")
    return Quality(bool(reasons), ", ".join(reasons))


def spread_of(result: dict) -> float:
    """(p90 - p10) / median of a result's timed runs."""
    median = result.get("median_ms") or 0.0
    return (result.get("p90_ms", 0.0) - result.get("p10_ms", 0.0)) / median if median > 0 else 0.0


def rank(result: dict, job: int) -> tuple:
    """Sort key, best last: any good result beats a provisional one (the newest good one wins); among
    provisional ones, the quietest host, then the narrowest spread."""
    if not quality(result).provisional:
        return (1, job, 0.0)
    return (0, -(result.get("other_load_cores") or 0.0), -spread_of(result))


def busy_cores(seconds: float = 1.0) -> float | None:
    """Cores' worth of CPU the whole host used over ``seconds`` (/proc/stat); None where it cannot be read."""
    def busy() -> int | None:
        try:
            with open("/proc/stat") as handle:
                fields = [int(value) for value in handle.readline().split()[1:8]]
        except (OSError, ValueError):
            return None
        return sum(fields) - fields[3] - fields[4]  # all but idle and iowait

    before = busy()
    time.sleep(seconds)
    after = busy()
    if before is None or after is None:
        return None
    return (after - before) / os.sysconf("SC_CLK_TCK") / seconds


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Linear-interpolated percentile of already sorted timings: p10 is what a host does when it is free."""
    index = fraction * (len(sorted_values) - 1)
    low = int(index)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (index - low)
