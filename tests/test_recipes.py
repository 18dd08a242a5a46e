"""The training-recipe card: every value sourced and labelled, presets as published, nothing interpolated."""
import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.cli import main
from core.network.families import ARCHITECTURES, BACKBONE_NAMES, resolve
from core.network.scaling import scale
from core.published import reference
from core.published.recipes import BASES, SETTINGS, load, training_recipe
from tests.conftest import ROOT

# tensorflow/tpu efficientnet_builder.py efficientnet_params(), dropout_rate column (B0..B7)
TF_DROPOUT = (0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5, 0.5)


def test_every_row_names_its_source_and_a_link():
    table = load()
    assert set(table.setting) == set(SETTINGS)
    assert table.source.str.len().gt(10).all() and table.url.str.startswith("https://").all()
    for networks in table.networks:
        assert all(name in BACKBONE_NAMES for name in networks.split()), networks


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
def test_every_backbone_gets_every_value_sourced_and_labelled(backbone):
    recipe = training_recipe(backbone)
    assert [value.setting for value in recipe.values] == list(SETTINGS)
    for value in recipe.values:
        assert value.basis in BASES and value.label and value.source and value.url.startswith("https://")
    arch, preset = resolve(backbone)
    # the engine builds the classifier dropout the recipe states: the two must agree
    assert recipe.dropout.value == (arch.dropout if preset.dropout is None else preset.dropout)


def test_efficientnet_presets_carry_the_reference_dropout():
    for index, expected in enumerate(TF_DROPOUT):
        recipe = training_recipe(f"efficientnet_b{index}")
        assert recipe.dropout.value == expected and recipe.dropout.basis == "published"
        assert recipe.dropout.label == f"published for EfficientNet-B{index}"
        assert (recipe.stochastic_depth.value, recipe.weight_decay.value) == (0.2, 1e-5)
        assert recipe.basis == "published"
    paper = reference.load("efficientnet").query("origin == 'paper'")
    assert tuple(paper.dropout) == TF_DROPOUT


def test_a_scaled_efficientnet_shows_its_nearest_preset_not_an_interpolation():
    recipe = training_recipe("efficientnet_b0", 1.3, 1.6, 320)  # between B3 and B4 by parameters
    dropout = recipe.dropout
    assert dropout.basis == "nearest" and dropout.value in (0.3, 0.4)
    assert "not specific to this variant" in dropout.label
    assert "between EfficientNet-B3 (0.3) and EfficientNet-B4 (0.4)" in dropout.note
    assert recipe.stochastic_depth.basis == "rule" and recipe.stochastic_depth.value == 0.2
    assert recipe.basis == "nearest"


def test_stochastic_depth_schedule_counts_this_networks_blocks():
    recipe = training_recipe("efficientnet_b0", 1.0, 2.0, 224)
    blocks = sum(len(stage) for stage in scale(ARCHITECTURES["efficientnet_b0"], 1.0, 2.0).stages)
    assert f"{blocks} blocks here" in recipe.stochastic_depth.note


def test_a_resolution_change_is_not_the_published_network():
    assert training_recipe("efficientnet_b3", resolution=320).dropout.basis == "nearest"


@pytest.mark.parametrize("config,basis", [
    (("mobilenet_v2_050",), "rule"),           # TF-slim's training scope for every depth multiplier
    (("mobilenet_v2", 1.0, 1.5, 224), "nearest"),  # no MobileNet builder takes a depth multiplier
    (("resnet50", 0.5), "nearest"),            # torchvision's ResNets take no width multiplier
])
def test_weight_decay_reaches_a_variant_by_rule_only_along_the_sources_axes(config, basis):
    assert training_recipe(*config).weight_decay.basis == basis


def test_depthwise_advice_follows_each_source():
    assert training_recipe("mobilenet_v1").depthwise_weight_decay.value == 0.0
    assert "depthwise filters" in training_recipe("mobilenet_v1").depthwise_weight_decay.note
    assert training_recipe("efficientnet_b0").depthwise_weight_decay.value == 1e-5
    resnet = training_recipe("resnet18").depthwise_weight_decay
    assert resnet.value is None or pd.isna(resnet.value)


def test_profile_json_carries_the_recipe(capsys):
    assert main(["profile", "efficientnet_b0", "--phi", "2", "--json"]) == 0
    recipe = json.loads(capsys.readouterr().out)["training_recipe"]
    assert set(SETTINGS) <= recipe.keys() and recipe["dropout"]["basis"] == "nearest"
    assert recipe["dropout"]["url"].startswith("https://")


def test_recipe_command_prints_values_and_sources(capsys):
    assert main(["recipe", "efficientnet_b3"]) == 0
    out = capsys.readouterr().out
    assert "published for EfficientNet-B3" in out and "efficientnet_builder.py" in out
    assert main(["recipe", "resnet50", "--width", "9"]) == 2


def test_explorer_shows_the_recipe_card():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.query_params.update({"backbone": "efficientnet_b3"})
    app.run()
    assert not app.exception
    labels = [expander.label for expander in app.expander]
    card = next(label for label in labels if label.startswith("Training recipe"))
    assert card == ("Training recipe (published): dropout 0.3 · stochastic depth 0.2 · weight decay 1e-5 · "
                    "depthwise 1e-5")
    assert any("efficientnet_builder.py" in caption.value for caption in app.caption)
