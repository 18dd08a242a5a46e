"""The streamlit-free UI pieces: URL state, inert text, chart builders."""
import math

import pandas as pd
import plotly.graph_objects as go
import pytest

import core
from core.published import reference
from ui import charts
from ui.state import ExplorerState, parse_query, preset_state


def test_default_state_round_trips_through_the_query():
    state = ExplorerState()
    assert parse_query(state.to_query()) == (state, [])


def test_runtime_round_trips_through_the_query():
    state = ExplorerState(runtime="onnxruntime", dtype="int8")
    assert state.to_query()["runtime"] == "onnxruntime"
    assert parse_query(state.to_query()) == (state, [])
    assert parse_query({})[0].runtime == "torch"  # links from before runtimes existed


def test_compound_state_carries_only_compound_keys():
    state = ExplorerState(backbone="efficientnet_b0", mode="compound", phi=2.0)
    query = state.to_query()
    assert "width" not in query and query["phi"] == "2"
    assert state.config() == (pytest.approx(1.21), pytest.approx(1.44), round(224 * 1.15 ** 2))


def test_preset_values_fill_what_a_link_leaves_out():
    state, warnings = parse_query({"backbone": "efficientnet_b5", "width": "1.0"})
    assert (state.width, state.depth, state.resolution) == (1.0, 2.2, 456) and not warnings
    assert preset_state("mobilenet_v2_035").width == 0.35


@pytest.mark.parametrize("query,expected", [
    ({"batch": "2.5"}, ("batch", 2, "not a whole number")),
    ({"resolution": "5000"}, ("resolution", 1024, "outside 32 to 1024")),
    ({"width": "inf"}, ("width", 1.0, "not a number")),
    ({"mode": "auto"}, ("mode", "sliders", "not one of sliders, compound")),
    ({"runtime": "<img src=x onerror=alert(1)>"}, ("runtime", "torch", "`<img src=x onerror=alert(1)>` is not one "
                                                    "of torch, onnxruntime; using torch")),
])
def test_bad_values_are_clamped_or_replaced_with_a_reason(query, expected):
    state, warnings = parse_query(query)
    key, value, reason = expected
    assert getattr(state, key) == value
    assert len(warnings) == 1 and reason in warnings[0]


def _traces(unit: str = "MACs", base: str = "mobilenet_v2") -> list[dict]:
    return charts.curve_traces(reference.curve_points(), unit) + charts.series_traces(reference.scaling_series(base), unit)


def test_reference_figure_labels_convention_and_estimate():
    cost = core.profile("mobilenet_v2", 0.75, 1.0, 200)
    estimate = reference.estimate_top1(cost.backbone, cost.width, cost.depth, cost.resolution)
    spec = charts.reference_figure(_traces("FLOPs"), "v", cost.macs, estimate, "FLOPs").to_dict()
    xaxis = spec["layout"]["xaxis"]
    assert "= 2 x MACs" in xaxis["title"]["text"] and xaxis["type"] == "log" and xaxis["exponentformat"] == "SI"
    star = spec["data"][-1]
    assert star["x"][0] == cost.flops and star["y"][0] == estimate.top1 and "estimate" in star["hovertemplate"]
    assert "(estimate)" in spec["layout"]["annotations"][0]["text"]
    series = charts.series_traces(reference.scaling_series("mobilenet_v2"), "FLOPs")
    assert len(spec["data"]) == 2 * 6 + len(series) + 1  # points and frontier per curve, V2's series, the star


def test_reference_figure_draws_single_axis_series_beside_the_compound_curve():
    cost = core.profile("efficientnet_b0", 1.0, 1.0, 600)
    estimate = reference.estimate_top1(cost.backbone, cost.width, cost.depth, cost.resolution)
    spec = charts.reference_figure(_traces(base="efficientnet_b0"), "b0 600", cost.macs, estimate).to_dict()
    names = {trace["name"] for trace in spec["data"]}
    assert {"width only", "depth only", "resolution only"} <= names
    assert estimate.direction == "resolution" and "resolution" in spec["data"][-1]["hovertemplate"]


def test_reference_figure_draws_a_line_where_no_estimate_exists():
    cost = core.profile("resnet18", 2.0)
    estimate = reference.estimate_top1(cost.backbone, cost.width, cost.depth, cost.resolution)
    spec = charts.reference_figure(_traces(), "big resnet", cost.macs, estimate).to_dict()
    assert spec["layout"]["shapes"][0]["x0"] == cost.macs
    assert "no accuracy estimate" in spec["layout"]["annotations"][0]["text"]


def test_block_widths_show_rounding_and_depth():
    base = charts.block_widths(core.profile("efficientnet_b0").layers)
    deeper = charts.block_widths(core.profile("efficientnet_b0", 1.1, 2.0).layers)
    assert len(base) == 16 + 2 and len(deeper) == 32 + 2  # blocks plus stem and head
    assert list(base.out_channels[:3]) == [32, 16, 24]
    assert set(deeper.out_channels) <= {value for value in range(8, 4000, 8)}
    assert base.inner_channels.iloc[:-1].max() == 1152 and base.out_channels.iloc[-1] == 1280  # 192 x 6; head


def test_params_figure_uses_engine_counts():
    traces = charts.params_traces(pd.DataFrame([{"curve": "c", "variant": "a", "params": 10, "macs": 20}]), "MACs")
    spec = charts.params_macs_figure(traces, "x", 5, 7).to_dict()
    assert spec["data"][0]["y"] == [10] and spec["data"][-1]["x"] == [7]


@pytest.mark.parametrize("value,shown", [
    ("[Click](http://evil.example)", "`[Click](http://evil.example)`"),
    ("a`b", "``a`b``"),
    ("`x`", "`` `x` ``"),
    ("line\nbreak<script>", "`line break<script>`"),
    ("", "(empty)"),
    ("A" * 100, "`" + "A" * 40 + "…` (100 characters)"),
])
def test_user_text_is_quoted_as_an_inert_code_span(value, shown):
    from ui.safe_text import quoted

    assert quoted(value) == shown


def test_warnings_are_capped_with_a_count():
    from ui.safe_text import capped

    assert capped(["w"] * 3) == ["w"] * 3
    assert capped([str(index) for index in range(500)])[-1] == "… and 492 more."
    state, warnings = parse_query({f"key{index}": "x" for index in range(500)})
    assert state == ExplorerState() and len(warnings) == 9


def test_pins_round_trip_and_bad_pins_are_explained():
    from ui.state import Pin, parse_pins, pins_to_query

    pins = [Pin("mobilenet_v2", 0.5, 1.0, 160), Pin("efficientnet_b7", 2.0, 3.1, 600)]
    assert pins_to_query(pins) == "mobilenet_v2:0.5:1:160,efficientnet_b7:2:3.1:600"  # old links read the same
    assert parse_pins(pins_to_query(pins)) == (pins, [])
    kept, warnings = parse_pins("resnet50:x:1:224,resnet18:1:1:16,nonsense")
    assert kept == [Pin("resnet18", 1.0, 1.0, 32)]
    assert "width `x` is not a number" in warnings[0] and "resolution=`16` is outside" in warnings[1]
    assert "`nonsense`" in warnings[2]


def test_a_pin_carries_every_setting_that_changes_its_numbers():
    from ui.state import Pin, parse_pins, pins_to_query

    pins = [Pin("mobilenet_v3_large", 1.0, 1.0, 520, task="segmentation", head="deeplabv3"),
            Pin("resnet18", 1.0, 1.0, 224, batch=8, threads=1),
            Pin("mobilenet_v2", 1.0, 1.0, 224, dtype="int8", runtime="onnxruntime", memory_format="contiguous")]
    text = pins_to_query(pins)
    assert text == ("mobilenet_v3_large:1:1:520:task=segmentation,resnet18:1:1:224:batch=8:threads=1,"
                    "mobilenet_v2:1:1:224:dtype=int8:runtime=onnxruntime")
    assert parse_pins(text) == (pins, [])
    kept, warnings = parse_pins("mobilenet_v2:1:1:224:batch=0:head=fpn:[x](http://evil)=1")
    assert kept == [Pin("mobilenet_v2", 1.0, 1.0, 224)] and len(warnings) == 4  # the markup splits at its colon
    assert all("http://evil" not in warning or "`" in warning for warning in warnings)


@pytest.mark.parametrize("current,url_path,expected", [
    ("http://host:8501/explorer?width=1", "", "http://host:8501/?a=1"),
    ("http://host:8501/", "", "http://host:8501/?a=1"),
    ("https://space.hf.space/base/compare?pins=x", "compare", "https://space.hf.space/base/compare?a=1"),
    ("https://space.hf.space/base/explorer", "compare", "https://space.hf.space/base/compare?a=1"),
])
def test_share_links_point_at_the_page_from_any_current_url(current, url_path, expected):
    from ui.routing import page_url

    assert page_url(current, url_path, {"a": "1"}) == expected


def test_reference_figure_marks_a_published_configuration_as_published():
    cost = core.profile("efficientnet_b3")
    spec = charts.reference_figure(_traces(base="efficientnet_b0"), "b3", cost.macs,
                                   reference.estimate_top1(cost.backbone, cost.width, cost.depth, cost.resolution)
                                   ).to_dict()
    star = spec["data"][-1]
    assert star["y"][0] == 81.6 and "published" in star["name"] and "Tan & Le" in star["hovertemplate"]
    assert "error_y" not in star  # a published result has no band


def test_an_estimate_star_carries_its_band_and_the_model_is_drawn():
    cost = core.profile("mobilenet_v2", 0.6, 1.3, 200)
    estimate = reference.estimate_top1(cost.backbone, cost.width, cost.depth, cost.resolution)
    traces = _traces() + charts.model_traces(reference.model_curves("mobilenet_v2"), "MACs", "MobileNet V2")
    spec = charts.reference_figure(traces, "v", cost.macs, estimate).to_dict()
    star = spec["data"][-1]
    assert star["error_y"]["array"][0] == pytest.approx(estimate.high - estimate.top1)
    assert star["error_y"]["arrayminus"][0] == pytest.approx(estimate.top1 - estimate.low)
    assert f"±{estimate.band:.1f}" in spec["layout"]["annotations"][0]["text"]
    model = [trace for trace in spec["data"] if trace.get("meta") == "model"]
    assert len(model) == 4 and sum(trace["showlegend"] for trace in model) == 1  # 3 axes + compound, one legend row


@pytest.mark.parametrize("unit", ["MACs", "FLOPs"])
def test_where_it_sits_keeps_its_axes_within_the_published_data_for_every_configuration(unit):
    """Issue 16: no missing estimate, extreme variant or model curve stretches the axes (10^16 MACs before)."""
    published = charts.curve_traces(reference.curve_points(), unit)
    xs = [value for trace in published for value in trace["x"]]
    ys = [value for trace in published for value in trace["y"]]
    configs = [("resnet18", 3.0, 4.0, 1024), ("resnet18", 1.0, 1.0, 224), ("efficientnet_b0", 3.0, 4.0, 1024),
               ("mobilenet_v3_small", 0.1, 0.1, 32), ("mobilenet_v2", 0.1, 0.1, 32), ("efficientnet_b7", 2.0, 3.1, 600),
               ("mobilenet_v1", 0.35, 4.0, 600), ("resnet50", 1.0, 1.0, 600), ("mobilenet_v3_large", 1.0, 2.0, 224)]
    for backbone, width, depth, resolution in configs:
        cost = core.profile(backbone, width, depth, resolution)
        base = cost.base
        traces = (published + charts.series_traces(reference.scaling_series(base), unit)
                  + charts.model_traces(reference.model_curves(base), unit, base))
        estimate = reference.estimate_top1(backbone, width, depth, resolution)
        layout = charts.reference_figure(traces, "v", cost.macs, estimate, unit).to_dict()["layout"]
        low, high = layout["xaxis"]["range"]
        assert math.log10(min(xs)) - 0.2 < low < math.log10(min(xs)) and math.log10(max(xs)) < high
        assert high < math.log10(max(xs)) + 0.2 + 0.5  # the published single-axis series reach a little further
        y_low, y_high = layout["yaxis"]["range"]
        assert y_low >= min(ys) - 15 and y_high <= max(ys) + 3
        for shape in layout.get("shapes", []):
            assert low <= math.log10(shape["x0"]) <= high
        for note in layout["annotations"]:
            assert note.get("xref") == "paper" or low <= note["x"] <= high


def test_stage_shares_sum_to_the_whole_network():
    spec = charts.stage_share_figure(core.profile("resnet50").layers).to_dict()
    for trace in spec["data"]:
        assert sum(trace["y"]) == pytest.approx(100)
    assert list(spec["data"][0]["x"]) == ["stem", "stage1", "stage2", "stage3", "stage4", "head", "classifier"]


def _explorer_specs():
    cost = core.profile("efficientnet_b0", 1.3, 1.2, 260)
    base = core.profile("efficientnet_b0")
    estimate = reference.estimate_top1(cost.backbone, cost.width, cost.depth, cost.resolution)
    costs = pd.DataFrame([{"curve": "c", "variant": "a", "params": 10, "macs": 20}])
    latencies = pd.DataFrame([{"label": name, "measured": index == 0, "macs": 10 ** (7 + index), "params": 1,
                               "median_ms": 5.0 * (index + 1), "p10_ms": 4.0, "p90_ms": 12.0, "images_per_s": 1}
                              for index, name in enumerate("abc")])
    big = core.profile("efficientnet_b0", 3.0, 4.0, 1024)
    for unit in ("MACs", "FLOPs"):
        model = charts.model_traces(reference.model_curves("efficientnet_b0"), unit, "EfficientNet-B0")
        yield charts.reference_figure(_traces(unit, "efficientnet_b0") + model, "v", cost.macs, estimate, unit)
        yield charts.reference_figure(_traces(unit, "efficientnet_b0") + model, "v", big.macs,
                                      reference.estimate_top1("efficientnet_b0", 3.0, 4.0, 1024), unit)
        yield charts.reference_figure(_traces(unit), "v", core.profile("resnet18", 2.0).macs,
                                      reference.estimate_top1("resnet18", 2.0, 1.0, 224), unit)
        yield charts.reference_figure(_traces(unit), "v", cost.macs, None, unit)
        yield charts.params_macs_figure(charts.params_traces(costs, unit), "v", cost.params, cost.macs, unit)
        yield charts.stage_share_figure(cost.layers, unit)
        yield charts.latency_figure(latencies, unit)
        yield charts.latency_figure(pd.concat([
            latencies.assign(series=series, current=index == 0, median_ms=latencies.median_ms / (index + 1))
            for index, series in enumerate(("onnxruntime int8", "torch float32", "onnxruntime float32"))]), unit)
    yield charts.channel_profile_figure(base.layers, cost.layers, "base", "v")


def test_every_plain_json_figure_is_valid_plotly():
    """The Explorer's figures skip Plotly's validation at run time (PlotlySpec); it happens here instead."""
    for spec in _explorer_specs():
        assert isinstance(spec, charts.PlotlySpec)
        go.Figure(spec.to_dict())  # raises on any unknown property or bad value


def test_the_roofline_caption_says_only_what_its_numbers_show():
    import pandas as pd

    from ui.prediction import roofline_caption

    class Prediction:
        total_ms, bound_ms = 10.0, 2.5

    def layers(bounds):
        return pd.DataFrame({"macs": [1] * len(bounds), "type": ["dwconv"] * len(bounds), "bound": bounds})

    none = roofline_caption(layers(["compute", "compute"]), 1e11, 2e10, True, Prediction, "onnxruntime")
    assert "0 of the 2 depthwise ones" in none and "bandwidth, not arithmetic, limits them" not in none
    assert "onnxruntime is predicted to reach 25% of this host's roofline" in none
    every = roofline_caption(layers(["memory", "memory"]), 1e11, 2e10, False, Prediction, "torch")
    assert "2 of the 2 depthwise ones: depthwise layers do few MACs per byte moved" in every
    assert "predicted to reach" not in every  # a published device's bound is not this host's prediction


@pytest.mark.parametrize("value", [999, 1_500, 2.5e6, 1.5e9, 3.2e12])
def test_counts_use_si_prefixes_and_bytes_say_bytes_so_b_never_means_billions(value):
    """"B" meant billions under MACs (Streamlit's compact format) and bytes under memory: no longer."""
    from core.units import si, size_bytes

    count, size = si(value), size_bytes(value)
    assert not count.endswith("B") and count.split()[-1] in {"K", "M", "G", "T"} | {str(int(value))}
    assert size.endswith(("KiB", "MiB", "GiB")) or size == f"{value:.0f} bytes"
    assert si(1.5e9) == "1.50 G" and size_bytes(512) == "512 bytes" and size_bytes(3 * 2 ** 30) == "3 GiB"


@pytest.mark.parametrize("low,high,shown", [
    (10.05, 175.4, "10.1-175 ms"),  # the card, cut at "10.05-175.…"
    (12.1, 14.8, "12.1-14.8 ms"),
    (0.81, 0.95, "0.81-0.95 ms"),
    (99.96, 120.0, "100-120 ms"),
    (1200, 1450, "1.20-1.45 s"),
])
def test_a_latency_spread_keeps_three_digits_a_side_so_it_fits_its_card(low, high, shown):
    from core.units import duration_range_ms

    assert duration_range_ms(low, high) == shown and len(shown) <= 12


def _pinned_table() -> pd.DataFrame:
    costs = [core.profile("mobilenet_v2", 0.5, 1.0, 160), core.profile("efficientnet_b3", 1.2, 1.4, 300)]
    labels = ["mobilenet_v2 w0.50 d1.00 160px", "efficientnet_b3 w1.20 d1.40 300px"]
    return pd.DataFrame({"pin": [1, 2], "label": labels,
                         "params": [cost.params for cost in costs], "macs": [cost.macs for cost in costs],
                         "activation_bytes": [cost.activation_bytes for cost in costs]})


def test_compare_bars_are_numbered_so_no_name_runs_into_the_next_panel():
    table = _pinned_table()
    figure = charts.compare_bars_figure(table, {"params": "Parameters", "macs": "MACs",
                                                "activation_bytes": "Activation memory (MiB)"})
    bars = figure.data
    assert {bar.x for bar in bars} == {("1",), ("2",)}  # the axes carry numbers, not names
    assert [bar.name for bar in bars if bar.showlegend] == ["1: mobilenet_v2 w0.50 d1.00 160px",
                                                           "2: efficientnet_b3 w1.20 d1.40 300px"]
    for number in ("1", "2"):  # one colour per variant in every panel
        assert len({bar.marker.color for bar in bars if bar.x == (number,)}) == 1
    assert bars[0].marker.color != bars[1].marker.color
    memory = [bar for bar in bars if bar.xaxis == "x3"]
    assert memory[1].y[0] == pytest.approx(table.activation_bytes[1] / 2 ** 20)  # MiB, the cards' unit
    assert figure.layout.legend.orientation == "h" and figure.layout.legend.y < 0  # below the panels


def test_the_latency_legend_sits_above_the_plot_where_no_point_can_be():
    latencies = pd.DataFrame([{"label": name, "measured": index == 0, "macs": 10 ** (7 + index), "median_ms": ms,
                               "p10_ms": ms * 0.9, "p90_ms": ms * 1.3} for index, (name, ms) in
                              enumerate([("a", 3.0), ("b", 40.0), ("c", 9.0)])])
    layout = charts.latency_figure(latencies).to_dict()["layout"]
    assert layout["legend"]["y"] >= 1 and layout["legend"]["yanchor"] == "bottom"
    low, high = layout["yaxis"]["range"]
    assert low < math.log10(2.7) and high > math.log10(52.0)  # every bar inside, with room for the names


def test_the_compound_backbone_box_fits_its_names():
    from core.network.families import ARCHITECTURES
    from ui.labels import backbone_title

    titles = [backbone_title(name) for name in ARCHITECTURES]
    assert backbone_title("efficientnet_b0") == "EfficientNet-B0"
    assert len(set(titles)) == len(titles) and max(map(len, titles)) <= 28


def test_the_layer_tables_numbers_never_write_billions_as_b():
    """Under a memory column "B" reads as bytes: every count and byte column shows its digits instead."""
    from ui.layer_table import layer_column_config

    for unit in ("MACs", "FLOPs"):
        config = layer_column_config(unit)
        for name in ("params", unit.lower(), "activation_bytes"):
            assert config[name]["type_config"]["format"] == "localized", (unit, name, config[name])
        assert config["activation_bytes"]["label"] == "activations (bytes)"
