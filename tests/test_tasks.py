"""Dense tasks: the engine against torchvision's construction and published counts.

Expected counts come two ways: (a) torchvision's published weights metadata (num_params, GFLOPS
"_ops"), which include the auxiliary FCN head where the weights were trained with one, and (b) a
test-local transcription of torchvision's module layout (``tests/torchvision_transcription.py``),
counted with torch: numel of its parameters, conv + linear MACs from forward hooks. All on the meta
device: no weights are allocated.
"""
import pandas as pd
import pytest
import torch

import core
from core.network.families import REFERENCE_DIR
from core.network.tasks import BACKBONES, TASK_COLUMNS, published_results
from tests import torchvision_transcription as tv

SIZES = [520, (480, 640)]
SEGMENTATION = [("fcn", "resnet50"), ("deeplabv3", "resnet50"), ("deeplabv3", "mobilenet_v3_large"),
                ("lraspp", "mobilenet_v3_large"), ("fcn", "mobilenet_v3_large"), ("lraspp", "mobilenet_v3_small"),
                ("deeplabv3", "mobilenet_v3_small"), ("fcn", "mobilenet_v3_small")]
DETECTION = ["resnet50", "mobilenet_v3_large", "resnet18", "resnet34", "mobilenet_v3_small"]


def _hw(size):
    return size if isinstance(size, tuple) else (size, size)


def _reference(build, size):
    with torch.device("meta"):
        model, images = build(), torch.empty(1, 3, *_hw(size))
    return tv.count(model, images)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("head,backbone", SEGMENTATION)
def test_segmentation_matches_torchvision_construction(head, backbone, size):
    cost = core.profile(backbone, task="segmentation", head=head, resolution=size)
    params, macs = _reference(lambda: tv.segmentation_model(f"{head}_{backbone}"), size)
    assert (cost.params, cost.macs) == (params, macs)


@pytest.mark.parametrize("size", [800, (480, 640)])
@pytest.mark.parametrize("backbone", DETECTION)
def test_detection_fpn_matches_torchvision_construction(backbone, size):
    cost = core.profile(backbone, task="detection", resolution=size)
    assert (cost.params, cost.macs) == _reference(lambda: tv.fpn_backbone(backbone), size)


def test_scaled_mobilenet_backbone_matches_torchvision_width_rule():
    cost = core.profile("mobilenet_v3_large", 0.5, task="segmentation", head="lraspp", resolution=(480, 640))
    reference = _reference(lambda: tv.segmentation_model("lraspp_mobilenet_v3_large", width_mult=0.5), (480, 640))
    assert (cost.params, cost.macs) == reference


def test_every_supported_combination_is_tested():
    tested = {("segmentation", head, backbone) for head, backbone in SEGMENTATION}
    tested |= {("detection", "fpn", backbone) for backbone in DETECTION}
    assert tested == {(task, head, backbone) for (task, head), names in BACKBONES.items() for backbone in names}


PUBLISHED = pd.read_csv(REFERENCE_DIR / "tasks.csv")


@pytest.mark.parametrize("row", PUBLISHED[PUBLISHED.task == "segmentation"].to_dict("records"),
                         ids=lambda row: row["model"])
def test_published_segmentation_counts_are_the_engine_plus_the_aux_head(row):
    """torchvision's num_params and GFLOPS (MACs) at 520 px count the aux head the weights were trained with."""
    cost = core.profile(row["backbone"], task="segmentation", head=row["head"], resolution=520)
    aux = "aux" in row["includes"] and "no aux" not in row["includes"]
    params, macs = _reference(lambda: tv.segmentation_model(row["model"], aux=aux), 520)
    aux_params, aux_macs = params - cost.params, macs - cost.macs
    assert (aux_params == 0) == (not aux)
    assert cost.params + aux_params == row["num_params"]
    assert round((cost.macs + aux_macs) / 1e9, 3) == pytest.approx(row["gflops"], abs=0.0011)


def test_aux_head_sizes_are_torchvision_fcn_heads():
    """What the engine leaves out: FCNHead(1024, 21) on ResNet-50's layer3, FCNHead(40, 21) on V3's stride-8 block."""
    assert 35_322_218 - core.profile("resnet50", task="segmentation", head="fcn").params == 1024 * 256 * 9 + 512 + 256 * 21 + 21
    assert 11_029_328 - core.profile("mobilenet_v3_large", task="segmentation").params == 40 * 10 * 9 + 20 + 10 * 21 + 21


@pytest.mark.parametrize("task,head,backbone", [("segmentation", "deeplabv3", "resnet50"),
                                                ("segmentation", "lraspp", "mobilenet_v3_large"),
                                                ("detection", "fpn", "mobilenet_v3_large"),
                                                ("classification", None, "efficientnet_b0")])
def test_parts_sum_to_totals_and_every_row_is_its_module(task, head, backbone):
    cost = core.profile(backbone, task=task, head=head, resolution=(160, 224))
    layers = cost.layers
    assert tuple(layers.columns) == TASK_COLUMNS
    parts = cost.parts()
    assert sum(part["params"] for part in parts.values()) == cost.params == layers.params.sum()
    assert sum(part["macs"] for part in parts.values()) == cost.macs == layers.macs.sum()
    assert sum(part["activation_bytes"] for part in parts.values()) == cost.activation_bytes
    expected = {"segmentation": {"backbone", "head"}, "detection": {"backbone", "neck"},
                "classification": {"backbone", "head"}}[task]
    assert set(parts) == expected
    with torch.device("meta"):
        model = core.build_model(backbone, task=task, head=head)
    for row in layers[layers.params > 0].itertuples():
        assert sum(p.numel() for p in model.get_submodule(row.name).parameters()) == row.params, row.name
    assert sum(p.numel() for p in model.parameters()) == cost.params


def test_built_model_outputs_and_sizes_match_the_table():
    """A real (tiny) forward: logits at the input size, pyramid levels at the sizes the table gives."""
    model = core.build_model("mobilenet_v3_small", 0.5, task="segmentation", head="lraspp")
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 65, 97)).shape == (1, 21, 65, 97)
    cost = core.profile("resnet18", 0.5, task="detection", resolution=(97, 131))
    with torch.device("meta"):
        levels = core.build_model("resnet18", 0.5, task="detection")(torch.empty(1, 3, 97, 131))
    pyramid = [feature for feature in cost.feature_maps if feature.part == "neck"]
    assert [(256, f.height, f.width) for f in pyramid] == [tuple(level.shape[1:]) for level in levels.values()]


def test_classification_tuple_matches_square_classifier():
    square = core.profile("mobilenet_v2", 0.75, 1.2, 192)
    pair = core.profile("mobilenet_v2", 0.75, 1.2, (192, 192))
    assert (pair.params, pair.macs, pair.activation_bytes) == (square.params, square.macs, square.activation_bytes)
    assert pair.resolution == 192 and square.layers.part.tolist() == pair.layers.part.tolist()


def test_dilation_moves_macs_not_params():
    """Output stride 8: ResNet-50's layers 3 and 4 run at 65x65 instead of 33 and 17 (same weights)."""
    seg = core.profile("resnet50", task="segmentation", head="fcn")
    backbone = seg.parts()["backbone"]
    assert backbone["params"] == core.profile("resnet50").params - 2048 * 1000 - 1000
    plain = core.profile("resnet50", resolution=520)
    assert backbone["macs"] > 2.5 * (plain.macs - 2048 * 1000)
    maps = {feature.name: feature for feature in seg.feature_maps}
    assert (maps["out: stages.3.2"].stride, maps["out: stages.3.2"].height) == (8, 65)


def test_head_under_width_scaling():
    """Width scales the backbone; ASPP keeps 256 channels, FCN's inner width is a quarter of its input."""
    wide = core.profile("resnet50", 1.5, task="segmentation", head="deeplabv3").layers.set_index("name")
    assert wide.loc["head.aspp_rate12", "out_channels"] == 256
    assert wide.loc["head.aspp_rate12", "in_channels"] == 3072
    fcn = core.profile("resnet50", 0.5, task="segmentation", head="fcn").layers.set_index("name")
    assert fcn.loc["head.conv", "out_channels"] == 1024 // 4
    fpn = core.profile("mobilenet_v3_large", 2.0, task="detection").layers.set_index("name")
    assert fpn.loc["neck.layer_1", "out_channels"] == 256


@pytest.mark.parametrize("backbone,task,head,fragment", [
    ("mobilenet_v2", "segmentation", "deeplabv3", "segmentation deeplabv3: resnet50"),
    ("resnet50", "segmentation", "lraspp", "segmentation lraspp: mobilenet_v3_large, mobilenet_v3_small"),
    ("resnet50", "segmentation", "fpn", "use one of fcn, deeplabv3, lraspp"),
    ("resnet50", "depth", None, "use one of classification, segmentation, detection")])
def test_bad_combinations_name_what_exists(backbone, task, head, fragment):
    with pytest.raises(core.ScalingError, match=fragment):
        core.profile(backbone, task=task, head=head)


def test_published_results_only_for_exactly_that_network():
    assert [row["value"] for row in published_results("resnet50", 1.0, 1.0, 520, "segmentation", "fcn")] == [60.5]
    assert published_results("resnet50", 1.0, 1.0, 512, "segmentation", "fcn") == []
    assert published_results("resnet50", 1.1, 1.0, 520, "segmentation", "fcn") == []
    assert published_results("mobilenet_v3_small", 1.0, 1.0, 520, "segmentation", "lraspp") == []
    assert published_results("mobilenet_v3_large", 1.0, 1.0, (800, 1088), "detection", "fpn")[0]["value"] == 32.8
    assert PUBLISHED.source.str.contains("github.com/pytorch/vision").all()


def test_cli_task_and_head_and_bad_combinations(capsys):
    from core.cli import main

    assert main(["profile", "mobilenet_v3_large", "--task", "segmentation", "--head", "lraspp",
                 "--resolution", "480x640", "--json"]) == 0
    summary = __import__("json").loads(capsys.readouterr().out)
    assert (summary["task"], summary["head"], summary["resolution"]) == ("segmentation", "lraspp", [480, 640])
    assert summary["params"] == 3_221_538 and set(summary["parts"]) == {"backbone", "head"}
    assert main(["profile", "resnet50", "--task", "segmentation", "--head", "lraspp"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "segmentation lraspp: mobilenet_v3_large, mobilenet_v3_small" in error
    assert main(["sweep", "resnet50", "--task", "detection", "--width", "0.5,1"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("backbone,task,head,")
    assert main(["latency", "mobilenet_v2", "--task", "detection"]) == 2


def _app(query):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.query_params.update(query)
    return app.run()


def test_task_selector_and_share_link_round_trip():
    from ui.state import parse_query

    app = _app({"backbone": "resnet50", "task": "segmentation", "head": "fcn", "resolution": "520"})
    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["mIoU (published)"] == "60.5"  # fcn_resnet50, exactly that network at 520 px
    assert metrics["Parameters"] == "32.96 M"
    assert len(app.get("plotly_chart")) == 3  # the network diagram, cost by part, pyramid of feature maps
    app.selectbox(key="explorer_head").set_value("deeplabv3").run()
    app.slider(key="explorer_width").set_value(0.5).run()
    query = dict(app.query_params)
    assert (query["task"], query["head"], query["width"]) == ("segmentation", "deeplabv3", "0.5")
    assert "mIoU (published)" not in {metric.label for metric in app.metric}  # not the published network
    state, warnings = parse_query(query)
    assert not warnings and state.to_query() == query
    app.selectbox(key="explorer_task").set_value("detection").run()
    assert (app.query_params["task"], app.query_params["resolution"]) == ("detection", "800")


def test_link_with_a_combination_that_does_not_exist_warns_inertly():
    app = _app({"backbone": "mobilenet_v2", "task": "segmentation", "head": "<b>lraspp</b>"})
    assert not app.exception
    warning = app.warning[0].value
    assert "`<b>lraspp</b>`" in warning and "is not one of classification" not in warning
    assert "task" not in app.query_params  # classification again: the link is the plain one


def test_task_figures_are_valid_plotly():
    import plotly.graph_objects as go

    from ui.task_panel import parts_figure, pyramid_figure

    cost = core.profile("resnet50", task="detection", resolution=(480, 640))
    for figure in (parts_figure(cost, "FLOPs"), pyramid_figure(cost)):
        go.Figure(figure.to_dict())  # raises on an invalid property
    assert len(pyramid_figure(cost).to_dict()["data"][0]["y"]) == 9  # 4 backbone maps, 5 pyramid levels
