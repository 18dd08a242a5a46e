"""MobileNet V1 (Howard et al. 2017), as TF-slim's ``mobilenet_v1.py`` builds it.

Widths are truncated, not rounded to 8 (TF-slim: ``max(int(d * multiplier), 8)``),
and the last separable block keeps stride 1 at 7x7, as in TF-slim. A plain chain
(no shortcuts), ReLU6 after every conv, batch norm eps 1e-3 and decay 0.9997
(``mobilenet_v1_arg_scope``).
"""
from core.network.architecture import Architecture, BatchNorm, ChannelRules, Stage


def _separable(stride: int, out: int, repeats: int = 1) -> Stage:
    return Stage("separable", kernel=3, stride=stride, out_channels=out, repeats=repeats,
                 activation="relu6")


MOBILENET_V1 = Architecture(
    name="mobilenet_v1",
    title="MobileNet V1",
    family="mobilenet_v1",
    stem_channels=32,
    stem_activation="relu6",
    stages=(
        _separable(1, 64),
        _separable(2, 128, 2),
        _separable(2, 256, 2),
        _separable(2, 512, 6),
        _separable(2, 1024, 2),
    ),
    rules=ChannelRules(rounding="truncate"),
    dropout=0.001,
    norm=BatchNorm(eps=1e-3, momentum=3e-4),  # TF decay 0.9997
)
