"""Published ImageNet figures (``assets/reference/*.csv``) and what may be read from them.

Every row keeps its ``source``. A published accuracy belongs to exactly one network:
``published_top1`` answers only for a configuration whose network is that network.
A scaled variant was never trained, so ``estimate_top1`` reads a fitted scaling model
(``core.prediction.accuracy``) fitted to every published result of the family, and returns it with
its leave-one-out error band, the points it rests on, and at a published network the
published value itself. A family with too little data, or a network that is not an
ImageNet classifier, gets no number and says why.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where used: a first page view shows numbers before its 0.5 s import
    import pandas as pd

from core.network.architecture import Architecture
from core.network.counting import layer_rows, resolve_config
from core.network.families import ARCHITECTURES, REFERENCE_DIR, resolve
from core.network.scaling import adjust_depth, scale, stage_source
from core.prediction.accuracy import BAND_QUANTILE, CHANCE, FamilyModel, Point, Problem

FAMILY_FILES = ("efficientnet", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3", "resnet",
                "efficientnet_v2")
SCALING_FILE = "scaling"  # EfficientNet paper Tables 3 and 7, Figure 3: networks scaled one way at a time
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
    setup: str | None = None  # its training setup in the accuracy model (None: the family's reference curve)


@cache
def _published_networks() -> dict[tuple, tuple[PublishedAccuracy, ...]]:
    """Every published result by the network it belongs to: the curve points first (what the card shows),
    then every other result the accuracy model is fitted to (Table 3, Figure 3, Table 7, other setups)."""
    import pandas as pd
    networks: dict[tuple, list[PublishedAccuracy]] = {}
    for point in _curves().itertuples():
        key = _network_key(point.backbone, float(point.width_mult), float(point.depth_mult),
                           int(point.resolution))
        networks.setdefault(key, []).append(PublishedAccuracy(
            float(point.top1), point.variant, point.source,
            None if pd.isna(point.params_m) else float(point.params_m),
            None if pd.isna(point.macs_m) else float(point.macs_m)))
    for point in _fit_points().itertuples():
        key = _network_key(point.network, point.width, point.depth, point.resolution)
        result = PublishedAccuracy(point.top1, point.variant, point.source,
                                   macs_m=None if pd.isna(point.macs_m) else point.macs_m,
                                   setup=None if point.reference else point.setup)
        known = networks.setdefault(key, [])
        if not any((old.top1, old.variant, old.source) == (result.top1, result.variant, result.source)
                   for old in known):
            known.append(result)
    return {key: tuple(results) for key, results in networks.items()}


def published_results(backbone: str, width: float, depth: float, resolution: int) -> tuple[PublishedAccuracy, ...]:
    """Every published result of exactly this network (several setups may have trained it)."""
    base = resolve(backbone)[0].name
    return _published_networks().get(_network_key(base, width, depth, resolution), ())


def published_top1(backbone: str, width: float, depth: float, resolution: int) -> PublishedAccuracy | None:
    """The published result when this configuration builds exactly a published network.

    ``backbone`` is a base or preset name; its architecture's width rule decides the
    network, so MobileNet V3 Large at width 0.75 under torchvision's rule is not the
    published (TF-slim) 0.75 model and gets nothing. Where several setups published the
    network, the family's curve (reference) result comes first.
    """
    results = published_results(backbone, width, depth, resolution)
    return results[0] if results else None


@cache
def network_macs(base: str, width: float, depth: float, resolution: int) -> int:
    """Engine MACs of any configuration, slider ranges or not (published points go past them)."""
    return sum(row[10] for row in layer_rows(scale(ARCHITECTURES[base], width, depth), resolution))


# ---------------------------------------------------------------------------------------------
# Scaling series: published results of one network scaled one way.

@dataclass(frozen=True)
class Series:
    """Published results of ``network`` scaled along ``axis`` (with its unscaled base).

    ``axis`` is width, depth, resolution or compound.
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

# Drawn on "Where it sits" beside the family's compound curve (the grids are the curves themselves).
SERIES = (
    Series("MobileNet V1 by width (Howard et al. 2017, Table 6)", "width", "mobilenet_v1",
           "origin == 'paper' and axis in ('base', 'width')", ("mobilenet_v1",), "mobilenet_v1"),
    Series("MobileNet V1 by resolution (Howard et al. 2017, Table 7)", "resolution", "mobilenet_v1",
           "origin == 'paper' and axis in ('base', 'resolution')", ("mobilenet_v1",), "mobilenet_v1"),
    *_paper_series("mobilenet_v1", "Table 3", ("width", "resolution", "compound"), "MobileNet V1"),
    Series("MobileNet V2 by width (TF-slim, 224 px)", "width", "mobilenet_v2",
           "origin == 'tf-slim' and resolution == 224", ("mobilenet_v2",), "mobilenet_v2"),
    Series("MobileNet V2 by resolution (TF-slim, width 1.0)", "resolution", "mobilenet_v2",
           "origin == 'tf-slim' and width_mult == 1.0", ("mobilenet_v2",), "mobilenet_v2"),
    *_paper_series("mobilenet_v2", "Table 3", ("width", "depth", "resolution", "compound"), "MobileNet V2"),
    Series("MobileNet V3 Large by width (Howard et al. 2019, Table 3)", "width", "mobilenet_v3",
           "origin == 'paper' and precision == 'float' and model == 'mobilenet_v3_large'", _V3_LARGE,
           "mobilenet_v3_large_tf_slim"),
    Series("MobileNet V3 Small by width (Howard et al. 2019, Table 3)", "width", "mobilenet_v3",
           "origin == 'paper' and precision == 'float' and model == 'mobilenet_v3_small'", _V3_SMALL,
           "mobilenet_v3_small_tf_slim"),
    *_paper_series("efficientnet_b0", "Figure 3", SINGLE_AXES, "EfficientNet-B0"),
    *_paper_series("efficientnet_b0", "Table 7", (*SINGLE_AXES, "compound"), "EfficientNet-B0"),
    Series("EfficientNet B0-B7 compound (Tan & Le 2019, Table 2)", "compound", "efficientnet",
           "origin == 'paper'", ("efficientnet_b0",), "efficientnet_b0"),
    *_paper_series("resnet50", "Table 3", (*SINGLE_AXES, "compound"), "ResNet-50"),
)

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
    flags = [macs_note(row.macs_m, row.macs) if ok else "" for ok, row in zip(known, rows.itertuples())]
    rows["notes"] = ["; ".join(text for text in (note if isinstance(note, str) else "", flag) if text)
                     for note, flag in zip(rows["notes"] if "notes" in rows else [""] * len(rows), flags)]
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




# ---------------------------------------------------------------------------------------------
# The accuracy model's data: every published result of a family, each in its training setup.

@dataclass(frozen=True)
class Setup:
    """Published results of one training setup (a paper's table, a checkpoint release): one level."""

    label: str
    file: str
    query: str


@dataclass(frozen=True)
class Family:
    """A network family's published results and the backbones its fitted model estimates.

    ``network`` builds the published networks (their MACs and identity); the first setup is
    the reference: the level an estimate reports, the one shown at the unscaled base.
    """

    name: str
    title: str
    network: str
    backbones: tuple[str, ...]
    setups: tuple[Setup, ...]


def _v3_setups(model: str, small: bool) -> tuple[Setup, ...]:
    rows = f"precision == 'float' and model == '{model}'"
    setups = [Setup("Howard et al. 2019, Table 3", "mobilenet_v3", f"origin == 'paper' and {rows}"),
              Setup("torchvision IMAGENET1K_V1", "mobilenet_v3",
                    f"origin == 'torchvision' and release == 'IMAGENET1K_V1' and {rows}")]
    if not small:  # TF-slim's and Keras' Small rows are the earlier, larger Small network: not this one
        setups += [Setup("TF-slim checkpoints", "mobilenet_v3", f"origin == 'tf-slim' and {rows}"),
                   Setup("Keras applications", "mobilenet_v3", f"origin == 'keras' and {rows}"),
                   Setup("torchvision IMAGENET1K_V2", "mobilenet_v3",
                         f"origin == 'torchvision' and release == 'IMAGENET1K_V2' and {rows}")]
    return tuple(setups)


TABLE_3 = "Tan & Le 2019, Table 3"
FAMILIES = (
    Family("efficientnet", "EfficientNet-B0", "efficientnet_b0", ("efficientnet_b0",), (
        Setup("Tan & Le 2019, Table 2 (B0-B7)", "efficientnet", "origin == 'paper'"),
        Setup("Tan & Le 2019, Figure 3 (read from the figure)", SCALING_FILE,
              "model == 'efficientnet_b0' and source.str.contains('Figure 3')"),
        Setup("Tan & Le 2019, Table 7", SCALING_FILE, "model == 'efficientnet_b0' and source.str.contains('Table 7')"),
        Setup("torchvision IMAGENET1K_V1 (ported from timm)", "efficientnet",
              "origin == 'torchvision' and release == 'IMAGENET1K_V1' and notes.str.contains('timm')"),
        Setup("torchvision IMAGENET1K_V1 (ported from EfficientNet-PyTorch)", "efficientnet",
              "origin == 'torchvision' and release == 'IMAGENET1K_V1' and notes.str.contains('lukemelas')"),
        Setup("torchvision IMAGENET1K_V2", "efficientnet", "origin == 'torchvision' and release == 'IMAGENET1K_V2'"))),
    Family("mobilenet_v1", "MobileNet V1", "mobilenet_v1", ("mobilenet_v1",), (
        Setup("TF-slim 2018_02_22 checkpoints", "mobilenet_v1",
              "origin == 'tf-slim' and release == '2018_02_22' and precision == 'float'"),
        Setup("Howard et al. 2017, Tables 6, 7 and 9", "mobilenet_v1",
              "origin == 'paper' and model == 'mobilenet_v1' and source.str.startswith('Howard')"),
        Setup("TF-slim 2017_06_14 checkpoints", "mobilenet_v1",
              "origin == 'tf-slim' and release == '2017_06_14' and precision == 'float'"),
        Setup(TABLE_3, SCALING_FILE, "model == 'mobilenet_v1'"))),
    Family("mobilenet_v2", "MobileNet V2", "mobilenet_v2", ("mobilenet_v2",), (
        Setup("TF-slim checkpoints", "mobilenet_v2", "origin == 'tf-slim'"),
        Setup("Sandler et al. 2018, Table 4", "mobilenet_v2", "origin == 'paper'"),
        Setup("torchvision IMAGENET1K_V1", "mobilenet_v2", "origin == 'torchvision'"),
        Setup(TABLE_3, SCALING_FILE, "model == 'mobilenet_v2' and width_mult.notna()"))),
    Family("mobilenet_v3_large", "MobileNet V3 Large", "mobilenet_v3_large_tf_slim", _V3_LARGE,
           _v3_setups("mobilenet_v3_large", small=False)),
    Family("mobilenet_v3_small", "MobileNet V3 Small", "mobilenet_v3_small_tf_slim", _V3_SMALL,
           _v3_setups("mobilenet_v3_small", small=True)),
    Family("resnet50", "ResNet-50", "resnet50", ("resnet50",), (
        Setup("torchvision IMAGENET1K_V1", "resnet", "model == 'resnet50' and release == 'IMAGENET1K_V1'"),
        Setup("torchvision IMAGENET1K_V2", "resnet", "model == 'resnet50' and release == 'IMAGENET1K_V2'"),
        Setup(TABLE_3, SCALING_FILE, "model == 'resnet50' and width_mult.notna()"))),
)
# Published results that enter no fit, and why (the reference README lists them too).
NOT_FITTED = (
    "8-bit quantized checkpoints (another network's accuracy: quantization costs 1-3 points)",
    "ablations and minimalistic variants (other networks: mobilenet_v1_conv, mobilenet_v1_shallow, "
    "mobilenet_v3_*_minimalistic)",
    "MobileNet V1 as quoted in the MobileNetV2 paper (Howard et al.'s 70.6% again, not another run)",
    "TF-slim's and Keras' MobileNet V3 Small rows (the earlier, larger Small network)",
    "Table 3's MobileNetV2 and ResNet-50 compound rows (their coefficients are not printed)",
)
# The reference setup's result at the unscaled base weighs this many times more in the fit (fit_problem).
BASE_WEIGHT = 5.0
# Printed MACs this far from the engine's count of the labelled configuration are flagged on the point.
MACS_DISAGREE = 0.05
MODEL_FILE = REFERENCE_DIR.parent / "accuracy_model.json"


def family_for(backbone: str) -> Family | None:
    """The fitted family a backbone's architecture is estimated with (None: too little data)."""
    base = resolve(backbone)[0].name
    return next((family for family in FAMILIES if base in family.backbones), None)


def _log_x(network: str, width: float, depth: float, resolution: int) -> tuple[float, float, float]:
    """The model's coordinates: log width, log depth, log resolution / base resolution.

    Above 1 depth is the nominal multiplier, as the papers define and scale it. Below 1 it is the
    share of blocks the network keeps (each stage keeps at least one, so depth 0.8 of EfficientNet-B0
    is B0 itself): no published result goes there, and the model should see the network it is.
    """
    arch = ARCHITECTURES[network]
    if depth < 1:
        depth = (sum(adjust_depth(stage.repeats, depth) for stage in arch.stages)
                 / sum(stage.repeats for stage in arch.stages))
    return (math.log(width), math.log(depth), math.log(resolution / arch.default_resolution))


@cache
def _fit_points() -> pd.DataFrame:
    import pandas as pd
    frames = []
    for family in FAMILIES:
        for index, setup in enumerate(family.setups):
            rows = _load(setup.file).query(setup.query, engine="python")
            frames.append(pd.DataFrame({
                "family": family.name, "setup": setup.label, "reference": index == 0, "variant": rows.variant,
                "width": rows.width_mult.fillna(1.0).astype(float), "depth": rows.depth_mult.fillna(1.0).astype(float),
                "resolution": rows.resolution.astype(int), "top1": rows.top1.astype(float),
                "macs_m": rows.macs_m.astype(float), "source": rows.source, "network": family.network}))
    return pd.concat(frames, ignore_index=True)


def macs_note(printed_m: float, engine: int) -> str:
    """What a point says where its printed MACs disagree with the engine's count of its configuration."""
    share = engine / (printed_m * 1e6) - 1
    if not abs(share) > MACS_DISAGREE:  # also for a missing printed figure (NaN)
        return ""
    return (f"printed {printed_m:g} M MACs, the engine counts {engine / 1e6:,.0f} M for the labelled "
            f"configuration ({share:+.0%}); it enters the accuracy model at its labelled width, depth and "
            "resolution (the model reads those, not MACs)")


def fit_points() -> pd.DataFrame:
    """Every published result the accuracy model is fitted to, one row each.

    Columns: family, setup (its training setup; ``reference`` marks the family's reference
    setup), variant, width, depth, resolution, top1, macs_m (as printed), source, network,
    engine_macs, and macs_note where the printed MACs disagree with the engine's count of the
    labelled configuration by more than ``MACS_DISAGREE``.
    """
    points = _fit_points().copy()
    points["engine_macs"] = [network_macs(row.network, row.width, row.depth, row.resolution)
                             for row in points.itertuples()]
    points["macs_note"] = [macs_note(row.macs_m, row.engine_macs) for row in points.itertuples()]
    return points


def fit_problem() -> Problem:
    """The fitting problem (``core.prediction.accuracy.Problem``) built from ``fit_points``.

    The reference setup's result at the unscaled base weighs ``BASE_WEIGHT`` times more: every slider
    starts there and every delta is measured against it, so the estimate one step away should meet it.
    """
    points = _fit_points()
    problem = {}
    for family in FAMILIES:
        base = (1.0, 1.0, ARCHITECTURES[family.network].default_resolution)
        problem[family.name] = tuple(
            Point(row.setup, _log_x(row.network, row.width, row.depth, row.resolution), row.top1,
                  BASE_WEIGHT if row.reference and (row.width, row.depth, row.resolution) == base else 1.0)
            for row in points[points.family == family.name].itertuples())
    return Problem(tuple(family.name for family in FAMILIES), problem,
                   {family.name: family.setups[0].label for family in FAMILIES})


def points_digest() -> str:
    """A digest of the fitted points: the committed model must have been fitted to these."""
    import hashlib
    problem = fit_problem()
    text = repr([(family, [(p.setup, tuple(round(v, 12) for v in p.x), p.top1, p.weight)
                           for p in problem.points[family]])
                 for family in problem.families])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def models_to_json(models: dict) -> dict:
    """The committed form of fitted models (``assets/accuracy_model.json``)."""
    from dataclasses import asdict
    pooled = next(iter(models.values())).extra.get("pooled", {})
    return {"points_digest": points_digest(), "pooled": pooled,
            "families": {name: {key: value for key, value in asdict(model).items() if key != "extra"}
                         for name, model in models.items()}}


@cache
def fitted_models() -> dict[str, FamilyModel]:
    """Each family's fitted ``core.prediction.accuracy.FamilyModel``, read from the committed asset.

    ``python bench/bench_accuracy_model.py --write`` refits it; ``tests/test_accuracy_model.py``
    holds it equal to a fresh fit of the current published tables.
    """
    import json
    stored = json.loads(MODEL_FILE.read_text())
    return {name: FamilyModel(**{key: tuple(value) if isinstance(value, list) else value
                                 for key, value in fields.items()})
            for name, fields in stored["families"].items()}


# ---------------------------------------------------------------------------------------------
# The estimate: published where the network was published, else the fitted model with its band.

@dataclass(frozen=True)
class AccuracyEstimate:
    """Top-1 of a configuration: ``published`` (exactly a published network) or the fitted model's estimate.

    ``low``/``high`` bound the estimate by the family's leave-one-out error, widened outside the
    published data (``extrapolated``); a published value has low == high == top1. ``top1`` is None
    where there is no estimate, and ``basis`` says why. ``sources`` are the results it rests on.
    """

    top1: float | None
    low: float | None
    high: float | None
    published: bool
    basis: str
    sources: tuple[str, ...] = ()
    direction: str = "base"
    extrapolated: bool = False
    family: str | None = None
    variant: str | None = None  # the published network's name, where published

    @property
    def band(self) -> float | None:
        """The half-width shown as ±: the wider side (the band is cut at chance and at 100%)."""
        return None if self.top1 is None else max(self.top1 - self.low, self.high - self.top1)

    def text(self) -> str:
        """As the card shows it: '77.1%', '~76.8% ±0.6' or 'n/a'."""
        if self.top1 is None:
            return "n/a"
        return f"{self.top1:.1f}%" if self.published else f"~{self.top1:.1f}% ±{self.band:.1f}"


def scaling_direction(base: str, width: float, depth: float, resolution: int | tuple[int, int]) -> str:
    """Which ways a configuration departs from its base: 'base', one axis, two axes, or compound."""
    unscaled = {"width": 1.0, "depth": 1.0, "resolution": ARCHITECTURES[base].default_resolution}
    sides = resolution if isinstance(resolution, (tuple, list)) else (resolution,)
    scaled = [axis for axis, value in (("width", width), ("depth", depth)) if not math.isclose(value, unscaled[axis])]
    if any(side != unscaled["resolution"] for side in sides):
        scaled.append("resolution")
    if not scaled:
        return "base"
    return "compound" if len(scaled) == 3 else " x ".join(scaled)


def _none(basis: str, direction: str = "base") -> AccuracyEstimate:
    return AccuracyEstimate(None, None, None, False, basis, direction=direction)


@cache
def _family_points(family: str) -> tuple[tuple, ...]:
    """(x, variant, setup, top1) of a family's fitted points: what an estimate says it rests on."""
    points = _fit_points()
    return tuple((_log_x(row.network, row.width, row.depth, row.resolution), row.variant, row.setup, row.top1)
                 for row in points[points.family == family].itertuples())


def _nearest(family: str, x: tuple[float, float, float], count: int = 2) -> list[str]:
    ranked = sorted(_family_points(family), key=lambda point: sum((a - b) ** 2 for a, b in zip(point[0], x)))
    return [f"{variant} ({setup}, {top1:g}%)" for _, variant, setup, top1 in ranked[:count]]


def _outside_axes(model, x: tuple[float, float, float]) -> list[str]:
    return [axis for axis, value, low, high in zip(("width", "depth", "resolution"), x, model.x_min, model.x_max)
            if value > high + 1e-9 or value < low - 1e-9]


def estimate_top1(backbone: str | Architecture, width: float, depth: float, resolution: int | tuple[int, int],
                  task: str = "classification", num_classes: int = 1000) -> AccuracyEstimate:
    """ImageNet top-1 of a configuration, published or estimated, with its band and what it rests on.

    A pure function of its arguments, cached (every slider move asks it twice: the card and the chart's
    star). ``_estimate_top1`` says how it is found. ``backbone`` may be an architecture (a profile's, so a custom
    network is not looked up by name): a custom one gets none, and why.
    """
    if isinstance(resolution, list):
        resolution = tuple(resolution)
    return _cached_estimate(backbone, width, depth, resolution, task, num_classes)


@lru_cache(maxsize=4096)
def _cached_estimate(backbone, width, depth, resolution, task, num_classes) -> AccuracyEstimate:
    return _estimate_top1(backbone, width, depth, resolution, task, num_classes)


def _estimate_top1(backbone: str, width: float, depth: float, resolution: int | tuple[int, int],
                   task: str = "classification", num_classes: int = 1000) -> AccuracyEstimate:
    """At a published network: the published value (``published``; every result of that network in
    ``sources``). Elsewhere: the family's fitted scaling model (``core.prediction.accuracy``) at its
    reference setup's level, with the leave-one-out band. No number for a dense-task network, a
    non-square input, or a family with too little data; ``basis`` says why.
    """
    if task != "classification":
        return _none(f"no ImageNet top-1 for a {task} network: ImageNet results are for classifiers")
    if num_classes != 1000:
        return _none(f"no ImageNet top-1 for a {num_classes}-class classifier: ImageNet has 1000 classes")
    if isinstance(resolution, (tuple, list)):
        if len(set(resolution)) != 1:
            return _none("ImageNet results are for square inputs; this one is "
                         f"{'x'.join(str(side) for side in resolution)}")
        resolution = resolution[0]
    arch, _, width, depth, resolution = resolve_config(backbone, width, depth, resolution)  # ScalingError: inf, nan
    if arch.custom:  # a loaded spec or a per-stage network: named by a digest, in no published table
        kind = "scaled per stage" if stage_source(arch.name)[1] else "a loaded spec"
        return _none(f"no ImageNet top-1 for this network ({kind}): it was never trained, and the fitted model "
                     "only knows the published families at uniform scaling")
    base = arch.name
    direction = scaling_direction(base, width, depth, resolution)
    results = published_results(base, width, depth, resolution)
    if results:
        first, family = results[0], family_for(base)
        basis = f"published for exactly this network ({first.variant})"
        if first.setup is not None and family is not None:  # another setup's level than the estimates around it
            offset = fitted_models()[family.name].offsets[first.setup]
            side = "above" if offset > 0 else "below"
            basis += (f"; its training setup ({first.setup}) runs {abs(offset):.1f} pp {side} "
                      f"{family.setups[0].label}, the level of the estimates around it")
        return AccuracyEstimate(first.top1, first.top1, first.top1, True, basis,
                                tuple(f"{result.variant}: {result.top1:g}% ({result.source})" for result in results),
                                direction, family=getattr(family, "name", None), variant=first.variant)
    family = family_for(base)
    if family is None:
        only = published_top1(base, 1.0, 1.0, ARCHITECTURES[base].default_resolution)
        known = f" ({only.variant}, {only.top1:g}%)" if only else ""
        return _none(f"too little data: {ARCHITECTURES[base].title} has one published network{known} and no "
                     "published scaling of it, so no scaling model can be fitted or checked", direction)
    model = fitted_models()[family.name]
    x = _log_x(family.network, width, depth, resolution)
    top1, band = model.top1(x), model.band_at(x)
    outside = _outside_axes(model, x)
    setups = ", ".join(f"{setup} ({count})" for setup, count in model.setups.items())
    basis = (f"fitted scaling model of {family.title} (saturating in log width, log depth and log resolution), "
             f"at the level of {family.setups[0].label}; its leave-one-out error is ±{model.band:.1f} pp "
             f"({100 * BAND_QUANTILE:.0f}% of the published results, each held out of the fit in turn, fell "
             "within it)")
    if outside:
        basis += (f"; extrapolated in {' and '.join(outside)}, beyond every published {family.title} result: "
                  f"the band widens to ±{band:.1f} pp (one band per doubling past them, plus half of what the "
                  "model changes out there)")
    basis += f"; nearest published: {'; '.join(_nearest(family.name, x))}"
    return AccuracyEstimate(top1, max(CHANCE, top1 - band), min(100.0, top1 + band), False, basis,
                            (f"{model.points} published results: {setups}",), direction, bool(outside), family.name)


# Sample points of the fitted model's curves ("Where it sits"): each axis alone, and the compound path.
MODEL_AXIS_GRID = {"width": (0.25, 3.0, 13), "depth": (0.5, 4.0, 10), "resolution": (96, 1024, 12)}
COMPOUND_RULE = (1.1, 1.2, 1.15)  # Tan & Le's beta (width), alpha (depth), gamma (resolution) per phi
COMPOUND_PHI = [phi / 2 for phi in range(-4, 15)]


def _geometric(low: float, high: float, count: int) -> list[float]:
    return [low * (high / low) ** (index / (count - 1)) for index in range(count)]


@cache
def _model_curves(family_name: str) -> pd.DataFrame:
    import pandas as pd
    family = next(family for family in FAMILIES if family.name == family_name)
    model, base = fitted_models()[family_name], ARCHITECTURES[family.network].default_resolution
    configs = []
    for axis, (low, high, count) in MODEL_AXIS_GRID.items():
        for value in _geometric(low, high, count):
            config = {"width": 1.0, "depth": 1.0, "resolution": base, axis: value}
            configs.append((axis, config["width"], config["depth"], round(config["resolution"])))
    beta, alpha, gamma = COMPOUND_RULE
    configs += [("compound", beta ** phi, alpha ** phi, round(base * gamma ** phi)) for phi in COMPOUND_PHI]
    rows = []
    for axis, width, depth, resolution in configs:
        x = _log_x(family.network, width, depth, resolution)
        top1, band = model.top1(x), model.band_at(x)
        rows.append({"axis": axis, "width": width, "depth": depth, "resolution": resolution,
                     "macs": network_macs(family.network, width, depth, resolution), "top1": top1,
                     "low": max(CHANCE, top1 - band), "high": min(100.0, top1 + band)})
    return pd.DataFrame(rows)


def model_curves(backbone: str) -> pd.DataFrame:
    """The family's fitted model along each axis alone and along the compound path (phi with Tan & Le's
    alpha, beta, gamma), from its base network: axis, width, depth, resolution, macs (engine), top1,
    low, high. Empty for a backbone without a fitted family."""
    import pandas as pd
    family = family_for(backbone)
    if family is None:
        return pd.DataFrame(columns=["axis", "width", "depth", "resolution", "macs", "top1", "low", "high"])
    return _model_curves(family.name).copy()
