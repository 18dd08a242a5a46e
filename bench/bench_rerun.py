"""Explorer rerun time after a slider move, through Streamlit's AppTest.

Times, in one run: a bare Streamlit page with one slider and one Plotly chart
(the floor any page pays), then the Explorer for MobileNet V2 at 224 and for
EfficientNet-B7 (efficientnet_b0 at width 2.0, depth 3.1, 600 px), each view.
Every timed rerun follows a real slider move, alternating between two values
so each rerun recomputes. Target: median <= 150 ms.

    python bench/bench_rerun.py [--reruns N]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

BARE_PAGE = """
import plotly.graph_objects as go
import streamlit as st
value = st.slider("value", 0.1, 3.0, 1.0, key="value")
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[value, value * 2, value * 3])))
"""
CASES = [("MobileNet V2 @224", {"backbone": "mobilenet_v2"}),
         ("EfficientNet-B7 (w2.0 d3.1 600px)", {"backbone": "efficientnet_b0", "width": "2.0",
                                                "depth": "3.1", "resolution": "600"})]


def time_reruns(app: AppTest, slider_key: str, values: tuple, reruns: int) -> list[float]:
    times = []
    for index in range(reruns + 2):
        slider = app.slider(key=slider_key)
        slider.set_value(values[index % 2])
        start = time.perf_counter()
        app.run()
        elapsed = time.perf_counter() - start
        assert not app.exception, app.exception
        if index >= 2:  # the first moves warm caches and imports
            times.append(elapsed * 1000)
    return times


def report(label: str, times: list[float], floor: float | None = None) -> float:
    median = statistics.median(times)
    ratio = f"  {median / floor:4.1f}x the bare page" if floor else ""
    print(f"{label:62} median {median:7.1f} ms  p90 {sorted(times)[int(0.9 * (len(times) - 1))]:7.1f} ms{ratio}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=30)
    args = parser.parse_args()
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    bare = AppTest.from_string(BARE_PAGE, default_timeout=60).run()
    floor = report("bare page (slider + Plotly chart)", time_reruns(bare, "value", (1.5, 2.0), args.reruns))
    worst = 0.0
    for label, query in CASES:
        for view in ("position", "inside", "latency"):
            app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
            app.query_params.update({**query, "view": view})
            app.run()
            width = float(query.get("width", 1.0))
            times = time_reruns(app, "explorer_width", (round(width + 0.05, 2), width), args.reruns)
            worst = max(worst, report(f"Explorer {label}, view {view}", times, floor))
    print(f"\nworst Explorer median: {worst:.1f} ms (target <= 150 ms)")


if __name__ == "__main__":
    main()
