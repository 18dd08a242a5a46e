"""Every page headlessly through Streamlit's AppTest: metrics move, links round-trip, errors stay contained."""
import json
import time

import pytest
from streamlit.testing.v1 import AppTest

import core
from core.units import si
from tests.conftest import ROOT
from ui.lessons import LESSONS

APP = str(ROOT / "app.py")


def _app(query: dict | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    if query:
        app.query_params.update(query)
    return app.run()


def _metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def _no_exceptions(app: AppTest) -> None:
    assert not app.exception, [exception.value for exception in app.exception]


def test_explorer_default_shows_engine_numbers():
    app = _app()
    _no_exceptions(app)
    metrics = _metrics(app)
    cost = core.profile("mobilenet_v2")
    assert metrics["Parameters"] == si(cost.params) == "3.50 M"
    assert metrics["MACs"] == si(cost.macs)
    assert metrics["Top-1 (published)"] == "71.8%"  # TF-slim mobilenet_v2_1.0_224
    assert len(app.get("plotly_chart")) == 3  # the network diagram, where it sits, params against cost
    app.slider(key="explorer_width").set_value(0.9).run()
    assert _metrics(app)["Top-1 (estimate)"].startswith("~")


def test_slider_move_changes_metrics_and_link():
    app = _app()
    app.slider(key="explorer_width").set_value(1.5).run()
    _no_exceptions(app)
    assert _metrics(app)["MACs"] == si(core.profile("mobilenet_v2", 1.5).macs)
    assert app.query_params["width"] == "1.5"
    app.slider(key="explorer_resolution").set_value(160).run()
    assert _metrics(app)["MACs"] == si(core.profile("mobilenet_v2", 1.5, 1.0, 160).macs)
    assert app.query_params["resolution"] == "160"


def test_a_step_that_changes_nothing_says_why():
    app = _app({"depth": "1.1"})
    app.slider(key="explorer_depth").set_value(1.2).run()
    assert any("Same network as before (depth 1.1 -> 1.2)" in caption.value for caption in app.caption)
    app.slider(key="explorer_depth").set_value(2.0).run()
    assert not any("Same network" in caption.value for caption in app.caption)


def test_flops_toggle_doubles_the_cost_card():
    app = _app({"unit": "FLOPs"})
    assert _metrics(app)["FLOPs"] == si(core.profile("mobilenet_v2").flops)


def test_flops_mode_changes_every_cost_label_including_the_csv_header():
    import json

    from ui.layer_table import layer_table

    app = _app({"unit": "FLOPs", "view": "inside", "backbone": "resnet18"})
    _no_exceptions(app)
    cost = core.profile("resnet18")
    table = app.dataframe[0].value
    assert {"flops", "flops_share"} <= set(table.columns) and "macs" not in table.columns
    assert table.flops.sum() == cost.flops
    assert layer_table(cost, "FLOPs").to_csv(index=False).splitlines()[0] == ",".join(table.columns)
    stage_chart = json.loads(next(chart for chart in app.get("plotly_chart") if chart.key == "stage_chart").proto.spec)
    assert [trace["name"] for trace in stage_chart["data"]][0] == "FLOPs"
    assert _metrics(app)["FLOPs"] == si(cost.flops)
    for chart in app.get("plotly_chart"):
        assert "MACs per image" not in chart.proto.spec


def test_preset_moves_the_sliders_to_its_values():
    app = _app()
    app.selectbox(key="explorer_backbone").set_value("efficientnet_b3").run()
    _no_exceptions(app)
    assert app.slider(key="explorer_width").value == 1.2
    assert app.slider(key="explorer_resolution").value == 300
    assert _metrics(app)["Parameters"] == "12.23 M"


def test_query_string_round_trips():
    query = {"backbone": "resnet50", "mode": "sliders", "width": "0.75", "depth": "1.5", "resolution": "192",
             "unit": "FLOPs", "view": "inside", "dtype": "float16", "batch": "8", "device": "cpu", "threads": "1",
             "memory_format": "channels_last", "runtime": "onnxruntime",
             "target": "jetson_orin_nano"}
    app = _app(query)
    _no_exceptions(app)
    assert dict(app.query_params) == query
    cost = core.profile("resnet50", 0.75, 1.5, 192, batch=8, dtype="float16")
    assert _metrics(app)["FLOPs"] == si(cost.flops)
    assert not app.warning


def test_latency_settings_travel_in_the_link_and_unmeasurable_ones_say_what_to_pick():
    app = _app({"view": "latency", "dtype": "int8", "batch": "4", "threads": "1", "memory_format": "channels_last"})
    _no_exceptions(app)
    assert app.number_input(key="explorer_threads").value == 1
    assert app.segmented_control(key="explorer_memory_format").value == "channels_last"
    assert any("int8 cannot be timed with torch on cpu" in info.value for info in app.info)
    assert app.button(key="latency_measure").disabled
    app.selectbox(key="explorer_dtype").set_value("float32").run()
    assert not app.button(key="latency_measure").disabled
    assert app.query_params["dtype"] == "float32" and app.query_params["batch"] == "4"


def test_more_threads_than_cores_cannot_be_queued_and_says_why():
    import os

    app = _app({"view": "latency", "threads": str(os.cpu_count() + 1)})
    _no_exceptions(app)
    assert any(f"more than this server's {os.cpu_count()} cores" in info.value for info in app.info)
    assert app.button(key="latency_measure").disabled


def test_runtime_makes_int8_measurable_and_notes_what_each_runtime_times():
    app = _app({"view": "latency", "dtype": "int8", "runtime": "onnxruntime", "memory_format": "channels_last"})
    _no_exceptions(app)
    assert not any("cannot be timed" in info.value for info in app.info)
    assert not app.button(key="latency_measure").disabled
    assert app.segmented_control(key="explorer_memory_format").disabled  # torch's alone
    app.segmented_control(key="explorer_runtime").set_value("torch").run()
    assert any("int8 cannot be timed with torch on cpu: pick runtime onnxruntime" in info.value for info in app.info)
    assert app.query_params["runtime"] == "torch" and app.button(key="latency_measure").disabled
    app.selectbox(key="explorer_dtype").set_value("bfloat16").run()
    app.segmented_control(key="explorer_runtime").set_value("onnxruntime").run()
    assert any("bfloat16 cannot be timed with onnxruntime on cpu: pick runtime torch, or float32 or int8" in info.value
               for info in app.info)


def test_compound_mode_scales_from_the_chosen_preset():
    app = _app({"backbone": "efficientnet_b0", "mode": "compound", "phi": "1"})
    b0_plus_one = _metrics(app)["MACs"]
    app.selectbox(key="explorer_backbone").set_value("efficientnet_b3").run()
    _no_exceptions(app)
    assert app.slider(key="explorer_phi").value == 0.0  # B3 itself
    assert _metrics(app)["Parameters"] == "12.23 M" and _metrics(app)["Top-1 (published)"] == "81.6%"
    app.slider(key="explorer_phi").set_value(1.0).run()
    expected = core.profile("efficientnet_b3", 1.2 * 1.1, 1.4 * 1.2, round(300 * 1.15))
    assert _metrics(app)["MACs"] == si(expected.macs) != b0_plus_one
    assert any("from EfficientNet-B3" in caption.value and "345 px" in caption.value for caption in app.caption)
    app.button(key="explorer_pin").click().run()
    assert app.session_state["pins"][0]["label"] == "efficientnet_b3 w1.32 d1.68 345px"
    assert app.session_state["pins"][0]["macs"] == expected.macs


def test_compound_link_sets_all_three():
    app = _app({"backbone": "efficientnet_b0", "mode": "compound", "phi": "1"})
    _no_exceptions(app)
    assert _metrics(app)["Parameters"] == si(core.profile("efficientnet_b0", 1.1, 1.2, 258).params)
    assert app.query_params["phi"] == "1" and "width" not in app.query_params


@pytest.mark.parametrize("query,fragment", [
    ({"backbone": "vgg16"}, "`vgg16` is unknown"),
    ({"width": "99"}, "width=`99` is outside 0.1 to 3; using 3"),
    ({"depth": "deep"}, "depth=`deep` is not a number"),
    ({"resolution": "8"}, "resolution=`8` is outside 32 to 1024; using 32"),
    ({"view": "everything"}, "view=`everything` is not one of"),
    ({"runtime": "[x](javascript:alert(1))"}, "runtime=`[x](javascript:alert(1))` is not one of torch, onnxruntime"),
    ({"colour": "red"}, "`colour` is not used"),
])
def test_bad_link_values_warn_and_the_page_still_renders(query, fragment):
    app = _app(query)
    _no_exceptions(app)
    assert any(fragment in warning.value for warning in app.warning)
    assert _metrics(app)["Parameters"]
    app.button(key="explorer_warnings_dismiss").click().run()
    assert not app.warning


def test_config_error_is_contained_and_pins_survive():
    app = _app()
    app.sidebar.button[0].click().run()
    assert len(app.session_state["pins"]) == 1
    app.segmented_control(key="explorer_mode").set_value("compound").run()
    app.number_input(key="explorer_alpha").set_value(2.0).run()
    app.slider(key="explorer_phi").set_value(7.0).run()
    _no_exceptions(app)
    assert any("depth multiplier" in error.value and "use 0.1 to 4.0" in error.value for error in app.error)
    assert len(app.session_state["pins"]) == 1
    app.slider(key="explorer_phi").set_value(1.0).run()
    assert not app.error and _metrics(app)["Parameters"]


def test_inside_view_has_profile_table_and_download():
    app = _app({"view": "inside", "backbone": "mobilenet_v3_small"})
    _no_exceptions(app)
    table = app.dataframe[0].value
    assert table.params.sum() == core.profile("mobilenet_v3_small").params
    assert {"macs", "macs_share", "params_share"} <= set(table.columns)
    assert len(app.get("download_button")) == 1


def test_latency_runs_in_the_background_and_shows_a_median():
    app = _app({"view": "latency", "backbone": "mobilenet_v3_small", "width": "0.5", "resolution": "64"})
    _no_exceptions(app)
    app.button(key="latency_measure").click().run()
    deadline = time.time() + 120  # the worker process starts on the first request
    while time.time() < deadline and "Median latency" not in _metrics(app):
        time.sleep(0.3)
        app.run()
    _no_exceptions(app)
    assert _metrics(app)["Median latency"].endswith(" ms")


def test_int8_result_shows_the_runtime_its_file_against_fp32_and_the_caveat():
    """Right after the torch run, so the worker is warm; test_runtimes, test_cli and test_jobs time the same
    configuration, so the suite exports and quantizes it once."""
    app = _app({"view": "latency", "backbone": "mobilenet_v2", "width": "0.35", "resolution": "96",
                "runtime": "onnxruntime", "dtype": "int8", "threads": "1"})
    app.button(key="latency_measure").click().run()
    deadline = time.time() + 120
    while time.time() < deadline and "ONNX file (int8)" not in _metrics(app):
        time.sleep(0.5)
        app.run()
    _no_exceptions(app)
    metrics = _metrics(app)
    assert metrics["ONNX file (int8)"].endswith("MiB") and metrics["ONNX file (float32)"].endswith("MiB")
    assert 3 < float(metrics["int8 file smaller by"].removeprefix("x")) < 5
    assert any("onnxruntime 1." in caption.value for caption in app.caption)
    assert any("does not claim" in info.value for info in app.info)


def test_ptflops_cross_check_runs_in_the_worker_and_explains_the_gap():
    app = _app({"view": "inside", "backbone": "mobilenet_v2", "width": "0.35", "resolution": "96"})
    app.button(key="ptflops_run").click().run()
    deadline = time.time() + 120
    while time.time() < deadline and len(app.dataframe) < 2:
        time.sleep(0.5)
        app.run()
    _no_exceptions(app)
    parts = app.dataframe[1].value
    from core.measurement.ptflops_check import predicted

    assert parts.operations.iloc[-1] == predicted("mobilenet_v2", 0.35, 1.0, 96).total
    assert any("the itemised prediction equals its figure" in caption.value for caption in app.caption)


def test_pins_survive_page_switches_and_feed_compare():
    app = _app()
    app.button(key="explorer_pin").click().run()
    assert app.button(key="explorer_pin").label.endswith("(1 pinned)")
    app.slider(key="explorer_width").set_value(0.5).run()
    app.button(key="explorer_pin").click().run()
    assert app.button(key="explorer_pin").label.endswith("(2 pinned)")
    app.switch_page("pages/compare.py").run()
    _no_exceptions(app)
    table = app.dataframe[0].value
    assert list(table.width) == [1.0, 0.5]
    assert list(table.params) == [core.profile("mobilenet_v2", width).params for width in (1.0, 0.5)]
    assert list(table.top1_basis) == ["published (mobilenet_v2_1.0_224)", "published (mobilenet_v2_0.5_224)"]
    assert len(app.get("plotly_chart")) == 1 and len(app.get("download_button")) == 1
    app.switch_page("pages/explorer.py").run()
    assert app.slider(key="explorer_width").value == 0.5  # the Explorer kept its state
    assert len(app.session_state["pins"]) == 2


def test_a_dense_task_pin_carries_no_imagenet_top1():
    app = _app({"backbone": "resnet50", "task": "segmentation", "head": "deeplabv3", "resolution": "520"})
    app.button(key="explorer_pin").click().run()
    app.switch_page("pages/compare.py").run()
    _no_exceptions(app)
    row = app.dataframe[0].value.iloc[0]
    assert row.task == "segmentation" and (row.top1 is None or row.top1 != row.top1)  # None or NaN
    assert row.top1_basis == ("no estimate: no ImageNet top-1 for a segmentation network: ImageNet results are "
                              "for classifiers")


def test_compare_writes_words_for_missing_numbers_and_units_that_cannot_be_misread():
    """No "None" cell, G for 10^9 (not "B", which meant bytes in the next column), and a numbered list that a
    phone shows in the table's place."""
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params["pins"] = "mobilenet_v2:0.5:1:160,mobilenet_v3_large:1:1:520:task=segmentation"
    app.switch_page("pages/compare.py").run()
    _no_exceptions(app)
    frame = app.dataframe[0]
    shown = frame.value[list(frame.proto.column_order)]
    assert shown.notna().all().all() and "None" not in shown.astype(str).to_numpy()
    dense = shown.iloc[1]
    segmentation = core.profile("mobilenet_v3_large", 1.0, 1.0, 520, task="segmentation")
    assert dense.top1_shown == "n/a" and dense.latency_shown == "not measured"
    assert dense.macs_shown == si(segmentation.macs) and dense.macs_shown.endswith(" G")
    assert dense.activation_bytes_shown.endswith(" MiB")
    headers = [column["label"] for column in json.loads(frame.proto.columns).values() if "label" in column]
    assert not any("(B)" in header for header in headers)
    listed = next(markdown.value for markdown in app.markdown if markdown.value.startswith("1. "))
    assert "\n2. **mobilenet_v3_large w1.00 d1.00 520px task=segmentation**: no estimate" in listed
    assert "top-1 61.0%, published (mobilenet_v2_0.5_160);" in listed


def test_compare_page_empty_then_pin_a_preset():
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page("pages/compare.py").run()
    _no_exceptions(app)
    assert any("Nothing pinned yet" in info.value for info in app.info)
    app.selectbox[0].set_value("efficientnet_b1")
    app.button[0].click().run()
    assert app.dataframe[0].value.params.tolist() == [7_794_184]


def test_compound_page():
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page("pages/compound.py").run()
    _no_exceptions(app)
    assert len(app.get("plotly_chart")) == 3
    assert app.selectbox(key="compound_backbone").value == "efficientnet_b0"
    assert "EfficientNet-B0" in app.selectbox(key="compound_backbone").options  # the name alone fits its box
    app.slider(key="compound_phi").set_value(2.0).run()
    _no_exceptions(app)
    expected = core.profile("efficientnet_b0", 1.1 ** 2, 1.2 ** 2, round(224 * 1.15 ** 2)).macs
    base = core.profile("efficientnet_b0").macs
    assert _metrics(app)["MACs growth (exact / theory)"] == f"x{expected / base:.2f}"


def test_a_device_without_a_figure_for_the_dtype_says_why_in_the_roofline_panels_place():
    app = _app({"view": "latency", "target": "raspberry_pi_4", "dtype": "float16"})
    _no_exceptions(app)
    assert any(info.value == "No roofline and no channel alignment here: raspberry_pi_4 has no peak figure for "
               "float16: use one of float32." for info in app.info)
    assert not any("Roofline" in chart.proto.spec for chart in app.get("plotly_chart"))


def test_compound_page_state_round_trips_through_its_link():
    query = {"backbone": "mobilenet_v2", "alpha": "1.3", "beta": "1.05", "gamma": "1.2", "phi": "2.5"}
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params.update(query)
    app.switch_page("pages/compound.py").run()
    _no_exceptions(app)
    assert not app.warning and dict(app.query_params) == query
    assert app.selectbox(key="compound_backbone").value == "mobilenet_v2"
    assert app.slider(key="compound_phi").value == 2.5
    app.slider(key="compound_phi").set_value(3.0).run()
    assert app.query_params["phi"] == "3"
    app.switch_page("pages/workshop.py").run()
    app.switch_page("pages/compound.py").run()  # a page switch keeps the page's state
    assert app.slider(key="compound_phi").value == 3.0 and app.number_input(key="compound_alpha").value == 1.3


def test_compound_page_beyond_the_engine_says_so():
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params.update({"alpha": "2", "beta": "2", "gamma": "2", "phi": "7", "colour": "**x**"})
    app.switch_page("pages/compound.py").run()
    _no_exceptions(app)
    assert any("`colour`" in warning.value for warning in app.warning)
    assert any("beyond what the engine scales" in error.value for error in app.error)
    assert any("drawn at depth 4 and has no star" in caption.value for caption in app.caption)


def test_workshop_reveals_against_the_engine():
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page("pages/workshop.py").run()
    _no_exceptions(app)
    app.radio(key="lesson_3_guess").set_value(4.0).run()
    app.button(key="lesson_3_reveal").click().run()
    assert any(message.value.startswith("**Right.**") for message in app.success)
    app.radio(key="lesson_1_guess").set_value(8.0).run()
    app.button(key="lesson_1_reveal").click().run()
    assert any("closest answer is x3.5" in message.value for message in app.info)
    app.button(key="workshop_reset").click().run()
    assert not app.success and not app.info
    for index in range(1, len(LESSONS) + 1):
        assert app.radio(key=f"lesson_{index}_guess").value is None
        assert app.button(key=f"lesson_{index}_reveal").disabled  # nothing chosen: nothing to reveal
    app.radio(key="lesson_2_guess").set_value(2.0).run()
    assert not app.button(key="lesson_2_reveal").disabled


def test_the_compound_lesson_reveals_the_published_gain_and_the_fitted_model():
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page("pages/workshop.py").run()
    index = next(number for number, lesson in enumerate(LESSONS, start=1) if lesson.metric == "top1")
    app.radio(key=f"lesson_{index}_guess").set_value(2.0).run()
    app.button(key=f"lesson_{index}_reveal").click().run()
    _no_exceptions(app)
    message = next(message.value for message in app.success)
    assert message.startswith("**Right.**") and "79.1% -> 81.1%, **+2.0 points**" in message
    assert "Table 7" in message and "resolution alone near" in message
    app.button(key=f"lesson_{index}_open").click().run()
    assert app.slider(key="explorer_resolution").value == 291
    assert _metrics(app)["Top-1 (published)"] == "81.1%"


def test_the_accuracy_card_shows_the_band_extrapolation_and_the_model():
    app = _app({"backbone": "efficientnet_b0", "width": "2.5", "depth": "0.5", "resolution": "160"})
    _no_exceptions(app)
    card = next(metric for metric in app.metric if metric.label == "Top-1 (estimate)")
    assert card.value.startswith("~") and card.delta.startswith("±") and card.delta.endswith(" pp")
    assert any("extrapolated" in caption.value for caption in app.caption)
    assert any("\n\nFitted model of EfficientNet-B0" in caption.value for caption in app.caption)  # its own paragraph
    app = _app({"backbone": "resnet18", "width": "2"})
    assert _metrics(app)["Top-1 (estimate)"] == "n/a"


def test_workshop_answers_lock_on_reveal_and_survive_a_page_switch():
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page("pages/workshop.py").run()
    app.toggle(key="room_presenter").set_value(True).run()
    app.radio(key="lesson_3_guess").set_value(4.0).run()
    app.button(key="lesson_3_reveal").click().run()
    assert app.radio(key="lesson_3_guess").disabled  # locked: the verdict cannot flip
    app.radio(key="lesson_1_guess").set_value(3.5).run()  # answered, not yet revealed
    app.switch_page("pages/compare.py").run()
    app.switch_page("pages/workshop.py").run()
    _no_exceptions(app)
    assert app.toggle(key="room_presenter").value is True
    assert app.radio(key="lesson_1_guess").value == 3.5
    assert app.radio(key="lesson_3_guess").value == 4.0 and app.radio(key="lesson_3_guess").disabled
    assert any(message.value.startswith("**Right.**") for message in app.success)
    assert not any("Not quite" in message.value for message in app.info)


def test_workshop_opens_its_network_in_this_session():
    app = _app()
    app.sidebar.button[0].click().run()  # a pin, to prove the session is kept
    app.switch_page("pages/workshop.py").run()
    app.radio(key="lesson_3_guess").set_value(4.0).run()
    app.button(key="lesson_3_reveal").click().run()
    app.button(key="lesson_3_open").click().run()
    _no_exceptions(app)
    assert app.slider(key="explorer_resolution").value == 448
    assert app.selectbox(key="explorer_backbone").value == "resnet50"
    assert _metrics(app)["MACs"] == si(core.profile("resnet50", 1.0, 1.0, 448).macs)
    assert len(app.session_state["pins"]) == 1


def test_reference_page_lists_every_table_with_sources():
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page("pages/reference_data.py").run()
    _no_exceptions(app)
    assert len(app.dataframe) == 9  # 7 published tables, the training recipes and the task results
    assert all(caption.value.startswith("Sources:") for caption in app.caption if "Sources" in caption.value)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.title)
def test_lesson_answers_match_the_engine(lesson):
    from ui.lessons import closest_option

    assert closest_option(lesson) == lesson.answer


def test_compare_link_restores_pins_and_warns_about_bad_ones():
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params["pins"] = "mobilenet_v2:0.5:1:160,vgg:1:1:224,efficientnet_b0:9:1:300"
    app.switch_page("pages/compare.py").run()
    _no_exceptions(app)
    table = app.dataframe[0].value
    assert list(table.backbone) == ["mobilenet_v2", "efficientnet_b0"] and list(table.width) == [0.5, 3.0]
    assert table.params.iloc[0] == core.profile("mobilenet_v2", 0.5, 1.0, 160).params
    warning = app.warning[0].value
    assert "`vgg:1:1:224`" in warning and "width=`9` is outside 0.1 to 3" in warning
    assert app.query_params["pins"] == "mobilenet_v2:0.5:1:160,efficientnet_b0:3:1:300"


def test_a_provisional_result_says_so_in_the_card_the_chart_and_the_csv(tmp_path, monkeypatch):
    import json

    import ui.engine
    from core.measurement.jobs import LatencyQueue
    from ui.latency_panel import _row

    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CSL_WORKER_SUPERVISED", "1")  # nothing runs: the test finishes the jobs itself
    ui.engine.latency_queue.clear()
    try:
        app = _app({"view": "latency"})
        app.button(key="latency_measure").click().run()
        app.button(key="latency_presets").click().run()
        queue = LatencyQueue(tmp_path / "latency.sqlite3")
        while (claimed := queue.claim()) is not None:  # every run measured on a busy host
            job, settings = claimed
            result = {**settings, "median_ms": 95.0, "p10_ms": 40.0, "p90_ms": 160.0, "runs": settings["repeats"],
                      "images_per_s": 10.5, "wall_s": 2.0, "estimated_memory_mb": 300.0, "torch_version": "2.13.0",
                      "host_busy": True, "other_load_cores": 1.4, "runtime": "torch"}
            queue.finish(job, result=result)
        app.run()
        _no_exceptions(app)
        assert any(warning.value.startswith("Provisional: busy host (1.4 other cores)") for warning in app.warning)
        assert any("Hollow points (6) are provisional" in caption.value for caption in app.caption)
        spec = json.loads(next(chart for chart in app.get("plotly_chart") if chart.key == "latency_chart").proto.spec)
        latency = next(trace for trace in spec["data"] if "star-open" in trace["marker"]["symbol"])
        assert latency["customdata"][0][0].startswith("provisional: busy host")
        assert _row("x", core.profile("mobilenet_v2"), result, True, True)["quality"].startswith("provisional")
    finally:
        ui.engine.latency_queue.clear()


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "int8"])
def test_no_prediction_hint_names_a_command_that_fails(runtime, dtype, tmp_path, monkeypatch):
    """Without a calibration, the prediction row names a calibration command only where that command would
    succeed; a runtime and dtype this host cannot time says so instead."""
    import re

    from core.cli import build_parser
    from core.prediction.latency_model import check_runtime

    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))  # no calibration here
    app = _app({"runtime": runtime, "dtype": dtype})
    _no_exceptions(app)
    shown = " ".join(caption.value for caption in app.caption)
    commands = re.findall(r"`(python -m core calibrate[^`]*)`", shown)
    if commands:
        args = build_parser().parse_args(commands[0].split()[3:])
        check_runtime(args.runtime, args.dtype)  # the command's own check: raises where it would exit 2
        assert (args.runtime, args.dtype) == (runtime, dtype)
    else:
        assert f"{runtime} does not time {dtype}" in shown, shown


def test_without_a_calibration_the_worker_calibrates_and_the_card_says_how_far(tmp_path, monkeypatch):
    """A fresh install: the card says 'calibrating' while the worker fits this host's model, then predicts;
    at other thread counts it names the command instead (each would cost the worker minutes)."""
    import ui.engine
    from core.measurement.jobs import LatencyQueue

    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CSL_AUTO_CALIBRATE", "1")
    monkeypatch.setenv("CSL_CALIBRATION_BUDGET_S", "3")  # the fewest timings a fit takes: about half a minute
    ui.engine.latency_queue.clear()
    try:
        app = _app()  # the Explorer's default threads: what the hosted recipe calibrates too
        _no_exceptions(app)
        assert _metrics(app)["Latency (predicted)"].startswith("calibrating")
        assert any("latency model in the worker" in caption.value for caption in app.caption)
        seen, deadline = set(), time.time() + 240
        while time.time() < deadline:
            value = _metrics(app).get("Latency (predicted)", "")
            seen.add(value)
            if value and not value.startswith(("calibrating", "not calibrated")):
                break
            time.sleep(1)
            app.run()
        _no_exceptions(app)
        assert not _metrics(app)["Latency (predicted)"].startswith(("calibrating", "not calibrated")), seen
        assert any(value.startswith("calibrating (") and " of " in value for value in seen), seen
        other = _app({"threads": "1"})
        assert _metrics(other)["Latency (predicted)"] == "not calibrated"
        assert any("python -m core calibrate --runtime torch --dtype float32 --threads 1" in caption.value
                   for caption in other.caption)
    finally:
        pid = LatencyQueue(tmp_path / "latency.sqlite3").worker_pid()
        if pid:
            import os
            import signal
            os.kill(pid, signal.SIGTERM)
        ui.engine.latency_queue.clear()


def test_a_pin_keeps_the_explorers_batch_dtype_runtime_and_task():
    app = _app({"backbone": "resnet18", "batch": "8", "runtime": "onnxruntime", "dtype": "int8"})
    app.button(key="explorer_pin").click().run()
    app.switch_page("pages/compare.py").run()
    _no_exceptions(app)
    assert app.query_params["pins"] == "resnet18:1:1:224:batch=8:dtype=int8:runtime=onnxruntime"
    table = app.dataframe[0].value
    assert list(table.batch) == [8] and list(table.runtime) == ["onnxruntime"]
    assert list(table.activation_bytes) == [core.profile("resnet18", batch=8, dtype="int8").activation_bytes]


def test_a_run_that_cannot_fit_is_refused_before_queueing_by_the_predicted_cards_model(tmp_path, monkeypatch):
    """The issue's B7 at width 3, depth 4, 1024 px: the refusal names the same per-pass time as the card."""
    import re
    import sqlite3

    import ui.engine
    from core.prediction.calibration import calibrate
    from tests.test_latency_model import CONFIGS, synthetic_timing

    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CSL_WORKER_SUPERVISED", "1")
    monkeypatch.setenv("CSL_LATENCY_MEMORY_LIMIT_MB", "65536")  # memory fits: the cap decides
    calibrate("torch", threads=2, configs=CONFIGS, measure=synthetic_timing, force=True,
              roofline=lambda threads: (1e11, 2e10))
    ui.engine.latency_queue.clear()
    try:
        app = _app({"backbone": "efficientnet_b7", "width": "3", "depth": "4", "resolution": "1024"})
        card = _metrics(app)["Latency (predicted)"]
        app.button(key="prediction_measure").click().run()
        _no_exceptions(app)
        refusal = next(caption.value for caption in app.caption if "per forward pass" in caption.value)
        assert "by the calibrated model" in refusal and "above the 30 s cap" in refusal
        per_pass = float(re.search(r"about ([\d.,]+) s per forward pass", refusal)[1].replace(",", ""))
        number, unit = re.fullmatch(r"([\d.,]+) (ms|s)", card).groups()
        predicted_s = float(number.replace(",", "")) / (1000 if unit == "ms" else 1)
        assert per_pass == pytest.approx(predicted_s, rel=0.05, abs=0.05)  # one model, rounded two ways
        with sqlite3.connect(tmp_path / "latency.sqlite3") as db:
            assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0  # nothing was queued
    finally:
        ui.engine.latency_queue.clear()
