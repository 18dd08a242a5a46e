"""MobileNet V3 Large and Small (Howard et al. 2019), as torchvision's ``mobilenetv3.py``.

Rows are (kernel, hidden width, output width, SE, activation, stride, repeats);
hidden widths are absolute and scale with width like every other width. The
1x1 conv after the last block is 6x its width; the classifier's hidden layer
(1280 / 1024) scales with width too.
"""
from core.architecture import Architecture, ChannelRules, Stage

_RULES = ChannelRules(hidden="scaled_absolute", se_width="hidden_quarter_divisible",
                      se_activation="relu", se_gate="hardsigmoid", head="times_last", head_factor=6)


def _bneck(kernel: int, hidden: int, out: int, se: bool, activation: str, stride: int,
           repeats: int = 1) -> Stage:
    return Stage("inverted_residual", kernel=kernel, stride=stride, out_channels=out,
                 repeats=repeats, hidden_channels=hidden, se=se,
                 activation={"RE": "relu", "HS": "hardswish"}[activation])


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
    rules=_RULES,
    head_activation="hardswish",
    classifier_hidden=1280,
    dropout=0.2,
)

MOBILENET_V3_SMALL = Architecture(
    name="mobilenet_v3_small",
    title="MobileNet V3 Small",
    family="mobilenet_v3",
    stem_channels=16,
    stem_activation="hardswish",
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
    rules=_RULES,
    head_activation="hardswish",
    classifier_hidden=1024,
    dropout=0.2,
)
