"""Layout in a real browser: every page at a projector, a laptop and a phone size.

For each page and viewport (1280x720 projector, 1500x1000 laptop, 390x844 phone) this loads the
page in Debian's chromium, waits until the app is idle and its Plotly charts are drawn, saves a
full-page screenshot to tests/artifacts/layout_<page>_<w>x<h>.png (look at them), and checks
from the DOM, for every chart:

- its title, axis titles, colour-bar title and annotations (subplot titles, the star's label)
  lie fully inside the chart's SVG and inside whatever box clips it (the column, the page):
  nothing is cut, e.g. "...computed by the engi";
- its plot area is tall enough to read (not squeezed to a strip by margins or a legend);
- its legend box touches no axis title, no chart title, no x-axis tick label, no annotation (the
  star's label) and not the current variant's star.

At 1280x720 the Explorer's first chart must start above the fold; where it starts and ends is
written to tests/artifacts/layout_metrics.json. For every preset, compound mode and each dense task, the
first screen at 1280x720 must hold the metric cards, the network diagram and the first chart's plot area,
bottoms included, each plot area at least 250 px tall (layout_fold_<page>_1280x720.png). At 390x844 a
student moves the width slider where it is, and the cards stay in sight, uncovered. Without a browser
it skips, except under CI=true, where it must run (as tests/test_browser.py).
"""
import json

import pytest

from tests.browser import chromium
from tests.test_browser import ARTIFACTS, _wait_for_app, streamlit_server

VIEWPORTS = [(1280, 720), (1500, 1000), (390, 844)]
PINS = "mobilenet_v2:0.5:1:160,efficientnet_b3:1.2:1.4:300"


def _custom_link() -> str:
    """A custom network in a link, scaled per stage: a wider MobileNet V3 Large with a long title."""
    import json

    import core
    from ui.spec_link import encode_spec, parse_spec_text

    document = core.export_spec("mobilenet_v3_large")
    document["title"] = "A much wider MobileNet V3 Large, for the back of the room"
    document["stages"][6]["out_channels"] = 96
    return (f"/?backbone=custom&spec={encode_spec(parse_spec_text(json.dumps(document))[0])}"
            "&sw=1,1,1,1,1,1,1.5,1,1,1,1,1&sd=1,1,1,2,1,1,1,1,1,1,1,1")


CUSTOM = _custom_link()
# name: (address, charts drawn, has metric cards)
PAGES = {
    "explorer": ("/", 2, True),
    "explorer_inside": ("/?view=inside", 2, True),
    "explorer_b0_600": ("/?backbone=efficientnet_b0&resolution=600", 2, True),
    "explorer_flops": ("/?backbone=efficientnet_b3&unit=FLOPs", 2, True),
    "explorer_custom": (CUSTOM, 2, True),
    "compare": (f"/compare?pins={PINS}", 1, False),
    "compound": ("/compound", 3, True),
    "workshop": ("/workshop", 0, False),
    "reference_data": ("/reference_data", 0, False),
}
MIN_PLOT_HEIGHT = 200  # px of plot area (inside the axes): the projector defect was about 170
TOLERANCE = 1  # px: sub-pixel text metrics

# One object per chart: the boxes the checks need, in viewport pixels.
MEASURE = """() => {
  const box = r => ({left: r.left, top: r.top, right: r.right, bottom: r.bottom});
  const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const clipOf = el => {  // what can show el: the clipping boxes up to the page's scroller (stMain), which scrolls
    let clip = {left: 0, top: -1e9, right: document.documentElement.clientWidth, bottom: 1e9};
    for (let node = el.parentElement; node; node = node.parentElement) {
      const style = getComputedStyle(node), r = node.getBoundingClientRect(), scroller = node.dataset.testid === 'stMain';
      if (scroller || style.overflowX !== 'visible') {
        clip.left = Math.max(clip.left, r.left); clip.right = Math.min(clip.right, r.right); }
      if (!scroller && style.overflowY !== 'visible') {
        clip.top = Math.max(clip.top, r.top); clip.bottom = Math.min(clip.bottom, r.bottom); }
      if (scroller) break;
    }
    return clip;
  };
  const texts = (plot, selector, kind) => [...plot.querySelectorAll(selector)]
    .filter(t => t.textContent.trim() && visible(t))
    .map(t => ({kind, text: t.textContent.trim(), box: box(t.getBoundingClientRect())}));
  return [...document.querySelectorAll('.js-plotly-plot')].filter(visible).map((plot, index) => {
    const svg = plot.querySelector('.main-svg');
    const legend = plot.querySelector('.legend .bg');
    const drag = plot.querySelector('.nsewdrag');
    const titles = [...texts(plot, '.gtitle', 'title'), ...texts(plot, '.xtitle, .ytitle', 'axis title'),
                    ...texts(plot, '.cbtitle text', 'colour-bar title'),
                    ...texts(plot, '.annotation-text', 'annotation')];
    return {
      index,
      title: (plot.querySelector('.gtitle') || {textContent: ''}).textContent,
      svg: box(svg.getBoundingClientRect()),
      clip: clipOf(svg),
      plot_area: drag ? box(drag.getBoundingClientRect()) : null,
      legend: legend && visible(legend) ? box(legend.getBoundingClientRect()) : null,
      titles,
      xticks: texts(plot, '.xtick text', 'x tick label'),
      // the current variant: a large marker in the highlight colour (charts.HIGHLIGHT, #d62728)
      stars: [...plot.querySelectorAll('.scatterlayer .point')].filter(p => p.style.fill === 'rgb(214, 39, 40)')
        .map(p => box(p.getBoundingClientRect())).filter(b => b.right - b.left >= 12),
    };
  });
}"""

# Idle: the run finished (no status widget), the expected charts are drawn, and nothing moves.
CHARTS_DRAWN = """n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n
  && [...document.querySelectorAll('.js-plotly-plot')].every(p => p.querySelector('.nsewdrag, .gtitle'))"""
LAYOUT_KEY = """() => [...document.querySelectorAll('.js-plotly-plot .main-svg')]
  .map(s => { const r = s.getBoundingClientRect(); return [r.top, r.width, r.height].map(Math.round).join(','); })
  .join(';') + '|' + document.querySelector('[data-testid="stMain"]').scrollHeight"""


def _inside(inner: dict, outer: dict) -> bool:
    return (inner["left"] >= outer["left"] - TOLERANCE and inner["right"] <= outer["right"] + TOLERANCE
            and inner["top"] >= outer["top"] - TOLERANCE and inner["bottom"] <= outer["bottom"] + TOLERANCE)


def _overlap(a: dict, b: dict) -> bool:
    return (min(a["right"], b["right"]) - max(a["left"], b["left"]) > TOLERANCE
            and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > TOLERANCE)


def _intersect(a: dict, b: dict) -> dict:
    return {"left": max(a["left"], b["left"]), "top": max(a["top"], b["top"]),
            "right": min(a["right"], b["right"]), "bottom": min(a["bottom"], b["bottom"])}


def chart_problems(charts: list[dict]) -> list[str]:
    """What is wrong with each chart's boxes, in words (empty when the layout is right)."""
    problems = []
    for chart in charts:
        name = f"chart {chart['index'] + 1} ({chart['title'] or 'untitled'!r})"
        shown = _intersect(chart["svg"], chart["clip"])
        for item in chart["titles"]:
            if not _inside(item["box"], shown):
                problems.append(f"{name}: {item['kind']} {item['text']!r} is cut: {item['box']} outside {shown}")
        area = chart["plot_area"]
        if area and area["bottom"] - area["top"] < MIN_PLOT_HEIGHT:
            problems.append(f"{name}: plot area only {area['bottom'] - area['top']:.0f} px tall")
        legend = chart["legend"]
        if legend:
            if not _inside(legend, shown):
                problems.append(f"{name}: legend is cut: {legend} outside {shown}")
            for item in [*chart["titles"], *chart["xticks"]]:
                if _overlap(legend, item["box"]):
                    problems.append(f"{name}: legend {legend} covers {item['kind']} {item['text']!r} {item['box']}")
            for star in chart["stars"]:
                if _overlap(legend, star):
                    problems.append(f"{name}: legend {legend} covers the variant's star {star}")
    return problems


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def tabs(browser):
    """One browser context (and tab) per viewport, reused by every page."""
    opened = {}

    def tab(width: int, height: int):
        if (width, height) not in opened:
            context = browser.new_context(viewport={"width": width, "height": height})
            opened[width, height] = context.new_page()
            opened[width, height].set_default_timeout(120_000)  # a shared 2-core host can be very busy
        return opened[width, height]

    yield tab
    for page in opened.values():
        page.context.close()


@pytest.fixture(scope="module")
def metrics():
    found = {}
    yield found
    (ARTIFACTS / "layout_metrics.json").write_text(json.dumps(found, indent=1, sort_keys=True))


def _load(page, url: str, charts: int, has_metrics: bool) -> None:
    page.goto(url)
    page.wait_for_selector('[data-testid="stMainBlockContainer"] h1')
    if has_metrics:
        _wait_for_app(page)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')")
    page.wait_for_function(CHARTS_DRAWN, arg=charts)
    key, stable = None, 0
    for _ in range(40):  # charts re-lay out once their column's width is known: wait until two looks agree
        page.wait_for_timeout(250)
        now = page.evaluate(LAYOUT_KEY)
        stable = stable + 1 if now == key else 0
        key = now
        if stable >= 2:
            break


def _screenshot(page, path, width: int, height: int) -> None:
    """The whole page: the app scrolls inside stMain, so grow the window to its height for the shot."""
    full = page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]').scrollHeight;
        const side = document.querySelector('[data-testid="stSidebarContent"]');  // only where it is open
        return Math.max(main, side && side.getBoundingClientRect().right > 0 ? side.scrollHeight : 0); }""")
    page.set_viewport_size({"width": width, "height": max(height, full)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": height})


@pytest.mark.parametrize("size", VIEWPORTS, ids=[f"{w}x{h}" for w, h in VIEWPORTS])
@pytest.mark.parametrize("name", PAGES)
def test_charts_are_readable(server, tabs, metrics, name, size):
    width, height = size
    address, charts, has_metrics = PAGES[name]
    page = tabs(width, height)
    _load(page, server + address, charts, has_metrics)
    measured = page.evaluate(MEASURE)
    fold = None
    if measured:
        first = measured[0]["svg"]
        fold = {"first_chart_top": round(first["top"]), "first_chart_bottom": round(first["bottom"]),
                "plot_areas_px": [round(c["plot_area"]["bottom"] - c["plot_area"]["top"])
                                  for c in measured if c["plot_area"]]}
    overflow = page.evaluate("""() => { const m = document.querySelector('[data-testid="stMain"]');
        return m.scrollWidth - m.clientWidth; }""")
    metrics[f"{name}_{width}x{height}"] = {**(fold or {}), "charts": len(measured), "horizontal_overflow_px": overflow}
    _screenshot(page, ARTIFACTS / f"layout_{name}_{width}x{height}.png", width, height)

    assert len(measured) >= charts, f"{name}: {len(measured)} charts drawn, expected {charts}"
    problems = chart_problems(measured)
    assert not problems, f"{name} at {width}x{height}:\n" + "\n".join(problems)
    if name == "explorer" and size == (1280, 720):
        assert fold["first_chart_top"] < height, f"the first chart starts below the fold: {fold}"


# The first screen of a projector: (address, the first chart's title); the network diagram beside it.
FOLD_PAGES = {
    "default": ("/", "Where it sits"),
    "efficientnet_b3": ("/?backbone=efficientnet_b3", "Where it sits"),
    "mobilenet_v3_large": ("/?backbone=mobilenet_v3_large", "Where it sits"),
    "compound_phi2": ("/?mode=compound&phi=2", "Where it sits"),
    "custom_per_stage": (CUSTOM, "Where it sits"),
    "segmentation": ("/?backbone=mobilenet_v3_large&task=segmentation&head=deeplabv3&resolution=520",
                     "Where the cost goes"),
    "detection": ("/?backbone=resnet50&task=detection&head=fpn&resolution=800", "Where the cost goes"),
}
FIRST_SCREEN_PLOT_HEIGHT = 250  # px: the floor for a plot area on the first screen
DIAGRAM_TITLE = "The network: base above, this variant below"
CARDS_BOTTOM = """() => Math.max(...[...document.querySelectorAll('[data-testid="stMetric"]')]
  .map(card => card.getBoundingClientRect().bottom))"""


@pytest.mark.parametrize("name", FOLD_PAGES)
def test_the_first_screen_fits_a_projector(server, tabs, metrics, name):
    """Cards, diagram and the first chart's plot area end above y = 720, and each plot area is >= 250 px."""
    address, first_title = FOLD_PAGES[name]
    page = tabs(1280, 720)
    _load(page, server + address, 3, True)
    charts = page.evaluate(MEASURE)
    _screenshot(page, ARTIFACTS / f"layout_fold_{name}_1280x720.png", 1280, 720)
    diagram = next(chart for chart in charts if chart["title"] == DIAGRAM_TITLE)
    first = next(chart for chart in charts if chart["title"].startswith(first_title))
    cards = page.evaluate(CARDS_BOTTOM)
    metrics[f"fold_{name}_1280x720"] = {"cards_bottom": round(cards), **{
        key: [round(chart["plot_area"]["top"]), round(chart["plot_area"]["bottom"])]
        for key, chart in (("diagram_plot_area", diagram), ("first_plot_area", first))}}
    assert cards <= 720, f"the metric cards end at y = {cards:.0f}"
    for chart in (diagram, first):
        area = chart["plot_area"]
        assert area["bottom"] <= 720, f"{chart['title']!r}: plot area ends below the fold, at {area['bottom']:.0f}"
        assert area["bottom"] - area["top"] >= FIRST_SCREEN_PLOT_HEIGHT, \
            f"{chart['title']!r}: plot area {area['bottom'] - area['top']:.0f} px tall"
        assert chart["svg"]["left"] >= 300, f"{chart['title']!r} starts under the sidebar"


# Is the card labelled ``label`` on screen, and is what a finger would touch at its centre the card itself?
CARD_UNCOVERED = """label => {
  const card = [...document.querySelectorAll('[data-testid="stMetric"]')]
    .find(metric => metric.querySelector('[data-testid="stMetricLabel"]').innerText.trim() === label);
  const box = card.getBoundingClientRect();
  const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return {inside: card.contains(hit), hit: hit ? hit.outerHTML.slice(0, 120) : null,
          box: {top: box.top, bottom: box.bottom, left: box.left, right: box.right}};
}"""


def test_a_phone_moves_the_width_and_sees_the_cards(server, tabs):
    """At 390x844 the width slider is on screen as the page opens (nothing to open first); after a move
    the MACs card shows the new count, on screen and not covered by the controls."""
    from tests.test_browser import _metric, move_width_one_step

    page = tabs(390, 844)
    _load(page, server + "/", 3, True)
    slider = page.get_by_role("slider").first  # width multiplier, step 0.05
    box = slider.bounding_box()
    assert box and 0 <= box["y"] and box["y"] + box["height"] <= 844, f"the width slider is off screen: {box}"
    before, expected = move_width_one_step(page, slider)
    assert _metric(page, "MACs") == expected != before
    seen = page.evaluate(CARD_UNCOVERED, "MACs")
    page.screenshot(path=str(ARTIFACTS / "layout_phone_after_width_move_390x844.png"))
    assert 0 <= seen["box"]["top"] and seen["box"]["bottom"] <= 844, f"the MACs card is off screen: {seen}"
    assert seen["inside"], f"the MACs card is covered at its centre by {seen['hit']}"
