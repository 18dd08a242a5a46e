"""Tools for the room (issue 18): share link with copy and QR, presenter mode and the students' view in every
page's link, pins and Workshop answers across a reload, the class tally, the play sweep, compound from phi 0."""
import base64
import io
import re

import pytest
from streamlit.testing.v1 import AppTest

import core
from core.units import si, size_bytes
from tests.conftest import ROOT
from tests.test_browser import page, server  # noqa: F401  (fixtures: one browser test at the end)
from ui.lessons import LESSONS

APP = str(ROOT / "app.py")
PAGES = {"explorer": None, "compare": "pages/compare.py", "compound": "pages/compound.py",
         "workshop": "pages/workshop.py", "reference_data": "pages/reference_data.py"}


def _app(query: dict | None = None, url_path: str = "explorer") -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params.update(query or {})
    if PAGES[url_path]:
        app.switch_page(PAGES[url_path])
    return app.run()


def _no_exceptions(app: AppTest) -> None:
    assert not app.exception, [exception.value for exception in app.exception]


def _labels(app: AppTest) -> set[str]:
    """Every widget label on the page (main column and sidebar)."""
    kinds = ("selectbox", "number_input", "segmented_control", "slider", "toggle", "button", "radio", "text_input")
    return {widget.label for kind in kinds for widget in app.get(kind)}


def _presenter_css(app: AppTest) -> bool:
    return any("font-size: 3.2rem" in element.proto.body for element in app.get("html"))


@pytest.fixture()
def store(tmp_path, monkeypatch):
    """A class tally of the test's own (the tally reads CSL_DATA_DIR at each call)."""
    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))
    return tmp_path


# ---- share link: copy button and QR code ------------------------------------------------------------------------

def _shared(app: AppTest) -> tuple[str, list[str]]:
    """Open the Share popover: the link in its code block (Streamlit's copy button) and its QR codes' text."""
    import zxingcpp
    from PIL import Image

    app.session_state["room_share"] = True  # the popover's open state
    app.run()
    _no_exceptions(app)
    link = app.get("code")[0].proto.code_text
    decoded = []
    for element in app.get("html"):
        for payload in re.findall(r'src="data:image/png;base64,([^"]+)"', element.proto.body):
            code = zxingcpp.read_barcode(Image.open(io.BytesIO(base64.b64decode(payload))))
            decoded.append(code.text if code else None)
    return link, decoded


@pytest.mark.parametrize("url_path", list(PAGES))
def test_every_pages_qr_code_decodes_to_its_link(store, url_path):
    query = {"backbone": "efficientnet_b3", "width": "1.5"} if url_path == "explorer" else {}
    app = _app(query, url_path)
    assert not app.get("code")  # closed: no code block, no QR encoded
    link, decoded = _shared(app)
    assert decoded == [link]
    caption = next(caption.value for caption in app.sidebar.caption if "Share this view" in caption.value)
    assert f"`{link}`" in caption  # the same link as the one the sidebar prints
    assert link.split("?")[0].endswith(f"/{url_path}")
    if url_path == "explorer":
        assert "backbone=efficientnet_b3" in link and "width=1.5" in link


def test_the_qr_code_is_cached_per_link_and_bounded():
    from ui.share import qr_data_uri

    qr_data_uri.cache_clear()
    first = qr_data_uri("http://localhost:8501/?width=1.5")
    assert qr_data_uri("http://localhost:8501/?width=1.5") is first
    assert qr_data_uri.cache_info().hits == 1 and qr_data_uri.cache_info().maxsize == 256


def test_a_link_too_long_for_a_qr_code_gets_one_line_not_a_traceback():
    """12 pins with every setting can pass what a QR code holds (about 2,300 bytes): say so, keep the page."""
    def script():
        from ui.share import qr_image
        qr_image("http://127.0.0.1/compare?pins=" + "x" * 3000, "QR code")

    app = AppTest.from_function(script).run()
    _no_exceptions(app)
    assert [caption.value for caption in app.caption] == [
        "This link is too long for a QR code (3,030 characters): copy it above, or unpin a few variants."]


def test_a_students_link_is_never_the_presenters():
    """presenter=1 with students=1 would let a student's session see the class tally and drop its votes."""
    from ui.state import parse_room

    room, warnings = parse_room({"presenter": "1", "students": "1"})
    assert room.students and not room.presenter
    assert len(warnings) == 1 and "presenter mode is off" in warnings[0]


def test_a_presenter_with_a_class_code_gets_the_students_link_and_its_qr(store):
    app = _app({"presenter": "1", "class": "abc12", "answers": "1:3.5:revealed"}, "workshop")
    link, decoded = _shared(app)
    students_link = app.get("code")[1].proto.code_text
    assert decoded == [link, students_link]
    assert "presenter=1" in link and "answers=1:3.5:revealed" in link
    assert students_link.endswith("/workshop?students=1&class=abc12")  # nobody's answers, no presenter


def test_the_presenter_sets_a_class_code_in_the_share_popover_and_a_bad_one_is_refused(store):
    app = _app({"presenter": "1"}, "workshop")
    link, decoded = _shared(app)
    assert decoded == [link] and "class=" not in link  # no class code yet: no students' link
    app.text_input(key="room_class_input").input("Year 9 <b>").run()
    assert any("Not a class code" in caption.value for caption in app.caption) and "class" not in app.query_params
    app.text_input(key="room_class_input").input("year9-b").run()
    assert app.query_params["class"] == "year9-b"
    assert app.get("code")[1].proto.code_text.endswith("/workshop?students=1&class=year9-b")
    app.button(key="room_new_class").click().run()
    assert re.fullmatch(r"[0-9a-f]{6}", app.query_params["class"])


# ---- presenter mode and the students' view ----------------------------------------------------------------------

@pytest.mark.parametrize("url_path", list(PAGES))
def test_presenter_mode_on_every_page_from_the_link_and_kept_in_it(url_path):
    app = _app({"presenter": "1"}, url_path)
    _no_exceptions(app)
    assert app.toggle(key="room_presenter").value is True and _presenter_css(app)
    assert app.query_params["presenter"] == "1"
    app.toggle(key="room_presenter").set_value(False).run()
    assert not _presenter_css(app) and "presenter" not in app.query_params


def test_presenter_mode_set_on_one_page_travels_to_the_next_and_its_link():
    app = _app()
    assert not _presenter_css(app)
    app.toggle(key="room_presenter").set_value(True).run()
    assert app.query_params["presenter"] == "1"
    app.switch_page("pages/workshop.py").run()
    _no_exceptions(app)
    assert _presenter_css(app) and app.query_params["presenter"] == "1"
    assert app.toggle(key="room_presenter").value is True


ADVANCED = {"dtype", "Batch", "Runtime", "Device", "CPU threads", "Memory format"}


def test_a_students_link_hides_the_advanced_controls_and_keeps_their_values():
    query = {"view": "latency", "dtype": "float16", "batch": "4", "threads": "1", "memory_format": "channels_last"}
    teacher = _app(query)
    assert ADVANCED <= _labels(teacher)  # the same link without the flag shows them all
    assert {"Presenter", "Play: sweep width"} <= _labels(teacher)
    app = _app({**query, "students": "1"})
    _no_exceptions(app)
    labels = _labels(app)
    assert not ADVANCED & labels, ADVANCED & labels
    assert "Presenter" not in labels and "Play: sweep width" not in labels
    assert {"Width multiplier (channels)", "Depth multiplier (repeats)", "Resolution (px)"} <= labels
    assert any("float16, batch 4 (set by the link)" in caption.value for caption in app.caption)
    cost = core.profile("mobilenet_v2", batch=4, dtype="float16")
    memory = next(metric.value for metric in app.metric if metric.label == "Activation memory")
    assert memory == size_bytes(cost.activation_bytes)  # the hidden dtype and batch still count
    app.slider(key="explorer_width").set_value(0.5).run()
    assert {key: app.query_params[key] for key in ("dtype", "batch", "threads", "memory_format", "students")} == {
        "dtype": "float16", "batch": "4", "threads": "1", "memory_format": "channels_last", "students": "1"}


def test_room_values_in_a_link_are_checked_and_explained_as_inert_text():
    from ui.state import RoomState, parse_compound_query, parse_query, parse_room

    assert parse_room({"presenter": "1", "students": "0", "class": "year-9b"}) == (
        RoomState(presenter=True, class_code="year-9b"), [])
    state, warnings = parse_room({"presenter": "yes", "class": "<script>alert(1)</script>"})
    assert state == RoomState()
    assert "presenter=`yes` is not 1 or 0" in warnings[0] and "class=`<script>alert(1)</script>`" in warnings[1]
    assert parse_room({"class": "A" * 17})[0].class_code == ""  # short, lower case, [a-z0-9-] only
    for parse in (parse_query, parse_compound_query):  # every page's parser leaves the room's keys alone
        assert parse({"presenter": "1", "students": "1", "class": "x", "pins": "", "answers": ""})[1] == []
    app = _app({"class": "**bold**", "answers": "1:99,7:2,1:3.5"}, "workshop")
    _no_exceptions(app)
    warning = app.warning[0].value
    assert "class=`**bold**`" in warning and "`1:99`" in warning and "`7:2`" in warning
    assert app.radio(key="lesson_1_guess").value == 3.5  # the good entry is kept


# ---- pins and answers across a reload -----------------------------------------------------------------------------

def test_pins_and_answers_survive_a_rerun_from_the_link():
    app = _app({"backbone": "efficientnet_b0"})
    app.button(key="explorer_pin").click().run()
    app.slider(key="explorer_width").set_value(0.5).run()
    app.button(key="explorer_pin").click().run()
    app.switch_page("pages/workshop.py").run()
    app.radio(key="lesson_3_guess").set_value(4.0).run()
    app.button(key="lesson_3_reveal").click().run()
    app.radio(key="lesson_1_guess").set_value(8.0).run()  # answered, not revealed
    app.switch_page("pages/explorer.py").run()  # the link of any page carries both
    _no_exceptions(app)
    link = dict(app.query_params)
    pins = [item["label"] for item in app.session_state["pins"]]
    assert len(pins) == 2 and link["answers"] == "1:8,3:4:revealed"

    reloaded = _app(link)  # a reload: a new session from the address bar alone
    _no_exceptions(reloaded)
    assert [item["label"] for item in reloaded.session_state["pins"]] == pins
    assert reloaded.button(key="explorer_pin").label.endswith("(2 pinned)")
    assert reloaded.slider(key="explorer_width").value == 0.5
    reloaded.switch_page("pages/workshop.py").run()
    assert reloaded.radio(key="lesson_1_guess").value == 8.0 and not reloaded.radio(key="lesson_1_guess").disabled
    assert reloaded.radio(key="lesson_3_guess").value == 4.0 and reloaded.radio(key="lesson_3_guess").disabled
    assert any(message.value.startswith("**Right.**") for message in reloaded.success)  # lesson 3, revealed
    reloaded.switch_page("pages/compare.py").run()
    assert list(reloaded.dataframe[0].value.label) == pins


def test_reset_answers_empties_the_link_too():
    app = _app({"answers": "2:2:revealed"}, "workshop")
    assert app.query_params["answers"] == "2:2:revealed"
    app.button(key="workshop_reset").click().run()
    assert "answers" not in app.query_params
    assert all(app.radio(key=f"lesson_{index}_guess").value is None for index in range(1, len(LESSONS) + 1))


# ---- the class tally ---------------------------------------------------------------------------------------------

def _tally_captions(app: AppTest) -> list[str]:
    return [caption.value for caption in app.caption if caption.value.startswith("Class `")]


def test_the_tally_counts_two_sessions_for_one_class_and_shows_them_only_to_the_presenter(store):
    first = _app({"class": "abc12", "students": "1"}, "workshop")
    first.radio(key="lesson_1_guess").set_value(3.5).run()
    second = _app({"class": "abc12", "students": "1"}, "workshop")
    second.radio(key="lesson_1_guess").set_value(2.0).run()
    second.radio(key="lesson_1_guess").set_value(3.5).run()  # a changed mind is one vote, not two
    second.radio(key="lesson_2_guess").set_value(4.0).run()
    other_class = _app({"class": "other", "students": "1"}, "workshop")
    other_class.radio(key="lesson_1_guess").set_value(8.0).run()
    for student in (first, second, other_class):
        _no_exceptions(student)
        assert not _tally_captions(student) and not student.get("vega_lite_chart")

    presenter = _app({"class": "abc12", "presenter": "1"}, "workshop")
    _no_exceptions(presenter)
    captions = _tally_captions(presenter)
    assert captions[0] == "Class `abc12`: 2 predictions: about x2: 0, about x3.5: 2, about x8: 0"
    assert captions[1] == "Class `abc12`: 1 prediction: about x1.5: 0, about x2: 0, about x4: 1"
    assert captions[2:] == ["Class `abc12`: no predictions yet."] * (len(LESSONS) - 2)
    assert len(presenter.get("vega_lite_chart")) == 2
    presenter.radio(key="lesson_1_guess").set_value(8.0).run()  # the presenter's own answer is not a vote
    assert _tally_captions(presenter)[0].startswith("Class `abc12`: 2 predictions")
    # without a class code the same presenter link shows no tally, and students who had none voted nowhere
    assert not _tally_captions(_app({"presenter": "1"}, "workshop"))


def test_the_tally_is_bounded_pruned_after_the_day_and_holds_only_checked_values(store, monkeypatch):
    import core.tally as tally

    board = tally.ClassTally()
    monkeypatch.setattr(tally, "MAX_VOTES_PER_LESSON", 2)
    board.record("abc12", 1, "a" * 32, 3.5, now=1_000.0)
    board.record("abc12", 1, "b" * 32, 2.0, now=1_000.0)
    board.record("abc12", 1, "b" * 32, 8.0, now=1_000.0)  # a voter already counted may change their vote
    with pytest.raises(tally.TallyFull):
        board.record("abc12", 1, "c" * 32, 2.0, now=1_000.0)
    board.record("abc12", 2, "c" * 32, 2.0, now=1_000.0)  # the bound is per lesson
    assert board.counts("abc12", 1, now=1_000.0) == {3.5: 1, 8.0: 1}
    assert board.counts("abc12", 1, now=1_000.0 + tally.KEEP_S + 1) == {}  # yesterday's class is not shown
    board.record("abc12", 1, "c" * 32, 2.0, now=1_000.0 + tally.KEEP_S + 1)  # and is pruned by the next vote
    assert board.counts("abc12", 1, now=1_000.0 + tally.KEEP_S + 1) == {2.0: 1}
    for bad in (("ABC", 1, "a" * 32, 1.0), ("abc", 0, "a" * 32, 1.0), ("abc", 1, "<b>x</b>", 1.0),
                ("abc", 1, "a" * 32, float("nan")), ("a" * 17, 1, "a" * 32, 1.0)):
        with pytest.raises(ValueError):
            board.record(*bad)


def test_a_failing_tally_store_costs_one_line_and_the_lesson_still_works(tmp_path, monkeypatch):
    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))
    (tmp_path / "tally.sqlite3").mkdir()  # a directory where the store should be: it cannot be opened
    student = _app({"class": "abc12", "students": "1"}, "workshop")
    student.radio(key="lesson_1_guess").set_value(3.5).run()
    _no_exceptions(student)
    assert [caption.value for caption in student.caption if "class tally" in caption.value] == [
        next(caption.value for caption in student.caption if caption.value.startswith(
            "Your prediction is kept here but not in the class tally: the result store cannot be opened"))]
    student.button(key="lesson_1_reveal").click().run()
    assert any(message.value.startswith("**Right.**") for message in student.success)
    presenter = _app({"class": "abc12", "presenter": "1"}, "workshop")
    _no_exceptions(presenter)
    unavailable = [caption.value for caption in presenter.caption if "tally is unavailable" in caption.value]
    assert len(unavailable) == len(LESSONS) and "cannot be opened" in unavailable[0]


# ---- play and compound ---------------------------------------------------------------------------------------------

def _tick(app: AppTest) -> AppTest:
    """One frame of the sweep: what the play timer's fragment asks for on each tick (AppTest runs no timers)."""
    app.session_state["explorer_play_due"] = True
    return app.run()


def test_play_sweeps_width_frame_by_frame_and_stops_at_the_end_or_on_press():
    app = _app()
    app.toggle(key="explorer_play").set_value(True).run()
    assert app.slider(key="explorer_width").value == 0.1
    _tick(app)
    _no_exceptions(app)
    assert app.slider(key="explorer_width").value == 0.2
    params = next(metric.value for metric in app.metric if metric.label == "Parameters")
    assert params == si(core.profile("mobilenet_v2", 0.2).params)  # every frame is a whole page
    app.run()
    assert app.slider(key="explorer_width").value == 0.2  # a rerun without a tick is no frame
    app.toggle(key="explorer_play").set_value(False).run()  # stop
    _tick(app)
    assert app.slider(key="explorer_width").value == 0.2
    app.toggle(key="explorer_play").set_value(True).run()
    app.session_state["explorer_width"] = 2.9
    for expected in (3.0, 3.0):  # the last frame, then the end of the sweep
        _tick(app)
        assert app.slider(key="explorer_width").value == expected
    assert app.toggle(key="explorer_play").value is False


def test_play_sweeps_phi_in_compound_mode():
    app = _app({"backbone": "efficientnet_b0", "mode": "compound", "phi": "3"})
    assert app.toggle(key="explorer_play").label == "Play: sweep phi"
    app.toggle(key="explorer_play").set_value(True).run()
    assert app.slider(key="explorer_phi").value == 0.0
    _tick(app)
    _tick(app)
    _no_exceptions(app)
    assert app.slider(key="explorer_phi").value == 0.4
    assert app.query_params["phi"] == "0.4"
    app.segmented_control(key="explorer_mode").set_value("sliders").run()  # another mode: the sweep stops
    assert app.toggle(key="explorer_play").value is False


def test_switching_to_compound_starts_at_phi_0():
    app = _app({"backbone": "efficientnet_b0"})
    params = next(metric.value for metric in app.metric if metric.label == "Parameters")
    assert params == si(core.profile("efficientnet_b0").params) == "5.29 M"
    app.segmented_control(key="explorer_mode").set_value("compound").run()
    _no_exceptions(app)
    assert app.slider(key="explorer_phi").value == 0.0
    assert next(metric.value for metric in app.metric if metric.label == "Parameters") == "5.29 M"
    assert app.query_params["phi"] == "0"


# ---- in a real browser: what only a browser shows ------------------------------------------------------------------

def test_a_revealed_answer_stays_readable_and_the_qr_code_is_local(page, server):  # noqa: F811
    """A disabled radio is faded to 40% by Streamlit: a revealed answer must keep the lesson text's colour.
    The QR code opens on demand and comes from the app itself (a data URI), not from another origin."""
    page.goto(f"{server}/workshop?answers=1:3.5:revealed")
    page.wait_for_selector("text=Lesson 1")
    option = page.locator('.st-key-lesson_1_guess [data-testid="stRadioOption"]').filter(has_text="x3.5")
    text = page.locator('.st-key-lesson_1_guess').locator("xpath=..").locator("p").first
    colour = option.locator("p").evaluate("element => getComputedStyle(element).color")
    assert colour == text.evaluate("element => getComputedStyle(element).color") and "0.4" not in colour
    assert page.locator('img[alt^="QR code"]').count() == 0  # closed: nothing drawn
    page.get_by_role("button", name="Share").click()
    image = page.locator('img[alt="QR code of this view\'s link"]')
    image.wait_for()
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    shown = page.locator('[data-testid="stPopoverBody"] code').first.inner_text()
    assert shown.endswith("/workshop?answers=1:3.5:revealed")
