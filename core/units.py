"""Human-readable numbers, shared by the command line and the app."""
from __future__ import annotations


def si(value: float, unit: str = "", digits: int = 2) -> str:
    """3504872 -> '3.50 M'; units in thousands steps (K, M, G, T)."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.{digits}f} {prefix}{unit}".rstrip()
    return f"{value:.{digits if value != int(value) else 0}f} {unit}".rstrip()


def size_bytes(value: float) -> str:
    """Bytes in binary units: 14019488 -> '13.37 MiB'."""
    for factor, prefix in ((2 ** 30, "GiB"), (2 ** 20, "MiB"), (2 ** 10, "KiB")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}"
    return f"{value:.0f} B"
