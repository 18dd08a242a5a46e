"""The reference rounding and depth rules, and refusals that say what to change."""
import pytest

import core
from core.network.families import ARCHITECTURES
from core.network.scaling import (
    CompoundScaling,
    ScalingError,
    adjust_depth,
    make_divisible,
    scale,
)


@pytest.mark.parametrize("value,expected", [(112 * 1.1, 120), (40 * 1.1, 48), (18, 24), (3, 8), (32, 32),
                                            (1280 * 1.4, 1792)])
def test_make_divisible_worked_examples(value, expected):
    assert make_divisible(value) == expected


def test_make_divisible_never_drops_more_than_ten_percent():
    for tenths in range(80, 30000):
        value = tenths / 10
        assert make_divisible(value) % 8 == 0
        assert make_divisible(value) >= 0.9 * value


@pytest.mark.parametrize("repeats,depth,expected", [(1, 1.1, 2), (3, 1.2, 4), (4, 0.1, 1), (3, 3.1, 10),
                                                    (4, 3.1, 13)])
def test_adjust_depth_is_ceiling_at_least_one(repeats, depth, expected):
    assert adjust_depth(repeats, depth) == expected


def test_efficientnet_b0_to_b7_stage_table():
    """The derived per-stage width x repeats table of shared/reference."""
    expected = {
        "efficientnet_b1": (32, [(16, 2), (24, 3), (40, 3), (80, 4), (112, 4), (192, 5), (320, 2)], 1280),
        "efficientnet_b4": (48, [(24, 2), (32, 4), (56, 4), (112, 6), (160, 6), (272, 8), (448, 2)], 1792),
        "efficientnet_b7": (64, [(32, 4), (48, 7), (80, 7), (160, 10), (224, 10), (384, 13), (640, 4)], 2560),
    }
    for name, (stem, stages, head) in expected.items():
        preset = core.PRESETS[name]
        network = scale(ARCHITECTURES["efficientnet_b0"], preset.width, preset.depth)
        assert network.stem.out_channels == stem
        assert [(blocks[0].out_channels, len(blocks)) for blocks in network.stages] == stages
        assert network.head.out_channels == head


def test_family_rules_for_head_hidden_and_se():
    v2 = scale(ARCHITECTURES["mobilenet_v2"], 0.5)
    assert v2.head.out_channels == 1280  # kept below width 1
    assert scale(ARCHITECTURES["mobilenet_v2"], 1.4).head.out_channels == 1792
    assert v2.stages[1][0].hidden_channels == 8 * 6  # round(input x t), not to 8
    v3 = scale(ARCHITECTURES["mobilenet_v3_large"], 1.0)
    assert v3.stages[3][0].se_channels == 24  # 72 // 4 = 18, rounded to 8 -> 24
    assert v3.head.out_channels == 960 and v3.classifier_hidden == 1280
    assert scale(ARCHITECTURES["mobilenet_v3_large"], 0.5).classifier_hidden == 640
    b0 = scale(ARCHITECTURES["efficientnet_b0"], 1.0)
    assert b0.stages[1][0].se_channels == 4  # input 16 // 4, not rounded
    v1 = scale(ARCHITECTURES["mobilenet_v1"], 0.3)
    assert v1.stem.out_channels == 9  # TF-slim truncates: int(32 x 0.3)
    assert [blocks[0].out_channels for blocks in scale(ARCHITECTURES["mobilenet_v1"], 0.75).stages] == \
        [48, 96, 192, 384, 768]


def test_added_repeats_have_stride_one_and_residuals():
    network = scale(ARCHITECTURES["efficientnet_b0"], 1.0, 2.0)
    for blocks in network.stages:
        assert all(block.stride == 1 and block.residual for block in blocks[1:])


def test_width_and_depth_only_grow_cost():
    macs = [core.profile("efficientnet_b0", width).macs for width in (0.5, 1.0, 1.5, 2.0)]
    assert macs == sorted(macs)
    params = [core.profile("resnet50", 1.0, depth).params for depth in (0.5, 1.0, 2.0)]
    assert params == sorted(params)


def test_compound_scaling():
    compound = CompoundScaling(2.0)
    assert compound.depth == pytest.approx(1.44) and compound.width == pytest.approx(1.21)
    assert compound.resolution(224) == round(224 * 1.15 ** 2)
    assert compound.cost_factor == pytest.approx((1.2 * 1.1 ** 2 * 1.15 ** 2) ** 2)
    assert CompoundScaling(1.0, 1.0, 1.0, 1.0).cost_factor == 1.0


@pytest.mark.parametrize("kwargs,message", [
    ({"width": 0.05}, "width multiplier 0.05 is out of range: use 0.1 to 3.0"),
    ({"depth": 9}, "depth multiplier 9 is out of range"),
    ({"resolution": 20}, "feature map would shrink below 1x1; use at least 32 px"),
    ({"resolution": 4096}, "use 32 to 1024 px"),
    ({"width": float("nan")}, "out of range"),
])
def test_bad_configurations_say_what_to_change(kwargs, message):
    with pytest.raises(ScalingError, match=message.replace("(", r"\(")):
        core.profile("mobilenet_v2", **kwargs)


def test_unknown_backbone():
    with pytest.raises(ScalingError, match="unknown backbone 'vgg16'"):
        core.profile("vgg16")


def test_layer_table_sums_to_totals():
    cost = core.profile("efficientnet_b3", batch=4, dtype="float16")
    layers = cost.layers
    assert layers.params.sum() == cost.params
    assert layers.macs.sum() == cost.macs
    assert layers.activation_bytes.sum() == cost.activation_bytes
    assert cost.weight_bytes == {"fp32": 4 * cost.params, "fp16": 2 * cost.params, "int8": cost.params}
    assert cost.activation_bytes == 4 * core.profile("efficientnet_b3", dtype="float16").activation_bytes

