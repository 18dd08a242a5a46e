"""A network of your own in a real browser (Playwright driving Debian's chromium against `streamlit run`):
a spec in a share link reopens as the same network in a fresh browser, and a hostile spec title stays text.
Without a browser these skip, except under CI=true, where they must run (tests/browser.py)."""
import json

import core
from core.units import si
from tests.test_browser import (  # noqa: F401  (fixtures)
    ARTIFACTS,
    _metric,
    _wait_for_app,
    page,
    server,
)
from tests.test_hostile_links import EVIL, _assert_inert, _open_watching
from ui.spec_link import encode_spec, parse_spec_text


def _link_spec(document: dict) -> str:
    return encode_spec(parse_spec_text(json.dumps(document))[0])


def test_a_spec_in_a_share_link_reopens_the_same_network_in_a_fresh_browser(page, server):  # noqa: F811
    document = core.export_spec("resnet18")
    document["title"] = "Round trip"
    document["stages"][2]["out_channels"] = 192
    page.goto(f"{server}/?backbone=custom&spec={_link_spec(document)}&sw=1,1.5,1,1&width=0.75")
    _wait_for_app(page)
    source = {label: _metric(page, label) for label in ("Parameters", "MACs")}
    expected = core.profile(core.load_spec(json.dumps(document)), 0.75, stage_width=[1, 1.5, 1, 1])
    assert source == {"Parameters": si(expected.params), "MACs": si(expected.macs)}
    page.get_by_role("button", name="Share").first.click()
    code = page.locator('[data-testid="stPopoverBody"] code').first
    code.wait_for()
    link = code.inner_text().strip()
    assert link.startswith(f"{server}/explorer?backbone=custom") and "&spec=" in link and "sw=1,1.5,1,1" in link
    page.keyboard.press("Escape")
    context = page.context.browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        fresh = context.new_page()
        fresh.set_default_timeout(30_000)
        fresh.goto(link)
        _wait_for_app(fresh)
        assert {label: _metric(fresh, label) for label in ("Parameters", "MACs")} == source
        assert not fresh.locator('[data-testid="stAlert"]').count()  # nothing in the link was refused
        fresh.screenshot(path=str(ARTIFACTS / "custom_link_reopened_1280x720.png"))
    finally:
        context.close()


def test_a_hostile_spec_title_in_a_link_renders_as_inert_text(page, server):  # noqa: F811
    title = f"<img src={EVIL}/t.png onerror=alert(1)><script>alert(2)</script>"
    document = core.export_spec("mobilenet_v2")
    document["title"] = title
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    foreign, opened = _open_watching(page, server, f"{server}/?backbone=custom&spec={_link_spec(document)}",
                                     lambda: _wait_for_app(page))
    assert not foreign and not opened, (foreign, opened)
    shown = page.locator('[data-testid="stSidebar"] code').filter(has_text="<img src=")
    assert shown.count() == 1 and shown.first.inner_text().startswith("<img src=http://evil.example/t.png")
    page.get_by_role("button", name="Custom network").first.click()  # the editor shows the title and the JSON
    page.locator('[data-testid="stPopoverBody"] textarea').first.wait_for()
    page.wait_for_timeout(500)
    _assert_inert(page, server)
    assert page.locator("img[src*='evil'], img[onerror]").count() == 0
    assert not page.evaluate("[...document.scripts].some(script => script.textContent.includes('alert(2)'))")
    assert not dialogs
    assert page.locator('[data-testid="stMetricValue"]').count() >= 5
    page.screenshot(path=str(ARTIFACTS / "custom_hostile_title.png"))
