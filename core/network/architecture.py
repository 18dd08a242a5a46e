"""The data types every backbone is written in.

An ``Architecture`` is the readable, unscaled stage table of one backbone plus the
``ChannelRules`` of its family. ``core.network.scaling.scale`` turns it into a ``Network``:
the same network with every width and repeat made concrete. Counting, building
and the per-layer table all read the ``Network``, so they cannot disagree about
what the network is.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

BlockKind = Literal["separable", "inverted_residual", "basic", "bottleneck"]
ShortcutRule = Literal["none", "identity_if_shapes_match", "identity_or_projection"]

# Which blocks add a shortcut, by kind (the reference implementations' rule for each):
# MobileNet V1's separable blocks are a plain chain (TF-slim); inverted residuals add their
# input only where stride is 1 and widths match (torchvision, TF-slim); ResNet blocks always
# add, projecting the shortcut with a strided 1x1 conv where the shape changes.
SHORTCUT_RULES: dict[BlockKind, ShortcutRule] = {
    "separable": "none",
    "inverted_residual": "identity_if_shapes_match",
    "basic": "identity_or_projection",
    "bottleneck": "identity_or_projection",
}


@dataclass(frozen=True)
class BatchNorm:
    """Batch-norm settings of the reference implementation, in torch's convention.

    TF's ``decay`` d is torch's ``momentum`` 1 - d. The settings change the module's
    outputs and training, never the counts.
    """

    eps: float = 1e-5
    momentum: float = 0.1


@dataclass(frozen=True)
class Stage:
    """One row of a stage table: ``repeats`` blocks of one kind.

    The first block takes the stage's stride; the added repeats use stride 1 with
    equal input and output widths (whether they add a shortcut is ``SHORTCUT_RULES``).
    The hidden (expanded) width is either ``expand_ratio`` times the block input
    (MobileNet V2, EfficientNet) or an absolute ``hidden_channels`` that scales with
    width (MobileNet V3 tables, ResNet bottleneck width).
    ``width`` and ``depth`` multiply this stage on top of the network's global multipliers
    (per-stage scaling, as MnasNet and RegNet search it); the family's rounding applies to the product.
    """

    block: BlockKind
    kernel: int
    stride: int
    out_channels: int
    repeats: int = 1
    expand_ratio: float = 1.0
    hidden_channels: int | None = None
    se: bool = False
    activation: str = "relu"
    width: float = 1.0
    depth: float = 1.0


@dataclass(frozen=True)
class ChannelRules:
    """How one family's reference implementation rounds widths (see shared/reference)."""

    rounding: Literal["divisible", "truncate"] = "divisible"
    hidden: Literal["round_ratio", "divisible_ratio", "scaled_absolute"] = "divisible_ratio"
    se_width: Literal["input_quarter", "hidden_quarter_divisible"] = "input_quarter"
    se_activation: str = "relu"
    se_gate: str = "sigmoid"
    head: Literal["none", "scale_up_only", "times_last", "scaled"] = "none"
    head_factor: int = 0
    classifier_hidden: Literal["scaled", "fixed"] = "scaled"


@dataclass(frozen=True)
class Architecture:
    """An unscaled backbone: stem, stage table, head and classifier.

    ``default_width``, ``default_depth`` and ``default_resolution`` are where the network stands
    when no multiplier is given (a published preset exported as a spec keeps its own).
    ``custom``: loaded from a spec or scaled per stage, so no published figure belongs to it.
    """

    name: str
    title: str
    family: str
    stages: tuple[Stage, ...]
    rules: ChannelRules
    stem_channels: int = 32
    stem_kernel: int = 3
    stem_stride: int = 2
    stem_activation: str = "relu"
    stem_pool: bool = False
    head_channels: int | None = None
    head_activation: str = "relu"
    classifier_hidden: int | None = None
    classifier_activation: str = "hardswish"
    dropout: float = 0.2
    default_resolution: int = 224
    norm: BatchNorm = BatchNorm()
    default_width: float = 1.0
    default_depth: float = 1.0
    custom: bool = False

    @property
    def total_stride(self) -> int:
        """Input pixels per output feature-map pixel: the smallest usable resolution."""
        stride = self.stem_stride * (2 if self.stem_pool else 1)
        for stage in self.stages:
            stride *= stage.stride
        return stride


def content_digest(arch: Architecture) -> str:
    """What the network is (not its name or title): equal networks share a name however they were reached."""
    meaning = {key: value for key, value in asdict(arch).items() if key not in ("name", "title")}
    return hashlib.sha256(json.dumps(meaning, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ConvConfig:
    """A convolution followed by batch norm and an optional activation."""

    in_channels: int
    out_channels: int
    kernel: int
    stride: int = 1
    groups: int = 1
    activation: str | None = None
    dilation: int = 1


@dataclass(frozen=True)
class SqueezeConfig:
    """Squeeze-and-excitation: pool, 1x1 reduce (bias), act, 1x1 expand (bias), gate."""

    channels: int
    squeeze_channels: int
    activation: str
    gate: str


Layer = tuple[str, "ConvConfig | SqueezeConfig"]


@dataclass(frozen=True)
class BlockConfig:
    """One concrete block of a scaled network."""

    kind: BlockKind
    in_channels: int
    hidden_channels: int
    out_channels: int
    kernel: int
    stride: int
    se_channels: int
    activation: str
    dilation: int = 1
    shortcut_stride: int | None = None

    @property
    def shortcut(self) -> Literal["none", "identity", "projection"]:
        """What this block adds to its output, by its kind's rule (``SHORTCUT_RULES``).

        A dilated block (dense tasks, ``core.network.tasks.dilate``) may decide on its nominal stride
        (``shortcut_stride``, torchvision's MobileNet V3) rather than the stride it runs at.
        """
        rule = SHORTCUT_RULES[self.kind]
        if rule == "none":
            return "none"
        stride = self.stride if self.shortcut_stride is None else self.shortcut_stride
        if stride == 1 and self.in_channels == self.out_channels:
            return "identity"
        return "projection" if rule == "identity_or_projection" else "none"

    @property
    def residual(self) -> bool:
        """The block's output is a sum: main path plus shortcut."""
        return self.shortcut != "none"

    @property
    def downsample(self) -> bool:
        """The shortcut is a strided 1x1 projection (ResNet where the shape changes)."""
        return self.shortcut == "projection"

    @property
    def post_add_activation(self) -> str | None:
        """ResNet blocks apply ReLU to the sum; inverted residuals add linearly."""
        return "relu" if self.kind in ("basic", "bottleneck") else None

    def layers(self, squeeze: tuple[str, str] = ("relu", "sigmoid")) -> tuple[Layer, ...]:
        """The block's layers in forward order, named as in the built torch module.

        Counting and building both read this list, so they describe the same layers.
        ``squeeze`` is the family's (activation, gate) for squeeze-excitation.
        """
        act, inp, hid, out = self.activation, self.in_channels, self.hidden_channels, self.out_channels
        if self.kind == "separable":
            return (("depthwise", ConvConfig(inp, inp, self.kernel, self.stride, inp, act)),
                    ("pointwise", ConvConfig(inp, out, 1, 1, 1, act)))
        if self.kind == "inverted_residual":
            layers: list[Layer] = []
            if hid != inp:
                layers.append(("expand", ConvConfig(inp, hid, 1, 1, 1, act)))
            layers.append(("depthwise", ConvConfig(hid, hid, self.kernel, self.stride, hid, act, self.dilation)))
            if self.se_channels:
                layers.append(("se", SqueezeConfig(hid, self.se_channels, *squeeze)))
            layers.append(("project", ConvConfig(hid, out, 1)))
            return tuple(layers)
        if self.kind == "basic":
            layers = [("conv1", ConvConfig(inp, hid, 3, self.stride, 1, act)),
                      ("conv2", ConvConfig(hid, out, 3))]
        else:  # bottleneck, stride on the 3x3 conv (ResNet V1.5)
            layers = [("conv1", ConvConfig(inp, hid, 1, 1, 1, act)),
                      ("conv2", ConvConfig(hid, hid, 3, self.stride, 1, act, self.dilation)),
                      ("conv3", ConvConfig(hid, out, 1))]
        if self.downsample:
            layers.append(("downsample", ConvConfig(inp, out, 1, self.stride)))
        return tuple(layers)


@dataclass(frozen=True)
class Network:
    """A scaled architecture with every width and repeat made concrete."""

    architecture: Architecture
    width_mult: float
    depth_mult: float
    stem: ConvConfig
    stages: tuple[tuple[BlockConfig, ...], ...]
    head: ConvConfig | None
    classifier_hidden: int | None
    num_classes: int

    @property
    def features(self) -> int:
        """Channels that reach the classifier."""
        if self.head is not None:
            return self.head.out_channels
        return self.stages[-1][-1].out_channels
