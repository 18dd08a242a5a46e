"""The network diagram, the channel profile by relative depth, and the small Explorer fixes of issue 18."""
import json

import plotly.graph_objects as go
from streamlit.testing.v1 import AppTest

import core
from tests.test_app import APP, _no_exceptions
from ui import charts
from ui.network_diagram import GAP, LANE, diagram_figure, shapes
from ui.prediction import prediction_versus
from ui.task_panel import pyramid_figure

DIAGRAM_TITLE = "The network: base above, this variant below"


def _diagram(app: AppTest) -> dict:
    """The diagram's figure as the page sent it (Plotly JSON)."""
    specs = [json.loads(element.proto.spec) for element in app.get("plotly_chart")]
    return next(spec for spec in specs if spec["layout"]["title"]["text"] == DIAGRAM_TITLE)


def _scaled_bars(spec: dict) -> dict:
    """The bottom lane's bars: the variant (the top lane, the base, is drawn first)."""
    bars = [trace for trace in spec["data"] if trace["type"] == "bar"]
    assert bars[0]["base"][0] == LANE + GAP and bars[1]["base"][0] == 0
    return bars[1]


def test_the_diagram_moves_with_depth_and_width_on_the_page():
    """Depth adds bars, width raises them, resolution grows the input square; the base lane stays."""
    app = AppTest.from_file(APP, default_timeout=60).run()
    _no_exceptions(app)
    start = _diagram(app)
    bars = _scaled_bars(start)
    assert len(bars["x"]) == len(shapes(core.profile("mobilenet_v2")))  # stem, 17 blocks, last conv, classifier

    app.slider(key="explorer_depth").set_value(2.0).run()
    deeper = _scaled_bars(_diagram(app))
    assert len(deeper["x"]) == len(bars["x"]) + 17  # ceil(repeats x 2): each of the 17 blocks twice
    assert max(deeper["y"]) == max(bars["y"])  # depth alone adds blocks, not channels

    app.slider(key="explorer_width").set_value(2.0).run()
    wider = _diagram(app)
    assert len(_scaled_bars(wider)["x"]) == len(deeper["x"])
    # every backbone bar taller (the classifier's 1000 classes do not scale)
    assert all(after > before for after, before in zip(_scaled_bars(wider)["y"][:-1], deeper["y"][:-1]))
    assert _scaled_bars(wider)["y"][-1] == deeper["y"][-1]
    assert wider["data"][0] == start["data"][0]  # the base lane did not move

    squares = [trace["marker"]["size"] for trace in wider["data"] if trace["type"] == "scatter"]
    app.slider(key="explorer_resolution").set_value(448).run()
    larger = [trace["marker"]["size"] for trace in _diagram(app)["data"] if trace["type"] == "scatter"]
    assert larger[0] == squares[0] and larger[1] == 2 * squares[1]  # side by resolution: 448 against 224


def test_dense_heads_are_drawn_as_such():
    """ASPP's five branches share one slot; FPN is a neck of 256-channel levels; LR-ASPP gates in parallel."""
    aspp = shapes(core.profile("mobilenet_v3_large", task="segmentation", head="deeplabv3"))
    heads = [shape for shape in aspp if shape.part == "head"]
    assert heads[0].name == "ASPP" and heads[0].channels == (256,) * 5
    assert [shape.name for shape in heads[1:]] == ["head.aspp_project", "head.conv", "head.classifier"]
    fpn = shapes(core.profile("resnet50", task="detection", head="fpn"))
    assert [shape.channels for shape in fpn if shape.part == "neck"] == [(256,)] * 4
    lraspp = shapes(core.profile("mobilenet_v3_large", task="segmentation", head="lraspp"))
    assert [len(shape.channels) for shape in lraspp if shape.part == "head"] == [2, 2]
    for cost in (core.profile("mobilenet_v3_large", task="segmentation", head="lraspp"),
                 core.profile("resnet50", task="detection", head="fpn"), core.profile("efficientnet_b7", 3.0, 4.0)):
        spec = diagram_figure(cost, core.profile(cost.base, task=cost.task, head=cost.head), "v", "base").to_dict()
        go.Figure(spec)  # valid Plotly (the page skips validation: PlotlySpec)
        labels = [annotation["text"] for annotation in spec["layout"]["annotations"]]
        assert {"LR-ASPP head", "FPN neck", "classifier"} & set(labels)


def test_a_dense_page_draws_the_network_and_names_only_its_head():
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params.update({"backbone": "mobilenet_v3_large", "task": "segmentation", "head": "deeplabv3",
                             "resolution": "520"})
    app.run()
    _no_exceptions(app)
    spec = _diagram(app)
    assert "ASPP head (DeepLabV3)" in [annotation["text"] for annotation in spec["layout"]["annotations"]]
    caption = next(caption.value for caption in app.caption if caption.value.startswith("Segmentation with"))
    assert "ASPP keeps 256 channels" in caption
    assert not any(other in caption for other in ("LR-ASPP", "FPN", "FCN"))


def _step(blocks, position: float) -> int | None:
    """The channel profile's value at ``position`` (a 'hv' step line: the last point at or before it)."""
    before = blocks[blocks.position <= position]
    return None if before.empty else int(before.out_channels.iloc[-1])


def test_the_channel_profile_by_relative_depth_never_draws_depth_as_a_width_change():
    """The issue's case: EfficientNet-B0 at depth 2 was drawn under the base from block 3 on (40 against 112)."""
    base = charts.block_widths(core.profile("efficientnet_b0").layers)
    deeper = charts.block_widths(core.profile("efficientnet_b0", 1.0, 2.0).layers)
    assert base.position.between(0, 1).all() and deeper.position.between(0, 1).all()
    for position in sorted({*base.position, *deeper.position}):
        below, above = _step(base, position), _step(deeper, position)
        if below is not None and above is not None:
            assert above >= below, f"at {position:.3f}: {above} channels scaled against {below} in the base"
    spec = charts.channel_profile_figure(core.profile("efficientnet_b0").layers,
                                         core.profile("efficientnet_b0", 1.0, 2.0).layers, "base", "v").to_dict()
    assert spec["layout"]["xaxis"]["range"] == [0, 1] and spec["data"][2]["x"] == deeper.position.tolist()


def test_the_measured_arrow_points_the_way_the_prediction_errs():
    assert prediction_versus(7.0, 10.0) == "predicted x0.7 ↓"
    assert prediction_versus(13.0, 10.0) == "predicted x1.3 ↑"
    assert prediction_versus(10.0, 10.0) == "predicted x1"


def test_narrow_pyramid_levels_are_labelled_beside_their_bar():
    """Stride 32 and 64 maps are too narrow to hold their label: it goes outside, at full size."""
    spec = pyramid_figure(core.profile("resnet50", task="detection", head="fpn")).to_dict()
    bars = spec["data"][0]
    where = dict(zip(bars["y"], bars["textposition"]))
    assert all(where[name] == "outside" for name in where if name.endswith(("(/32)", "(/64)")))
    assert all(where[name] == "inside" for name in where if name.endswith("(/4)"))
    assert bars["constraintext"] == "none"
    go.Figure(spec)
