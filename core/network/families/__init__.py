"""Every backbone by name: the base architectures and their published presets.

A preset is a base architecture at a published (width, depth, resolution): the
exact network its published figures belong to. EfficientNet B1-B7 take their
coefficients from the published table in ``assets/reference/efficientnet.csv``
rather than recomputing them from phi; the MobileNet V3 0.75 presets are TF-slim's
multiplier, which built the published 0.75 networks.
"""
from __future__ import annotations

import csv
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from core.network.architecture import Architecture, BatchNorm
from core.network.families.efficientnet import EFFICIENTNET_B0, TF_PORTED_NORM, TF_PORTED_NORM_MODELS
from core.network.families.mobilenet_v1 import MOBILENET_V1
from core.network.families.mobilenet_v2 import MOBILENET_V2
from core.network.families.mobilenet_v3 import (
    MOBILENET_V3_LARGE,
    MOBILENET_V3_LARGE_TF_SLIM,
    MOBILENET_V3_SMALL,
    MOBILENET_V3_SMALL_TF_SLIM,
)
from core.network.families.resnet import RESNET18, RESNET34, RESNET50

REFERENCE_DIR = Path(__file__).resolve().parents[3] / "assets" / "reference"

ARCHITECTURES: dict[str, Architecture] = {arch.name: arch for arch in (
    MOBILENET_V1, MOBILENET_V2, MOBILENET_V3_LARGE, MOBILENET_V3_SMALL,
    MOBILENET_V3_LARGE_TF_SLIM, MOBILENET_V3_SMALL_TF_SLIM,
    EFFICIENTNET_B0, RESNET18, RESNET34, RESNET50)}


@dataclass(frozen=True)
class Preset:
    """A published variant: a base architecture at fixed multipliers.

    ``dropout`` and ``norm`` override the base's where the reference builder does.
    """

    name: str
    title: str
    base: str
    width: float
    depth: float = 1.0
    resolution: int = 224
    dropout: float | None = None
    norm: BatchNorm | None = None


def _efficientnet_presets() -> list[Preset]:
    with open(REFERENCE_DIR / "efficientnet.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["origin"] == "paper"]
    return [Preset(name=row["model"], title=row["variant"], base="efficientnet_b0",
                   width=float(row["width_mult"]), depth=float(row["depth_mult"]),
                   resolution=int(row["resolution"]), dropout=float(row["dropout"]),
                   norm=TF_PORTED_NORM if row["model"] in TF_PORTED_NORM_MODELS else None)
            for row in rows]


def _width_presets(family: str, base: str, widths: tuple[float, ...]) -> list[Preset]:
    title = ARCHITECTURES[base].title
    return [Preset(name=f"{family}_{round(width * 100):03d}", title=f"{title} {width:g}", base=base,
                   width=width) for width in widths]


PRESETS: dict[str, Preset] = {preset.name: preset for preset in (
    *_efficientnet_presets(),
    *_width_presets("mobilenet_v1", "mobilenet_v1", (0.25, 0.5, 0.75)),
    *_width_presets("mobilenet_v2", "mobilenet_v2", (0.35, 0.5, 0.75, 1.3, 1.4)),
    *_width_presets("mobilenet_v3_large", "mobilenet_v3_large_tf_slim", (0.75,)),
    *_width_presets("mobilenet_v3_small", "mobilenet_v3_small_tf_slim", (0.75,)),
)}

BACKBONE_NAMES: tuple[str, ...] = tuple(sorted({*ARCHITECTURES, *PRESETS}))


# Architectures loaded from a spec or scaled per stage, by name. A name is a digest of the content, so an
# entry never changes; the bound keeps a server that meets many specs from growing (a page loads its spec again).
MAX_REGISTERED = 256
_REGISTERED: OrderedDict[str, Architecture] = OrderedDict()


def register(arch: Architecture) -> Architecture:
    """Make a custom architecture findable by its name, wherever a backbone name is passed on."""
    if arch.name in ARCHITECTURES or arch.name in PRESETS:
        raise ValueError(f"{arch.name!r} is a built-in backbone's name")
    _REGISTERED[arch.name] = arch
    _REGISTERED.move_to_end(arch.name)
    while len(_REGISTERED) > MAX_REGISTERED:
        _REGISTERED.popitem(last=False)
    return arch


def _itself(arch: Architecture) -> Preset:
    return Preset(name=arch.name, title=arch.title, base=arch.name, width=arch.default_width,
                  depth=arch.default_depth, resolution=arch.default_resolution)


def resolve(name: str | Architecture) -> tuple[Architecture, Preset]:
    """The base architecture of any backbone (a name or an ``Architecture``) and the preset it stands for.

    A base name stands for itself at width = depth = 1 and its default resolution; an architecture
    (a loaded spec, a per-stage variant) at its own defaults.
    """
    if isinstance(name, Architecture):
        return (register(name) if name.custom else name), _itself(name)
    if name in PRESETS:
        preset = PRESETS[name]
        return ARCHITECTURES[preset.base], preset
    if name in ARCHITECTURES:
        return ARCHITECTURES[name], _itself(ARCHITECTURES[name])
    # one lookup, not a check and then an index: another session may register (and evict) in between
    arch = _REGISTERED.get(name) if isinstance(name, str) else None
    if arch is None:
        raise KeyError(name)
    return arch, _itself(arch)
