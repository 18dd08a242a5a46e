"""What a slider move costs the server, measured end to end with a real browser.

Starts `streamlit run app.py` and a bare page (bench/bare_page.py: one slider, two
metrics, one Plotly chart, the floor any page pays) as two servers on loopback, and
drives each with headless Debian chromium (Playwright). Prints, per server and as
app / bare ratios:

- server CPU per slider move: the server process's own utime + stime (/proc/<pid>/stat,
  children excluded) across N moves of the first slider (ArrowRight / ArrowLeft
  alternately; each move waits until a metric's text changed and the app is idle, so
  each is a complete rerun). Target: ratio <= 2.0.
- slider move to settled page: browser wall time per move (median), for reference.
- cold start: process launch to the first metric visible in a freshly launched
  browser (the browser is started before the server and not counted), and the same for a
  returning browser that has Streamlit's bundle cached (a server restart: the server's own
  cold start, without the bundle download that the first-load row measures). Target: app < 4 s.
- first load: a fresh browser context (no cache) against the warm server, navigation
  to the first metric visible (median of --loads).

    python bench/bench_serve.py [--moves 30] [--rounds 3] [--query 'view=inside'] [--loads 3]
                                [--py-spy /tmp/prof/explorer]

--query (alias --app-args) is the app's query string (default: the Explorer's default
view, MobileNet V2 at 224, "Where it sits"). --rounds repeats everything with fresh
servers and reports medians. --py-spy PREFIX attaches `py-spy record` (raw collapsed
stacks, 200 Hz, non-idle threads) to the app server during its moves, takes one
`py-spy dump` mid-move, and prints the top functions; CPU figures from a profiled run
are inflated by the sampling. Servers are stopped on exit, Ctrl-C included.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BARE = ROOT / "bench" / "bare_page.py"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
METRIC = '[data-testid="stMetricValue"]'
# All metric values joined; the page is settled when they differ from `before`, no status widget is
# shown and the app reports its script as not running.
SETTLED = """before => {
  const values = [...document.querySelectorAll('[data-testid="stMetricValue"]')].map(e => e.innerText).join('|');
  const app = document.querySelector('[data-testid="stApp"]');
  return values !== before && !document.querySelector('[data-testid="stStatusWidget"]')
      && app !== null && app.dataset.testScriptState === 'notRunning';
}"""
IDLE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return document.querySelector('[data-testid="stMetricValue"]') !== null
      && !document.querySelector('[data-testid="stStatusWidget"]')
      && app !== null && app.dataset.testScriptState === 'notRunning';
}"""
METRIC_VALUES = """() => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
                         .map(e => e.innerText).join('|')"""

_servers: list[subprocess.Popen] = []


# ---- servers ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    name: str
    script: Path
    query: str = ""
    process: subprocess.Popen | None = None
    port: int = 0
    log: Path | None = None
    launched_at: float = 0.0
    healthy_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/" + (f"?{self.query}" if self.query else "")

    def start(self, log_dir: Path, env: dict | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log = log_dir / f"{self.name}-{self.port}.log"
        command = [sys.executable, "-m", "streamlit", "run", str(self.script.relative_to(ROOT)),
                   "--server.headless", "true", "--server.address", "127.0.0.1",
                   "--server.port", str(self.port), "--browser.gatherUsageStats", "false"]
        with open(self.log, "w") as log:
            self.launched_at = time.perf_counter()
            # Own session: a terminal's Ctrl-C reaches only this script, which then stops the servers.
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            env={**os.environ, **(env or {})})
        _servers.append(self.process)

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} server exited ({self.process.returncode}):\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        self.healthy_at = time.perf_counter()
                        return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"{self.name} server not healthy after {timeout} s:\n{self.log.read_text()}")

    def cpu_ms(self) -> float:
        """This process's own user + system CPU time (all its threads; children excluded)."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields_ = stat.rsplit(")", 1)[1].split()
        return (int(fields_[11]) + int(fields_[12])) * TICK_MS  # fields 14 and 15 of proc(5)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        stop(self.process)


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)  # the group this script created for it
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def stop_all() -> None:
    for process in _servers:
        stop(process)


# ---- browser ---------------------------------------------------------------------------------

def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def new_page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(180_000)  # generous: a shared 2-core host can be very busy
    return context, page


def first_metric(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(METRIC, state="visible")


def cold_start(playwright, server: Server, log_dir: Path, env: dict | None = None) -> dict:
    """Launch the server with a fresh browser already up: launch -> health, launch -> first metric."""
    browser = launch_browser(playwright)
    try:
        context, page = new_page(browser)
        server.start(log_dir, env)
        server.wait_healthy()
        first_metric(page, server.url)
        shown = time.perf_counter()
        context.close()
    finally:
        browser.close()
    return {"health_s": server.healthy_at - server.launched_at, "cold_s": shown - server.launched_at}


def restart_cold_start(playwright, server: Server, log_dir: Path) -> float:
    """A server restart seen by a returning browser: the page was open once, so the browser has
    Streamlit's bundle cached; launch -> first metric then measures the server's cold start alone
    (the fresh-browser download is the 'first load' row)."""
    browser = launch_browser(playwright)
    try:
        context, page = new_page(browser)
        server.start(log_dir)
        server.wait_healthy()
        first_metric(page, server.url)
        port = server.port
        server.stop()
        server.start(log_dir, port=port)
        server.wait_healthy()  # a reload before the server listens fails; counted from launch all the same
        first_metric(page, server.url)
        shown = time.perf_counter()
        context.close()
    finally:
        browser.close()
        server.stop()
    return shown - server.launched_at


def first_load(browser, server: Server) -> float:
    context, page = new_page(browser)
    try:
        start = time.perf_counter()
        first_metric(page, server.url)
        return time.perf_counter() - start
    finally:
        context.close()


def slider_moves(browser, server: Server, moves: int, warmup: int = 2, spy: str | None = None) -> dict:
    """CPU and wall time per complete slider move (each move a full rerun)."""
    context, page = new_page(browser)
    try:
        page.goto(server.url)
        page.wait_for_function(IDLE)
        slider = page.get_by_role("slider").first
        slider.focus()

        def move(index: int, during=None) -> float:
            before = page.evaluate(METRIC_VALUES)
            start = time.perf_counter()
            page.keyboard.press("ArrowRight" if index % 2 == 0 else "ArrowLeft")
            if during:
                during()
            page.wait_for_function(SETTLED, arg=before, polling="raf")
            return time.perf_counter() - start

        for index in range(warmup):
            move(index)
        time.sleep(1.0)  # let the last rerun's aftermath finish: the idle rate below should be near 0
        idle_before = server.cpu_ms()
        time.sleep(2.0)
        idle_ms_per_s = (server.cpu_ms() - idle_before) / 2.0
        recorder = start_py_spy(server, spy) if spy else None
        walls = []
        cpu_before, start = server.cpu_ms(), time.perf_counter()
        for index in range(warmup, warmup + moves):
            dump = (lambda: py_spy_dump(server, spy)) if spy and index == warmup + moves // 2 else None
            walls.append(move(index, dump))
        cpu_after, elapsed = server.cpu_ms(), time.perf_counter() - start
        if recorder:
            stop_py_spy(recorder)
        return {"cpu_ms": (cpu_after - cpu_before) / moves, "wall_ms": statistics.median(walls) * 1000,
                "wall_p90_ms": sorted(walls)[int(0.9 * (len(walls) - 1))] * 1000,
                "idle_ms_per_s": idle_ms_per_s, "elapsed_s": elapsed, "rss_mb": server.rss_mb()}
    finally:
        context.close()


# ---- py-spy ----------------------------------------------------------------------------------

def start_py_spy(server: Server, prefix: str) -> subprocess.Popen:
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    recorder = subprocess.Popen(["py-spy", "record", "--pid", str(server.process.pid), "--rate", "200",
                                 "--format", "raw", "-o", f"{prefix}.raw.txt"],
                                stdout=subprocess.DEVNULL, stderr=open(f"{prefix}.py-spy.log", "w"))
    time.sleep(1.0)  # attached before the first timed move
    return recorder


def stop_py_spy(recorder: subprocess.Popen) -> None:
    recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        recorder.wait(30)
    except subprocess.TimeoutExpired:
        recorder.kill()


def py_spy_dump(server: Server, prefix: str) -> None:
    with open(f"{prefix}.dump.txt", "w") as out:
        subprocess.run(["py-spy", "dump", "--pid", str(server.process.pid)], stdout=out,
                       stderr=subprocess.STDOUT, timeout=30)


FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short_path(path: str) -> str:
    if path.startswith(str(ROOT) + "/"):
        return path[len(str(ROOT)) + 1:]
    return re.sub(r"^.*/(site-packages|lib/python3\.\d+)/", "", path)


def summarize_py_spy(raw: Path, top: int = 25) -> None:
    """Self and cumulative shares per function, and our own source lines by cumulative share."""
    self_, cumulative, ours = collections.Counter(), collections.Counter(), collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        count = int(count)
        total += count
        frames = []
        for frame in stack.split(";"):
            match = FRAME.match(frame)
            if match:
                frames.append((match["function"], short_path(match["file"]), match["line"]))
        if not frames:
            continue
        function = lambda f: f"{f[0]} ({f[1]})"  # noqa: E731
        self_[function(frames[-1])] += count
        for name in {function(f) for f in frames}:
            cumulative[name] += count
        for name in {f"{f[1]}:{f[2]} {f[0]}" for f in frames if not f[1].startswith("/")
                     and f[1].split("/")[0] in ("app.py", "ui", "pages", "core")}:
            ours[name] += count
    if not total:
        print(f"no samples in {raw}")
        return
    for title, counter in (("self", self_), ("cumulative", cumulative), ("our lines, cumulative", ours)):
        print(f"\n{title} ({total} samples):")
        for name, count in counter.most_common(top):
            print(f"  {count / total * 100:5.1f}%  {name}")


# ---- report ----------------------------------------------------------------------------------

def median(rounds: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def row(label: str, bare: float, app: float, unit: str, fmt: str, target: str = "") -> str:
    ratio = app / bare if bare else float("nan")
    return f"{label:42} {format(bare, fmt):>9} {unit:2} {format(app, fmt):>9} {unit:2} {ratio:6.2f}x  {target}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=30, help="timed slider moves per server (default 30)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat with fresh servers; medians (default 1)")
    parser.add_argument("--query", "--app-args", dest="query", default="",
                        help="the app's query string, e.g. 'view=inside' (default: the Explorer's default view)")
    parser.add_argument("--loads", type=int, default=3, help="fresh-browser first loads per server and round")
    parser.add_argument("--py-spy", dest="spy", metavar="PREFIX",
                        help="record the app server with py-spy during its moves (PREFIX.raw.txt, PREFIX.dump.txt)")
    args = parser.parse_args()
    query = args.query.lstrip("?")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("playwright is not installed (pip install -r tests/requirements.txt)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # -> finally: servers stopped
    log_dir = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    results = {"bare": [], "app": []}
    try:
        with sync_playwright() as playwright:
            for round_index in range(args.rounds):
                bare, app = Server("bare", BARE), Server("app", ROOT / "app.py", query)
                # Cold starts one at a time, so that neither competes with the other for the CPUs.
                measured = {"bare": cold_start(playwright, bare, log_dir), "app": cold_start(playwright, app, log_dir)}
                for name, script, query_string in (("bare", BARE, ""), ("app", ROOT / "app.py", query)):
                    measured[name]["restart_s"] = restart_cold_start(
                        playwright, Server(f"{name}-restart", script, query_string), log_dir)
                browser = launch_browser(playwright)
                try:
                    for name, server in (("bare", bare), ("app", app)):  # warm each before timing loads
                        first_load(browser, server)
                    loads = {"bare": [], "app": []}
                    for _ in range(args.loads):
                        for name, server in (("bare", bare), ("app", app)):
                            loads[name].append(first_load(browser, server))
                    for name, server in (("bare", bare), ("app", app)):
                        spy = args.spy if name == "app" and round_index == 0 else None
                        measured[name].update(slider_moves(browser, server, args.moves, spy=spy),
                                              load_s=statistics.median(loads[name]))
                finally:
                    browser.close()
                    bare.stop()
                    app.stop()
                for name in results:
                    results[name].append(measured[name])
                print(f"round {round_index + 1}/{args.rounds}: server CPU per move bare "
                      f"{measured['bare']['cpu_ms']:.1f} ms, app {measured['app']['cpu_ms']:.1f} ms; cold start "
                      f"bare {measured['bare']['cold_s']:.2f} s, app {measured['app']['cold_s']:.2f} s", flush=True)
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        raise SystemExit(130)
    finally:
        stop_all()
    bare, app = results["bare"], results["app"]
    title = f"app ?{query}" if query else "app (Explorer default view)"
    print(f"\nbench_serve: {title} against bench/bare_page.py; {args.moves} slider moves, "
          f"median of {args.rounds} round(s), {os.cpu_count()} CPUs")
    print(f"{'':42} {'bare page':>12} {'app':>12} {'ratio':>7}")
    print(row("server CPU per slider move", median(bare, "cpu_ms"), median(app, "cpu_ms"), "ms", ".1f",
              "target ratio <= 2.0"))
    print(row("slider move to settled page (median)", median(bare, "wall_ms"), median(app, "wall_ms"), "ms", ".0f"))
    print(row("cold start: launch to first metric", median(bare, "cold_s"), median(app, "cold_s"), "s", ".2f"))
    print(row("  of which launch to /_stcore/health", median(bare, "health_s"), median(app, "health_s"), "s", ".2f"))
    print(row("cold start, returning browser (bundle cached)", median(bare, "restart_s"), median(app, "restart_s"),
              "s", ".2f", "target app < 4 s"))
    print(row("first load, fresh browser, warm server", median(bare, "load_s"), median(app, "load_s"), "s", ".2f"))
    print(row("server RSS after the moves", median(bare, "rss_mb"), median(app, "rss_mb"), "MB", ".0f"))
    print(f"server idle CPU before the moves: bare {median(bare, 'idle_ms_per_s'):.1f} ms/s, "
          f"app {median(app, 'idle_ms_per_s'):.1f} ms/s")
    if args.spy:
        print(f"\npy-spy (app, round 1, {args.moves} moves; its CPU figure includes the sampling overhead): "
              f"{args.spy}.raw.txt, {args.spy}.dump.txt")
        summarize_py_spy(Path(f"{args.spy}.raw.txt"))
    shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
