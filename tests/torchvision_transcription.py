"""TEST-ONLY: a transcription of torchvision's construction of its dense-task models, in plain torch.

torchvision does not import beside this torch build, so the tests compare the engine with this
independent re-statement of torchvision's module layout, read from torchvision's sources
(github.com/pytorch/vision, torchvision/models/): ``resnet.py`` (Bottleneck, BasicBlock,
``_make_layer`` with ``replace_stride_with_dilation``), ``mobilenetv3.py`` (``_mobilenet_v3_conf`` with
``dilated``; ``InvertedResidual`` with ``_is_cn``), ``segmentation/fcn.py`` (FCNHead),
``segmentation/deeplabv3.py`` (ASPP, DeepLabHead, ``_deeplabv3_mobilenetv3`` taps),
``segmentation/lraspp.py`` (LRASPPHead, taps ``stage_indices[-4]`` and ``[-1]``),
``detection/backbone_utils.py`` (``_resnet_fpn_extractor``, ``_mobilenet_extractor``) and
``ops/feature_pyramid_network.py`` (FeaturePyramidNetwork, LastLevelMaxPool). Written from those
layouts, not from this project's engine: it shares no code with ``core``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def make_divisible(value: float, divisor: int = 8) -> int:
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def conv_bn_act(inp, out, kernel=1, stride=1, groups=1, dilation=1, act=nn.ReLU):
    padding = (kernel - 1) // 2 * dilation
    layers = [nn.Conv2d(inp, out, kernel, stride, padding, dilation=dilation, groups=groups, bias=False),
              nn.BatchNorm2d(out)]
    if act is not None:
        layers.append(act())
    seq = nn.Sequential(*layers)
    seq.out_channels = out
    return seq


# ---- resnet.py -----------------------------------------------------------------------------------
class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, dilation=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, dilation=1):
        super().__init__()
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNetBody(nn.Module):
    """torchvision ResNet up to layer4 (IntermediateLayerGetter drops avgpool and fc)."""

    def __init__(self, block, layers, replace_stride_with_dilation=(False, False, False)):
        super().__init__()
        self.inplanes, self.dilation = 64, 1
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2, replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], 2, replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], 2, replace_stride_with_dilation[2])

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        downsample, previous_dilation = None, self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, previous_dilation)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, dilation=self.dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        outputs = {}
        for name in ("layer1", "layer2", "layer3", "layer4"):
            x = getattr(self, name)(x)
            outputs[name] = x
        return outputs


# ---- mobilenetv3.py ------------------------------------------------------------------------------
LARGE = [(16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2), (24, 3, 72, 24, False, "RE", 1),
         (24, 5, 72, 40, True, "RE", 2), (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
         (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
         (80, 3, 184, 80, False, "HS", 1), (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
         (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1), (160, 5, 960, 160, True, "HS", 1)]
SMALL = [(16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
         (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
         (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
         (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1)]


class SqueezeExcitation(nn.Module):
    def __init__(self, channels):
        super().__init__()
        squeeze = make_divisible(channels // 4, 8)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x):
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))


class InvertedResidual(nn.Module):
    def __init__(self, inp, kernel, expanded, out, use_se, activation, stride, dilation):
        super().__init__()
        act = nn.Hardswish if activation == "HS" else nn.ReLU
        self.use_res_connect = stride == 1 and inp == out
        layers = []
        if expanded != inp:
            layers.append(conv_bn_act(inp, expanded, 1, act=act))
        layers.append(conv_bn_act(expanded, expanded, kernel, 1 if dilation > 1 else stride, expanded, dilation, act))
        if use_se:
            layers.append(SqueezeExcitation(expanded))
        layers.append(conv_bn_act(expanded, out, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = out
        self._is_cn = stride > 1

    def forward(self, x):
        result = self.block(x)
        return result + x if self.use_res_connect else result


def mobilenet_v3_features(table, width_mult=1.0, dilated=False) -> nn.Sequential:
    """``MobileNetV3.features``: stem, blocks (C4 onwards dilated by 2 when ``dilated``), last conv (6x)."""
    adjust = lambda channels: make_divisible(channels * width_mult, 8)  # noqa: E731
    c4 = max(index for index, row in enumerate(table) if row[6] > 1)
    layers = [conv_bn_act(3, adjust(table[0][0]), 3, 2, act=nn.Hardswish)]
    for index, (inp, kernel, expanded, out, use_se, activation, stride) in enumerate(table):
        dilation = 2 if dilated and index >= c4 else 1
        layers.append(InvertedResidual(adjust(inp), kernel, adjust(expanded), adjust(out), use_se, activation,
                                       stride, dilation))
    last = adjust(table[-1][3])
    layers.append(conv_bn_act(last, 6 * last, 1, act=nn.Hardswish))
    return nn.Sequential(*layers)


def stage_indices(features: nn.Sequential) -> list[int]:
    return [0] + [i for i, block in enumerate(features) if getattr(block, "_is_cn", False)] + [len(features) - 1]


class Getter(nn.Module):
    """IntermediateLayerGetter over ``features``: returns the outputs at the given indices."""

    def __init__(self, features, return_layers: dict[int, str]):
        super().__init__()
        self.features = features[: max(return_layers) + 1]
        self.return_layers = return_layers

    def forward(self, x):
        outputs = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.return_layers:
                outputs[self.return_layers[index]] = x
        return outputs


# ---- segmentation heads --------------------------------------------------------------------------
class FCNHead(nn.Sequential):
    def __init__(self, in_channels, channels):
        inter = in_channels // 4
        super().__init__(nn.Conv2d(in_channels, inter, 3, padding=1, bias=False), nn.BatchNorm2d(inter), nn.ReLU(),
                         nn.Dropout(0.1), nn.Conv2d(inter, channels, 1))


class ASPP(nn.Module):
    def __init__(self, in_channels, rates=(12, 24, 36), out=256):
        super().__init__()
        convs = [conv_bn_act(in_channels, out, 1)]
        convs += [nn.Sequential(nn.Conv2d(in_channels, out, 3, padding=rate, dilation=rate, bias=False),
                                nn.BatchNorm2d(out), nn.ReLU()) for rate in rates]
        self.pooling = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, out, 1, bias=False),
                                     nn.BatchNorm2d(out), nn.ReLU())
        self.convs = nn.ModuleList(convs)
        self.project = nn.Sequential(nn.Conv2d((len(rates) + 2) * out, out, 1, bias=False), nn.BatchNorm2d(out),
                                     nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x):
        pooled = F.interpolate(self.pooling(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.project(torch.cat([conv(x) for conv in self.convs] + [pooled], dim=1))


class DeepLabHead(nn.Sequential):
    def __init__(self, in_channels, num_classes):
        super().__init__(ASPP(in_channels), nn.Conv2d(256, 256, 3, padding=1, bias=False), nn.BatchNorm2d(256),
                         nn.ReLU(), nn.Conv2d(256, num_classes, 1))


class LRASPPHead(nn.Module):
    def __init__(self, low_channels, high_channels, num_classes, inter_channels=128):
        super().__init__()
        self.cbr = nn.Sequential(nn.Conv2d(high_channels, inter_channels, 1, bias=False),
                                 nn.BatchNorm2d(inter_channels), nn.ReLU(inplace=True))
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high_channels, inter_channels, 1, bias=False),
                                   nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1)

    def forward(self, features):
        low, high = features["low"], features["high"]
        x = F.interpolate(self.cbr(high) * self.scale(high), size=low.shape[-2:], mode="bilinear",
                          align_corners=False)
        return self.low_classifier(low) + self.high_classifier(x)


class SegmentationModel(nn.Module):
    def __init__(self, backbone, classifier, aux_classifier=None):
        super().__init__()
        self.backbone, self.classifier, self.aux_classifier = backbone, classifier, aux_classifier

    def forward(self, x):
        features = self.backbone(x)
        out = self.classifier(features if isinstance(self.classifier, LRASPPHead) else features["out"])
        result = {"out": F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)}
        if self.aux_classifier is not None:
            result["aux"] = self.aux_classifier(features["aux"])
        return result


def segmentation_model(name: str, aux: bool = False, num_classes: int = 21, width_mult: float = 1.0):
    """fcn_resnet50, deeplabv3_resnet50, deeplabv3_mobilenet_v3_large, lraspp_mobilenet_v3_large and the
    same construction on mobilenet_v3_small (``*_mobilenet_v3_small``)."""
    head, _, backbone = name.partition("_")
    if backbone == "resnet50":
        body = ResNetBody(Bottleneck, [3, 4, 6, 3], (False, True, True))
        wanted = {"layer4": "out", **({"layer3": "aux"} if aux else {})}
        getter = _ResNetGetter(body, wanted)
        classifier = FCNHead(2048, num_classes) if head == "fcn" else DeepLabHead(2048, num_classes)
        return SegmentationModel(getter, classifier, FCNHead(1024, num_classes) if aux else None)
    features = mobilenet_v3_features(LARGE if backbone == "mobilenet_v3_large" else SMALL, width_mult, dilated=True)
    indices = stage_indices(features)
    out_pos, low_pos = indices[-1], indices[-4]
    out_channels, low_channels = features[out_pos].out_channels, features[low_pos].out_channels
    if head == "lraspp":
        return SegmentationModel(Getter(features, {low_pos: "low", out_pos: "high"}),
                                 LRASPPHead(low_channels, out_channels, num_classes))
    classifier = FCNHead(out_channels, num_classes) if head == "fcn" else DeepLabHead(out_channels, num_classes)
    return SegmentationModel(Getter(features, {out_pos: "out", **({low_pos: "aux"} if aux else {})}), classifier,
                             FCNHead(low_channels, num_classes) if aux else None)


class _ResNetGetter(nn.Module):
    def __init__(self, body, wanted):
        super().__init__()
        self.body, self.wanted = body, wanted

    def forward(self, x):
        outputs = self.body(x)
        return {new: outputs[old] for old, new in self.wanted.items()}


# ---- detection: backbone + FPN -------------------------------------------------------------------
class FeaturePyramidNetwork(nn.Module):
    def __init__(self, in_channels_list, out_channels=256):
        super().__init__()
        self.inner_blocks = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels_list)
        self.layer_blocks = nn.ModuleList(nn.Conv2d(out_channels, out_channels, 3, padding=1)
                                          for _ in in_channels_list)

    def forward(self, features: list[torch.Tensor]):
        last_inner = self.inner_blocks[-1](features[-1])
        results = [self.layer_blocks[-1](last_inner)]
        for idx in range(len(features) - 2, -1, -1):
            lateral = self.inner_blocks[idx](features[idx])
            last_inner = lateral + F.interpolate(last_inner, size=lateral.shape[-2:], mode="nearest")
            results.insert(0, self.layer_blocks[idx](last_inner))
        results.append(F.max_pool2d(results[-1], 1, 2, 0))  # LastLevelMaxPool
        return results


class BackboneWithFPN(nn.Module):
    def __init__(self, body, in_channels_list):
        super().__init__()
        self.body, self.fpn = body, FeaturePyramidNetwork(in_channels_list)

    def forward(self, x):
        return self.fpn(list(self.body(x).values()))


def fpn_backbone(name: str, width_mult: float = 1.0) -> BackboneWithFPN:
    """``_resnet_fpn_extractor`` (returned layers 1-4) or ``_mobilenet_extractor`` (fpn=True, default layers)."""
    if name.startswith("resnet"):
        block, layers = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet34": (BasicBlock, [3, 4, 6, 3]),
                         "resnet50": (Bottleneck, [3, 4, 6, 3])}[name]
        body = ResNetBody(block, layers)
        stage2 = body.inplanes // 8
        return BackboneWithFPN(_ResNetGetter(body, {f"layer{i}": str(i - 1) for i in range(1, 5)}),
                               [stage2 * 2 ** (i - 1) for i in range(1, 5)])
    features = mobilenet_v3_features(LARGE if name == "mobilenet_v3_large" else SMALL, width_mult)
    indices = stage_indices(features)
    returned = [len(indices) - 2, len(indices) - 1]
    return BackboneWithFPN(Getter(features, {indices[k]: str(v) for v, k in enumerate(returned)}),
                           [features[indices[i]].out_channels for i in returned])


def count(model: nn.Module, images: torch.Tensor) -> tuple[int, int]:
    """(sum of parameter numel, conv + linear MACs from forward hooks)."""
    macs = []

    def hook(module, args, output):
        macs.append(module.weight.numel() * (output[0, 0].numel() if isinstance(module, nn.Conv2d) else 1))

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.inference_mode():
        model.eval()(images)
    for handle in hooks:
        handle.remove()
    return sum(p.numel() for p in model.parameters()), sum(macs)
