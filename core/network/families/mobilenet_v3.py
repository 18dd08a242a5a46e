"""MobileNet V3 Large and Small (Howard et al. 2019), under two width rules.

Rows are (kernel, hidden width, output width, SE, activation, stride, repeats).

torchvision's ``mobilenetv3.py`` (``mobilenet_v3_large``, ``mobilenet_v3_small``):
hidden widths are absolute and scale with width like every other width; the 1x1
conv after the last block is 6x its width; the classifier's hidden layer
(1280 / 1024) scales with width; batch norm eps 1e-3, momentum 0.01.

TF-slim's ``mobilenet_v3.py`` (``*_tf_slim``), which built the published 0.75
networks: each block expands its *actual* (rounded) input by a ratio
(``expand_input_by_factor``), the last conv is its own width x multiplier, and
the 1280 / 1024 layer keeps its full size (``finegrain_classification_mode``).
Batch norm is slim's (eps 1e-3, decay 0.997). At width 1 both rules build the
same network.
"""
from dataclasses import replace

from core.network.architecture import Architecture, BatchNorm, ChannelRules, Stage

_TORCHVISION_RULES = ChannelRules(hidden="scaled_absolute", se_width="hidden_quarter_divisible",
                                  se_activation="relu", se_gate="hardsigmoid", head="times_last",
                                  head_factor=6)
_TF_SLIM_RULES = replace(_TORCHVISION_RULES, hidden="divisible_ratio", head="scaled", head_factor=0,
                         classifier_hidden="fixed")


def _bneck(kernel: int, hidden: int, out: int, se: bool, activation: str, stride: int,
           repeats: int = 1) -> Stage:
    return Stage("inverted_residual", kernel=kernel, stride=stride, out_channels=out,
                 repeats=repeats, hidden_channels=hidden, se=se,
                 activation={"RE": "relu", "HS": "hardswish"}[activation])


def _tf_slim(arch: Architecture) -> Architecture:
    """The same table under TF-slim's depth multiplier: hidden widths become input ratios."""
    stages, in_channels = [], arch.stem_channels
    for stage in arch.stages:
        stages.append(replace(stage, expand_ratio=stage.hidden_channels / in_channels))
        in_channels = stage.out_channels
    return replace(arch, name=f"{arch.name}_tf_slim", title=f"{arch.title} (TF-slim multiplier)",
                   stages=tuple(stages), rules=_TF_SLIM_RULES, head_channels=6 * in_channels,
                   norm=BatchNorm(eps=1e-3, momentum=3e-3))  # slim batch_norm, decay 0.997


MOBILENET_V3_LARGE = Architecture(
    name="mobilenet_v3_large",
    title="MobileNet V3 Large",
    family="mobilenet_v3",
    stem_channels=16,
    stem_activation="hardswish",
    stages=(
        _bneck(3, 16, 16, False, "RE", 1),
        _bneck(3, 64, 24, False, "RE", 2),
        _bneck(3, 72, 24, False, "RE", 1),
        _bneck(5, 72, 40, True, "RE", 2),
        _bneck(5, 120, 40, True, "RE", 1, repeats=2),
        _bneck(3, 240, 80, False, "HS", 2),
        _bneck(3, 200, 80, False, "HS", 1),
        _bneck(3, 184, 80, False, "HS", 1, repeats=2),
        _bneck(3, 480, 112, True, "HS", 1),
        _bneck(3, 672, 112, True, "HS", 1),
        _bneck(5, 672, 160, True, "HS", 2),
        _bneck(5, 960, 160, True, "HS", 1, repeats=2),
    ),
    rules=_TORCHVISION_RULES,
    head_activation="hardswish",
    classifier_hidden=1280,
    dropout=0.2,
    norm=BatchNorm(eps=1e-3, momentum=0.01),
)

MOBILENET_V3_SMALL = replace(
    MOBILENET_V3_LARGE,
    name="mobilenet_v3_small",
    title="MobileNet V3 Small",
    stages=(
        _bneck(3, 16, 16, True, "RE", 2),
        _bneck(3, 72, 24, False, "RE", 2),
        _bneck(3, 88, 24, False, "RE", 1),
        _bneck(5, 96, 40, True, "HS", 2),
        _bneck(5, 240, 40, True, "HS", 1, repeats=2),
        _bneck(5, 120, 48, True, "HS", 1),
        _bneck(5, 144, 48, True, "HS", 1),
        _bneck(5, 288, 96, True, "HS", 2),
        _bneck(5, 576, 96, True, "HS", 1, repeats=2),
    ),
    classifier_hidden=1024,
)

MOBILENET_V3_LARGE_TF_SLIM = _tf_slim(MOBILENET_V3_LARGE)
MOBILENET_V3_SMALL_TF_SLIM = _tf_slim(MOBILENET_V3_SMALL)
