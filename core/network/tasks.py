"""Dense tasks: a backbone with torchvision's segmentation heads or its detection feature pyramid.

What people deploy a MobileNet or ResNet for is often a dense task at 512-1344 px. This module
describes those networks the way ``torchvision.models.segmentation`` and
``torchvision.models.detection.backbone_utils`` build them, as data (``DenseNetwork``) that the
counter here and the torch modules in ``core.network.task_modules`` both read:

- segmentation: the classifier's pool and linear layers go; the last stages run dilated so the
  output stride is 8 (ResNet-50, ``replace_stride_with_dilation=[False, True, True]``) or 16
  (MobileNet V3, ``dilated=True``); a head reads the last feature map ("out"; LR-ASPP also the
  first stride-8 block, "low") and predicts 21 classes (Pascal VOC), upsampled to the input;
- detection: the backbone's stage outputs feed a feature pyramid (``FeaturePyramidNetwork``,
  256 channels, a 1x1 lateral and a 3x3 output conv per level, with bias) plus a stride-2
  max-pool level (``LastLevelMaxPool``): ResNet layers 1-4; MobileNet V3 the last strided block
  and the last conv (``returned_layers=[num_stages - 2, num_stages - 1]``, both at stride 32).
  The region-proposal and box heads depend on the proposals, not only the input size, and are
  not counted.

Width and depth scale the backbone only. Every head keeps torchvision's fixed widths (ASPP 256,
LR-ASPP 128, FPN 256) and adapts its input convolutions to the scaled backbone's channels; FCN's
inner width is a quarter of its input, so it follows the backbone's width.
Auxiliary classifiers are off (torchvision's published parameter counts include them where the
weights were trained with one: ``assets/reference/tasks.csv`` says which).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

from core.network.architecture import Network
from core.network.counting import (
    DTYPE_BYTES,
    LAYER_COLUMNS,
    Profile,
    Size,
    backbone_label,
    classifier_rows,
    feature_rows,
    output_hw,
    resolve_config,
    totals,
)
from core.network.families import resolve
from core.network.scaling import RESOLUTION_RANGE, ScalingError, check_config, scale

PUBLISHED_FILE = "tasks"  # assets/reference/tasks.csv: torchvision's published task results

TASKS = ("classification", "segmentation", "detection")
HEADS = {"classification": ("classifier",), "segmentation": ("fcn", "deeplabv3", "lraspp"), "detection": ("fpn",)}
DEFAULT_HEADS = {"classification": "classifier", "segmentation": "deeplabv3", "detection": "fpn"}
# torchvision's evaluation sizes: segmentation resizes to 520 px; detection's transform resizes the short
# side to 800 px (a 640x480 COCO image becomes 800x1066, padded to 800x1088); 800x800 is the square stand-in.
DEFAULT_RESOLUTION = {"segmentation": 520, "detection": 800}
MAX_DENSE_SIDE = 1344
SEGMENTATION_CLASSES = 21  # Pascal VOC's 20 categories and background, as torchvision's weights
FPN_CHANNELS = 256
ASPP_CHANNELS = 256
ASPP_RATES = (12, 24, 36)
LRASPP_CHANNELS = 128
TASK_COLUMNS = (*LAYER_COLUMNS, "output_width", "part")  # output_size is the height

# Base architectures each dense head is built on. torchvision builds the ones in TORCHVISION_MODELS;
# the rest apply the same construction to another backbone of the same family.
BACKBONES: dict[tuple[str, str], tuple[str, ...]] = {
    ("segmentation", "fcn"): ("resnet50", "mobilenet_v3_large", "mobilenet_v3_small"),
    ("segmentation", "deeplabv3"): ("resnet50", "mobilenet_v3_large", "mobilenet_v3_small"),
    ("segmentation", "lraspp"): ("mobilenet_v3_large", "mobilenet_v3_small"),
    ("detection", "fpn"): ("resnet18", "resnet34", "resnet50", "mobilenet_v3_large", "mobilenet_v3_small"),
}
TORCHVISION_MODELS: dict[tuple[str, str, str], str] = {
    ("segmentation", "fcn", "resnet50"): "fcn_resnet50",
    ("segmentation", "deeplabv3", "resnet50"): "deeplabv3_resnet50",
    ("segmentation", "deeplabv3", "mobilenet_v3_large"): "deeplabv3_mobilenet_v3_large",
    ("segmentation", "lraspp", "mobilenet_v3_large"): "lraspp_mobilenet_v3_large",
    ("detection", "fpn", "resnet50"): "fasterrcnn_resnet50_fpn",
    ("detection", "fpn", "mobilenet_v3_large"): "fasterrcnn_mobilenet_v3_large_fpn",
}
# Segmentation output stride by family: ResNet-50 dilates layers 3 and 4, MobileNet V3 its last stage.
OUTPUT_STRIDE = {"resnet": 8, "mobilenet_v3": 16}
WHY_NOT = ("ResNet-18/34's basic blocks cannot be dilated in torchvision, and torchvision builds no dilated or "
           "pyramid variant of MobileNet V1/V2 or EfficientNet")


def combinations() -> str:
    """Every dense task/head/backbone combination, as one line for a message."""
    return "; ".join(f"{task} {head}: {', '.join(names)}" for (task, head), names in BACKBONES.items())


def check_task(backbone: str, task: str, head: str | None) -> str:
    """The head ``task`` uses on ``backbone`` (its default where None); ScalingError naming what exists."""
    if task not in TASKS:
        raise ScalingError(f"task {task!r} is not known: use one of {', '.join(TASKS)}")
    head = DEFAULT_HEADS[task] if head is None else head
    if head not in HEADS[task]:
        raise ScalingError(f"head {head!r} does not go with {task}: use one of {', '.join(HEADS[task])}")
    try:
        arch = resolve(backbone)[0]
    except KeyError:
        raise ScalingError(f"unknown backbone {backbone_label(backbone)!r}: run 'python -m core list' for the "
                           "names") from None
    if task != "classification" and arch.custom:
        raise ScalingError(f"{task} is built only on the built-in backbones at uniform scaling (torchvision's "
                           f"taps and dilations belong to them): {arch.title[:40]} is counted as a classifier")
    if task != "classification" and arch.name not in BACKBONES[task, head]:
        raise ScalingError(f"{task} with head {head} is not built on {backbone}; the combinations that exist: "
                           f"{combinations()} ({WHY_NOT})")
    return head


def input_size(resolution: int | tuple[int, int] | list[int]) -> Size:
    """(height, width) from a side or a pair."""
    if isinstance(resolution, (tuple, list)):
        if len(resolution) != 2:
            raise ScalingError(f"resolution {resolution!r} must be one side or (height, width)")
        return int(resolution[0]), int(resolution[1])
    return resolution, resolution


@dataclass(frozen=True)
class HeadConv:
    """One convolution of a neck or head: stride 1, 'same' padding, on the feature map named ``reads``.

    ``reads`` is a tap of the backbone (``DenseNetwork.taps``), an FPN level, or "pooled" (a
    global-average-pooled 1x1 map). ``norm``: batch norm after a bias-free conv; ``bias``: a
    conv bias (torchvision's classifiers and FPN convs); neither: a bare conv (LR-ASPP's gate).
    """

    in_channels: int
    out_channels: int
    kernel: int = 1
    dilation: int = 1
    norm: bool = False
    bias: bool = False
    activation: str | None = None
    reads: str = "out"

    @property
    def params(self) -> int:
        weights = self.in_channels * self.out_channels * self.kernel ** 2
        return weights + (2 * self.out_channels if self.norm else 0) + (self.out_channels if self.bias else 0)


@dataclass(frozen=True)
class Tap:
    """A backbone feature map a neck or head reads: its key, producing layer (row name) and channels."""

    key: str
    layer: str
    channels: int


@dataclass(frozen=True)
class DenseNetwork:
    """A scaled backbone (dilated where the head asks) with its neck and head, as layer lists."""

    network: Network
    task: str
    head: str
    taps: tuple[Tap, ...]
    neck: tuple[tuple[str, HeadConv], ...]
    head_layers: tuple[tuple[str, HeadConv], ...]
    num_classes: int


def dilate(network: Network, output_stride: int) -> Network:
    """The network with every stride past ``output_stride`` replaced by dilation (same weights).

    ResNet (``replace_stride_with_dilation``): a dilated stage's first block runs at the previous
    dilation, the rest at the new one; shortcuts follow the stride they run at. MobileNet V3
    (``dilated=True``): the whole tail at dilation 2, the shortcut still decided by the nominal stride.
    """
    arch = network.architecture
    stride, dilation, stages = network.stem.stride * (2 if arch.stem_pool else 1), 1, []
    for blocks in network.stages:
        dilated = []
        for block in blocks:
            if block.stride > 1 and stride * block.stride > output_stride:
                previous, dilation = dilation, dilation * block.stride
                if block.kind == "inverted_residual":
                    block = replace(block, stride=1, dilation=dilation, shortcut_stride=block.stride)
                else:
                    block = replace(block, stride=1, dilation=previous)
            elif block.stride > 1:
                stride *= block.stride
            elif dilation > 1:
                block = replace(block, dilation=dilation)
            dilated.append(block)
        stages.append(tuple(dilated))
    return replace(network, stages=tuple(stages))


def _block_outputs(network: Network) -> list[tuple[str, int, int, int]]:
    """(row name of the block's output, channels, nominal output stride, nominal stride of the block)."""
    arch = network.architecture
    stride, outputs = network.stem.stride * (2 if arch.stem_pool else 1), []
    for stage_index, blocks in enumerate(network.stages):
        for block_index, block in enumerate(blocks):
            stride *= block.stride
            outputs.append((f"backbone.stages.{stage_index}.{block_index}", block.out_channels, stride,
                            block.stride))
    return outputs


def _last_tap(network: Network, key: str) -> Tap:
    """The last feature map: the 1x1 conv after the blocks (MobileNet V3) or the last block (ResNet)."""
    if network.head is not None:
        return Tap(key, "backbone.head", network.head.out_channels)
    name, channels, _, _ = _block_outputs(network)[-1]
    return Tap(key, name, channels)


def _segmentation_layers(head: str, taps: dict[str, Tap], classes: int) -> tuple[tuple[str, HeadConv], ...]:
    out = taps["out"].channels
    if head == "fcn":  # FCNHead: 3x3 to a quarter, BN, ReLU, dropout 0.1, 1x1 classifier
        inner = out // 4
        return (("head.conv", HeadConv(out, inner, 3, norm=True, activation="relu")),
                ("head.classifier", HeadConv(inner, classes, bias=True)))
    if head == "deeplabv3":  # DeepLabHead: ASPP(rates 12, 24, 36; 256), 3x3, 1x1 classifier
        branches = [("head.aspp_1x1", HeadConv(out, ASPP_CHANNELS, norm=True, activation="relu"))]
        branches += [(f"head.aspp_rate{rate}", HeadConv(out, ASPP_CHANNELS, 3, rate, norm=True, activation="relu"))
                     for rate in ASPP_RATES]
        branches.append(("head.aspp_pool", HeadConv(out, ASPP_CHANNELS, norm=True, activation="relu",
                                                    reads="pooled")))
        concat = ASPP_CHANNELS * len(branches)
        return (*branches,
                ("head.aspp_project", HeadConv(concat, ASPP_CHANNELS, norm=True, activation="relu")),
                ("head.conv", HeadConv(ASPP_CHANNELS, ASPP_CHANNELS, 3, norm=True, activation="relu")),
                ("head.classifier", HeadConv(ASPP_CHANNELS, classes, bias=True)))
    # LR-ASPP: 1x1 + BN + ReLU on "high", gated by a pooled 1x1 + sigmoid, upsampled to "low";
    # one 1x1 classifier on each branch, summed
    high, low = taps["out"].channels, taps["low"].channels
    return (("head.cbr", HeadConv(high, LRASPP_CHANNELS, norm=True, activation="relu")),
            ("head.scale", HeadConv(high, LRASPP_CHANNELS, activation="sigmoid", reads="pooled")),
            ("head.low_classifier", HeadConv(low, classes, bias=True, reads="low")),
            ("head.high_classifier", HeadConv(LRASPP_CHANNELS, classes, bias=True, reads="low")))


def dense_network(backbone: str, width: float, depth: float, task: str, head: str,
                  num_classes: int | None = None) -> DenseNetwork:
    """The dense-task network of a (validated) configuration: what counting and building read."""
    arch = resolve(backbone)[0]
    network = scale(arch, width, depth)
    blocks = _block_outputs(network)
    if task == "segmentation":
        classes = SEGMENTATION_CLASSES if num_classes is None else num_classes
        taps = [_last_tap(network, "out")]
        if head == "lraspp":  # the first block at stride 8 (torchvision: stage_indices[-4])
            name, channels, _, _ = next(block for block in blocks if block[2] == 8)
            taps.insert(0, Tap("low", name, channels))
        by_key = {tap.key: tap for tap in taps}
        return DenseNetwork(dilate(network, OUTPUT_STRIDE[arch.family]), task, head, tuple(taps), (),
                            _segmentation_layers(head, by_key, classes), classes)
    if arch.family == "resnet":  # layers 1-4: each stage's last block
        ends = [f"backbone.stages.{index}.{len(stage) - 1}" for index, stage in enumerate(network.stages)]
        taps = [Tap(str(level), name, channels) for level, name in enumerate(ends)
                for block, channels, _, _ in blocks if block == name]
    else:  # MobileNet: the last strided block and the last conv
        name, channels, _, _ = [block for block in blocks if block[3] > 1][-1]
        taps = [Tap("0", name, channels), _last_tap(network, "1")]
    neck = []
    for tap in taps:
        neck += [(f"neck.inner_{tap.key}", HeadConv(tap.channels, FPN_CHANNELS, bias=True, reads=tap.key)),
                 (f"neck.layer_{tap.key}", HeadConv(FPN_CHANNELS, FPN_CHANNELS, 3, bias=True, reads=tap.key))]
    return DenseNetwork(network, task, head, tuple(taps), tuple(neck), (), 0)


@dataclass(frozen=True)
class FeatureMap:
    """A feature map a neck or head reads, or a pyramid level it produces."""

    name: str
    part: str
    channels: int
    stride: int
    height: int
    width: int
    read_by: str


def _row(name: str, stage: str, layer_type: str, channels: int, size: Size, dtype_bytes: int, part: str,
         in_channels: int | None = None, kernel: int = 1, stride: int = 1, params: int = 0, macs: int = 0,
         nonlinearity: str | None = None) -> tuple:
    in_channels = channels if in_channels is None else in_channels
    return (name, stage, layer_type, in_channels, channels, kernel, stride, 1, size[0], params, macs,
            channels * size[0] * size[1] * dtype_bytes, nonlinearity or "", size[1], part)


def _conv_row(name: str, conv: HeadConv, size: Size, dtype_bytes: int, part: str) -> tuple:
    macs = conv.in_channels * conv.out_channels * conv.kernel ** 2 * size[0] * size[1]
    return _row(name, part, "conv", conv.out_channels, size, dtype_bytes, part, conv.in_channels, conv.kernel,
                params=conv.params, macs=macs, nonlinearity=conv.activation)


def _neck_rows(dense: DenseNetwork, sizes: dict[str, Size], dtype_bytes: int) -> list[tuple]:
    """FPN in forward order: top level first, then top-down (nearest upsample + lateral) per level."""
    convs = dict(dense.neck)
    rows, levels = [], [tap.key for tap in dense.taps]
    for index, level in enumerate(reversed(levels)):
        size = sizes[level]
        rows.append(_conv_row(f"neck.inner_{level}", convs[f"neck.inner_{level}"], size, dtype_bytes, "neck"))
        if index:  # the coarser level's merged map, upsampled to this one and added
            rows += [_row(f"neck.upsample_{level}", "neck", "upsample", FPN_CHANNELS, size, dtype_bytes, "neck"),
                     _row(f"neck.merge_{level}", "neck", "add", FPN_CHANNELS, size, dtype_bytes, "neck")]
        rows.append(_conv_row(f"neck.layer_{level}", convs[f"neck.layer_{level}"], size, dtype_bytes, "neck"))
    pooled = output_hw(sizes[levels[-1]], 1, 2)  # LastLevelMaxPool: kernel 1, stride 2
    rows.append(_row("neck.pool", "neck", "maxpool", FPN_CHANNELS, pooled, dtype_bytes, "neck", stride=2))
    return rows


def _head_rows(dense: DenseNetwork, sizes: dict[str, Size], image: Size, dtype_bytes: int) -> list[tuple]:
    """A segmentation head in forward order, ending with the upsampling to the input size."""
    rows, out = [], sizes["out"]
    pooled_channels = dense.taps[-1].channels
    rows.append(_row("head.pool", "head", "avgpool", pooled_channels, (1, 1), dtype_bytes, "head",
                     kernel=out[0]))
    for name, conv in dense.head_layers:
        size = (1, 1) if conv.reads == "pooled" else sizes[conv.reads]
        if name == "head.aspp_project":
            rows.append(_row("head.aspp_concat", "head", "concat", conv.in_channels, out, dtype_bytes, "head"))
        if name == "head.low_classifier":
            rows += [_row("head.gated", "head", "mul", LRASPP_CHANNELS, out, dtype_bytes, "head"),
                     _row("head.upsample_high", "head", "upsample", LRASPP_CHANNELS, size, dtype_bytes, "head")]
        rows.append(_conv_row(name, conv, size, dtype_bytes, "head"))
        if name == "head.aspp_pool":
            rows.append(_row("head.aspp_pool_upsample", "head", "upsample", conv.out_channels, out, dtype_bytes,
                             "head"))
    if dense.head == "lraspp":
        rows.append(_row("head.sum", "head", "add", dense.num_classes, sizes["low"], dtype_bytes, "head"))
    rows.append(_row("head.upsample", "head", "upsample", dense.num_classes, image, dtype_bytes, "head"))
    return rows


def _output_stride(dense: DenseNetwork, layer: str) -> int:
    """Input pixels per pixel of a backbone layer's output (the stride it runs at, after dilation)."""
    arch = dense.network.architecture
    stride = dense.network.stem.stride * (2 if arch.stem_pool else 1)
    for stage_index, blocks in enumerate(dense.network.stages):
        for block_index, block in enumerate(blocks):
            stride *= block.stride
            if layer == f"backbone.stages.{stage_index}.{block_index}":
                return stride
    return stride


def dense_rows(dense: DenseNetwork, image: Size, dtype_bytes: int = 4) -> tuple[list[tuple], tuple[FeatureMap, ...]]:
    """Rows (``TASK_COLUMNS``) of backbone, neck and head in forward order, and the feature maps read."""
    rows = [row + ("backbone",) for row in feature_rows(dense.network, image, dtype_bytes, "backbone.", "last conv")]
    outputs = {}  # a block's output: the size of its last row on the feature map (not the SE's 1x1 convs)
    for row in rows:
        if row[2] != "se_conv":
            outputs[".".join(row[0].split(".")[:4]) if row[0].startswith("backbone.stages.") else row[0]] = \
                (row[8], row[13])
    sizes = {tap.key: outputs[tap.layer] for tap in dense.taps}
    reader = "neck (FPN)" if dense.neck else f"head ({dense.head})"
    maps = [FeatureMap(f"{tap.key}: {tap.layer.removeprefix('backbone.')}", "backbone", tap.channels,
                       _output_stride(dense, tap.layer), *sizes[tap.key], reader) for tap in dense.taps]
    if dense.neck:
        rows += _neck_rows(dense, sizes, dtype_bytes)
        levels = [*((tap.key, sizes[tap.key], maps[i].stride) for i, tap in enumerate(dense.taps)),
                  ("pool", (rows[-1][8], rows[-1][13]), 2 * maps[-1].stride)]
        maps += [FeatureMap(f"P{key}", "neck", FPN_CHANNELS, stride, *size,
                            "detection heads (RPN, boxes: not counted)") for key, size, stride in levels]
    else:
        rows += _head_rows(dense, sizes, image, dtype_bytes)
    return rows, tuple(maps)


def _classifier_rows(network: Network, image: Size, dtype_bytes: int) -> list[tuple]:
    """A classifier at (height, width): ``counting.classifier_rows`` with each row's part."""
    return [row + ("head" if row[2] in ("avgpool", "linear") else "backbone",)
            for row in classifier_rows(network, image, dtype_bytes)]


def task_profile(backbone: str, width: float | None = None, depth: float | None = None,
                 resolution: int | tuple[int, int] | None = None, *, task: str = "classification",
                 head: str | None = None, num_classes: int | None = None, batch: int = 1,
                 dtype: str = "float32") -> Profile:
    """``core.profile`` for any task and a square or (height, width) input."""
    head = check_task(backbone, task, head)
    arch, preset, width, depth, _ = resolve_config(backbone, width, depth, None)
    if resolution is None:
        resolution = DEFAULT_RESOLUTION.get(task, preset.resolution)
    image = input_size(resolution)
    for side in image:  # dense tasks run at 512-1344 px: up to 1344 per side (the sliders stop at 1024)
        dense_side = task != "classification" and isinstance(side, int) and RESOLUTION_RANGE[1] < side <= MAX_DENSE_SIDE
        check_config(arch, width, depth, RESOLUTION_RANGE[1] if dense_side else side)
    if task == "classification":
        classes = 1000 if num_classes is None else num_classes
        rows, maps = _classifier_rows(scale(arch, width, depth, classes), image, DTYPE_BYTES[dtype]), ()
    else:
        dense = dense_network(backbone, width, depth, task, head, num_classes)
        classes = dense.num_classes
        rows, maps = dense_rows(dense, image, DTYPE_BYTES[dtype])
    params, macs, activations, peak = totals(rows, 3 * image[0] * image[1] * DTYPE_BYTES[dtype])
    return Profile(backbone=backbone, base=arch.name, width=width, depth=depth,
                   resolution=image[0] if image[0] == image[1] else image, num_classes=classes, batch=batch,
                   dtype=dtype, params=params, macs=macs, activation_bytes=activations * batch,
                   peak_activation_bytes=peak * batch, rows=tuple(rows), task=task, head=head, feature_maps=maps,
                   columns=TASK_COLUMNS)


def published_results(backbone: str, width: float, depth: float, resolution: int | tuple[int, int],
                      task: str, head: str | None = None, num_classes: int | None = None) -> list[dict]:
    """torchvision's published results for exactly this network at its evaluation size, else none.

    Rows of ``assets/reference/tasks.csv`` (metric, value, num_params, gflops, includes, source):
    segmentation at 520x520 with 21 classes; detection with the short side at 800 px (torchvision's
    transform). Their counts include what the row's ``includes`` says, which the engine leaves out.
    """
    head = DEFAULT_HEADS.get(task) if head is None else head
    if (task, head, backbone) not in TORCHVISION_MODELS or (width, depth) != (1, 1):
        return []
    height, side = input_size(resolution)
    if task == "segmentation" and ((height, side) != (520, 520) or num_classes not in (None, SEGMENTATION_CLASSES)):
        return []
    if task == "detection" and min(height, side) != 800:
        return []
    rows = _published()
    rows = rows[(rows.task == task) & (rows["head"] == head) & (rows.backbone == backbone)]
    return rows.to_dict("records")


@cache
def _published():
    import pandas as pd

    from core.network.families import REFERENCE_DIR

    return pd.read_csv(REFERENCE_DIR / f"{PUBLISHED_FILE}.csv")


def load_published():
    """torchvision's published task results as printed (``assets/reference/tasks.csv``), with sources."""
    return _published().copy()


def available(backbone: str) -> dict[str, tuple[str, ...]]:
    """The tasks ``backbone`` is built for, each with its heads (classification always)."""
    base = resolve(backbone)[0].name
    tasks: dict[str, tuple[str, ...]] = {"classification": HEADS["classification"]}
    for (task, head), names in BACKBONES.items():
        if base in names:
            tasks[task] = (*tasks.get(task, ()), head)
    return tasks
