"""EfficientNet-B0 (Tan & Le 2019, Table 1), as torchvision's ``efficientnet.py`` builds it.

Rows are (expansion, kernel, stride, output channels, repeats). Every MBConv has
squeeze-excitation of a quarter of the block's *input* width and swish. The head
is 4x the last stage's rounded width (torchvision's rule; TF rounds 1280 x width,
which agrees for B0-B7). B1-B7 are presets of this one table. Batch norm is torch's
default for B0-B4; torchvision builds B5-B7, whose weights were ported from TF, with
TF's settings.
"""
from core.network.architecture import Architecture, BatchNorm, ChannelRules, Stage

TF_PORTED_NORM = BatchNorm(eps=1e-3, momentum=0.01)
TF_PORTED_NORM_MODELS = ("efficientnet_b5", "efficientnet_b6", "efficientnet_b7")


def _mbconv(expand: int, kernel: int, stride: int, out: int, repeats: int) -> Stage:
    return Stage("inverted_residual", kernel=kernel, stride=stride, out_channels=out,
                 repeats=repeats, expand_ratio=expand, se=True, activation="silu")


EFFICIENTNET_B0 = Architecture(
    name="efficientnet_b0",
    title="EfficientNet-B0",
    family="efficientnet",
    stem_channels=32,
    stem_activation="silu",
    stages=(
        _mbconv(1, 3, 1, 16, 1),
        _mbconv(6, 3, 2, 24, 2),
        _mbconv(6, 5, 2, 40, 2),
        _mbconv(6, 3, 2, 80, 3),
        _mbconv(6, 5, 1, 112, 3),
        _mbconv(6, 5, 2, 192, 4),
        _mbconv(6, 3, 1, 320, 1),
    ),
    rules=ChannelRules(hidden="divisible_ratio", se_width="input_quarter", se_activation="silu",
                       se_gate="sigmoid", head="times_last", head_factor=4),
    head_activation="silu",
    dropout=0.2,
)
