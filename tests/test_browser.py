"""A real browser (Playwright driving Debian's chromium) against `streamlit run` on 127.0.0.1.

Opens the Explorer, moves a slider, sees a metric change, opens a share link and a
bad link, and saves screenshots under tests/artifacts/. Without a browser it skips
with the reason, except under CI=true, where it must run.
"""
import pytest

import core
from core.units import si
from tests.browser import chromium, streamlit_server
from tests.conftest import ROOT

ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(30_000)
        yield page


def _metric(page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text()


def _wait_for_app(page):
    page.wait_for_selector('[data-testid="stMetricValue"]')
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')")


def move_width_one_step(page, slider=None) -> tuple[str, str]:
    """Press the width slider (the page's first) one step right, as a student does, and wait until the
    MACs card shows MobileNet V2 at width 1.05; the card's text before and the one expected."""
    before = _metric(page, "MACs")
    slider = slider or page.get_by_role("slider").first  # width multiplier, step 0.05
    slider.focus()
    slider.press("ArrowRight")
    expected = si(core.profile("mobilenet_v2", 1.05).macs)
    page.wait_for_function(
        "expected => [...document.querySelectorAll('[data-testid=\"stMetricValue\"]')]"
        ".some(element => element.innerText === expected)", arg=expected)
    return before, expected


def test_slider_moves_a_metric_and_the_url(page, server):
    page.goto(server)
    _wait_for_app(page)
    assert _metric(page, "MACs") == "300.77 M"
    before, expected = move_width_one_step(page)
    assert _metric(page, "MACs") == expected != before
    page.wait_for_function("location.search.includes('width=1.05')")
    link = page.locator('[data-testid="stSidebar"] [data-testid="stCaptionContainer"] code').inner_text()
    assert link.startswith(f"{server}/explorer?backbone=mobilenet_v2") and "width=1.05" in link
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "explorer.png"), full_page=True)


def test_share_link_reopens_the_view(page, server):
    page.goto(f"{server}/?backbone=efficientnet_b3&width=1.2&depth=1.4&resolution=300&view=inside")
    _wait_for_app(page)
    assert _metric(page, "Parameters") == "12.23 M"
    page.wait_for_selector("text=Channel profile")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "share_link.png"), full_page=True)


def test_bad_link_warns_and_still_renders(page, server):
    page.goto(f"{server}/?backbone=vgg16&width=99&resolution=tiny")
    _wait_for_app(page)
    warning = page.locator('[data-testid="stAlert"]').first.inner_text()
    assert "vgg16" in warning and "width=99" in warning
    assert _metric(page, "Parameters")
    page.screenshot(path=str(ARTIFACTS / "bad_link.png"), full_page=True)


def test_first_visit_to_a_shared_compare_link_gets_the_whole_app(page):
    """On a fresh server the first request may be a deep link; it must still run under the router."""
    with streamlit_server() as fresh:
        page.goto(f"{fresh}/compare?pins=mobilenet_v2:0.5:1:160,efficientnet_b3:1.2:1.4:300")
        page.wait_for_selector("text=Compare variants")
        page.wait_for_selector('[data-testid="stDataFrame"]')
        links = page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()
        assert [link.split()[-1] for link in links] == ["Explorer", "Compare", "scaling", "Workshop", "data"]
        assert page.locator('[role="dialog"]').count() == 0  # no "page not found"
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "compare_link.png"), full_page=True)


def test_explorer_address_and_the_root_both_open_the_explorer(page, server):
    for path in ("/explorer?backbone=resnet50", "/?backbone=resnet50"):
        page.goto(f"{server}{path}")
        _wait_for_app(page)
        assert _metric(page, "Parameters") == "25.56 M"
        assert page.locator('[role="dialog"]').count() == 0  # no "page not found"
        assert "/explorer?backbone=resnet50" in page.url


def _click_until(page, button: str, text: str, tries: int = 4) -> None:
    """Click ``button`` until ``text`` shows (15 s a try)."""
    for attempt in range(tries):
        page.get_by_role("button", name=button).click()
        try:
            page.get_by_text(text).first.wait_for(timeout=15_000)
            return
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: click again
            if attempt == tries - 1:
                raise


@pytest.fixture(scope="module")
def private_server(tmp_path_factory):
    """A server on its own store that no worker serves: queued runs stay queued, stored results are the
    test's own. Yields (url, store folder)."""
    import os

    data = tmp_path_factory.mktemp("private-store")
    with streamlit_server(env={**os.environ, "CSL_DATA_DIR": str(data), "CSL_WORKER_SUPERVISED": "1"}) as url:
        yield url, data


def test_a_compare_link_reproduces_its_table_in_a_fresh_browser(page, private_server):
    """A dense-task pin, a batch-8 pin and an onnxruntime int8 pin, the last two with a stored measurement:
    the Compare page's own share link, opened in a fresh browser context, downloads the identical CSV."""
    import csv
    import io
    from dataclasses import replace

    from core.measurement.jobs import LatencyQueue
    from ui.latency_panel import _device_settings, _settings
    from ui.state import PIN_SETTINGS, ExplorerState, Pin, pins_to_query

    pins = [Pin("mobilenet_v3_large", 1.0, 1.0, 520, task="segmentation", head="deeplabv3"),
            Pin("resnet18", 0.5, 1.0, 224, batch=8),
            Pin("mobilenet_v2", 1.0, 1.0, 224, dtype="int8", runtime="onnxruntime")]
    url, data = private_server  # (before the queue-cap test: its queued runs would be claimed here first)
    queue = LatencyQueue(data / "latency.sqlite3")
    for index, pin in enumerate(pins[1:], start=1):  # a stored measurement at the classifier pins' own settings
        cost = core.profile(pin.backbone, pin.width, pin.depth, pin.resolution, batch=pin.batch, dtype=pin.dtype,
                            task=pin.task, head=pin.head)
        state = replace(ExplorerState(), **{key: getattr(pin, key) for key in PIN_SETTINGS})
        job = queue.submit(_settings(cost, _device_settings(state)), "setup").id
        queue.claim()
        queue.finish(job, result={"median_ms": 10.0 + index, "p10_ms": 9.9 + index, "p90_ms": 10.2 + index,
                                  "runs": 20, "host_busy": False, "other_load_cores": 0.0})
    browser = page.context.browser

    def compare_csv(url: str) -> tuple[str, str]:
        tab = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True).new_page()
        tab.set_default_timeout(60_000)
        tab.goto(url)
        tab.wait_for_selector('[data-testid="stDataFrame"]')
        tab.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')")
        with tab.expect_download() as download:
            tab.get_by_role("button", name="Download the comparison (CSV)").click()
        link = tab.locator('[data-testid="stSidebar"] [data-testid="stCaptionContainer"] code').inner_text()
        text = open(download.value.path(), encoding="utf-8").read()
        tab.context.close()
        return text, link

    source, link = compare_csv(f"{url}/compare?pins={pins_to_query(pins)}")
    opened, _ = compare_csv(link)
    assert opened == source
    rows = list(csv.DictReader(io.StringIO(source)))
    assert [row["task"] for row in rows] == ["segmentation", "classification", "classification"]
    assert [row["batch"] for row in rows] == ["1", "8", "1"] and rows[2]["runtime"] == "onnxruntime"
    # the queue times classifiers: the dense-task pin has no stored latency to show, the others theirs
    assert [row["latency_ms"] for row in rows] == ["", "11.0", "12.0"]
    assert int(rows[0]["params"]) == core.profile("mobilenet_v3_large", task="segmentation", head="deeplabv3").params
    assert int(rows[1]["activation_bytes"]) == core.profile("resnet18", 0.5, batch=8).activation_bytes


def test_the_queue_cap_survives_a_reload_and_only_askers_may_cancel(page, private_server):
    """Six queued runs per browser, counted across reloads (a cookie names the browser, not the session);
    a second browser waiting on the same run sees it without a Cancel button that would do nothing."""
    browser = page.context.browser  # the module's browser: a second sync Playwright cannot start beside it
    url, _ = private_server
    student = browser.new_context(viewport={"width": 1500, "height": 1000}).new_page()
    student.set_default_timeout(60_000)
    student.goto(f"{url}/explorer?view=latency&width=0.75")  # not one of the reference presets
    _wait_for_app(student)
    # A click while another rerun (the results' polling fragment) is in flight can be lost on a busy host;
    # each of these clicks is idempotent (the same run is joined, a refusal repeated), so click until seen.
    _click_until(student, "Measure reference presets", "5 reference preset(s) still queued or running")
    _click_until(student, "Measure this variant", "Queued: 5 run(s) ahead of this one")
    assert student.get_by_role("button", name="Cancel").count() == 1
    student.goto(f"{url}/explorer?view=latency&width=0.5")  # a reload, on another variant
    _wait_for_app(student)
    _click_until(student, "Measure this variant", "Not queued: you already have 6 measurements queued")

    neighbour = browser.new_context(viewport={"width": 1500, "height": 1000}).new_page()
    neighbour.set_default_timeout(60_000)
    neighbour.goto(f"{url}/explorer?view=latency&width=0.75")  # the student's variant, not asked for here
    _wait_for_app(neighbour)
    neighbour.get_by_text("Someone else asked for the same run").wait_for()
    assert neighbour.get_by_role("button", name="Cancel").count() == 0
