"""A student without a browser: a client that speaks Streamlit's websocket protocol, as the frontend does.

Used by bench/bench_class.py (a class of them) and tests/test_class_client.py (one, moving a slider).
What a browser does, and so what this does:

- GET the page (``/explorer?query``): the HTML sets Streamlit's XSRF cookie (and, behind deploy/start.sh,
  nginx's ``csl_sticky``), which the websocket then carries; ``/_stcore/health`` and
  ``/_stcore/host-config`` before connecting, as the frontend does.
- Open ``/_stcore/stream`` with the subprotocols ``streamlit, <xsrf cookie or PLACEHOLDER_AUTH_TOKEN>``
  and send the first ``rerun_script``: the page's query string, no widget states, ``page_name`` and the
  browser's ``context_info``.
- Read every ForwardMsg: ``new_session`` and ``navigation`` (the page's script hash), ``page_info_changed``
  (the address bar's query string), deltas (widgets: their ids and values, read from the element's
  default or, where the script set it, its value; metric cards), ``ref_hash`` (a message the client said it
  had cached), ``script_finished``.
- Move a slider: every widget of the last run with its current value (as the frontend's widget manager
  sends them: ``double_array_value`` for a slider, ``string_value`` for a selectbox or radio,
  ``string_array_value`` for a segmented control or multiselect, ``int_value``/``double_value`` for a
  number input, ``bool_value`` for a checkbox), the query string, the page's script hash and the hashes of
  cached messages, and the ``fragment_id`` of the fragment that drew the slider (the Explorer's results
  are one: a move reruns only it); then wait for that run's ``script_finished`` (a fragment run's, for a
  slider in a fragment). A fragment run replaces the widgets and metrics of its fragment only.

The rerun messages were compared field by field with chromium's own (tests/test_class_client.py captures
chromium's frames and compares them, where chromium is installed).
"""
from __future__ import annotations

import asyncio
import http.cookies
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

FINISHED = ForwardMsg.ScriptFinishedStatus
FULL_RUN_DONE = (FINISHED.FINISHED_SUCCESSFULLY, FINISHED.FINISHED_WITH_COMPILE_ERROR)
FRAGMENT_RUN_DONE = (FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,)
# Widget kinds whose value this client sends (everything the app's pages draw on first view). Buttons
# send a trigger only when clicked, as in the browser; any other kind is recorded in `unsupported`.
WIDGET_KINDS = {"slider", "selectbox", "radio", "button_group", "number_input", "checkbox", "multiselect",
                "text_input", "button", "download_button"}

CHART_KINDS = {"plotly_chart", "vega_lite_chart", "dataframe", "deck_gl_json_chart"}


class ProtocolError(Exception):
    """The server closed the stream, sent an exception element, or a run did not finish in time."""


@dataclass
class MoveResult:
    seconds: float          # rerun sent -> its script_finished (every delta of the run has arrived)
    metric_seconds: float   # rerun sent -> the watched metric's new value
    before: str
    after: str


@dataclass
class _Run:
    widget_ids: list[str] = field(default_factory=list)
    metrics: dict[str, str] = field(default_factory=dict)
    exceptions: list[str] = field(default_factory=list)


def _initial_state(kind: str, widget, current: WidgetState | None) -> WidgetState | None:
    """The state the frontend holds for a widget after this delta: the script's value where it set one
    (set_value), else what the user (this client) chose before, else the widget's default."""
    state = WidgetState(id=widget.id)
    if kind == "slider":
        if widget.options:  # select_slider: the frontend sends option indices as doubles too
            pass
        if widget.set_value:
            state.double_array_value.data.extend(widget.value)
        elif current is not None:
            return current
        else:
            state.double_array_value.data.extend(widget.default)
    elif kind in ("selectbox", "radio"):
        if widget.set_value:
            if widget.HasField("raw_value"):
                state.string_value = widget.raw_value
            else:
                return None
        elif current is not None:
            return current
        elif widget.HasField("default") and 0 <= widget.default < len(widget.options):
            state.string_value = widget.options[widget.default]
        else:
            return None
    elif kind == "button_group":
        if widget.set_value:
            state.string_array_value.data.extend(widget.raw_values)
        elif current is not None:
            return current
        else:
            state.string_array_value.data.extend(widget.options[index].content for index in widget.default)
    elif kind == "multiselect":
        if widget.set_value:
            state.string_array_value.data.extend(widget.raw_values)
        elif current is not None:
            return current
        else:
            state.string_array_value.data.extend(widget.options[index] for index in widget.default)
    elif kind == "number_input":
        value = widget.value if widget.set_value else widget.default
        if current is not None and not widget.set_value:
            return current
        if widget.data_type == widget.DataType.INT:
            state.int_value = int(value)
        else:
            state.double_value = value
    elif kind == "checkbox":
        if current is not None and not widget.set_value:
            return current
        state.bool_value = widget.value if widget.set_value else widget.default
    elif kind == "text_input":
        if widget.set_value and widget.HasField("value"):
            state.string_value = widget.value
        elif current is not None:
            return current
        elif widget.HasField("default"):
            state.string_value = widget.default
        else:
            return None
    else:  # buttons: no state until clicked
        return None
    return state


class StreamlitClient:
    """One browserless session of a Streamlit app: open a page, move sliders, read metric cards."""

    def __init__(self, base_url: str, page: str = "explorer", query: str = "", *,
                 cookies: dict[str, str] | None = None, timezone: str = "UTC", locale: str = "en-US"):
        self.base_url = base_url.rstrip("/")
        self.page = page
        self.query_string = query.lstrip("?")
        self.cookies = dict(cookies or {})
        self.timezone, self.locale = timezone, locale
        self.page_script_hash = ""
        self.upstream = "direct"
        self.widgets: dict[str, WidgetState] = {}      # the client's current value of each widget
        self.elements: dict[str, tuple[str, object]] = {}  # widget id -> (kind, its last proto)
        self.active: list[str] = []                    # widget ids of the last finished run, in order
        self.fragments: dict[str, str] = {}            # widget id -> the fragment that drew it
        self._fragment_run = ""                        # the fragment the current run reruns ('' a full run)
        self._metric_fragments: dict[str, str] = {}    # metric label -> the fragment that drew it
        self.metrics: dict[str, str] = {}              # metric label -> value, last finished run
        self.unsupported: set[str] = set()
        self.sent: list[BackMsg] = []                  # every BackMsg sent (the tests compare them)
        self.messages = 0
        self._cache: dict[str, ForwardMsg] = {}
        self._run = _Run()
        self._runs_started = 0
        self._finished: asyncio.Queue = asyncio.Queue()
        self._metric_waiter: tuple[str, str, asyncio.Future] | None = None
        self._socket = None
        self._reader: asyncio.Task | None = None
        self._closed_error: BaseException | None = None

    # --- HTTP, as the browser's first requests ---------------------------------------------------
    def _get(self, path: str, timeout: float) -> tuple[int, dict]:
        request = urllib.request.Request(self.base_url + path, headers={
            "Cookie": "; ".join(f"{key}={value}" for key, value in self.cookies.items()),
            "User-Agent": "csl-class-client"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                jar = http.cookies.SimpleCookie()
                jar.load(header)
                self.cookies.update({key: morsel.value for key, morsel in jar.items()})
            return response.status, dict(response.headers)

    def _http_open(self, timeout: float) -> None:
        page = f"/{self.page}" + (f"?{self.query_string}" if self.query_string else "")
        status, headers = self._get(page, timeout)
        if status != 200:
            raise ProtocolError(f"GET {page}: HTTP {status}")
        self.upstream = headers.get("X-Upstream", "direct")
        self._get("/_stcore/health", timeout)
        self._get("/_stcore/host-config", timeout)

    # --- the websocket ---------------------------------------------------------------------------
    async def connect(self, timeout: float = 60.0) -> float:
        """Open the page and wait for its first script run; returns the seconds it took."""
        import websockets

        started = time.perf_counter()
        await asyncio.wait_for(asyncio.to_thread(self._http_open, timeout), timeout)
        parts = urllib.parse.urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        token = self.cookies.get("_streamlit_xsrf") or "PLACEHOLDER_AUTH_TOKEN"
        headers = {"Origin": f"{parts.scheme}://{parts.netloc}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{key}={value}" for key, value in self.cookies.items())
        self._socket = await asyncio.wait_for(websockets.connect(
            f"{scheme}://{parts.netloc}/_stcore/stream", subprotocols=["streamlit", token],
            additional_headers=headers, max_size=None, ping_interval=None, open_timeout=timeout,
            user_agent_header="csl-class-client"), timeout)
        self._reader = asyncio.create_task(self._read())
        first = BackMsg()
        first.rerun_script.query_string = self.query_string
        first.rerun_script.widget_states.SetInParent()
        first.rerun_script.page_name = self.page
        self._context(first)
        await self._send(first)
        await self._wait_run(timeout - (time.perf_counter() - started))
        return time.perf_counter() - started

    def _context(self, message: BackMsg) -> None:
        info = message.rerun_script.context_info
        info.timezone, info.timezone_offset, info.locale = self.timezone, 0, self.locale
        info.url = f"{self.base_url}/{self.page}"
        info.is_embedded, info.color_scheme = False, "light"

    async def _send(self, message: BackMsg) -> None:
        if self._closed_error is not None:
            raise ProtocolError(f"stream closed: {self._closed_error}")
        self.sent.append(message)
        await self._socket.send(message.SerializeToString())

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):  # noqa: BLE001  (closing: nothing to report)
                pass

    async def _read(self) -> None:
        try:
            async for payload in self._socket:
                message = ForwardMsg()
                message.ParseFromString(payload)
                self.messages += 1
                self._handle(message)
            self._closed_error = ProtocolError("the server closed the stream")
        except Exception as error:  # noqa: BLE001  (recorded; the waiting move raises it)
            self._closed_error = error
        self._finished.put_nowait(None)

    def _handle(self, message: ForwardMsg) -> None:
        kind = message.WhichOneof("type")
        if message.metadata.cacheable and message.hash:
            self._cache[message.hash] = message
        if kind == "ref_hash":
            cached = self._cache.get(message.ref_hash)
            if cached is None:
                self._run.exceptions.append(f"ref_hash {message.ref_hash} not in the client's cache")
                return
            kind, message = cached.WhichOneof("type"), cached
        if kind == "new_session":
            self._runs_started += 1
            self._run = _Run()
            self._fragment_run = ",".join(message.metadata.run.fragment_ids)
            if message.new_session.page_script_hash:
                self.page_script_hash = message.new_session.page_script_hash
        elif kind == "navigation":
            if message.navigation.page_script_hash:
                self.page_script_hash = message.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query_string = message.page_info_changed.query_string
        elif kind == "delta":
            if message.delta.WhichOneof("type") == "new_element":
                self._element(message.delta.new_element, message.delta.fragment_id)
        elif kind == "script_finished":
            status = message.script_finished
            if status in FULL_RUN_DONE:
                self.active = list(dict.fromkeys(self._run.widget_ids))
                self.metrics = dict(self._run.metrics)
            elif status in FRAGMENT_RUN_DONE:
                kept = [i for i in self.active if self.fragments.get(i) != self._fragment_run]
                self.active = list(dict.fromkeys(kept + self._run.widget_ids))
                self.metrics = {label: value for label, value in self.metrics.items()
                                if self._metric_fragments.get(label) != self._fragment_run}
                self.metrics.update(self._run.metrics)
            self._finished.put_nowait((status, list(self._run.exceptions), self._fragment_run))

    def _element(self, element, fragment_id: str = "") -> None:
        kind = element.WhichOneof("type")
        if kind == "metric":
            label, value = element.metric.label, element.metric.body
            self._run.metrics[label] = value
            self._metric_fragments[label] = fragment_id
            waiter = self._metric_waiter
            if waiter and waiter[0] == label and value != waiter[1] and not waiter[2].done():
                waiter[2].set_result(time.perf_counter())
        elif kind == "exception":
            self._run.exceptions.append(f"{element.exception.type}: {element.exception.message[:200]}")
        elif kind in WIDGET_KINDS:
            widget = getattr(element, kind)
            state = _initial_state(kind, widget, self.widgets.get(widget.id))
            self.elements[widget.id] = (kind, widget)
            self.fragments[widget.id] = fragment_id
            if state is not None:
                self.widgets[widget.id] = state
                self._run.widget_ids.append(widget.id)
        elif kind in CHART_KINDS:  # a chart has a state only when selections are on
            if list(getattr(element, kind).selection_mode):
                self.unsupported.add(f"{kind} with selections")
        elif hasattr(getattr(element, kind, None), "id") and getattr(element, kind).id:
            self.unsupported.add(kind)

    async def _wait_run(self, timeout: float, fragment: str = "") -> None:
        """Until the next run finishes: a full run, or the fragment run a fragment's slider asked for."""
        deadline = time.perf_counter() + max(0.0, timeout)
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise ProtocolError(f"no script_finished within {timeout:.0f} s")
            try:
                item = await asyncio.wait_for(self._finished.get(), remaining)
            except TimeoutError:
                raise ProtocolError(f"no script_finished within {timeout:.0f} s") from None
            if item is None:
                raise ProtocolError(f"stream closed: {self._closed_error}")
            status, exceptions, ran = item
            if exceptions:
                raise ProtocolError(f"the script raised: {exceptions[0]}")
            if ran != fragment:  # another fragment's own run (a polling one): not the run asked for
                continue
            if status in FULL_RUN_DONE + FRAGMENT_RUN_DONE:
                if status == FINISHED.FINISHED_WITH_COMPILE_ERROR:
                    raise ProtocolError(f"script finished with status {FINISHED.Name(status)}")
                return

    # --- what a student does ---------------------------------------------------------------------
    def slider(self, label: str):
        """The id and proto of the first slider of the last run whose label starts with ``label``."""
        for widget_id in self.active:
            kind, widget = self.elements[widget_id]
            if kind == "slider" and widget.label.startswith(label):
                return widget_id, widget
        raise ProtocolError(f"no slider labelled {label!r} on the page (have: "
                            f"{[self.elements[i][1].label for i in self.active]})")

    def rerun_message(self, fragment_id: str = "") -> BackMsg:
        """A rerun with every widget of the last run at the client's value, as the browser sends it."""
        message = BackMsg()
        rerun = message.rerun_script
        rerun.query_string = self.query_string
        rerun.widget_states.SetInParent()
        for widget_id in self.active:
            rerun.widget_states.widgets.append(self.widgets[widget_id])
        rerun.page_script_hash = self.page_script_hash
        if fragment_id:
            rerun.fragment_id = fragment_id
        rerun.cached_message_hashes.extend(self._cache)
        self._context(message)
        return message

    async def move_slider(self, label: str, steps: int, metric: str, timeout: float = 30.0) -> MoveResult:
        """Move a slider by ``steps`` of its step (clamped to its range), as one drag or key press, and
        wait for the run it causes; the ``metric`` card must show a new value."""
        widget_id, widget = self.slider(label)
        state = self.widgets[widget_id]
        value = list(state.double_array_value.data)
        value[0] = min(widget.max, max(widget.min, round(value[0] + steps * widget.step, 10)))
        new = WidgetState(id=widget_id)
        new.double_array_value.data.extend(value)
        self.widgets[widget_id] = new
        before = self.metrics.get(metric)
        if before is None:
            raise ProtocolError(f"no metric {metric!r} on the page (have: {sorted(self.metrics)})")
        loop = asyncio.get_running_loop()
        self._metric_waiter = (metric, before, loop.create_future())
        fragment = self.fragments.get(widget_id, "")
        message = self.rerun_message(fragment)
        started = time.perf_counter()
        await self._send(message)
        await self._wait_run(timeout, fragment)
        finished = time.perf_counter()
        after = self.metrics.get(metric)
        future = self._metric_waiter[2]
        self._metric_waiter = None
        if after == before or not future.done():
            raise ProtocolError(f"the {metric} card did not change ({before!r} -> {after!r})")
        return MoveResult(finished - started, future.result() - started, before, after)
