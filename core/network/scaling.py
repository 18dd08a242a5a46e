"""Width, depth, resolution and compound scaling: the only place widths are rounded.

``scale`` is a pure function from an ``Architecture`` and multipliers to a
``Network``; nothing else decides a channel count or a repeat count.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from core.network.architecture import (
    Architecture,
    BlockConfig,
    ChannelRules,
    ConvConfig,
    Network,
    Stage,
    content_digest,
)

WIDTH_RANGE = (0.1, 3.0)
DEPTH_RANGE = (0.1, 4.0)
RESOLUTION_RANGE = (32, 1024)
STAGE_RANGE = (0.25, 3.0)  # one stage's own width or depth multiplier, on top of the global one
DEFAULT_COMPOUND = (1.2, 1.1, 1.15)  # alpha (depth), beta (width), gamma (resolution)


STAGES = "-stages-"  # a per-stage network's name: <the network it was made from>-stages-<digest>


def stage_source(name: str) -> tuple[str, bool]:
    """(the network a per-stage network was made from, whether ``name`` is one): 'mobilenet_v2-stages-3f9c...' is
    ('mobilenet_v2', True); any other name is its own source."""
    source, mark, _ = name.partition(STAGES)
    return source, bool(mark)


def uniform(multipliers) -> bool:
    """Per-stage multipliers all 1: the uniform network itself (same name, same rows)."""
    return all(value == 1 for value in multipliers)


class ScalingError(ValueError):
    """A configuration the engine refuses; the message says what to change."""


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round to the nearest multiple of ``divisor`` (at least ``divisor``), never >10% low.

    The rule of torchvision's ``_make_divisible``, TF's ``round_filters`` and timm.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def adjust_channels(channels: int, width_mult: float, rules: ChannelRules) -> int:
    """One width scaled by ``width_mult`` under the family's rounding rule."""
    if rules.rounding == "truncate":  # TF-slim MobileNet V1
        return max(int(channels * width_mult), 8)
    return make_divisible(channels * width_mult)


def adjust_depth(repeats: int, depth_mult: float) -> int:
    """ceil(repeats x depth), at least 1; floating-point product as the reference does."""
    return max(1, int(math.ceil(repeats * depth_mult)))


def _hidden_channels(stage: Stage, in_channels: int, width_mult: float, rules: ChannelRules) -> int:
    """The block's expanded width; ``width_mult`` already includes the stage's own multiplier."""
    if stage.block == "separable":
        return in_channels
    if stage.block == "basic":
        return adjust_channels(stage.out_channels, width_mult, rules)
    if rules.hidden == "round_ratio":
        return int(round(in_channels * stage.expand_ratio))
    if rules.hidden == "divisible_ratio":
        return make_divisible(in_channels * stage.expand_ratio)
    return adjust_channels(stage.hidden_channels, width_mult, rules)


def _se_channels(stage: Stage, in_channels: int, hidden: int, rules: ChannelRules) -> int:
    if not stage.se:
        return 0
    if rules.se_width == "input_quarter":
        return max(1, in_channels // 4)
    return make_divisible(hidden // 4)


def _head_channels(arch: Architecture, last_out: int, width_mult: float) -> int | None:
    rules = arch.rules
    if rules.head == "scale_up_only":
        return make_divisible(arch.head_channels * max(1.0, width_mult))
    if rules.head == "times_last":
        return rules.head_factor * last_out
    if rules.head == "scaled":
        return adjust_channels(arch.head_channels, width_mult, rules)
    return None


def scale(arch: Architecture, width_mult: float = 1.0, depth_mult: float = 1.0,
          num_classes: int = 1000) -> Network:
    """The concrete network of ``arch`` at the given width and depth multipliers."""
    rules = arch.rules
    stem_out = adjust_channels(arch.stem_channels, width_mult, rules)
    stem = ConvConfig(3, stem_out, arch.stem_kernel, arch.stem_stride, activation=arch.stem_activation)
    in_channels = stem_out
    stages = []
    for stage in arch.stages:
        # a stage's own multipliers are 1.0 unless scaled per stage: x * 1.0 is x, so uniform networks are unchanged
        stage_width = width_mult * stage.width
        out_channels = adjust_channels(stage.out_channels, stage_width, rules)
        blocks = []
        for index in range(adjust_depth(stage.repeats, depth_mult * stage.depth)):
            hidden = _hidden_channels(stage, in_channels, stage_width, rules)
            blocks.append(BlockConfig(
                kind=stage.block, in_channels=in_channels, hidden_channels=hidden,
                out_channels=out_channels, kernel=stage.kernel,
                stride=stage.stride if index == 0 else 1,
                se_channels=_se_channels(stage, in_channels, hidden, rules),
                activation=stage.activation))
            in_channels = out_channels
        stages.append(tuple(blocks))
    head_out = _head_channels(arch, in_channels, width_mult)
    head = None if head_out is None else ConvConfig(in_channels, head_out, 1,
                                                    activation=arch.head_activation)
    hidden = arch.classifier_hidden
    if hidden is not None and rules.classifier_hidden == "scaled":
        hidden = adjust_channels(hidden, width_mult, rules)
    return Network(arch, width_mult, depth_mult, stem, tuple(stages), head, hidden, num_classes)


def _stage_multipliers(label: str, values, arch: Architecture) -> tuple[float, ...]:
    count = len(arch.stages)
    if values is None:
        return (1.0,) * count
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ScalingError(f"{label} must be a list of {count} numbers, one per stage of {arch.title}")
    if len(values) != count:
        raise ScalingError(f"{label} has {len(values)} values; {arch.title[:40]} has {count} stages: "
                           f"give one per stage")
    low, high = STAGE_RANGE
    for index, value in enumerate(values):
        if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value)
                                           and low <= value <= high):
            raise ScalingError(f"{label} of stage {index + 1} is {str(value)[:20]}: use {low:g} to {high:g}")
    return tuple(float(value) for value in values)


def per_stage(arch: Architecture, stage_width=None, stage_depth=None) -> Architecture:
    """``arch`` with each stage's width and depth multiplied (one value per stage); all ones give ``arch`` itself.

    The multipliers become part of the stage table, so ``scale`` rounds each stage's product once, by the
    family's rule, and every consumer of an architecture (counting, building, timing, the spec) sees them.
    The result is named ``<base>-stages-<digest>``, the digest of its content: the same network has one name.
    """
    widths = _stage_multipliers("stage_width", stage_width, arch)
    depths = _stage_multipliers("stage_depth", stage_depth, arch)
    if uniform((*widths, *depths)):
        return arch
    low, high = STAGE_RANGE
    for index, (stage, width, depth) in enumerate(zip(arch.stages, widths, depths)):
        # a spec's stages may carry their own multipliers: the product stays in range, so the result exports
        for label, own, value in (("stage_width", stage.width, width), ("stage_depth", stage.depth, depth)):
            if not low <= own * value <= high:
                raise ScalingError(f"{label} of stage {index + 1} is {value:g}: times the stage's own {own:g} that "
                                   f"is {own * value:g}; a stage's multiplier stays within {low:g} to {high:g}")
    stages = tuple(replace(stage, width=stage.width * width, depth=stage.depth * depth)
                   for stage, width, depth in zip(arch.stages, widths, depths))
    staged = replace(arch, title=f"{arch.title} (per stage)", stages=stages, custom=True)
    return replace(staged, name=f"{stage_source(arch.name)[0]}{STAGES}{content_digest(staged)}")


@dataclass(frozen=True)
class CompoundScaling:
    """EfficientNet's compound rule: depth = alpha^phi, width = beta^phi, resolution = gamma^phi."""

    phi: float
    alpha: float = DEFAULT_COMPOUND[0]
    beta: float = DEFAULT_COMPOUND[1]
    gamma: float = DEFAULT_COMPOUND[2]

    @property
    def depth(self) -> float:
        return self.alpha ** self.phi

    @property
    def width(self) -> float:
        return self.beta ** self.phi

    def resolution(self, base_resolution: int = 224) -> int:
        return int(round(base_resolution * self.gamma ** self.phi))

    def config(self, base_resolution: int = 224) -> tuple[float, float, int]:
        """(width, depth, resolution) for a network whose unscaled input is ``base_resolution``."""
        return self.width, self.depth, self.resolution(base_resolution)

    @property
    def cost_factor(self) -> float:
        """The paper's predicted FLOPs growth: (alpha * beta^2 * gamma^2)^phi."""
        return (self.alpha * self.beta ** 2 * self.gamma ** 2) ** self.phi


def check_config(arch: Architecture, width_mult: float, depth_mult: float, resolution: int) -> None:
    """Raise ``ScalingError`` with what to change if a configuration is out of range."""
    for label, value, (low, high) in (("width", width_mult, WIDTH_RANGE),
                                      ("depth", depth_mult, DEPTH_RANGE)):
        if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value)
                                           and low <= value <= high):
            raise ScalingError(f"{label} multiplier {value} is out of range: use {low} to {high}")
    if not isinstance(resolution, int) or isinstance(resolution, bool):
        raise ScalingError(f"resolution {resolution!r} must be a whole number of pixels")
    if resolution < arch.total_stride:
        raise ScalingError(
            f"resolution {resolution} px is below {arch.title}'s total stride of {arch.total_stride}: "
            f"the feature map would shrink below 1x1; use at least {arch.total_stride} px")
    low, high = RESOLUTION_RANGE
    if not low <= resolution <= high:
        raise ScalingError(f"resolution {resolution} px is out of range: use {low} to {high} px")
