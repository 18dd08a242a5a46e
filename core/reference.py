"""Published ImageNet figures (``assets/reference/*.csv``) and curves drawn from them.

Every row keeps its ``source``. Accuracy for a scaled variant is never published:
``estimate_top1`` interpolates on its own family's published curve and says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import pandas as pd

from core.families import REFERENCE_DIR, resolve

FAMILY_FILES = ("efficientnet", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3", "resnet",
                "efficientnet_v2")
CURVE_COLUMNS = ["curve", "model", "variant", "width_mult", "depth_mult", "resolution", "params_m",
                 "macs_m", "top1", "source"]


@dataclass(frozen=True)
class Curve:
    """Which published rows make one family's reference curve, and which backbones it serves."""

    label: str
    file: str
    query: str
    backbones: tuple[str, ...]


CURVES = (
    Curve("EfficientNet B0-B7 (paper)", "efficientnet", "origin == 'paper'", ("efficientnet_b0",)),
    Curve("MobileNet V1 (TF-slim grid)", "mobilenet_v1",
          "origin == 'tf-slim' and release == '2018_02_22' and precision == 'float'", ("mobilenet_v1",)),
    Curve("MobileNet V2 (TF-slim grid)", "mobilenet_v2", "origin == 'tf-slim'", ("mobilenet_v2",)),
    Curve("MobileNet V3 Large (paper)", "mobilenet_v3",
          "origin == 'paper' and precision == 'float' and model == 'mobilenet_v3_large'",
          ("mobilenet_v3_large",)),
    Curve("MobileNet V3 Small (paper)", "mobilenet_v3",
          "origin == 'paper' and precision == 'float' and model == 'mobilenet_v3_small'",
          ("mobilenet_v3_small",)),
    Curve("ResNet-18/34/50 (torchvision V1)", "resnet", "release == 'IMAGENET1K_V1'",
          ("resnet18", "resnet34", "resnet50")),
)


@cache
def _load(family: str) -> pd.DataFrame:
    if family not in FAMILY_FILES:
        raise KeyError(f"no reference table {family!r}: use one of {', '.join(FAMILY_FILES)}")
    return pd.read_csv(REFERENCE_DIR / f"{family}.csv", dtype={"release": str})


def load(family: str) -> pd.DataFrame:
    """One family's published table, as printed, with its ``source`` column."""
    return _load(family).copy()


@cache
def _curves() -> pd.DataFrame:
    frames = []
    for curve in CURVES:
        rows = _load(curve.file).query(curve.query).copy()
        rows["curve"] = curve.label
        if "depth_mult" not in rows:
            rows["depth_mult"] = 1.0
        if "width_mult" not in rows:
            rows["width_mult"] = 1.0
        frames.append(rows.reindex(columns=CURVE_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def curve_points() -> pd.DataFrame:
    """All reference-curve points: curve, model, variant, multipliers, params_m, macs_m, top1, source."""
    return _curves().copy()


def curve_for(base: str) -> Curve | None:
    """The published curve a base architecture is compared with, if any."""
    return next((curve for curve in CURVES if base in curve.backbones), None)


def frontier(points: pd.DataFrame) -> pd.DataFrame:
    """The best published top-1 at or below each MAC count (a grid becomes one curve)."""
    ordered = points.sort_values(["macs_m", "top1"], ascending=[True, False])
    best = ordered["top1"].cummax()
    return ordered[ordered["top1"] >= best].drop_duplicates("macs_m")


@cache
def _frontier_points(label: str) -> tuple[tuple[float, ...], tuple[float, ...], tuple[str, ...]]:
    """(log MACs, top-1, variant) along one curve's frontier, computed once."""
    points = frontier(_curves().query("curve == @label"))
    return (tuple(points["macs_m"].map(math.log)), tuple(points["top1"]), tuple(points["variant"]))


@dataclass(frozen=True)
class AccuracyEstimate:
    """Top-1 interpolated (linear in log MACs) on a published curve: an estimate, not a result."""

    top1: float
    curve: str
    low_variant: str
    high_variant: str


# Published MACs are rounded (B0: 390 printed, 385.8 exact): a point this close past
# either end of a curve takes that end's accuracy instead of no estimate.
END_TOLERANCE = 0.05


def estimate_top1(base: str, macs: int) -> AccuracyEstimate | None:
    """Interpolate top-1 at ``macs`` on ``base``'s family curve; None outside the published range."""
    curve = curve_for(base)
    if curve is None:
        return None
    log_macs, top1, variants = _frontier_points(curve.label)
    target = math.log(macs / 1e6)
    margin = math.log1p(END_TOLERANCE)
    if not log_macs[0] - margin <= target <= log_macs[-1] + margin:
        return None
    target = min(max(target, log_macs[0]), log_macs[-1])
    for index in range(len(log_macs) - 1):
        if target <= log_macs[index + 1]:
            share = (target - log_macs[index]) / (log_macs[index + 1] - log_macs[index])
            return AccuracyEstimate(top1[index] + share * (top1[index + 1] - top1[index]), curve.label,
                                    variants[index], variants[index + 1])
    return AccuracyEstimate(top1[-1], curve.label, variants[-1], variants[-1])


@dataclass(frozen=True)
class PublishedAccuracy:
    """A published top-1 for exactly this configuration, with where it was published."""

    top1: float
    variant: str
    source: str


@cache
def _published_configs() -> dict[tuple[str, float, float, int], PublishedAccuracy]:
    configs = {}
    for point in _curves().itertuples():
        width = 1.0 if pd.isna(point.width_mult) else float(point.width_mult)
        key = (resolve(point.model)[0].name, round(width, 6), round(float(point.depth_mult), 6),
               int(point.resolution))
        configs.setdefault(key, PublishedAccuracy(float(point.top1), point.variant, point.source))
    return configs


def published_top1(base: str, width: float, depth: float, resolution: int) -> PublishedAccuracy | None:
    """The curve's published result when the configuration is exactly a published model."""
    return _published_configs().get((base, round(width, 6), round(depth, 6), int(resolution)))
