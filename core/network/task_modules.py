"""Torch modules of the dense-task networks in ``core.network.tasks``: the same layer lists the counter walks.

Module names match the per-layer table's ``name`` column (``backbone.stages.3.0.depthwise``,
``neck.inner_0``, ``head.aspp_rate12``), so each counted row can be checked against its module.
Batch norm in the heads and the pyramid is torch's default, as torchvision's; torchvision's
detection backbones freeze theirs (``FrozenBatchNorm2d``), which changes training, not counts.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

from core.network.architecture import BatchNorm
from core.network.modules import _activation, backbone_body
from core.network.tasks import FPN_CHANNELS, DenseNetwork, HeadConv


class FeatureBackbone(nn.Module):
    """Stem, stages and last conv of a (possibly dilated) network, returning the tapped feature maps."""

    def __init__(self, dense: DenseNetwork, norm: BatchNorm):
        super().__init__()
        self.stem, self.stem_pool, self.stages, self.head = backbone_body(dense.network, norm)
        self.taps = {tap.layer.removeprefix("backbone."): tap.key for tap in dense.taps}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = {}
        x = self.stem_pool(self.stem(x))
        for stage_index, stage in enumerate(self.stages):
            for block_index, block in enumerate(stage):
                x = block(x)
                key = self.taps.get(f"stages.{stage_index}.{block_index}")
                if key is not None:
                    maps[key] = x
        if "head" in self.taps:
            maps[self.taps["head"]] = self.head(x)
        return maps


def head_conv(conv: HeadConv) -> nn.Sequential:
    """Conv (with bias, or followed by batch norm) and its activation, as ``HeadConv`` says."""
    layers = OrderedDict(conv=nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel,
                                        padding=(conv.kernel - 1) // 2 * conv.dilation, dilation=conv.dilation,
                                        bias=conv.bias))
    if conv.norm:
        layers["norm"] = nn.BatchNorm2d(conv.out_channels)
    if conv.activation:
        layers["act"] = _activation(conv.activation)
    return nn.Sequential(layers)


def _convs(module: nn.Module, layers: tuple[tuple[str, HeadConv], ...], prefix: str) -> None:
    for name, conv in layers:
        module.add_module(name.removeprefix(prefix), head_conv(conv))


def _upsample(x: torch.Tensor, like: torch.Tensor | tuple[int, int]) -> torch.Tensor:
    size = like if isinstance(like, tuple) else like.shape[-2:]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class SegmentationHead(nn.Module):
    """FCN, DeepLabV3 (ASPP) or LR-ASPP on the tapped maps, as torchvision wires them."""

    def __init__(self, dense: DenseNetwork):
        super().__init__()
        self.kind = dense.head
        _convs(self, dense.head_layers, "head.")
        self.dropout = nn.Dropout({"fcn": 0.1, "deeplabv3": 0.5}.get(self.kind, 0.0))
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        out = maps["out"]
        if self.kind == "fcn":
            return self.classifier(self.dropout(self.conv(out)))
        if self.kind == "deeplabv3":
            branches = [self.aspp_1x1(out), *(getattr(self, name)(out) for name in self._modules
                                              if name.startswith("aspp_rate")),
                        _upsample(self.aspp_pool(self.pool(out)), out)]
            x = self.dropout(self.aspp_project(torch.cat(branches, dim=1)))
            return self.classifier(self.conv(x))
        low = maps["low"]
        x = _upsample(self.cbr(out) * self.scale(self.pool(out)), low)
        return self.low_classifier(low) + self.high_classifier(x)


class FeaturePyramid(nn.Module):
    """torchvision's FeaturePyramidNetwork with LastLevelMaxPool: laterals, top-down sums, 3x3 outputs."""

    def __init__(self, dense: DenseNetwork):
        super().__init__()
        _convs(self, dense.neck, "neck.")
        self.levels = [tap.key for tap in dense.taps]

    def forward(self, maps: dict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
        top = self.levels[-1]
        merged = getattr(self, f"inner_{top}")(maps[top])
        results = {top: getattr(self, f"layer_{top}")(merged)}
        for level in reversed(self.levels[:-1]):
            lateral = getattr(self, f"inner_{level}")(maps[level])
            merged = lateral + F.interpolate(merged, size=lateral.shape[-2:], mode="nearest")
            results[level] = getattr(self, f"layer_{level}")(merged)
        outputs = OrderedDict((level, results[level]) for level in self.levels)
        outputs["pool"] = F.max_pool2d(outputs[top], kernel_size=1, stride=2)
        return outputs


class DenseModel(nn.Module):
    """Backbone plus neck (detection) or head (segmentation, upsampled to the input size)."""

    def __init__(self, dense: DenseNetwork, norm: BatchNorm):
        super().__init__()
        self.backbone = FeatureBackbone(dense, norm)
        self.out_channels = FPN_CHANNELS
        if dense.neck:
            self.neck = FeaturePyramid(dense)
        else:
            self.head = SegmentationHead(dense)

    def forward(self, x: torch.Tensor):
        maps = self.backbone(x)
        if hasattr(self, "neck"):
            return self.neck(maps)
        return _upsample(self.head(maps), (x.shape[-2], x.shape[-1]))
