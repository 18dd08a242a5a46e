"""The engine's counts equal the reference implementations' published ones."""
import pandas as pd
import pytest

import core
from core.families import REFERENCE_DIR

BASE_PARAMS = {
    "mobilenet_v1": 4_231_976, "mobilenet_v2": 3_504_872, "mobilenet_v3_large": 5_483_032,
    "mobilenet_v3_small": 2_542_856, "efficientnet_b0": 5_288_548, "resnet18": 11_689_512,
    "resnet34": 21_797_672, "resnet50": 25_557_032,
}
BASE_MACS = {"mobilenet_v1": 568_740_352, "mobilenet_v2": 300_774_272,
             "efficientnet_b0": 385_814_752, "resnet50": 4_089_184_256}


@pytest.mark.parametrize("name,params", BASE_PARAMS.items())
def test_base_parameter_counts(name, params):
    assert core.profile(name).params == params


@pytest.mark.parametrize("name,macs", BASE_MACS.items())
def test_base_mac_counts(name, macs):
    assert core.profile(name, resolution=224).macs == macs


def test_efficientnet_presets_match_torchvision_params_and_macs():
    table = pd.read_csv(REFERENCE_DIR / "efficientnet.csv")
    torchvision = table[table.origin == "torchvision"].drop_duplicates("model")
    assert len(torchvision) == 8
    for row in torchvision.itertuples():
        cost = core.profile(row.model, resolution=int(row.resolution))
        assert cost.params == row.params_exact, row.model
        assert abs(cost.macs / 1e6 - row.macs_m) < 0.5, row.model  # published GMACs are rounded


def test_presets_take_the_paper_coefficients():
    b7 = core.profile("efficientnet_b7")
    assert (b7.width, b7.depth, b7.resolution) == (2.0, 3.1, 600)
    assert b7.params == 66_347_960
    assert core.profile("efficientnet_b3").params == 12_233_232
    assert core.profile("efficientnet_b7", resolution=224).resolution == 224  # explicit wins


def test_torchvision_mobilenet_rows_match():
    v3 = pd.read_csv(REFERENCE_DIR / "mobilenet_v3.csv").query("origin == 'torchvision'")
    for row in v3.drop_duplicates("model").itertuples():
        cost = core.profile(row.model)
        assert cost.params == row.params_exact
        assert abs(cost.macs / 1e6 - row.macs_m) < 0.6


@pytest.mark.parametrize("width,params", [(0.5, 1_968_680), (1.0, 3_504_872)])
def test_mobilenet_v2_width_rule(width, params):
    assert core.profile("mobilenet_v2", width).params == params


def _without_classifier_and_batch_norm(cost):
    layers = cost.layers
    convs = layers[layers.type.isin(["conv", "dwconv"])]
    classifier = layers[layers.name == "classifier.fc"].iloc[0]
    return cost.params - classifier.params - 2 * convs.out_channels.sum(), cost.macs - classifier.macs


@pytest.mark.parametrize("width,resolution,params,macs", [
    (1.0, 224, 3_185_088, 567_716_352), (0.75, 128, 1_800_144, 106_002_432)])
def test_mobilenet_v1_matches_tf_slim_docstring(width, resolution, params, macs):
    """TF-slim's docstring counts the base network without classifier and batch norm."""
    cost = core.profile("mobilenet_v1", width, resolution=resolution)
    assert _without_classifier_and_batch_norm(cost) == (params, macs)


def test_mobilenet_v1_paper_rows_within_rounding():
    """Paper Tables 6 and 7 (the TF-slim grid's 0.75 rows print 317, not the paper's 325)."""
    rows = pd.read_csv(REFERENCE_DIR / "mobilenet_v1.csv").query(
        "origin == 'paper' and model == 'mobilenet_v1' and variant != 'MobileNetV1'")
    assert len(rows) == 8
    for row in rows.itertuples():
        cost = core.profile("mobilenet_v1", row.width_mult, resolution=int(row.resolution))
        assert abs(cost.macs / 1e6 - row.macs_m) < 1.0, row.variant
        assert abs(cost.params / 1e6 - row.params_m) < 0.05, row.variant


def test_mobilenet_v2_tf_slim_grid_is_our_count_truncated():
    """TF-slim prints MACs truncated to whole millions: floor(ours) is every published figure."""
    grid = pd.read_csv(REFERENCE_DIR / "mobilenet_v2.csv").query("origin == 'tf-slim'")
    assert len(grid) == 22
    for row in grid.itertuples():
        cost = core.profile("mobilenet_v2", row.width_mult, resolution=int(row.resolution))
        assert cost.macs // 1_000_000 == row.macs_m, row.variant
