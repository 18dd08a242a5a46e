"""Human-readable numbers, shared by the command line and the app.

Counts use SI prefixes (K, M, G, T: G is 10^9, never "B"), bytes binary units (KiB, MiB, GiB) and
"bytes" spelt out, so "B" never stands for both billions and bytes on one screen.
"""
from __future__ import annotations

import math


def si(value: float, unit: str = "", digits: int = 2) -> str:
    """3504872 -> '3.50 M'; units in thousands steps (K, M, G, T)."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.{digits}f} {prefix}{unit}".rstrip()
    return f"{value:.{digits if value != int(value) else 0}f} {unit}".rstrip()


def size_bytes(value: float) -> str:
    """Bytes in binary units, three significant digits: 14019488 -> '13.4 MiB', 267898880 -> '255 MiB'."""
    for factor, prefix in ((2 ** 30, "GiB"), (2 ** 20, "MiB"), (2 ** 10, "KiB")):
        if abs(value) >= factor:
            scaled = value / factor
            return f"{scaled:.0f} {prefix}" if scaled >= 100 else f"{scaled:.3g} {prefix}"
    return f"{value:.0f} bytes"


def duration_ms(value: float) -> str:
    """Milliseconds for people: 0.8123 -> '0.81 ms', 123.4 -> '123 ms', 35549.8 -> '35.5 s'."""
    if value >= 10_000:
        return f"{value / 1000:,.1f} s"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.3g} ms" if value >= 100 else f"{value:.2f} ms"


def duration_range_ms(low: float, high: float) -> str:
    """A spread in one unit, each end to three significant digits so a wide one fits a card:
    '12.1-14.8 ms', '10.1-175 ms', '0.81-0.95 ms', '1.20-1.45 s'."""
    if float(f"{high:.3g}") >= 1000:
        return f"{_three_digits(low / 1000)}-{_three_digits(high / 1000)} s"
    return f"{_three_digits(low)}-{_three_digits(high)} ms"


def _three_digits(value: float) -> str:
    """Three significant digits, at most two decimals, trailing zeros kept (1.2 -> '1.20', 175.4 -> '175')."""
    value = float(f"{value:.3g}")  # rounded first: 99.96 is '100', not '100.0'
    decimals = 2 if value <= 0 else min(2, max(0, 2 - math.floor(math.log10(value))))
    return f"{value:.{decimals}f}"


def ratio(value: float, base: float) -> str:
    """How many times the base: 'x97.8', 'x1.23', 'x0.0031' (reads better than '+9,680%')."""
    times = value / base
    return f"x{times:.3g}" if times >= 1 else f"x{times:.2g}"
