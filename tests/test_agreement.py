"""The analytic walk and the built torch module describe the same network.

Random configurations of every backbone: parameters against ``numel`` on the
built module, MACs against ``FlopCounterMode`` / 2, and every per-layer row
against the module of the same name. Built on the meta device: no weights.
"""
import random

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import core
from core.families import ARCHITECTURES
from core.scaling import DEPTH_RANGE, WIDTH_RANGE

RANDOM_CONFIGS_PER_BACKBONE = 10


def _random_configs(name):
    """The base, both extreme corners of the slider ranges, then seeded random configurations."""
    rng = random.Random(f"agreement-{name}")
    yield 1.0, 1.0, 224
    yield WIDTH_RANGE[0], DEPTH_RANGE[0], 32
    yield WIDTH_RANGE[1], DEPTH_RANGE[1], 33
    for _ in range(RANDOM_CONFIGS_PER_BACKBONE):
        yield (round(rng.uniform(*WIDTH_RANGE), 3), round(rng.uniform(*DEPTH_RANGE), 3),
               rng.randrange(32, 400))


CASES = [(name, *config) for name in ARCHITECTURES for config in _random_configs(name)]


def _meta_model(name, width, depth, resolution, num_classes=1000):
    with torch.device("meta"):
        model = core.build_model(name, width, depth, num_classes=num_classes)
        images = torch.empty(1, 3, resolution, resolution)
    return model, images


@pytest.mark.parametrize("name,width,depth,resolution", CASES)
def test_params_and_macs_match_torch(name, width, depth, resolution):
    cost = core.profile(name, width, depth, resolution)
    model, images = _meta_model(name, width, depth, resolution)
    assert cost.params == sum(parameter.numel() for parameter in model.parameters())
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        logits = model(images)
    assert logits.shape == (1, 1000)
    assert cost.macs == counter.get_total_flops() // 2
    assert cost.flops == counter.get_total_flops()


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_layer_row_is_a_module_of_that_size(name):
    cost = core.profile(name, 1.3, 1.7, 160)
    model, _ = _meta_model(name, 1.3, 1.7, 160)
    counted = 0
    for row in cost.layers.itertuples():
        if row.params == 0:
            continue
        module = model.get_submodule(row.name)
        assert sum(p.numel() for p in module.parameters()) == row.params, row.name
        counted += row.params
    assert counted == cost.params


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_feature_map_sizes_match_a_real_forward(name):
    """Output sizes in the table equal the shapes a forward pass produces (odd resolution)."""
    cost = core.profile(name, 0.5, 1.0, 97)
    model, images = _meta_model(name, 0.5, 1.0, 97)
    shapes = {}
    hooks = [model.get_submodule(row.name).register_forward_hook(
        lambda module, args, output, key=row.name: shapes.__setitem__(key, output.shape))
        for row in cost.layers.itertuples() if row.type in ("conv", "dwconv", "maxpool")]
    model(images)
    for hook in hooks:
        hook.remove()
    for row in cost.layers.itertuples():
        if row.name in shapes:
            assert tuple(shapes[row.name][1:]) == (row.out_channels, row.output_size, row.output_size), row.name


def test_num_classes_changes_only_the_classifier():
    base, wide = core.profile("mobilenet_v3_large"), core.profile("mobilenet_v3_large", num_classes=10)
    model, _ = _meta_model("mobilenet_v3_large", 1.0, 1.0, 224, num_classes=10)
    assert wide.params == sum(p.numel() for p in model.parameters())
    assert base.params - wide.params == 1280 * 990 + 990


def test_tiny_real_forward_runs_on_cpu():
    model = core.build_model("efficientnet_b0", 0.25, 0.5)
    with torch.inference_mode():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 1000)


def test_state_dict_has_each_weight_once():
    model = core.build_model("resnet50")
    state = model.state_dict()
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    weights = sum(tensor.numel() for key, tensor in state.items() if not key.endswith(buffers))
    assert weights == core.profile("resnet50").params
    assert "stages.1.0.downsample.conv.weight" in state
