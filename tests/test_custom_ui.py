"""A network of your own in the app (AppTest): the Custom backbone, the per-stage editor, links that carry a
spec, pins of custom networks, and hostile specs that must stay inert text or one warning."""
import base64
import json
import re
import zlib

import pytest
from streamlit.testing.v1 import AppTest

import core
from core.units import si
from tests.conftest import ROOT
from core.measurement.job_settings import job_network
from ui.spec_link import canonical, decode_spec, encode_spec, parse_spec_text

APP = str(ROOT / "app.py")
STAGE_BOX, STAGE_EDITOR, CUSTOM_EDITOR = "explorer_stage_box", "explorer_stage_editor", "explorer_custom_editor"
EVIL = "http://evil.example"


def _app(query: dict | None = None, page: str | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    if query:
        app.query_params.update(query)
    if page:
        app.switch_page(page)
    return app.run()


def _metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def _no_exceptions(app: AppTest) -> None:
    assert not app.exception, [exception.value for exception in app.exception]


def _spec(name: str = "mobilenet_v2", **changes) -> dict:
    """A built-in's exported spec with ``changes``: top-level fields, or ``stage2_out_channels=40`` style."""
    document = core.export_spec(name)
    for key, value in changes.items():
        if key.startswith("stage"):
            index, field = key[5:].split("_", 1)
            document["stages"][int(index)][field] = value
        else:
            document[key] = value
    return document


def _link_spec(document: dict) -> str:
    spec, problem = parse_spec_text(json.dumps(document))
    assert spec is not None, problem
    return encode_spec(spec)


def _open_stage_editor(app: AppTest, edits: dict) -> AppTest:
    app.session_state[STAGE_BOX] = True
    app.run()
    app.session_state[STAGE_EDITOR] = {"edited_rows": edits, "added_rows": [], "deleted_rows": []}
    return app.run()


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet50"])
def test_custom_from_a_built_in_has_its_cards_and_says_why_there_is_no_top1(name):
    """Picking Custom starts from the built-in on screen (its exported spec): the same numbers and deltas, and the
    top-1 card gives the reason instead of a value."""
    app = _app({"backbone": name})
    before = {metric.label: (metric.value, metric.delta) for metric in app.metric}
    app.selectbox(key="explorer_backbone").set_value("custom").run()
    _no_exceptions(app)
    after = {metric.label: (metric.value, metric.delta) for metric in app.metric}
    for label in ("Parameters", "MACs", "Activation memory", "Weights (fp32)"):
        assert after[label] == before[label], label
    top1 = next(metric for metric in app.metric if metric.label.startswith("Top-1"))
    assert top1.value == "n/a" and "never trained" in top1.help and "uniform scaling" in top1.help
    assert top1.delta == "never trained"  # under the value, where the other cards have their deltas
    assert app.session_state[CUSTOM_EDITOR] is True  # choosing Custom opens its editor
    assert app.text_area(key="custom_spec_text").value.startswith("{")
    assert app.query_params["backbone"] == "custom" and decode_spec(app.query_params["spec"])[0]
    assert app.selectbox(key="explorer_task").options == ["classification"]


def test_start_from_a_built_in_copies_its_spec_into_the_editor():
    app = _app({"backbone": "custom", "spec": _link_spec(_spec())})
    app.session_state[CUSTOM_EDITOR] = True
    app.run()
    app.selectbox(key="custom_start_from").set_value("efficientnet_b3").run()
    app.button(key="custom_start").click().run()
    _no_exceptions(app)
    b3 = core.profile("efficientnet_b3")
    assert _metrics(app)["Parameters"] == si(b3.params) and _metrics(app)["MACs"] == si(b3.macs)
    assert app.slider(key="explorer_resolution").value == 300  # the spec's own defaults
    assert json.loads(app.text_area(key="custom_spec_text").value)["defaults"]["width"] == 1.2


@pytest.mark.parametrize("text,fragment", [
    ("{not json", "not valid JSON"),
    ("/etc/passwd", "not valid JSON"),  # pasted text is never a file path
    (json.dumps(_spec(colour="red")), "unknown field 'colour'"),
    (json.dumps(_spec(stage0_repeats=99)), "stages[0].repeats is 99"),
    (json.dumps(_spec(**{"[x](http://evil.example)": 1})), "unknown field"),
])
def test_a_pasted_invalid_spec_is_one_line_and_the_last_network_stays(text, fragment):
    app = _app({"backbone": "custom", "spec": _link_spec(_spec(stage2_out_channels=40))})
    before = _metrics(app)
    app.session_state[CUSTOM_EDITOR] = True
    app.run()
    app.text_area(key="custom_spec_text").set_value(text)
    app.button(key="custom_use").click().run()
    _no_exceptions(app)
    errors = [error.value for error in app.error]
    assert len(errors) == 1 and fragment in errors[0] and "\n" not in errors[0], errors
    assert "](http" not in re.sub(r"(`+).*?\1", "", errors[0])  # a link's text only inside a code span
    assert _metrics(app) == before
    good = json.dumps(_spec(stage2_out_channels=48), indent=2)
    app.text_area(key="custom_spec_text").set_value(good)
    app.button(key="custom_use").click().run()
    assert not app.error
    expected = core.profile(core.load_spec(good))
    assert _metrics(app)["MACs"] == si(expected.macs) != before["MACs"]


def test_an_uploaded_spec_is_parsed_as_data_and_capped():
    app = _app({"backbone": "custom", "spec": _link_spec(_spec())})
    app.session_state[CUSTOM_EDITOR] = True
    app.run()
    document = _spec("mobilenet_v3_small", title="Uploaded")
    app.file_uploader(key="custom_spec_upload").set_value(("net.json", json.dumps(document).encode(),
                                                            "application/json")).run()
    _no_exceptions(app)
    assert _metrics(app)["MACs"] == si(core.profile("mobilenet_v3_small").macs)
    assert any("`Uploaded`" in caption.value for caption in app.caption)
    app.file_uploader(key="custom_spec_upload").set_value(("big.json", b" " * 70_000, "application/json")).run()
    assert len(app.error) == 1 and "70,000 bytes" in app.error[0].value
    assert _metrics(app)["MACs"] == si(core.profile("mobilenet_v3_small").macs)


def test_the_per_stage_editor_changes_macs_and_the_link_carries_sw_and_sd():
    app = _open_stage_editor(_app(), {2: {"width x": 1.5}, 4: {"depth x": 2.0}})
    _no_exceptions(app)
    widths, depths = [1, 1, 1.5, 1, 1, 1, 1], [1, 1, 1, 1, 2, 1, 1]
    expected = core.profile("mobilenet_v2", stage_width=widths, stage_depth=depths)
    assert _metrics(app)["MACs"] == si(expected.macs) != si(core.profile("mobilenet_v2").macs)
    assert _metrics(app)["Top-1 (estimate)"] == "n/a"
    assert app.query_params["sw"] == "1,1,1.5,1,1,1,1" and app.query_params["sd"] == "1,1,1,1,2,1,1"
    table = next(frame for frame in app.dataframe if frame.editing_mode == "fixed").value
    assert list(table.columns) == ["stage", "block", "stride", "channels", "repeats", "width x", "depth x"]
    reopened = _app(dict(app.query_params))
    assert _metrics(reopened)["MACs"] == si(expected.macs) and not reopened.warning
    app.button(key="explorer_stage_reset").click().run()  # all ones: the uniform network, published top-1 again
    assert "sw" not in app.query_params and _metrics(app)["Top-1 (published)"] == "71.8%"


def test_per_stage_values_are_clamped_and_dense_tasks_say_why_they_are_not_offered():
    app = _open_stage_editor(_app({"backbone": "mobilenet_v3_large"}), {0: {"width x": 9.0}})
    _no_exceptions(app)
    assert app.query_params["sw"].startswith("3,")
    assert app.selectbox(key="explorer_task").options == ["classification"]
    assert any("dense tasks are built on the built-ins at uniform scaling" in caption.value
               for caption in app.sidebar.caption)
    app = _app({"backbone": "mobilenet_v3_large", "task": "segmentation", "head": "lraspp", "resolution": "520",
                "sw": "1,1,1,1,1,1,1,1,1,1,1,1.5"})
    _no_exceptions(app)
    assert any("built only at uniform scaling" in warning.value for warning in app.warning)
    assert app.query_params.get("task") is None and _metrics(app)["Parameters"]


def test_a_link_with_a_spec_reproduces_params_and_macs():
    document = _spec("efficientnet_b0", title="Wider B0", stage3_out_channels=96,
                     defaults={"width": 1.0, "depth": 1.0, "resolution": 256})
    blob = _link_spec(document)
    sw = "1,1,1,1.25,1,1,0.75"
    app = _app({"backbone": "custom", "spec": blob, "sw": sw, "depth": "1.2"})
    _no_exceptions(app)
    assert not app.warning
    arch = core.load_spec(json.dumps(document))
    expected = core.profile(arch, 1.0, 1.2, 256, stage_width=[float(value) for value in sw.split(",")])
    assert _metrics(app)["Parameters"] == si(expected.params) and _metrics(app)["MACs"] == si(expected.macs)
    assert app.query_params["spec"] == blob and app.query_params["sw"] == sw  # the app writes the link it read
    assert len(blob) < 1000


def test_a_pinned_custom_network_reopens_from_the_compare_link_as_exactly_that_network():
    document = _spec("mobilenet_v3_large", title="Mine", stage5_out_channels=96)
    app = _app({"backbone": "custom", "spec": _link_spec(document), "width": "0.75"})
    app.button(key="explorer_pin").click().run()
    app = _open_stage_editor(app, {1: {"depth x": 2.0}})
    app.button(key="explorer_pin").click().run()
    app.selectbox(key="explorer_backbone").set_value("resnet18").run()  # the pins keep their own specs
    app.button(key="explorer_pin").click().run()
    app.switch_page("pages/compare.py").run()
    _no_exceptions(app)
    source = app.dataframe[0].value
    query = dict(app.query_params)
    assert query["pins"].startswith("custom-") and ":sd=1_2_1" in query["pins"] and "specs" in query
    reopened = _app(query, "pages/compare.py")
    _no_exceptions(reopened)
    table = reopened.dataframe[0].value
    assert not reopened.warning
    assert list(table.params) == list(source.params) and list(table.macs) == list(source.macs)
    assert list(table.backbone) == list(source.backbone) and len(table) == 3
    arch = core.load_spec(json.dumps(document))
    assert table.macs.iloc[0] == core.profile(arch, 0.75).macs
    assert table.top1.isna().iloc[:2].all() and "never trained" in table.top1_basis.iloc[0]


def test_a_custom_pin_without_its_spec_in_the_link_is_skipped_with_one_line():
    app = _app({"pins": "custom-0123456789ab:1:1:224,mobilenet_v2:1:1:224"}, "pages/compare.py")
    _no_exceptions(app)
    assert "whose spec the link does not carry" in app.warning[0].value
    assert list(app.dataframe[0].value.backbone) == ["mobilenet_v2"]


def _bomb() -> str:
    return base64.urlsafe_b64encode(zlib.compress(b" " * 5_000_000, 9)).decode().rstrip("=")


HOSTILE_SPECS = {
    "script and html in the title": None,  # a valid spec: renders, its title quoted
    "unknown fields": "unknown",
    "10 MB": "A" * 10_000_000,  # past Streamlit's own 524,288-character query cap: the whole query is dropped
    "100,000 characters": "A" * 100_000,
    "zip bomb": "bomb",
    "broken base64": "eJx%%%not*base64",
    "cut short": "cut",
    "not a spec once inflated": base64.urlsafe_b64encode(zlib.compress(b"[1, 2, 3]")).decode(),
}


@pytest.mark.parametrize("name", list(HOSTILE_SPECS))
def test_a_hostile_spec_in_a_link_is_inert_text_or_one_warning(name):
    title = f"<script>alert(1)</script><img src={EVIL}/x.png>[click]({EVIL})"[:80]
    value = HOSTILE_SPECS[name]
    if name.startswith("script"):
        value = _link_spec(_spec(title=title))
    elif value == "unknown":
        value = encode_spec(json.dumps({**_spec(), "payload": f"[x]({EVIL})"}))
    elif value == "bomb":
        value = _bomb()
    elif value == "cut":
        value = _link_spec(_spec())[:-40]
    app = _app({"backbone": "custom", "spec": value})
    _no_exceptions(app)
    assert _metrics(app)["Parameters"]  # the page renders
    texts = [element.value for kind in ("markdown", "caption", "warning", "error", "info") for element in
             getattr(app, kind)]
    outside_code = [re.sub(r"(`+).*?\1", "", text) for text in texts]  # what Markdown would render
    assert not any("<script" in text or "<img" in text or f"]({EVIL}" in text for text in outside_code)
    if name.startswith("script"):
        assert not app.warning
        shown = [caption.value for caption in app.sidebar.caption if "Your network" in caption.value]
        assert shown and "`<script>alert(1)</script><img src=http://evil.example/x.png>…`" in shown[0]
        assert app.query_params["backbone"] == "custom"
        return
    if name == "10 MB":
        assert not app.warning and _metrics(app)["Parameters"] == si(core.profile("mobilenet_v2").params)
        return
    warnings = [warning.value for warning in app.warning]
    assert len(warnings) == 1 and warnings[0].count("\n- ") == 1, warnings  # one line about the spec
    assert "spec" in warnings[0] and "Showing mobilenet_v2 instead" in warnings[0]
    assert len(warnings[0]) < 600
    assert app.query_params["backbone"] == "mobilenet_v2" and "spec" not in app.query_params
    assert _metrics(app)["Parameters"] == si(core.profile("mobilenet_v2").params)
    if name == "100,000 characters":
        assert "(100,000 characters)" in warnings[0] and "at most 8,000" in warnings[0]
    if name == "zip bomb":
        assert "expands past 65,536 bytes" in warnings[0]
    if name == "unknown fields":
        assert "unknown field 'payload'" in warnings[0] and f"]({EVIL})" not in warnings[0]


def test_link_keys_and_their_warnings():
    from ui.state import ExplorerState, parse_query

    state, warnings = parse_query({"backbone": "resnet18", "sw": "1,2", "sd": "1,1,1,1"})
    assert state.sw == () and state.sd == () and len(warnings) == 1 and "4 stages" in warnings[0]
    state, warnings = parse_query({"backbone": "resnet18", "spec": "abc"})
    assert state.backbone == "resnet18" and "used only with backbone=custom" in warnings[0]
    state, warnings = parse_query({"backbone": "custom"})
    assert state.backbone == "mobilenet_v2" and "has no spec" in warnings[0]
    state, _ = parse_query({"spec": _link_spec(_spec("resnet18"))})  # a spec alone means custom
    assert state.backbone == "custom" and state.network.startswith("custom-")
    assert ExplorerState().to_query() == parse_query({})[0].to_query()  # an ordinary link is as it was
    assert not {"sw", "sd", "spec"} & set(ExplorerState().to_query())


def test_latency_jobs_name_custom_and_per_stage_networks_by_the_workers_contract():
    from ui.engine import cached_profile
    from ui.latency_panel import _settings

    device = dict(runtime="torch", device="cpu", dtype="float32", batch=1, threads=1, channels_last=False, warmup=3)
    plain = _settings(cached_profile("mobilenet_v2", 1.0, 1.0, 224), device)
    assert "spec" not in plain and "stage_width" not in plain and plain["backbone"] == "mobilenet_v2"
    staged = _settings(cached_profile("efficientnet_b3", 1.2, 1.4, 300, stage_width=(1, 1, 1, 1, 1.5, 1, 1)), device)
    assert staged["backbone"] == "efficientnet_b3" and staged["stage_width"] == [1, 1, 1, 1, 1.5, 1, 1]
    assert "stage_depth" not in staged and "spec" not in staged
    spec, _ = parse_spec_text(json.dumps(_spec("resnet18", title="<b>x</b>")))
    name = core.load_spec(spec).name
    custom = _settings(cached_profile(name, 1.0, 1.0, 224), device)
    assert custom["backbone"] == name and custom["spec"] == json.loads(spec) and "stage_width" not in custom
    both = _settings(cached_profile(name, 1.0, 1.0, 224, stage_depth=(1, 2, 1, 1)), device)
    assert both["backbone"] == name and both["spec"] == json.loads(spec) and both["stage_depth"] == [1, 2, 1, 1]
    assert job_network(cached_profile(name, 1.0, 1.0, 224))["spec"]["title"] == "<b>x</b>"  # data for the worker


def test_a_link_too_long_for_browsers_says_so_and_offers_the_spec_as_a_file(monkeypatch):
    import ui.share
    import ui.sidebar

    monkeypatch.setattr(ui.share, "MAX_LINK_CHARS", 600)
    monkeypatch.setattr(ui.sidebar, "MAX_LINK_CHARS", 600)
    app = _app({"backbone": "custom", "spec": _link_spec(_spec(title="Long"))})
    app.session_state["room_share"] = True
    app.run()
    _no_exceptions(app)
    assert any("more than the 600 browsers" in caption.value for caption in app.caption)
    buttons = app.get("download_button")
    assert any(button.proto.label.startswith("Download the spec (custom-") for button in buttons)
    assert not any(code.value.startswith("http") for code in app.code)  # no broken link, no QR code
    assert not any("QR code" in element.value for element in app.get("html") if hasattr(element, "value"))


def test_canonical_specs_are_one_text_per_network():
    for name in ("mobilenet_v2", "efficientnet_b3", "resnet50", "mobilenet_v1_025"):
        spec, problem = parse_spec_text(json.dumps(core.export_spec(name), indent=3))
        assert problem is None and parse_spec_text(spec)[0] == spec and decode_spec(encode_spec(spec))[0] == spec
        assert canonical(core.load_spec(spec)) == spec
        assert core.profile(core.load_spec(spec)).macs == core.profile(name).macs


def test_every_view_works_for_a_custom_network_scaled_per_stage(tmp_path, monkeypatch):
    """Cards, diagram, the per-layer table, the latency queue, the prediction, roofline, alignment and width
    staircase, for a custom spec scaled per stage, with a (synthetic) calibration of this host."""
    import sqlite3

    import ui.engine
    from core.prediction.calibration import calibrate
    from tests.test_latency_model import CONFIGS, synthetic_timing

    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CSL_WORKER_SUPERVISED", "1")  # nothing is timed here: no worker is started
    calibrate("torch", threads=2, configs=CONFIGS, measure=synthetic_timing, force=True,
              roofline=lambda threads: (1e11, 2e10))
    ui.engine.latency_queue.clear()
    try:
        document = _spec("mobilenet_v3_small", title="Views", stage4_out_channels=56)
        app = _app({"backbone": "custom", "spec": _link_spec(document), "sd": "1,1,1,1,2,1,1,1,1"})
        _no_exceptions(app)
        assert _metrics(app)["Latency (predicted)"].endswith("ms")
        app.segmented_control(key="explorer_view").set_value("inside").run()
        _no_exceptions(app)
        table = app.dataframe[0].value
        expected = core.profile(core.load_spec(json.dumps(document)), stage_depth=[1, 1, 1, 1, 2, 1, 1, 1, 1])
        assert table.params.sum() == expected.params and len(table) == len(expected.rows)
        app.button(key="ptflops_run").click().run()  # the cross-check queues with the same network keys
        _no_exceptions(app)
        assert not [warning.value for warning in app.warning if warning.value.startswith("Not queued")]
        app.segmented_control(key="explorer_view").set_value("latency").run()
        _no_exceptions(app)
        charts = [chart.proto.spec for chart in app.get("plotly_chart")]
        assert any("roofline" in spec.lower() for spec in charts) and any("width" in spec for spec in charts)
        app.button(key="latency_measure").click().run()
        _no_exceptions(app)
        with sqlite3.connect(tmp_path / "latency.sqlite3") as db:
            rows = [json.loads(settings) for (settings,) in db.execute("SELECT settings FROM jobs")]
        refused = [warning.value for warning in app.warning if warning.value.startswith("Not queued")]
        assert rows and not refused, refused  # queued with the worker's contract: spec and stage_depth
        for settings in rows:
            assert settings["backbone"].startswith("custom-") and settings["spec"]["title"] == "Views"
            assert settings["stage_depth"] == [1, 1, 1, 1, 2, 1, 1, 1, 1] and "stage_width" not in settings
    finally:
        ui.engine.latency_queue.clear()
