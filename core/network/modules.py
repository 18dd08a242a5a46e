"""Torch modules built from a ``Network``: the same layer lists the counter walks.

Each block's convolutions come from ``BlockConfig.layers()``; the classes here only
wire them (the shortcut ``BlockConfig.shortcut`` names, squeeze-excitation gates), so
module names match the per-layer table's ``name`` column. Batch norm takes the
architecture's (or preset's) ``BatchNorm`` settings.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from core.network.architecture import BatchNorm, BlockConfig, ConvConfig, Network, SqueezeConfig

ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hardswish": nn.Hardswish, "silu": nn.SiLU,
               "sigmoid": nn.Sigmoid, "hardsigmoid": nn.Hardsigmoid}


_IN_PLACE = {"relu", "relu6", "hardswish", "silu"}


def _activation(name: str | None) -> nn.Module:
    if name is None:
        return nn.Identity()
    return ACTIVATIONS[name](inplace=True) if name in _IN_PLACE else ACTIVATIONS[name]()


class ConvNormAct(nn.Sequential):
    """Bias-free convolution, batch norm, optional activation."""

    def __init__(self, conv: ConvConfig, norm: BatchNorm):
        super().__init__(OrderedDict(
            conv=nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel, conv.stride,
                           (conv.kernel - 1) // 2 * conv.dilation, dilation=conv.dilation, groups=conv.groups,
                           bias=False),
            norm=nn.BatchNorm2d(conv.out_channels, eps=norm.eps, momentum=norm.momentum),
            act=_activation(conv.activation)))


class SqueezeExcite(nn.Module):
    """Channel attention: pool, 1x1 reduce, activation, 1x1 expand, gate, rescale."""

    def __init__(self, se: SqueezeConfig):
        super().__init__()
        self.reduce = nn.Conv2d(se.channels, se.squeeze_channels, 1)
        self.act = _activation(se.activation)
        self.expand = nn.Conv2d(se.squeeze_channels, se.channels, 1)
        self.gate = _activation(se.gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(scale))))


class Block(nn.Module):
    """Any block kind: its layers in sequence, plus the shortcut ``block.shortcut`` names.

    ResNet blocks apply ReLU after the sum (``post_add_activation``).
    """

    def __init__(self, block: BlockConfig, squeeze: tuple[str, str], norm: BatchNorm):
        super().__init__()
        self.shortcut = block.shortcut
        self.main: list[nn.Module] = []  # a plain list: the modules are registered by name below
        for name, layer in block.layers(squeeze):
            module = (SqueezeExcite(layer) if isinstance(layer, SqueezeConfig)
                      else ConvNormAct(layer, norm))
            self.add_module(name, module)
            if name != "downsample":
                self.main.append(module)
        self.out_act = _activation(block.post_add_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.main:
            out = layer(out)
        if self.shortcut == "none":
            return out
        return self.out_act(out + (self.downsample(x) if self.shortcut == "projection" else x))


def backbone_body(network: Network, norm: BatchNorm) -> tuple[nn.Module, nn.Module, nn.Sequential, nn.Module]:
    """Stem, stem pool, stages of blocks and head conv: what a classifier and a dense model's backbone share."""
    arch = network.architecture
    squeeze = (arch.rules.se_activation, arch.rules.se_gate)
    stages = nn.Sequential(*(nn.Sequential(*(Block(block, squeeze, norm) for block in blocks))
                             for blocks in network.stages))
    return (ConvNormAct(network.stem, norm), nn.MaxPool2d(3, 2, 1) if arch.stem_pool else nn.Identity(), stages,
            nn.Identity() if network.head is None else ConvNormAct(network.head, norm))


class Backbone(nn.Module):
    """Stem, stages of blocks, optional head conv, global pool, classifier."""

    def __init__(self, network: Network, dropout: float, norm: BatchNorm):
        super().__init__()
        arch = network.architecture
        self.stem, self.stem_pool, self.stages, self.head = backbone_body(network, norm)
        self.pool = nn.AdaptiveAvgPool2d(1)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        features = network.features
        if network.classifier_hidden is not None:
            layers["hidden"] = nn.Linear(features, network.classifier_hidden)
            layers["act"] = _activation(arch.classifier_activation)
            features = network.classifier_hidden
        layers["dropout"] = nn.Dropout(dropout)
        layers["fc"] = nn.Linear(features, network.num_classes)
        self.classifier = nn.Sequential(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.stages(self.stem_pool(self.stem(x))))
        return self.classifier(torch.flatten(self.pool(x), 1))
