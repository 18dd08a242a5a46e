"""The class bench's student (bench/class_client.py) really moves a slider and sees its result.

bench/bench_class.py measures the server with these clients instead of browsers; if the client's reruns
stopped meaning anything (wrong widget ids or values, a run that does not finish, a card that does not
change), the bench would time nothing. These tests hold that one client, against a real `streamlit run
app.py`, opens the Explorer from a link, reads the widgets and metric cards from the deltas, moves the
width slider and sees the MACs card change to the engine's number (and back), and that its reruns are
the browser's: chromium's own websocket frames for the same link and the same slider step carry the same
BackMsg (compared field by field, widget states by id). Bounded: one server, a few moves, time limits.
"""
from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from class_client import StreamlitClient  # noqa: E402

from tests.browser import chromium, streamlit_process  # noqa: E402

LINK = "backbone=mobilenet_v2&width=0.5"


@pytest.fixture(scope="module")
def server():
    env = {**os.environ, "CSL_DATA_DIR": tempfile.mkdtemp(prefix="csl-class-client-"), "CSL_AUTO_CALIBRATE": "0"}
    with streamlit_process(env=env) as (url, process):
        yield url


def engine_macs(width: float) -> str:
    """The MACs card's text for MobileNet V2 at this width, from the engine itself."""
    import core
    from core.units import si
    return si(core.profile("mobilenet_v2", width=width).macs)


def test_protocol_client_moves_a_slider_and_the_metric_changes(server):
    async def scenario():
        client = StreamlitClient(server, "explorer", LINK)
        try:
            await asyncio.wait_for(client.connect(60), 90)
            _, slider = client.slider("Width")
            assert client.widgets[slider.id].double_array_value.data[0] == pytest.approx(0.5)
            first = client.metrics["MACs"]
            moved = await asyncio.wait_for(client.move_slider("Width", 1, "MACs", 30), 45)
            back = await asyncio.wait_for(client.move_slider("Width", -1, "MACs", 30), 45)
            return client, first, moved, back
        finally:
            await client.close()

    client, first, moved, back = asyncio.run(scenario())
    # the server ran the script with the client's widget states: the cards show the engine's numbers
    assert first == engine_macs(0.5)
    assert moved.before == first and moved.after == engine_macs(0.55) != first
    assert back.after == first
    assert "width=0.5" in client.query_string  # the address bar followed the slider back
    assert 0 < moved.metric_seconds <= moved.seconds


def test_protocol_client_sends_what_chromium_sends(server):
    """The first rerun and a slider move, as protobufs, against chromium's frames for the same steps."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    frames: list[bytes] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("websocket", lambda socket: socket.on("framesent", lambda payload: frames.append(payload)))
        page.goto(f"{server}/explorer?{LINK}", timeout=60_000)
        page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
                               ".some(e => e.innerText.includes('MACs'))", timeout=60_000)
        page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                               "?.dataset.testScriptState === 'notRunning'", timeout=60_000)
        loaded = len(frames)
        slider = page.get_by_role("slider").first
        slider.focus()
        slider.press("ArrowRight")
        deadline = time.time() + 30
        while len(frames) == loaded and time.time() < deadline:
            page.wait_for_timeout(100)
        page.wait_for_timeout(500)

    def reruns(payloads) -> list[BackMsg]:
        messages = []
        for payload in payloads:
            message = BackMsg()
            message.ParseFromString(payload if isinstance(payload, bytes) else payload.encode("latin-1"))
            if message.WhichOneof("type") == "rerun_script":
                messages.append(message)
        return messages

    browser_load, browser_move = reruns(frames[:loaded]), reruns(frames[loaded:])
    assert len(browser_load) == 1 and browser_move, f"chromium sent {len(browser_load)} + {len(browser_move)} reruns"

    async def scenario():
        client = StreamlitClient(server, "explorer", LINK)
        try:
            await client.connect(60)
            await client.move_slider("Width", 1, "MACs", 30)
            return client
        finally:
            await client.close()

    client = asyncio.run(scenario())
    ours = [message for message in client.sent if message.WhichOneof("type") == "rerun_script"]

    def comparable(message: BackMsg) -> dict:
        rerun = message.rerun_script
        return {"query_string": rerun.query_string, "page_name": rerun.page_name,
                "page_script_hash": rerun.page_script_hash,
                "widgets": {state.id: state.SerializeToString(deterministic=True)
                            for state in rerun.widget_states.widgets},
                "has_widget_states": rerun.HasField("widget_states"),
                "cached_message_hashes": sorted(rerun.cached_message_hashes),
                # the browser's own time zone and offset (the machine's) are left out; the rest is compared
                "context_info": (rerun.context_info.locale, rerun.context_info.url,
                                 rerun.context_info.is_embedded, rerun.context_info.color_scheme),
                "fragment_id": rerun.fragment_id, "is_auto_rerun": rerun.is_auto_rerun}

    # the first rerun: the link, no widget states, the page's name, the browser's context
    assert comparable(ours[0]) == comparable(browser_load[0])
    # the slider move: every widget of the page with the browser's value types and values
    expected, actual = comparable(browser_move[0]), comparable(ours[1])
    assert actual["widgets"].keys() == expected["widgets"].keys()
    assert actual == expected
