"""MobileNet V2 (Sandler et al. 2018), as torchvision's ``mobilenetv2.py`` builds it.

Rows are (expansion t, output channels c, repeats n, stride s), the paper's Table 2.
The hidden width is round(input x t), not rounded to 8; the last 1x1 conv is
1280 x max(1, width), so it only grows.
"""
from core.network.architecture import Architecture, ChannelRules, Stage


def _inverted(t: int, c: int, n: int, s: int) -> Stage:
    return Stage("inverted_residual", kernel=3, stride=s, out_channels=c, repeats=n,
                 expand_ratio=t, activation="relu6")


MOBILENET_V2 = Architecture(
    name="mobilenet_v2",
    title="MobileNet V2",
    family="mobilenet_v2",
    stem_channels=32,
    stem_activation="relu6",
    stages=(
        _inverted(1, 16, 1, 1),
        _inverted(6, 24, 2, 2),
        _inverted(6, 32, 3, 2),
        _inverted(6, 64, 4, 2),
        _inverted(6, 96, 3, 1),
        _inverted(6, 160, 3, 2),
        _inverted(6, 320, 1, 1),
    ),
    rules=ChannelRules(hidden="round_ratio", head="scale_up_only"),
    head_channels=1280,
    head_activation="relu6",
    dropout=0.2,
)
