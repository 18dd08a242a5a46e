"""Links from strangers, in a real browser: every value comes back as inert, short text.

Each hostile link must leave no anchor, image or script the app did not create, send no
request off the server's origin, raise no dialog, keep its warnings short and escaped,
and still render the page.
"""
from urllib.parse import quote

import pytest

from tests.test_browser import (  # noqa: F401  (fixtures)
    ARTIFACTS,
    _wait_for_app,
    page,
    server,
)

EVIL = "http://evil.example"
LONG = "A" * 10_000
HOSTILE_EXPLORER = {
    "markdown link and image": f"backbone=[Click here to log in]({EVIL}/login)&width=**HACKED** ![x]({EVIL}/x.png)",
    "html and script": f"backbone=<script>alert(1)</script>&view=<img src={EVIL}/y.png onerror=alert(2)>"
                       f"&unit=<a href={EVIL}>link</a>",
    "emoji and directives": "unit=:abc:&dtype=:material/home:&mode=:red[red text]&view=:smile:",
    "10,000 characters": f"backbone={LONG}&width={LONG}",
    "500 unknown keys": "&".join(f"key{index}=[x]({EVIL}/{index})" for index in range(500)),
    "repeated keys": f"backbone=resnet50&backbone=[x]({EVIL})&width=0.5&width=0.75&width=**2**",
}
HOSTILE_PINS = ",".join([f"[x]({EVIL})", "<b>bold</b>:1:1:224", "mobilenet_v2:**9**:1:224",
                         "resnet18:1:1:<script>", ":abc::1:1:224"] + ["mobilenet_v2:0.5:1:160"] * 40 + [LONG])


def _query(text: str) -> str:
    """Percent-encode each value as a browser would send it."""
    pairs = (pair.split("=", 1) for pair in text.split("&"))
    return "&".join(f"{quote(key)}={quote(value, safe='')}" for key, value in pairs)


def _open_watching(page, server, url, ready):  # noqa: F811
    """Open ``url`` while recording every request and dialog; returns (off-origin requests, dialogs)."""
    requests, dialogs = [], []

    def on_request(request):
        requests.append(request.url)

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("request", on_request)
    page.on("dialog", on_dialog)
    try:
        page.goto(url)
        ready()
        page.wait_for_timeout(1000)
    finally:
        page.remove_listener("request", on_request)
        page.remove_listener("dialog", on_dialog)
    foreign = [url for url in requests if not url.startswith((server, "data:", "blob:"))]
    return foreign, dialogs


def _assert_inert(page, server):  # noqa: F811
    hrefs = page.eval_on_selector_all("a[href]", "elements => elements.map(element => element.href)")
    assert all(href.startswith(server) for href in hrefs), hrefs
    sources = page.eval_on_selector_all("img, iframe, script[src]", "elements => elements.map(e => e.src || '')")
    assert not [source for source in sources if "evil" in source], sources
    for alert in page.locator('[data-testid="stAlert"]').all():
        html = alert.inner_html()
        for tag in ("<a ", "<img", "<script", "<strong", "<b>", "<em", "<iframe"):
            assert tag not in html, (tag, html[:500])
        text = alert.inner_text()
        assert len(text) < 2_500, len(text)
        assert text.count("\n") < 20


@pytest.mark.parametrize("name", list(HOSTILE_EXPLORER))
def test_hostile_explorer_link_is_inert(page, server, name):  # noqa: F811
    foreign, dialogs = _open_watching(page, server, f"{server}/?{_query(HOSTILE_EXPLORER[name])}",
                                      lambda: _wait_for_app(page))
    assert not foreign and not dialogs, (foreign, dialogs)
    _assert_inert(page, server)
    assert page.locator('[data-testid="stMetricValue"]').count() >= 5  # the page still renders
    warning = page.locator('[data-testid="stAlert"]').first.inner_text()
    if name == "emoji and directives":
        assert ":abc:" in warning and ":red[red text]" in warning  # shown as typed, not as an emoji or colour
    if name == "500 unknown keys":
        assert "and 492 more" in warning
    if name == "10,000 characters":
        assert "(10,000 characters)" in warning
    if name == "repeated keys":
        assert "2 times" in warning and "3 times" in warning
    page.screenshot(path=str(ARTIFACTS / f"hostile_{name.replace(' ', '_').replace(',', '')}.png"), full_page=True)


def test_hostile_compare_pins_are_inert_and_capped(page, server):  # noqa: F811
    foreign, dialogs = _open_watching(page, server, f"{server}/compare?pins={quote(HOSTILE_PINS, safe='')}",
                                      lambda: page.wait_for_selector('[data-testid="stDataFrame"]'))
    assert not foreign and not dialogs, (foreign, dialogs)
    _assert_inert(page, server)
    warning = page.locator('[data-testid="stAlert"]').first.inner_text()
    assert "only the first 12 were read" in warning


def test_every_page_links_only_to_its_own_origin(page, server):  # noqa: F811
    """Published sources name web addresses: each is shown as text, never as an anchor off the origin."""
    for path in ("/explorer", "/compare", "/compound", "/workshop", "/reference_data"):
        page.goto(f"{server}{path}")
        page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=60_000)
        page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
        hrefs = page.eval_on_selector_all("a[href]", "elements => elements.map(element => element.href)")
        assert all(href.startswith(server) for href in hrefs), (path, [h for h in hrefs if not h.startswith(server)])
