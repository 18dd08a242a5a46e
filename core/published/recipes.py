"""The regularization a variant's reference recipe uses, each value sourced and labelled.

``assets/reference/recipes.csv`` lists, per setting (dropout, stochastic depth, weight
decay, weight decay on depthwise filters), the value each source gives and the networks
it gives it for. A value is labelled by how it reaches a configuration:

- ``published``: the source gives it for exactly this network (same layers, same input size);
- ``rule``: the source's builder or trainer applies it to every variant scaled along the
  axes this one differs on (``rule_axes``), e.g. EfficientNet's stochastic depth 0.2 for any
  width and depth coefficient; the row says which rule;
- ``nearest``: no source covers this variant, so the value of the nearest published network
  of the family by parameter count is shown, not specific to this variant.

Nothing is interpolated between presets. The EfficientNet paper describes dropout as rising
linearly from 0.2 (B0) to 0.5 (B7), but over the model index, which a scaled configuration
does not have, and the reference code it describes steps 0.1 every two models instead; a
scaled EfficientNet therefore shows its nearest B-model's dropout, and the two B-models
around it when they differ.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where used: a first page view shows numbers before its 0.5 s import
    import pandas as pd

from core.network.counting import resolve_config
from core.network.families import REFERENCE_DIR, resolve
from core.network.profiling import profile
from core.network.scaling import scale
from core.published.reference import _network_key

RECIPE_FILE = "recipes"
SETTINGS = {"dropout": "Dropout", "stochastic_depth": "Stochastic depth", "weight_decay": "Weight decay",
            "depthwise_weight_decay": "Weight decay on depthwise filters"}
BASES = ("published", "rule", "nearest")  # strongest first
AXES = ("width", "depth", "resolution")


@dataclass(frozen=True)
class SourcedValue:
    """One setting's value (None: does not apply), how it reaches this variant, and where it is from."""

    setting: str
    value: float | None
    basis: str
    label: str
    source: str
    url: str
    note: str = ""


@dataclass(frozen=True)
class TrainingRecipe:
    """The regularization of a configuration's reference recipe."""

    backbone: str
    width: float
    depth: float
    resolution: int
    dropout: SourcedValue
    stochastic_depth: SourcedValue
    weight_decay: SourcedValue
    depthwise_weight_decay: SourcedValue

    @property
    def values(self) -> tuple[SourcedValue, ...]:
        return tuple(getattr(self, setting) for setting in SETTINGS)

    @property
    def basis(self) -> str:
        """The weakest basis among the values that apply: how far the whole recipe can be trusted."""
        return max((value.basis for value in self.values if value.value is not None), key=BASES.index)

    def as_dict(self) -> dict:
        return asdict(self)


def load() -> pd.DataFrame:
    """The recipe table as stored, with its ``source`` and ``url`` columns."""
    return _table().copy()


@cache
def _table() -> pd.DataFrame:
    import pandas as pd
    return pd.read_csv(REFERENCE_DIR / f"{RECIPE_FILE}.csv", dtype={"rule_axes": str}).fillna(
        {"rule_axes": "", "rule": "", "note": ""})


@cache
def _rows(setting: str, family: str) -> tuple:
    """The table's rows for one setting whose networks belong to ``family``."""
    return tuple(row for row in _table().itertuples(index=False) if row.setting == setting
                 and _published_config(row.networks.split()[0])[0] == family)


@cache
def _published_config(name: str) -> tuple[str, str, float, float, int]:
    """(family, title, width, depth, resolution) of a published network."""
    arch, preset = resolve(name)
    return arch.family, preset.title, preset.width, preset.depth, preset.resolution


@cache
def _published_key(name: str) -> tuple:
    """What makes a configuration the published network ``name``: its layers and input size."""
    base, preset = resolve(name)
    return _network_key(base.name, preset.width, preset.depth, preset.resolution)


@cache
def _params(backbone: str, width: float, depth: float, resolution: int) -> int:
    return profile(backbone, width, depth, resolution).params


def format_value(value: float | None) -> str:
    """0.2, 1e-5, 0 or 'n/a': short enough for a card, exact enough to copy."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:g}".replace("e-0", "e-")


def _value(row) -> float | None:
    import pandas as pd
    return None if pd.isna(row.value) else float(row.value)


def _sourced(setting: str, row, basis: str, label: str, note: str = "") -> SourcedValue:
    notes = "; ".join(part for part in (note, row.note) if part)
    return SourcedValue(setting, _value(row), basis, label, row.source, row.url, notes)


def _stochastic_depth_note(backbone: str, width: float, depth: float, value: float | None) -> str:
    """The per-block schedule on this network: block i of N drops with probability value x i / N."""
    if not value:
        return ""
    blocks = sum(len(stage) for stage in scale(resolve(backbone)[0], width, depth).stages)
    return f"{blocks} blocks here: block i drops with probability {value:g} x i / {blocks} (last {value * (blocks - 1) / blocks:.3g})"


def _deviations(config: tuple[float, float, int], network: str) -> set[str]:
    _, _, *published = _published_config(network)
    return {axis for axis, mine, theirs in zip(AXES, config, published) if not math.isclose(mine, theirs)}


def _lookup(setting: str, key: tuple, backbone: str, width: float, depth: float, resolution: int) -> SourcedValue:
    arch = resolve(backbone)[0]
    rows = _rows(setting, arch.family)
    if not rows:
        raise LookupError(f"no {setting} source for the {arch.family} family in {RECIPE_FILE}.csv")
    for row in rows:
        for network in row.networks.split():
            if _published_key(network) == key:
                return _sourced(setting, row, "published", f"published for {_published_config(network)[1]}")
    config = (width, depth, resolution)
    for row in rows:
        axes = set(row.rule_axes.split())
        if axes and any(_deviations(config, network) <= axes for network in row.networks.split()):
            return _sourced(setting, row, "rule", f"by the source's rule: {row.rule}")
    return _nearest(setting, rows, backbone, width, depth, resolution)


def _nearest(setting: str, rows: list, backbone: str, width: float, depth: float, resolution: int) -> SourcedValue:
    """The published network nearest in parameter count (of the same base architecture where the
    family has one, else of the family), and its neighbours' values when they differ."""
    params = _params(backbone, width, depth, resolution)
    base = resolve(backbone)[0].name
    networks = [(network, row) for row in rows for network in row.networks.split()]
    same_base = [(network, row) for network, row in networks if resolve(network)[0].name == base]
    candidates = sorted(((_params(network, *_published_config(network)[2:]), network, row)
                         for network, row in same_base or networks), key=lambda item: item[0])
    count, network, row = min(candidates, key=lambda item: abs(math.log(item[0] / params)))
    title = _published_config(network)[1]
    below = [item for item in candidates if item[0] <= params]
    above = [item for item in candidates if item[0] > params]
    note = ""
    if below and above and _value(below[-1][2]) != _value(above[0][2]):
        (_, low, low_row), (_, high, high_row) = below[-1], above[0]
        note = (f"between {_published_config(low)[1]} ({format_value(_value(low_row))}) and "
                f"{_published_config(high)[1]} ({format_value(_value(high_row))}) by parameter count; "
                "no source defines a value in between")
    return _sourced(setting, row, "nearest", f"nearest published setting: {title} (closest parameter count); "
                    "not specific to this variant", note)


def training_recipe(backbone: str, width: float | None = None, depth: float | None = None,
                    resolution: int | None = None) -> TrainingRecipe:
    """Dropout, stochastic depth, weight decay and depthwise weight decay of a configuration's recipe.

    Arguments left out take the preset's (or base's) values, as in ``core.profile``.
    """
    arch, _, width, depth, resolution = resolve_config(backbone, width, depth, resolution)
    key = _network_key(arch.name, width, depth, resolution)
    values = {setting: _lookup(setting, key, backbone, width, depth, resolution) for setting in SETTINGS}
    sd = values["stochastic_depth"]
    note = _stochastic_depth_note(backbone, width, depth, sd.value)
    if note:
        values["stochastic_depth"] = SourcedValue(sd.setting, sd.value, sd.basis, sd.label, sd.source, sd.url,
                                                  "; ".join(part for part in (note, sd.note) if part))
    return TrainingRecipe(backbone, width, depth, resolution, **values)


def recipe_lines(recipe: TrainingRecipe) -> list[str]:
    """The recipe as plain text: one line per setting with its basis, then its source and notes."""
    lines = [f"{recipe.backbone}: width {recipe.width:g}, depth {recipe.depth:g}, {recipe.resolution} px "
             f"(weakest basis: {recipe.basis})"]
    for value in recipe.values:
        lines.append(f"  {SETTINGS[value.setting]:<34} {format_value(value.value):>8}  {value.label}")
        lines.append(f"  {'':<34} {'':>8}  source: {value.source} <{value.url}>")
        if value.note:
            lines.append(f"  {'':<34} {'':>8}  note: {value.note}")
    return lines
