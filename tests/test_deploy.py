"""The hosted recipe, run for real: deploy/start.sh with two `streamlit run app.py` processes on
loopback behind Debian's nginx, driven through the proxy by a real browser (Playwright + chromium).

Two browser contexts hold sticky cookies that hash to different processes; each one loads the
Explorer through nginx, sees a metric, moves a slider and sees the metric change (over the websocket),
and nginx's access log shows each context's websocket on the process that served its page. Then the
recipe heals: a replica killed with SIGKILL is restarted while the other serves on, and a stopped (hung)
one is taken out of rotation, then restarted. Without nginx or a browser it skips with the reason,
except under CI=true, where it must run.
"""
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import core
from core.units import si
from tests.browser import chromium, free_port, missing, start_sh_process
from tests.conftest import ROOT

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
START = ROOT / "deploy" / "start.sh"
HUNG_RESTART_S = 15


def _get(url: str, cookie: str | None = None, **headers):
    request = urllib.request.Request(url, headers={**headers, **({"Cookie": cookie} if cookie else {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers, response.read()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    """deploy/start.sh with two app processes and nginx on free loopback ports; torn down after."""
    if NGINX is None:
        missing("no nginx (apt-get install nginx)")
    run_dir = tmp_path_factory.mktemp("deploy")
    ports = [free_port(), free_port()]
    while ports[1] == ports[0]:
        ports[1] = free_port()
    listen = free_port()
    env = {**os.environ, "CSL_PORTS": ",".join(map(str, ports)), "CSL_LISTEN": f"127.0.0.1:{listen}",
           "CSL_RUN_DIR": str(run_dir), "CSL_START_TIMEOUT": "90", "NGINX": NGINX, "CSL_HEALTH_INTERVAL": "1",
           "CSL_HUNG_RESTART_S": str(HUNG_RESTART_S)}
    env.pop("CSL_WORKER_CMD", None)
    url = f"http://127.0.0.1:{listen}"
    pids = []
    try:
        with start_sh_process(env, run_dir, 120) as script:
            try:
                yield {"url": url, "ports": ports, "run_dir": run_dir, "script": script}
            finally:
                pids = [int(p.read_text()) for p in run_dir.glob("*.pid") if p.read_text().strip()]
    except RuntimeError as error:
        pytest.fail(str(error))
    finally:
        survivors = [pid for pid in pids if Path(f"/proc/{pid}").exists()
                     and "streamlit" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)
        assert not survivors, f"start.sh left processes running: {survivors}"


def _upstream(proxy, cookie: str | None) -> str:
    return _get(proxy["url"] + "/_stcore/health", cookie)[1]["X-Upstream"]


def _keys_for_each_upstream(proxy) -> dict[str, str]:
    """A sticky cookie value for each app process (consistent hashing of the cookie picks it)."""
    keys = {}
    for index in range(200):
        key = f"class{index}"
        keys.setdefault(_upstream(proxy, f"csl_sticky={key}"), key)
        if len(keys) == 2:
            return keys
    pytest.fail(f"200 cookies all hashed to {sorted(keys)}")


def test_a_new_browser_gets_a_cookie_and_keeps_its_process(proxy):
    status, headers, body = _get(proxy["url"] + "/")
    assert status == 200 and b"<html" in body.lower()
    cookies = [re.fullmatch(r"csl_sticky=([A-Za-z0-9_-]+); Path=/; HttpOnly; SameSite=Lax", value)
               for value in headers.get_all("Set-Cookie") or []]
    cookie = next(filter(None, cookies), None)
    assert cookie, headers.get_all("Set-Cookie")
    first = headers["X-Upstream"]
    assert first in {f"127.0.0.1:{port}" for port in proxy["ports"]}
    for _ in range(5):
        _, again, _ = _get(proxy["url"] + "/_stcore/health", f"csl_sticky={cookie[1]}")
        assert again["X-Upstream"] == first
        assert not any(value.startswith("csl_sticky=") for value in again.get_all("Set-Cookie") or [])
    # a malformed cookie is replaced, not trusted
    _, bad, _ = _get(proxy["url"] + "/_stcore/health", "csl_sticky=../../etc;x")
    assert any(value.startswith("csl_sticky=") for value in bad.get_all("Set-Cookie") or [])


def test_the_javascript_bundle_is_compressed(proxy):
    _, _, html = _get(proxy["url"] + "/")
    script = re.search(rb'src="\.?/?(static/js/[^"]+\.js)"', html)
    assert script, html[:500]
    _, headers, _ = _get(f"{proxy['url']}/{script[1].decode()}", **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"


def _metric(page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text()


def test_two_browsers_reach_both_processes_through_the_proxy(proxy):
    keys = _keys_for_each_upstream(proxy)
    expected = si(core.profile("mobilenet_v2", 1.05).macs)
    served, pages = {}, []
    with chromium() as browser:
        # Open both pages first, so the two processes run their first (cold) script at once.
        for upstream, key in keys.items():
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_cookies([{"name": "csl_sticky", "value": key, "url": proxy["url"]}])
            page = context.new_page()
            page.set_default_timeout(30_000)
            sockets = []
            page.on("websocket", lambda socket, sockets=sockets: sockets.append(socket.url))
            response = page.goto(proxy["url"])
            served[key] = response.headers["x-upstream"]
            assert served[key] == upstream
            pages.append((context, page, sockets))
        for context, page, sockets in pages:
            # a process's first script run imports the engine: slow on a busy 2-core host
            page.wait_for_selector('[data-testid="stMetricValue"]', timeout=120_000)
            page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                   timeout=120_000)
            assert _metric(page, "MACs") == "300.77 M"
            slider = page.get_by_role("slider").first  # width multiplier, step 0.05
            slider.focus()
            slider.press("ArrowRight")
            page.wait_for_function(
                "expected => [...document.querySelectorAll('[data-testid=\"stMetricValue\"]')]"
                ".some(element => element.innerText === expected)", arg=expected)
            assert _metric(page, "MACs") == expected
            assert any(url.endswith("/_stcore/stream") and url.startswith(proxy["url"].replace("http", "ws"))
                       for url in sockets), sockets
            context.close()  # closes the websocket: nginx logs it with its upstream
    assert set(served.values()) == {f"127.0.0.1:{port}" for port in proxy["ports"]}

    # Each context's websocket went to the process that served its page (the log line is written
    # when the websocket closes).
    log = proxy["run_dir"] / "access.log"
    deadline = time.time() + 15
    while True:
        streams = {}
        for line in log.read_text().splitlines():
            found = re.search(r'"GET /_stcore/stream HTTP/1\.1" 101 .*upstream=(\S+) sticky=(\S+)', line)
            if found:
                streams.setdefault(found[2], set()).add(found[1])
        if all(key in streams for key in served) or time.time() > deadline:
            break
        time.sleep(0.3)
    for key, upstream in served.items():
        assert streams.get(key) == {upstream}, (key, upstream, streams)


def _pid(proxy, port: int) -> int:
    return int((proxy["run_dir"] / f"streamlit-{port}.pid").read_text())


def _healthy(port: int) -> bool:
    try:
        return _get(f"http://127.0.0.1:{port}/_stcore/health")[0] == 200
    except OSError:
        return False


def _open(browser, proxy, key: str | None):
    """A new browser session through nginx (with a sticky cookie, if given) showing its first metric."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    if key:
        context.add_cookies([{"name": "csl_sticky", "value": key, "url": proxy["url"]}])
    page = context.new_page()
    response = page.goto(proxy["url"], timeout=30_000)
    page.wait_for_selector('[data-testid="stMetricValue"]', timeout=120_000)
    return context, page, response.headers["x-upstream"]


def _move_width(page) -> None:
    before = _metric(page, "MACs")
    slider = page.get_by_role("slider").first
    slider.focus()
    slider.press("ArrowRight")
    page.wait_for_function(
        "before => [...document.querySelectorAll('[data-testid=\"stMetric\"]')].some(metric => "
        "metric.innerText.includes('MACs') && !metric.innerText.includes(before))", arg=before, timeout=20_000)


def test_a_killed_replica_restarts_while_the_other_keeps_serving(proxy):
    """kill -9 one replica: a session on the other keeps working, a new session (even one whose cookie hashes
    to the dead replica) loads within 10 s, and start.sh has the killed replica back within 30 s."""
    keys = _keys_for_each_upstream(proxy)
    victim_port, survivor_port = proxy["ports"]
    victim_key, survivor_key = keys[f"127.0.0.1:{victim_port}"], keys[f"127.0.0.1:{survivor_port}"]
    with chromium() as browser:
        context, page, upstream = _open(browser, proxy, survivor_key)
        assert upstream == f"127.0.0.1:{survivor_port}"
        victim = _pid(proxy, victim_port)
        os.kill(victim, signal.SIGKILL)
        killed = time.time()
        _move_width(page)  # the other replica's session never noticed
        newcomer, new_page, served = _open(browser, proxy, victim_key)
        assert time.time() - killed < 10, f"a new session took {time.time() - killed:.1f} s to load"
        # X-Upstream lists every upstream nginx tried: the dead one may come first (refused), the survivor served
        assert served.split(", ")[-1] == f"127.0.0.1:{survivor_port}", served
        newcomer.close()
        context.close()
    while not (_healthy(victim_port) and _pid(proxy, victim_port) != victim):
        assert time.time() - killed < 30, "the killed replica was not back within 30 s"
        time.sleep(0.5)
    assert proxy["script"].poll() is None
    assert "streamlit-" f"{victim_port} exited (status 137); starting it again in 1 s" in (
        proxy["run_dir"] / f"streamlit-{victim_port}.log").read_text()


def test_a_stopped_replica_gets_no_new_session_and_is_restarted(proxy):
    """SIGSTOP one replica (it still accepts connections, never answers): health checks take it out of
    nginx's rotation, so new sessions all load from the other; after CSL_HUNG_RESTART_S it is restarted."""
    keys = _keys_for_each_upstream(proxy)
    hung_port, other_port = proxy["ports"]
    hung = _pid(proxy, hung_port)
    health_log = proxy["run_dir"] / "health.log"
    seen = len(health_log.read_text())  # an earlier test's lines are not this one's
    os.kill(hung, signal.SIGSTOP)
    stopped = time.time()
    try:
        while f"127.0.0.1:{hung_port} failed" not in health_log.read_text()[seen:]:
            assert time.time() - stopped < 15, "the hung replica was not taken out of rotation"
            time.sleep(0.3)
        hung_key = keys[f"127.0.0.1:{hung_port}"]
        probe = urllib.request.Request(proxy["url"] + "/_stcore/health", headers={"Cookie": f"csl_sticky={hung_key}"})
        while True:  # nginx's reload reaches its workers: the hung replica's own cookie now goes elsewhere
            try:
                with urllib.request.urlopen(probe, timeout=2) as response:
                    if response.headers["X-Upstream"] == f"127.0.0.1:{other_port}":
                        break
            except OSError:
                pass  # routed to the hung replica: no answer
            # before the hung replica is restarted (then it would answer again, and prove nothing)
            assert _pid(proxy, hung_port) == hung and time.time() - stopped < 40, \
                "nginx kept sending the hung replica's cookie to it"
            time.sleep(0.3)
        with chromium() as browser:
            for key in (hung_key, None):  # a returning student of the hung replica, and a newcomer
                context, _, served = _open(browser, proxy, key)
                assert served == f"127.0.0.1:{other_port}"
                context.close()
        while not (_healthy(hung_port) and _pid(proxy, hung_port) != hung):
            assert time.time() - stopped < HUNG_RESTART_S + 45, "the hung replica was not restarted"
            time.sleep(0.5)
        back = time.time()
        while f"127.0.0.1:{hung_port} answers again: back in rotation" not in health_log.read_text()[seen:]:
            assert time.time() - back < 10, "the restarted replica was not put back in rotation"
            time.sleep(0.3)
    finally:
        try:
            os.kill(hung, signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_start_refuses_a_bad_process_count():
    if NGINX is None:
        missing("no nginx (apt-get install nginx)")
    result = subprocess.run(["bash", str(START)], cwd=ROOT, capture_output=True, text=True, timeout=30,
                            env={**os.environ, "CSL_PROCESSES": "two", "NGINX": NGINX})
    assert result.returncode == 2 and "CSL_PROCESSES must be a whole number" in result.stderr
