"""Analytic profile: parameters, MACs and activation memory without a single tensor.

One walk over a ``Network`` yields one row per layer; the totals are sums of those
rows, so the per-layer table and the headline numbers cannot disagree.
Conventions: MACs count the multiply-accumulates of convolutions and linear layers
(the papers' and torchvision's convention); FLOPs = 2 x MACs. Batch norm,
activations, pooling and element-wise ops are not in MACs. Parameters include
each convolution's batch norm (scale and shift) and every bias.
Activation memory is the sum of every tensor a layer-by-layer engine writes: each
conv, linear and pooling output, each squeeze-excitation rescaled tensor (``se_scale``
rows) and each residual sum (``residual_add`` rows). Batch norm and activations are
taken as fused or in place, and the squeeze's pooled vector is left out (one value
per channel).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where used: a first page view shows numbers before its 0.5 s import
    import pandas as pd

from core.network.architecture import Architecture, ConvConfig, Network, SqueezeConfig
from core.network.families import resolve
from core.network.scaling import ScalingError, check_config, per_stage

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
LAYER_COLUMNS = ("name", "stage", "type", "in_channels", "out_channels", "kernel", "stride",
                 "groups", "output_size", "params", "macs", "activation_bytes", "nonlinearity")


def conv_output_size(size: int, kernel: int, stride: int) -> int:
    """Spatial size after a convolution or pooling with 'same'-style padding (kernel - 1) // 2."""
    padding = (kernel - 1) // 2
    return (size + 2 * padding - kernel) // stride + 1


Size = tuple[int, int]  # (height, width) in pixels


def output_hw(size: Size, kernel: int, stride: int) -> Size:
    """(height, width) after a convolution or pooling with 'same'-style padding (a dilated conv pads to match)."""
    return conv_output_size(size[0], kernel, stride), conv_output_size(size[1], kernel, stride)


def _conv_row(name: str, stage: str, conv: ConvConfig, size: Size, dtype_bytes: int) -> tuple:
    height, width = output_hw(size, conv.kernel, conv.stride)
    weights = conv.in_channels // conv.groups * conv.out_channels * conv.kernel ** 2
    layer_type = "dwconv" if conv.groups > 1 else "conv"
    return (name, stage, layer_type, conv.in_channels, conv.out_channels, conv.kernel, conv.stride,
            conv.groups, height, weights + 2 * conv.out_channels, weights * height * width,
            conv.out_channels * height * width * dtype_bytes, conv.activation or "", width)


def _tensor_row(name: str, stage: str, layer_type: str, channels: int, size: Size, dtype_bytes: int,
                nonlinearity: str | None = None) -> tuple:
    """A tensor written without weights: pooling, SE rescale, residual sum."""
    return (name, stage, layer_type, channels, channels, 1, 1, 1, size[0], 0, 0,
            channels * size[0] * size[1] * dtype_bytes, nonlinearity or "", size[1])


def _squeeze_rows(name: str, stage: str, se: SqueezeConfig, size: Size, dtype_bytes: int) -> list[tuple]:
    """Reduce and expand 1x1 convs on the pooled vector, then the rescaled feature map."""
    rows = []
    for part, inp, out, nonlinearity in (("reduce", se.channels, se.squeeze_channels, se.activation),
                                         ("expand", se.squeeze_channels, se.channels, se.gate)):
        rows.append((f"{name}.{part}", stage, "se_conv", inp, out, 1, 1, 1, 1, inp * out + out,
                     inp * out, out * dtype_bytes, nonlinearity, 1))
    rows.append(_tensor_row(name, stage, "se_scale", se.channels, size, dtype_bytes))
    return rows


def linear_row(name: str, inp: int, out: int, dtype_bytes: int, nonlinearity: str | None = None) -> tuple:
    return (name, "classifier", "linear", inp, out, 1, 1, 1, 1, inp * out + out, inp * out,
            out * dtype_bytes, nonlinearity or "")


def feature_rows(network: Network, size: Size, dtype_bytes: int = 4, prefix: str = "",
                 head_stage: str = "head") -> list[tuple]:
    """The convolutional part (stem, blocks, last conv) at any (height, width), in forward order.

    Rows are ``LAYER_COLUMNS`` plus the output width (``output_size`` is the height); names
    start with ``prefix`` (a dense-task model nests the backbone under ``backbone.``).
    """
    arch = network.architecture
    squeeze = (arch.rules.se_activation, arch.rules.se_gate)
    rows = [_conv_row(f"{prefix}stem", "stem", network.stem, size, dtype_bytes)]
    size = (rows[-1][8], rows[-1][13])
    if arch.stem_pool:
        size = output_hw(size, 3, 2)
        channels = network.stem.out_channels
        rows.append((f"{prefix}stem_pool", "stem", "maxpool", channels, channels, 3, 2, 1, size[0], 0, 0,
                     channels * size[0] * size[1] * dtype_bytes, "", size[1]))
    for stage_index, blocks in enumerate(network.stages):
        stage = f"stage{stage_index + 1}"
        for block_index, block in enumerate(blocks):
            name = f"{prefix}stages.{stage_index}.{block_index}"
            block_size = size
            for part, layer in block.layers(squeeze):
                if isinstance(layer, SqueezeConfig):
                    rows.extend(_squeeze_rows(f"{name}.{part}", stage, layer, size, dtype_bytes))
                    continue
                # the shortcut projection reads the block input, not the previous layer
                in_size = block_size if part == "downsample" else size
                rows.append(_conv_row(f"{name}.{part}", stage, layer, in_size, dtype_bytes))
                size = (rows[-1][8], rows[-1][13])
            if block.residual:  # the block's output is the sum (ReLU'd in place for ResNets)
                rows.append(_tensor_row(name, stage, "residual_add", block.out_channels, size,
                                        dtype_bytes, block.post_add_activation))
    if network.head is not None:
        rows.append(_conv_row(f"{prefix}head", head_stage, network.head, size, dtype_bytes))
    return rows


def classifier_rows(network: Network, size: Size, dtype_bytes: int = 4) -> list[tuple]:
    """A classifier's rows at any (height, width): the features, the global pool, the linear layers.

    Rows are ``LAYER_COLUMNS`` plus the output width, as ``feature_rows``; the square classifier's table
    (``layer_rows``) and a dense-task profile's classifier (``core.network.tasks``) both read these.
    """
    rows = feature_rows(network, size, dtype_bytes)
    features = network.features
    rows.append(("pool", "head", "avgpool", features, features, rows[-1][8], 1, 1, 1, 0, 0,
                 features * dtype_bytes, "", 1))
    if network.classifier_hidden is not None:
        rows.append(linear_row("classifier.hidden", features, network.classifier_hidden, dtype_bytes,
                               network.architecture.classifier_activation) + (1,))
        features = network.classifier_hidden
    rows.append(linear_row("classifier.fc", features, network.num_classes, dtype_bytes) + (1,))
    return rows


def layer_rows(network: Network, resolution: int, dtype_bytes: int = 4) -> list[tuple]:
    """One tuple per layer (``LAYER_COLUMNS``), per image, in forward order: a square classifier."""
    return [row[:-1] for row in classifier_rows(network, (resolution, resolution), dtype_bytes)]


@dataclass(frozen=True)
class Profile:
    """What a configuration costs, per image unless it says batch."""

    backbone: str
    base: str
    width: float
    depth: float
    resolution: int
    num_classes: int
    batch: int
    dtype: str
    params: int
    macs: int
    activation_bytes: int
    peak_activation_bytes: int
    rows: tuple[tuple, ...] = field(repr=False, compare=False)
    task: str = "classification"
    head: str = "classifier"
    stage_width: tuple[float, ...] | None = None  # per-stage multipliers asked for, on top of width and depth
    stage_depth: tuple[float, ...] | None = None
    feature_maps: tuple = field(default=(), repr=False, compare=False)  # core.network.tasks.FeatureMap, dense tasks
    columns: tuple[str, ...] = field(default=LAYER_COLUMNS, repr=False, compare=False)
    # What was counted and what it was asked as, carried so that nothing needs the bounded registry to find the
    # network by name again (a pin, a job's key, a later poll); neither takes part in equality or hashing.
    architecture: Architecture | None = field(default=None, repr=False, compare=False)  # custom or per-stage one
    source: str | Architecture | None = field(default=None, repr=False, compare=False)  # what stage lists apply to:
    # a built-in's or preset's name, or the custom architecture itself (``job_settings.job_network`` reads it)

    @property
    def flops(self) -> int:
        """FLOPs = 2 x MACs (a multiply and an add counted separately)."""
        return 2 * self.macs

    @property
    def weight_bytes(self) -> dict[str, int]:
        """Weight storage at each precision (one scale per tensor is ignored for int8)."""
        return {"fp32": 4 * self.params, "fp16": 2 * self.params, "int8": self.params}

    @cached_property
    def layers(self) -> pd.DataFrame:
        """The per-layer table; its params, macs and activation_bytes sum to the totals.

        Built once per profile and shared (the app caches profiles): derive, never modify in place.
        """
        import pandas as pd
        table = pd.DataFrame(self.rows, columns=list(self.columns))
        table["activation_bytes"] *= self.batch
        if "part" not in table:  # a classifier: the pooled classifier is its head, the rest its backbone
            table["part"] = table.type.isin(["avgpool", "linear"]).map({True: "head", False: "backbone"})
        return table

    def parts(self) -> dict[str, dict[str, int]]:
        """Params, MACs and activation bytes (this batch) of each part: backbone, neck, head.

        The parts sum to the totals. Read from the rows, not the table: cheap enough for every sweep row.
        """
        index = self.columns.index("part") if "part" in self.columns else None
        totals: dict[str, dict[str, int]] = {}
        for row in self.rows:
            part = row[index] if index is not None else ("head" if row[2] in ("avgpool", "linear") else "backbone")
            total = totals.setdefault(part, {"params": 0, "macs": 0, "activation_bytes": 0})
            total["params"] += row[9]
            total["macs"] += row[10]
            total["activation_bytes"] += row[11] * self.batch
        return totals

    def summary(self) -> dict:
        """The headline numbers as plain JSON-ready values."""
        return {"backbone": self.backbone, "base": self.base, "width": self.width,
                "depth": self.depth, "resolution": self.resolution,
                "num_classes": self.num_classes, "batch": self.batch, "dtype": self.dtype,
                "params": self.params, "macs": self.macs, "flops": self.flops,
                "activation_bytes": self.activation_bytes,
                "peak_activation_bytes": self.peak_activation_bytes,
                "weight_bytes": self.weight_bytes, "layers": len(self.rows),
                "task": self.task, "head": self.head, "parts": self.parts(),
                **({"stage_width": list(self.stage_width)} if self.stage_width else {}),
                **({"stage_depth": list(self.stage_depth)} if self.stage_depth else {})}


def totals(rows: list[tuple], input_bytes: int) -> tuple[int, int, int, int]:
    """Params, MACs, activation bytes and the peak of one layer's input + output, per image."""
    params = macs = activations = peak = 0
    previous = input_bytes
    for row in rows:
        params += row[9]
        macs += row[10]
        activations += row[11]
        peak = max(peak, previous + row[11])
        previous = row[11]
    return params, macs, activations, peak


def backbone_label(backbone: str | Architecture) -> str:
    """A backbone as a message names it: its name, or a loaded architecture's title."""
    return backbone.title if isinstance(backbone, Architecture) else str(backbone)[:60]


def resolve_config(backbone: str | Architecture, width: float | None = None, depth: float | None = None,
                   resolution: int | None = None, stage_width=None, stage_depth=None):
    """Fill arguments left out from the preset (or base) and validate them.

    With per-stage multipliers the architecture returned is the per-stage one (``scaling.per_stage``), its
    preset's defaults, dropout and norm carried into it.
    """
    try:
        arch, preset = resolve(backbone)
    except KeyError:
        raise ScalingError(f"unknown backbone {backbone_label(backbone)!r}: run 'python -m core list' for the "
                           "names, or load a spec (core.load_spec)") from None
    if stage_width is not None or stage_depth is not None:
        own = replace(arch, default_width=preset.width, default_depth=preset.depth,
                      default_resolution=preset.resolution,
                      dropout=arch.dropout if preset.dropout is None else preset.dropout,
                      norm=arch.norm if preset.norm is None else preset.norm)
        staged = per_stage(own, stage_width, stage_depth)
        if staged is not own:
            arch, preset = resolve(staged)
    width = preset.width if width is None else width
    depth = preset.depth if depth is None else depth
    resolution = preset.resolution if resolution is None else resolution
    check_config(arch, width, depth, resolution)
    return arch, preset, float(width), float(depth), int(resolution)
