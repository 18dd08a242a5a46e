"""ResNet-18/34/50 (He et al. 2016), as torchvision's ``resnet.py`` builds them.

ResNet-50 is "V1.5": the stride sits on the bottleneck's 3x3 conv. Width scales
every width (stem, bottleneck and output) with the round-to-8 rule; the reference
builders take no width or depth multiplier, so scaled ResNets extend the
EfficientNet rules and have no published figures to check against.
"""
from core.network.architecture import Architecture, ChannelRules, Stage


def _basic(out: int, repeats: int, stride: int) -> Stage:
    return Stage("basic", kernel=3, stride=stride, out_channels=out, repeats=repeats)


def _bottleneck(width: int, repeats: int, stride: int) -> Stage:
    return Stage("bottleneck", kernel=3, stride=stride, out_channels=4 * width, repeats=repeats,
                 hidden_channels=width)


_RESNET = dict(family="resnet", rules=ChannelRules(hidden="scaled_absolute"), stem_channels=64,
               stem_kernel=7, stem_pool=True, dropout=0.0)

RESNET18 = Architecture(name="resnet18", title="ResNet-18", **_RESNET, stages=(
    _basic(64, 2, 1), _basic(128, 2, 2), _basic(256, 2, 2), _basic(512, 2, 2)))

RESNET34 = Architecture(name="resnet34", title="ResNet-34", **_RESNET, stages=(
    _basic(64, 3, 1), _basic(128, 4, 2), _basic(256, 6, 2), _basic(512, 3, 2)))

RESNET50 = Architecture(name="resnet50", title="ResNet-50", **_RESNET, stages=(
    _bottleneck(64, 3, 1), _bottleneck(128, 4, 2), _bottleneck(256, 6, 2), _bottleneck(512, 3, 2)))
