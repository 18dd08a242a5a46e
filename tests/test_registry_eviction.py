"""A custom or per-stage network after the engine's bounded registry let it go (a busy class registers more
than ``MAX_REGISTERED`` names): the profile carries its architecture, so pinning, the prediction row's poll,
job keys and ``resolve`` never look it up by name again; and one network has one job key on every path."""
import itertools
import json

import pytest
from streamlit.testing.v1 import AppTest

import core
from core.measurement.job_settings import check_network, job_network
from core.network import families
from core.network.families import MAX_REGISTERED, register, resolve
from core.network.scaling import per_stage
from tests.conftest import ROOT
from tests.test_custom_ui import _link_spec, _no_exceptions, _open_stage_editor, _spec
from ui.engine import cached_profile
from ui.spec_link import parse_spec_text

APP = str(ROOT / "app.py")
DEVICE = dict(runtime="torch", device="cpu", dtype="float32", batch=1, threads=1, channels_last=False, warmup=3)
NETWORK_KEYS = ("backbone", "spec", "stage_width", "stage_depth")


def _flood() -> None:
    """What a busy class does: registers ``MAX_REGISTERED`` + 1 other networks, so every earlier one is let go."""
    widths = itertools.product((0.25, 0.5, 0.75, 1.25, 1.5, 2.0), repeat=4)
    resnet18 = families.ARCHITECTURES["resnet18"]
    for stage_width in itertools.islice(widths, MAX_REGISTERED + 1):
        register(per_stage(resnet18, stage_width=stage_width))


def _canonical(title: str, name: str = "mobilenet_v2", **changes) -> str:
    spec, problem = parse_spec_text(json.dumps(_spec(name, title=title, **changes)))
    assert spec is not None, problem
    return spec


def _network(settings: dict) -> str:
    return json.dumps({key: settings[key] for key in NETWORK_KEYS if key in settings}, sort_keys=True)


def test_resolve_reads_the_registry_once():
    """Found and then let go before a second read (another session registering in between) is still found."""
    arch = per_stage(families.ARCHITECTURES["mobilenet_v2"], stage_width=[1, 1, 1.5, 1, 1, 1, 1])

    class Fleeting(dict):
        def get(self, key, default=None):
            return self.pop(key, default)

        def __getitem__(self, key):
            return self.pop(key)

    registry = Fleeting({arch.name: arch})
    original, families._REGISTERED = families._REGISTERED, registry
    try:
        assert resolve(arch.name)[0] is arch
        with pytest.raises(KeyError):
            resolve(arch.name)  # gone now: the one error a caller handles, never anything else
    finally:
        families._REGISTERED = original


def test_a_profile_carries_its_network_outside_equality():
    arch = core.load_spec(_canonical("Carried", stage1_out_channels=20))
    by_name, by_arch = core.profile(arch.name, stage_depth=[1, 2, 1, 1, 1, 1, 1]), core.profile(arch)
    assert by_name.architecture.name == by_name.backbone and by_name.source is not None
    assert by_name.source.name == arch.name and by_name.stage_depth == (1, 2, 1, 1, 1, 1, 1)
    assert by_arch == core.profile(arch.name) and hash(by_arch) == hash(core.profile(arch.name))
    assert "architecture" not in repr(by_arch) and "source" not in repr(by_arch)
    preset = core.profile("efficientnet_b3", stage_width=[1, 1, 1, 1, 1.5, 1, 1])
    assert preset.source == "efficientnet_b3" and preset.architecture.name == preset.backbone


@pytest.mark.parametrize("stages", [{}, {"stage_depth": (1, 2, 1, 1, 1, 1, 1)}])
def test_job_keys_are_built_from_the_profile_after_the_registry_let_it_go(stages):
    spec = _canonical("Keys", stage2_out_channels=36)  # a network of this test's own: its title is the cached one
    name = core.load_spec(spec).name
    cost = cached_profile(name, 1.0, 1.0, 224, **stages)
    before = job_network(cost)
    _flood()
    assert name not in families._REGISTERED and cost.backbone not in families._REGISTERED
    keys = job_network(cost)
    assert keys == before and keys["backbone"] == name and keys["spec"] == json.loads(spec)
    assert keys.get("stage_depth") == (list(stages["stage_depth"]) if stages else None)
    assert check_network(keys).name == name  # the worker's own check takes the key as it is


def test_pinning_after_the_registry_let_the_network_go_is_no_traceback():
    document = _spec("mobilenet_v3_small", title="Pinned after a flood", stage4_out_channels=48)
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params.update({"backbone": "custom", "spec": _link_spec(document)})
    app = _open_stage_editor(app.run(), {1: {"depth x": 2.0}})
    _no_exceptions(app)
    name = core.load_spec(document).name  # loading registers it: asked before the flood
    _flood()  # between two reruns: the pin's callback runs before the page names its network again
    assert name not in families._REGISTERED
    app.button(key="explorer_pin").click().run()
    _no_exceptions(app)
    pins = app.session_state["pins"]
    assert len(pins) == 1 and pins[0]["sd"] == (1, 2, 1, 1, 1, 1, 1, 1, 1)
    assert json.loads(pins[0]["spec"])["title"] == "Pinned after a flood"
    assert "never trained" in pins[0]["top1_basis"]
    app.switch_page("pages/compare.py").run()  # the pins' specs name the networks again
    _no_exceptions(app)
    assert len(app.dataframe[0].value) == 1


def _poll_script(spec: str, stage_depth: tuple) -> None:
    """The prediction row's polling fragment, rerun with the profile it captured after a flood."""
    import streamlit as st

    from tests.test_registry_eviction import _flood
    from ui.engine import cached_profile
    from ui.latency_panel import measure_variant
    from ui.prediction import _measured
    from ui.state import ExplorerState

    state = ExplorerState(backbone="custom", spec=spec, sd=stage_depth, threads=1)
    cost = cached_profile(state.network, 1.0, 1.0, 224, stage_depth=state.stage_depth)
    st.text(f"first: {measure_variant(cost, state)}")
    _flood()
    _measured(cost, state, 1.0, True)
    st.text(f"again: {measure_variant(cost, state)}")  # 'Measure' pressed inside the fragment


def test_the_prediction_rows_poll_after_the_registry_let_the_network_go(tmp_path, monkeypatch):
    import ui.engine

    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CSL_WORKER_SUPERVISED", "1")  # nothing is timed here: no worker is started
    ui.engine.latency_queue.clear()
    try:
        spec = _canonical("Polled", stage5_out_channels=104)
        app = AppTest.from_function(_poll_script, args=(spec, (1, 1, 2, 1, 1, 1, 1)), default_timeout=60).run()
        _no_exceptions(app)
        assert [text.value for text in app.text] == ["first: None", "again: None"]
        assert any("measuring" in markdown.value for markdown in app.markdown)
    finally:
        ui.engine.latency_queue.clear()


def _unknown_script() -> None:
    from ui.cards import profile_or_error

    profile_or_error("custom-0123456789ab", 1.0, 1.0, 224)


def test_a_custom_network_no_longer_known_is_one_line():
    app = AppTest.from_function(_unknown_script, default_timeout=60).run()
    _no_exceptions(app)
    assert len(app.error) == 1 and "unknown backbone" in app.error[0].value


def test_a_pin_keeps_its_own_sessions_title():
    """Two sessions, one network (specs that differ only in title): each pin keeps its own session's spec."""
    document = _spec("resnet18", title="Alpha", stage1_out_channels=136)
    mine = AppTest.from_file(APP, default_timeout=60)
    mine.query_params.update({"backbone": "custom", "spec": _link_spec(document)})
    mine.run()
    other = AppTest.from_file(APP, default_timeout=60)
    other.query_params.update({"backbone": "custom", "spec": _link_spec(dict(document, title="Beta"))})
    other.run()  # the engine's registry now holds this digest under the other session's title
    mine.button(key="explorer_pin").click().run()
    other.button(key="explorer_pin").click().run()
    for app, title in ((mine, "Alpha"), (other, "Beta")):
        _no_exceptions(app)
        assert [json.loads(pin["spec"])["title"] for pin in app.session_state["pins"]] == [title]
    # a link's pin takes the link's spec, whichever title the registry saw last
    query = dict(mine.switch_page("pages/compare.py").run().query_params)
    register(core.load_spec(dict(document, title="Beta")))
    reopened = AppTest.from_file(APP, default_timeout=60)
    reopened.query_params.update(query)
    reopened.switch_page("pages/compare.py").run()
    _no_exceptions(reopened)
    assert [json.loads(pin["spec"])["title"] for pin in reopened.session_state["pins"]] == ["Alpha"]


def test_one_per_stage_network_has_one_job_key_on_every_path(tmp_path, monkeypatch):
    """The latency panel, the prediction row, the width staircase, ptflops and the Compare page's pins all ask
    the result store for one per-stage network by one key."""
    import ui.engine
    from core.measurement.jobs import LatencyQueue
    from core.prediction.calibration import calibrate
    from tests.test_latency_model import CONFIGS, synthetic_timing
    from ui.latency_panel import REFERENCE_PRESETS

    asked = []
    find_many = LatencyQueue.find_many

    def recorded(self, requests, *args, **kwargs):
        asked.extend(requests)
        return find_many(self, requests, *args, **kwargs)

    monkeypatch.setattr(LatencyQueue, "find_many", recorded)
    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CSL_WORKER_SUPERVISED", "1")
    calibrate("torch", threads=2, configs=CONFIGS, measure=synthetic_timing, force=True,
              roofline=lambda threads: (1e11, 2e10))
    ui.engine.latency_queue.clear()
    try:
        document = _spec("mobilenet_v2", title="One key", stage3_out_channels=72)
        app = AppTest.from_file(APP, default_timeout=60)
        app.query_params.update({"backbone": "custom", "spec": _link_spec(document), "sw": "1,1,1.5,1,1,1,1"})
        app.run()
        for view in ("inside", "latency"):
            app.segmented_control(key="explorer_view").set_value(view).run()
        app.button(key="explorer_pin").click().run()
        app.switch_page("pages/compare.py").run()
        _no_exceptions(app)
        ours = [settings for settings in asked if settings["backbone"] not in REFERENCE_PRESETS]
        paths = {settings.get("task", "latency") for settings in ours}
        assert paths == {"latency", "ptflops"} and len(ours) > 20  # the staircase asks for ~20 widths
        assert len({_network(settings) for settings in ours}) == 1, {_network(settings) for settings in ours}
        assert ours[0]["stage_width"] == [1, 1, 1.5, 1, 1, 1, 1] and ours[0]["spec"]["title"] == "One key"
    finally:
        ui.engine.latency_queue.clear()


def test_the_card_and_the_engine_give_one_reason_for_no_top1():
    """A custom or per-stage network's missing top-1 is explained once, by the engine, for the card, the pin, the
    chart and the command line alike."""
    from core.published.reference import estimate_top1
    from ui.cards import variant_accuracy

    arch = core.load_spec(_canonical("Reason", stage1_out_channels=28))
    for cost, kind in ((core.profile(arch), "a loaded spec"),
                       (core.profile("resnet18", stage_depth=[1, 2, 1, 1]), "scaled per stage")):
        estimate = variant_accuracy(cost)
        assert estimate.top1 is None and estimate == estimate_top1(cost.backbone, cost.width, cost.depth,
                                                                   cost.resolution)
        assert f"({kind})" in estimate.basis and "never trained" in estimate.basis
        assert "uniform scaling" in estimate.basis
