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
from core.network.families import ARCHITECTURES
from core.network.scaling import DEPTH_RANGE, WIDTH_RANGE

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


def _output_shapes(model, images, names):
    """The output shape of each named submodule in one forward pass."""
    shapes = {}
    hooks = [model.get_submodule(name).register_forward_hook(
        lambda module, args, output, key=name: shapes.__setitem__(key, output.shape)) for name in names]
    model(images)
    for hook in hooks:
        hook.remove()
    return shapes


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_feature_map_sizes_match_a_real_forward(name):
    """Output sizes in the table equal the shapes a forward pass produces (odd resolution)."""
    cost = core.profile(name, 0.5, 1.0, 97)
    model, images = _meta_model(name, 0.5, 1.0, 97)
    shapes = _output_shapes(model, images, [row.name for row in cost.layers.itertuples()
                                            if row.type in ("conv", "dwconv", "maxpool")])
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


# Residual adds in the reference implementations (torchvision; TF-slim for MobileNet V1, a
# plain chain): one per block whose stride is 1 and widths match, every ResNet block.
REFERENCE_SHORTCUTS = {"mobilenet_v1": 0, "mobilenet_v2": 10, "mobilenet_v3_large": 10,
                       "mobilenet_v3_small": 6, "mobilenet_v3_large_tf_slim": 10,
                       "mobilenet_v3_small_tf_slim": 6, "efficientnet_b0": 9, "resnet18": 8,
                       "resnet34": 16, "resnet50": 16}
# (eps, momentum) in torch's convention: torchvision, TF-slim (decay 0.9997 / 0.997)
REFERENCE_NORM = {"mobilenet_v1": (1e-3, 3e-4), "mobilenet_v2": (1e-5, 0.1),
                  "mobilenet_v3_large": (1e-3, 0.01), "mobilenet_v3_small": (1e-3, 0.01),
                  "mobilenet_v3_large_075": (1e-3, 3e-3), "mobilenet_v3_small_075": (1e-3, 3e-3),
                  "efficientnet_b0": (1e-5, 0.1), "efficientnet_b4": (1e-5, 0.1),
                  "efficientnet_b5": (1e-3, 0.01), "efficientnet_b7": (1e-3, 0.01),
                  "resnet18": (1e-5, 0.1), "resnet50": (1e-5, 0.1)}


def _count_adds(model):
    import operator
    graph = torch.fx.symbolic_trace(model).graph
    return sum(1 for node in graph.nodes
               if (node.op == "call_function" and node.target in (operator.add, operator.iadd, torch.add))
               or (node.op == "call_method" and node.target in ("add", "add_")))


def test_every_architecture_has_a_reference_shortcut_count():
    assert set(REFERENCE_SHORTCUTS) == set(ARCHITECTURES)


@pytest.mark.parametrize("name,adds", REFERENCE_SHORTCUTS.items())
def test_modules_have_exactly_the_reference_shortcuts(name, adds):
    model, _ = _meta_model(name, 1.0, 1.0, 224)
    assert _count_adds(model) == adds


def test_mobilenet_v1_is_a_plain_chain_with_relu6():
    """With every block's main path zeroed the output no longer carries the input (no shortcut)."""
    model = core.build_model("mobilenet_v1", 0.25)
    activations = {type(module).__name__ for module in model.modules()
                   if isinstance(module, (torch.nn.ReLU, torch.nn.ReLU6))}
    assert activations == {"ReLU6"}
    block = model.stages[3][1]
    for layer in block.main:
        torch.nn.init.zeros_(layer.norm.weight)
        torch.nn.init.zeros_(layer.norm.bias)
    x = torch.randn(1, block.depthwise.conv.in_channels, 14, 14)
    with torch.inference_mode():
        assert block(x).abs().max() == 0


@pytest.mark.parametrize("name,norm", REFERENCE_NORM.items())
def test_batch_norm_settings_equal_the_reference(name, norm):
    with torch.device("meta"):
        model = core.build_model(name)
    settings = {(module.eps, module.momentum) for module in model.modules()
                if isinstance(module, torch.nn.BatchNorm2d)}
    assert settings == {norm}


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_activation_rows_are_module_outputs_and_sum_to_the_total(name):
    """Every row's bytes are its module's output (SE rescale = the SE module, residual sum = the block)."""
    cost = core.profile(name, 0.5, 1.2, 96)
    model, images = _meta_model(name, 0.5, 1.2, 96)
    shapes = _output_shapes(model, images, cost.layers.name)
    for row in cost.layers.itertuples():
        assert row.activation_bytes == 4 * shapes[row.name].numel(), row.name
    assert cost.activation_bytes == cost.layers.activation_bytes.sum()


def test_activation_memory_includes_se_and_residual_tensors():
    layers = core.profile("efficientnet_b0").layers
    by_type = layers.groupby("type").activation_bytes.sum()
    assert by_type["se_scale"] == 9_226_112 and by_type["residual_add"] == 840_448
    assert layers[layers.type.isin(["se_scale", "residual_add"])][["params", "macs"]].sum().sum() == 0
