"""Published ImageNet figures (``assets/reference/*.csv``) and what may be read from them.

Every row keeps its ``source``. A published accuracy belongs to exactly one network:
``published_top1`` answers only for a configuration whose network is that network.
A scaled variant was never trained, so ``estimate_top1`` interpolates on published
results that were scaled the same way (width only, depth only, resolution only, a
width x resolution grid, or compound), says which, and gives no number where no
published series was scaled that way: borrowing another direction's curve would
hide the paper's point that single-axis scaling saturates below compound scaling.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import math
from dataclasses import dataclass
from functools import cache

if TYPE_CHECKING:  # pandas is imported where used: a first page view shows numbers before its 0.5 s import
    import pandas as pd

from core.counting import layer_rows, resolve_config
from core.families import ARCHITECTURES, REFERENCE_DIR, resolve
from core.scaling import scale

FAMILY_FILES = ("efficientnet", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3", "resnet",
                "efficientnet_v2")
SCALING_FILE = "scaling"  # EfficientNet paper Table 3 and Figure 3: networks scaled one way at a time
CURVE_COLUMNS = ["curve", "model", "variant", "width_mult", "depth_mult", "resolution", "params_m",
                 "macs_m", "top1", "source", "backbone"]
SINGLE_AXES = ("width", "depth", "resolution")


@dataclass(frozen=True)
class Curve:
    """Published models of one family: the reference curve and the networks they are.

    ``network`` is the engine architecture that builds the published networks (None:
    each row's own ``model``); ``backbones`` are the architectures compared with it.
    """

    label: str
    file: str
    query: str
    backbones: tuple[str, ...]
    network: str | None = None


CURVES = (
    Curve("EfficientNet B0-B7 (paper)", "efficientnet", "origin == 'paper'", ("efficientnet_b0",),
          "efficientnet_b0"),
    Curve("MobileNet V1 (TF-slim grid)", "mobilenet_v1",
          "origin == 'tf-slim' and release == '2018_02_22' and precision == 'float'", ("mobilenet_v1",),
          "mobilenet_v1"),
    Curve("MobileNet V2 (TF-slim grid)", "mobilenet_v2", "origin == 'tf-slim'", ("mobilenet_v2",),
          "mobilenet_v2"),
    Curve("MobileNet V3 Large (paper)", "mobilenet_v3",
          "origin == 'paper' and precision == 'float' and model == 'mobilenet_v3_large'",
          ("mobilenet_v3_large", "mobilenet_v3_large_tf_slim"), "mobilenet_v3_large_tf_slim"),
    Curve("MobileNet V3 Small (paper)", "mobilenet_v3",
          "origin == 'paper' and precision == 'float' and model == 'mobilenet_v3_small'",
          ("mobilenet_v3_small", "mobilenet_v3_small_tf_slim"), "mobilenet_v3_small_tf_slim"),
    Curve("ResNet-18/34/50 (torchvision V1)", "resnet", "release == 'IMAGENET1K_V1'",
          ("resnet18", "resnet34", "resnet50")),
)


@cache
def _load(table: str) -> pd.DataFrame:
    import pandas as pd
    if table not in (*FAMILY_FILES, SCALING_FILE):
        raise KeyError(f"no reference table {table!r}: use one of {', '.join(FAMILY_FILES)}, {SCALING_FILE}")
    rows = pd.read_csv(REFERENCE_DIR / f"{table}.csv", dtype={"release": str})
    for column in ("width_mult", "depth_mult"):  # a file without the column never scales that way
        if column not in rows:
            rows[column] = 1.0
    return rows


def load(table: str) -> pd.DataFrame:
    """One published table (a family file or ``scaling``), as printed, with its ``source`` column."""
    return _load(table).copy()


@cache
def _curves() -> pd.DataFrame:
    import pandas as pd
    frames = []
    for curve in CURVES:
        rows = _load(curve.file).query(curve.query).copy()
        rows["curve"] = curve.label
        rows["backbone"] = [curve.network or resolve(model)[0].name for model in rows["model"]]
        frames.append(rows.reindex(columns=CURVE_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def curve_points() -> pd.DataFrame:
    """All reference-curve points: curve, model, variant, multipliers, params_m, macs_m, top1, source,
    and ``backbone``, the engine architecture that builds that published network."""
    return _curves().copy()


def curve_for(base: str) -> Curve | None:
    """The published curve a base architecture is compared with, if any."""
    return next((curve for curve in CURVES if base in curve.backbones), None)


def frontier(points: pd.DataFrame) -> pd.DataFrame:
    """The best published top-1 at or below each MAC count (a grid becomes one curve)."""
    ordered = points.sort_values(["macs_m", "top1"], ascending=[True, False])
    best = ordered["top1"].cummax()
    return ordered[ordered["top1"] >= best].drop_duplicates("macs_m")


def _network_key(base: str, width: float, depth: float, resolution: int) -> tuple:
    """What makes two configurations the same network: every concrete layer, and the input size."""
    arch = ARCHITECTURES[base]
    network = scale(arch, width, depth)
    return (arch.family, network.stem, network.stages, network.head, network.classifier_hidden,
            int(resolution))


@dataclass(frozen=True)
class PublishedAccuracy:
    """A published top-1 for exactly this network, with where it was published and its printed counts."""

    top1: float
    variant: str
    source: str
    params_m: float | None = None
    macs_m: float | None = None


@cache
def _published_networks() -> dict[tuple, PublishedAccuracy]:
    import pandas as pd
    networks = {}
    for point in _curves().itertuples():
        key = _network_key(point.backbone, float(point.width_mult), float(point.depth_mult),
                           int(point.resolution))
        networks.setdefault(key, PublishedAccuracy(
            float(point.top1), point.variant, point.source,
            None if pd.isna(point.params_m) else float(point.params_m),
            None if pd.isna(point.macs_m) else float(point.macs_m)))
    return networks


def published_top1(backbone: str, width: float, depth: float, resolution: int) -> PublishedAccuracy | None:
    """The published result when this configuration builds exactly a published network.

    ``backbone`` is a base or preset name; its architecture's width rule decides the
    network, so MobileNet V3 Large at width 0.75 under torchvision's rule is not the
    published (TF-slim) 0.75 model and gets nothing.
    """
    base = resolve(backbone)[0].name
    return _published_networks().get(_network_key(base, width, depth, resolution))


@cache
def network_macs(base: str, width: float, depth: float, resolution: int) -> int:
    """Engine MACs of any configuration, slider ranges or not (published points go past them)."""
    return sum(row[10] for row in layer_rows(scale(ARCHITECTURES[base], width, depth), resolution))


# ---------------------------------------------------------------------------------------------
# Scaling series: published results of one network scaled one way.

@dataclass(frozen=True)
class Series:
    """Published results of ``network`` scaled along ``axis`` (with its unscaled base).

    ``axis`` is width, depth, resolution, compound, or "width x resolution" (a grid).
    """

    label: str
    axis: str
    file: str
    query: str
    backbones: tuple[str, ...]
    network: str


def _paper_series(model: str, table: str, axes: tuple[str, ...], title: str) -> list[Series]:
    """One series per axis of an EfficientNet-paper scaling study (``scaling.csv``)."""
    cited = f"Tan & Le 2019, {table}" + (", read from the figure" if table.startswith("Figure") else "")
    return [Series(f"{title} by {axis} ({cited})", axis, SCALING_FILE,
                   f"model == '{model}' and axis in ('base', '{axis}') and source.str.contains('{table}')",
                   (model,), model)
            for axis in axes]


_V3_LARGE = ("mobilenet_v3_large", "mobilenet_v3_large_tf_slim")
_V3_SMALL = ("mobilenet_v3_small", "mobilenet_v3_small_tf_slim")

# Preference order: for a configuration, the first series of its direction that covers it.
SERIES = (
    Series("MobileNet V1 by width (Howard et al. 2017, Table 6)", "width", "mobilenet_v1",
           "origin == 'paper' and axis in ('base', 'width')", ("mobilenet_v1",), "mobilenet_v1"),
    Series("MobileNet V1 by resolution (Howard et al. 2017, Table 7)", "resolution", "mobilenet_v1",
           "origin == 'paper' and axis in ('base', 'resolution')", ("mobilenet_v1",), "mobilenet_v1"),
    *_paper_series("mobilenet_v1", "Table 3", ("width", "resolution", "compound"), "MobileNet V1"),
    Series("MobileNet V1 width x resolution (TF-slim grid)", "width x resolution", "mobilenet_v1",
           "axis == 'width x resolution' and precision == 'float'", ("mobilenet_v1",), "mobilenet_v1"),
    Series("MobileNet V2 by width (TF-slim, 224 px)", "width", "mobilenet_v2",
           "origin == 'tf-slim' and resolution == 224", ("mobilenet_v2",), "mobilenet_v2"),
    Series("MobileNet V2 by resolution (TF-slim, width 1.0)", "resolution", "mobilenet_v2",
           "origin == 'tf-slim' and width_mult == 1.0", ("mobilenet_v2",), "mobilenet_v2"),
    *_paper_series("mobilenet_v2", "Table 3", ("width", "depth", "resolution", "compound"), "MobileNet V2"),
    Series("MobileNet V2 width x resolution (TF-slim grid)", "width x resolution", "mobilenet_v2",
           "origin == 'tf-slim'", ("mobilenet_v2",), "mobilenet_v2"),
    Series("MobileNet V3 Large by width (Howard et al. 2019, Table 3)", "width", "mobilenet_v3",
           "origin == 'paper' and precision == 'float' and model == 'mobilenet_v3_large'", _V3_LARGE,
           "mobilenet_v3_large_tf_slim"),
    Series("MobileNet V3 Small by width (Howard et al. 2019, Table 3)", "width", "mobilenet_v3",
           "origin == 'paper' and precision == 'float' and model == 'mobilenet_v3_small'", _V3_SMALL,
           "mobilenet_v3_small_tf_slim"),
    *_paper_series("efficientnet_b0", "Figure 3", SINGLE_AXES, "EfficientNet-B0"),
    Series("EfficientNet B0-B7 compound (Tan & Le 2019, Table 2)", "compound", "efficientnet",
           "origin == 'paper'", ("efficientnet_b0",), "efficientnet_b0"),
    *_paper_series("resnet50", "Table 3", (*SINGLE_AXES, "compound"), "ResNet-50"),
)

# Printed MACs are rounded (B0: 390 printed, 385.8 exact): this close past either end of a
# series a configuration takes that end's value.
END_TOLERANCE = 0.05
# Single-axis gains saturate (Tan & Le, Observation 1): up to this far past the largest
# point of a single-axis series, the estimate holds that point's accuracy, and says so.
SATURATION_HOLD = 0.25


@cache
def _series_points(series: Series) -> pd.DataFrame:
    """A series' rows with ``macs``: the engine's count where the configuration is printed, else
    the published figure (compound rows whose coefficients the paper does not give)."""
    rows = _load(series.file).query(series.query, engine="python").copy()
    known = rows[["width_mult", "depth_mult", "resolution"]].notna().all(axis=1)
    rows["macs"] = [network_macs(series.network, float(row.width_mult), float(row.depth_mult),
                                 int(row.resolution)) if ok else float(row.macs_m) * 1e6
                    for ok, row in zip(known, rows.itertuples())]
    rows["macs_basis"] = ["engine" if ok else "published" for ok in known]
    return rows.sort_values("macs").reset_index(drop=True)


def scaling_series(backbone: str) -> pd.DataFrame:
    """Every published scaling series for a backbone's architecture, one row per point.

    Columns: series, axis, variant, width_mult, depth_mult, resolution, macs (engine count of
    that configuration, or the published figure where ``macs_basis`` says so), macs_m (as
    printed), top1, source, notes. Single-axis series next to the compound one show how
    much less one-way scaling buys at the same cost.
    """
    import pandas as pd
    base = resolve(backbone)[0].name
    frames = [_series_points(series).assign(series=series.label, axis=series.axis)
              for series in SERIES if base in series.backbones]
    columns = ["series", "axis", "variant", "width_mult", "depth_mult", "resolution", "macs",
               "macs_basis", "macs_m", "top1", "source", "notes"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


@dataclass(frozen=True)
class AccuracyEstimate:
    """Top-1 read off published results scaled the same way: an estimate, not a result.

    ``top1`` is None where no published series covers the configuration's direction;
    ``basis`` then says why. Otherwise ``basis`` names the series (``curve``), the points
    interpolated between (``low_variant``, ``high_variant``) and the variable (``variable``).
    """

    top1: float | None
    direction: str
    basis: str
    curve: str | None = None
    low_variant: str | None = None
    high_variant: str | None = None
    variable: str | None = None
    source: str | None = None


def scaling_direction(base: str, width: float, depth: float, resolution: int) -> str:
    """Which ways a configuration departs from its base: 'base', one axis, two axes, or compound."""
    unscaled = {"width": 1.0, "depth": 1.0, "resolution": ARCHITECTURES[base].default_resolution}
    config = {"width": width, "depth": depth, "resolution": resolution}
    scaled = [axis for axis in unscaled if not math.isclose(config[axis], unscaled[axis])]
    if not scaled:
        return "base"
    return "compound" if len(scaled) == 3 else " x ".join(scaled)


def _interpolate(series: Series, macs: int, direction: str) -> AccuracyEstimate | None:
    """Linear in log MACs between the two points around ``macs``; None outside the series."""
    points = _series_points(series)
    macs_points, top1, names = list(points["macs"]), list(points["top1"]), list(points["variant"])
    source = "; ".join(sorted(points["source"].unique()))
    low, high = macs_points[0], macs_points[-1]
    found = dict(direction=direction, curve=series.label, variable="log MACs", source=source)
    if macs > high:
        limit = SATURATION_HOLD if series.axis in SINGLE_AXES else END_TOLERANCE
        if macs > high * (1 + limit):
            return None
        held = ("held past its largest point (single-axis gains saturate)"
                if macs > high * (1 + END_TOLERANCE) else "its largest point")
        return AccuracyEstimate(float(top1[-1]), basis=f"{names[-1]} of {series.label}: {held}",
                                low_variant=names[-1], high_variant=names[-1], **found)
    if macs < low * (1 - END_TOLERANCE):
        return None
    target = math.log(max(macs, low))
    for index in range(len(points) - 1):
        left, right = math.log(macs_points[index]), math.log(macs_points[index + 1])
        if target <= right:
            share = 0.0 if right == left else (target - left) / (right - left)
            value = top1[index] + share * (top1[index + 1] - top1[index])
            basis = (f"{names[index]} of {series.label}" if share == 0 else
                     f"interpolated linearly in log MACs between {names[index]} and {names[index + 1]} "
                     f"of {series.label}")
            return AccuracyEstimate(float(value), basis=basis, low_variant=names[index],
                                    high_variant=names[index + 1], **found)
    raise AssertionError("unreachable: macs <= the largest point")


def _bracket(values: list[float], value: float) -> tuple[float, float] | None:
    """The neighbouring grid values around ``value`` (equal where it is on the grid)."""
    for known in values:
        if math.isclose(known, value):
            return known, known
    below, above = [v for v in values if v < value], [v for v in values if v > value]
    return (max(below), min(above)) if below and above else None


def _grid_estimate(series: Series, width: float, resolution: int, direction: str) -> AccuracyEstimate | None:
    """Bilinear in log width and log resolution on a width x resolution grid; None off the grid."""
    points = _series_points(series)
    grid = {(float(row.width_mult), int(row.resolution)): (float(row.top1), row.variant)
            for row in points.itertuples()}
    widths = _bracket(sorted({w for w, _ in grid}), width)
    sizes = _bracket(sorted({r for _, r in grid}), resolution)
    if widths is None or sizes is None or any((w, r) not in grid for w in widths for r in sizes):
        return None

    def share(value: float, low: float, high: float) -> float:
        return 0.0 if low == high else (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))

    (w0, w1), (r0, r1) = widths, sizes
    sw, sr = share(width, w0, w1), share(resolution, r0, r1)
    top1 = ((1 - sw) * (1 - sr) * grid[w0, r0][0] + sw * (1 - sr) * grid[w1, r0][0]
            + (1 - sw) * sr * grid[w0, r1][0] + sw * sr * grid[w1, r1][0])
    low, high = grid[w0, r0][1], grid[w1, r1][1]
    return AccuracyEstimate(top1, direction, basis=(
        f"interpolated bilinearly in log width and log resolution between {low} and {high} "
        f"of {series.label}"), curve=series.label, low_variant=low, high_variant=high,
        variable="log width and log resolution", source="; ".join(sorted(points["source"].unique())))


def estimate_top1(backbone: str, width: float, depth: float, resolution: int) -> AccuracyEstimate:
    """Top-1 of a configuration from published results scaled in the same direction.

    A width-only variant reads width-only results, depth-only depth results, resolution-only
    resolution results, width x resolution a published grid, all three a compound series
    (EfficientNet: B0-B7). Where none covers it, ``top1`` is None and ``basis`` says why.
    """
    resolve_config(backbone, width, depth, resolution)  # ScalingError naming the value, not an assertion below
    base = resolve(backbone)[0].name
    title = ARCHITECTURES[base].title
    direction = scaling_direction(base, width, depth, resolution)
    wanted = SINGLE_AXES if direction == "base" else (direction,)
    candidates = [series for series in SERIES if base in series.backbones and series.axis in wanted]
    if not candidates:
        return AccuracyEstimate(None, direction, (
            f"no published results scale {title} by {direction}; accuracy from another scaling "
            f"direction would not apply"))
    macs = network_macs(base, width, depth, resolution)
    for series in candidates:
        estimate = (_grid_estimate(series, width, resolution, direction) if series.axis == "width x resolution"
                    else _interpolate(series, macs, direction))
        if estimate is not None:
            return estimate
    return AccuracyEstimate(None, direction, (
        f"outside the published {direction} results for {title} "
        f"({', '.join(series.label for series in candidates)})"))
