"""Human-readable numbers, shared by the command line and the app."""
from __future__ import annotations


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
    return f"{value:.0f} B"


def duration_ms(value: float) -> str:
    """Milliseconds for people: 0.8123 -> '0.81 ms', 123.4 -> '123 ms', 35549.8 -> '35.5 s'."""
    if value >= 10_000:
        return f"{value / 1000:,.1f} s"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.3g} ms" if value >= 100 else f"{value:.2f} ms"


def duration_range_ms(low: float, high: float) -> str:
    """A spread in one unit: '12.1-14.8 ms', '1.20-1.45 s'."""
    if high >= 1000:
        return f"{low / 1000:.2f}-{high / 1000:.2f} s"
    return f"{low:.3g}-{high:.3g} ms" if low >= 100 else f"{low:.2f}-{high:.2f} ms"


def ratio(value: float, base: float) -> str:
    """How many times the base: 'x97.8', 'x1.23', 'x0.0031' (reads better than '+9,680%')."""
    times = value / base
    return f"x{times:.3g}" if times >= 1 else f"x{times:.2g}"
