"""How many students can share one app server: N browser sessions moving the Explorer's width slider.

For each N in --sessions, N headless chromium sessions (Playwright contexts in one browser) open the
Explorer at once, wait for its metrics, then each moves the width slider --moves times (ArrowRight,
ArrowLeft, ...), timing each move from the key press to the MACs metric showing the new value, with a
random think time (0.5x to 1.5x --think seconds) between moves, as a class clicking about would.
Prints p50/p95/max slider-to-metric time, errors (a page that never rendered, a move whose metric did
not change within --move-timeout), the server's CPU seconds (utime + stime from /proc/<pid>/stat) and
how busy the whole host was. Loopback only; bounded by --max-seconds; everything it starts, it stops.

    python bench/bench_load.py                          # starts `streamlit run app.py` itself
    python bench/bench_load.py --sessions 1,5,10,20 --moves 10
    python bench/bench_load.py --via-proxy              # deploy/start.sh: 2 processes behind nginx
    python bench/bench_load.py --url http://127.0.0.1:8501 [--server-pid PID ...]

The browsers run on the same cores as the server, so on a small host they take part of its CPU: the
figures are a floor for what a server with its own cores would do. Target: p95 < 1 s with no errors.
On a 2-core host chromium saturates first, so this measures the browsers, not the app: the class's
capacity is measured by bench/bench_class.py (students that speak Streamlit's websocket protocol, no
browser); this test stays for what only a browser shows (a real page rendering under load).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, free_port, launch_chromium, start_sh_process, streamlit_process  # noqa: E402

METRIC_JS = """label => {
  const metric = [...document.querySelectorAll('[data-testid="stMetric"]')]
    .find(element => element.innerText.includes(label));
  const value = metric && metric.querySelector('[data-testid="stMetricValue"]');
  return value ? value.innerText : null;
}"""
CHANGED_JS = """([label, before]) => {
  const metric = [...document.querySelectorAll('[data-testid="stMetric"]')]
    .find(element => element.innerText.includes(label));
  const value = metric && metric.querySelector('[data-testid="stMetricValue"]');
  return value !== null && value !== undefined && value.innerText !== before;
}"""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes, in seconds (0 for one that is gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), after pid and comm
    return total / CLOCK_TICKS


def rss_mb(pids: list[int]) -> float:
    """Resident memory of the given processes, in MB."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += int(re.search(r"VmRSS:\s+(\d+)", status)[1])
    return total / 1024


def host_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole host from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


@contextlib.contextmanager
def proxied_servers(processes: int):
    """deploy/start.sh with `processes` app processes and nginx on free loopback ports."""
    run_dir = Path(tempfile.mkdtemp(prefix="csl-bench-"))
    listen = free_port()
    ports = set()
    while len(ports) < processes:
        ports.add(free_port())
    env = {**os.environ, "CSL_PORTS": ",".join(map(str, sorted(ports))),
           "CSL_LISTEN": f"127.0.0.1:{listen}", "CSL_RUN_DIR": str(run_dir)}
    env.pop("CSL_WORKER_CMD", None)
    try:
        with start_sh_process(env, run_dir, 180):
            pids = [int(path.read_text()) for path in run_dir.glob("streamlit-*.pid")]
            yield f"http://127.0.0.1:{listen}", pids
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


@contextlib.contextmanager
def direct_server():
    with streamlit_process() as (url, process):
        yield url, [process.pid]


async def open_session(browser, url: str, cookie: str | None, load_timeout: float):
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    if cookie:
        await context.add_cookies([{"name": "csl_sticky", "value": cookie, "url": url}])
    page = await context.new_page()
    response = await page.goto(url, timeout=load_timeout * 1000)
    await page.wait_for_function(f"({METRIC_JS})('MACs') !== null", timeout=load_timeout * 1000)
    # the first script run has finished (no running-man status) and the slider is there
    await page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                 timeout=load_timeout * 1000)
    await page.get_by_role("slider").first.wait_for(timeout=load_timeout * 1000)
    upstream = response.headers.get("x-upstream", "direct") if response else "?"
    return context, page, upstream


async def move_slider(page, moves: int, think: float, move_timeout: float, rng: random.Random):
    """Returns (times in seconds, errors)."""
    times, errors = [], []
    slider = page.get_by_role("slider").first  # the width multiplier
    for move in range(moves):
        try:
            before = await page.evaluate(METRIC_JS, "MACs")
            await slider.focus()
            start = time.perf_counter()
            await slider.press("ArrowRight" if move % 2 == 0 else "ArrowLeft")
            await page.wait_for_function(CHANGED_JS, arg=["MACs", before], polling=10,
                                         timeout=move_timeout * 1000)
            times.append(time.perf_counter() - start)
        except Exception as error:  # noqa: BLE001  (a timeout or a broken page: count it, go on)
            errors.append(f"move {move}: {type(error).__name__}: {str(error).splitlines()[0][:120]}")
        await asyncio.sleep(think * rng.uniform(0.5, 1.5))
    return times, errors


async def run_level(browser, url: str, sessions: int, args, rng: random.Random, pids: list[int]):
    started = time.perf_counter()
    opened = await asyncio.gather(*[open_session(browser, url, None, args.load_timeout)
                                    for _ in range(sessions)], return_exceptions=True)
    load_seconds = time.perf_counter() - started
    pages = [item for item in opened if not isinstance(item, BaseException)]
    errors = [f"load: {type(item).__name__}: {str(item).splitlines()[0][:120]}"
              for item in opened if isinstance(item, BaseException)]
    cpu_before, (busy_before, total_before) = cpu_seconds(pids), host_busy()  # the moves only
    results = await asyncio.gather(*[move_slider(page, args.moves, args.think, args.move_timeout,
                                                 random.Random(rng.random()))
                                     for _, page, _ in pages])
    for _, page_errors in results:
        errors.extend(page_errors)
    times = [value for page_times, _ in results for value in page_times]
    cpu_after, (busy_after, total_after) = cpu_seconds(pids), host_busy()
    for context, _, _ in pages:
        await context.close()
    upstreams: dict[str, int] = {}
    for _, _, upstream in pages:
        upstreams[upstream] = upstreams.get(upstream, 0) + 1
    return {"sessions": sessions, "moves": len(times), "errors": errors, "times": times,
            "load_s": load_seconds, "cpu_s": cpu_after - cpu_before,
            "host_busy": (busy_after - busy_before) / max(1, total_after - total_before),
            "upstreams": upstreams}


async def warm_up(browser, url: str, processes: int, args):
    """Load the Explorer once on every app process (a process's first run imports the engine)."""
    cookies: dict[str, str] = {}
    if processes > 1:
        for index in range(200):
            request = urllib.request.Request(f"{url}/_stcore/health", headers={"Cookie": f"csl_sticky=w{index}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                cookies.setdefault(response.headers["X-Upstream"], f"w{index}")
            if len(cookies) == processes:
                break
    for cookie in cookies.values() or [None]:
        context, _, _ = await open_session(browser, url, cookie, args.load_timeout)
        await context.close()


async def main_async(args) -> int:
    from playwright.async_api import async_playwright

    levels = [int(value) for value in args.sessions.split(",")]
    rng = random.Random(args.seed)
    load1, load5, _ = os.getloadavg()
    if args.url:
        server = contextlib.nullcontext((args.url.rstrip("/"), args.server_pid or []))
        processes = 1
        mode = f"--url {args.url}"
    elif args.via_proxy:
        server = proxied_servers(args.processes)
        processes = args.processes
        mode = f"deploy/start.sh: {args.processes} Streamlit processes behind nginx"
    else:
        server = direct_server()
        processes = 1
        mode = "one `streamlit run app.py` process"
    print(f"{mode}; {os.cpu_count()} cores; load average before {load1:.2f} (1 min), {load5:.2f} (5 min)")
    print(f"each session: {args.moves} slider moves, think time {args.think:g} s (x0.5-1.5); "
          f"time = key press to new MACs value\n")
    header = (f"{'sessions':>8} {'moves':>6} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
              f"{'load s':>7} {'server CPU s':>12} {'CPU ms/move':>11} {'host busy':>9} {'RSS MB':>7}  "
              "sessions per process")
    rows = []
    cpus = sorted(os.sched_getaffinity(0))
    if args.pin and len(cpus) >= 2:
        # the servers (and nginx) on the first half of the cores, the browser on the rest
        server_cpus, client_cpus = set(cpus[:len(cpus) // 2]), set(cpus[len(cpus) // 2:])
        os.sched_setaffinity(0, server_cpus)  # inherited by the server processes started next
        print(f"pinned: servers on CPU {sorted(server_cpus)}, browser on CPU {sorted(client_cpus)}")
    with server as (url, pids):
        if args.pin and len(cpus) >= 2:
            os.sched_setaffinity(0, client_cpus)  # inherited by chromium
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright)
            try:
                await warm_up(browser, url, processes, args)
                print(header)
                for sessions in levels:
                    row = await run_level(browser, url, sessions, args, rng, pids)
                    rows.append(row)
                    times_ms = [value * 1000 for value in row["times"]] or [float("nan")]
                    per_move = row["cpu_s"] * 1000 / row["moves"] if row["moves"] and pids else float("nan")
                    spread = ", ".join(f"{key.rsplit(':', 1)[-1]}: {value}"
                                       for key, value in sorted(row["upstreams"].items()))
                    print(f"{sessions:>8} {row['moves']:>6} {len(row['errors']):>6} "
                          f"{statistics.median(times_ms):>8.0f} {percentile(times_ms, 0.95):>8.0f} "
                          f"{max(times_ms):>8.0f} {row['load_s']:>7.1f} "
                          f"{row['cpu_s'] if pids else float('nan'):>12.1f} {per_move:>11.0f} "
                          f"{row['host_busy']:>9.0%} {rss_mb(pids) if pids else float('nan'):>7.0f}  {spread}",
                          flush=True)
                    for error in row["errors"][:3]:
                        print(f"{'':>10}{error}")
            finally:
                await browser.close()
    moves, cpu = sum(row["moves"] for row in rows), sum(row["cpu_s"] for row in rows)
    if moves and cpu and pids:
        per_move = cpu / moves
        print(f"\nserver CPU per slider move: {per_move * 1000:.0f} ms, so one process (one core) completes "
              f"at most {1 / per_move:.1f} moves/s; a class of 30 moving once every 10 s needs "
              f"{30 / 10 * per_move:.1f} cores")
    held = [row["sessions"] for row in rows
            if not row["errors"] and row["times"] and percentile(row["times"], 0.95) < args.target]
    print(f"held (p95 < {args.target * 1000:.0f} ms, no errors): "
          f"{max(held) if held else 'none'} of {', '.join(map(str, levels))} sessions")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="1,5,10", help="comma-separated session counts (default 1,5,10)")
    parser.add_argument("--moves", type=int, default=10, help="slider moves per session (default 10)")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between a session's moves")
    parser.add_argument("--url", help="an app already running on this host (loopback) instead of starting one")
    parser.add_argument("--server-pid", type=int, action="append", help="with --url: its process id(s), for CPU")
    parser.add_argument("--via-proxy", action="store_true", help="start deploy/start.sh (nginx + processes)")
    parser.add_argument("--processes", type=int, default=2, help="with --via-proxy: app processes (default 2)")
    parser.add_argument("--move-timeout", type=float, default=15, help="seconds before a move counts as an error")
    parser.add_argument("--load-timeout", type=float, default=120, help="seconds for a page's first render")
    parser.add_argument("--max-seconds", type=float, default=900, help="stop the whole run after this long")
    parser.add_argument("--target", type=float, default=1.0, help="p95 target in seconds (default 1)")
    parser.add_argument("--pin", action="store_true",
                        help="servers on the first half of the cores, the browser on the other half")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not re.fullmatch(r"\d+(,\d+)*", args.sessions) or not all(0 < int(v) <= 50 for v in args.sessions.split(",")):
        parser.error("--sessions takes counts from 1 to 50, comma-separated, e.g. 1,5,10")
    if not 1 <= args.moves <= 200 or not 1 <= args.processes <= 16:
        parser.error("--moves takes 1-200 and --processes 1-16")
    if args.url and not re.match(r"https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)", args.url):
        parser.error("--url must be a loopback address (http://127.0.0.1:PORT)")
    if args.url and args.via_proxy:
        parser.error("--url and --via-proxy exclude each other")
    if CHROMIUM is None:
        parser.error("no chromium on PATH (apt-get install chromium)")
    try:
        return asyncio.run(asyncio.wait_for(main_async(args), args.max_seconds))
    except TimeoutError:
        print(f"stopped after --max-seconds {args.max_seconds:g}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
