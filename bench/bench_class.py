"""A class on one server, without browsers: N students that speak Streamlit's websocket protocol.

Each student (bench/class_client.py) opens the Explorer with its link, as a browser does (the page, its
XSRF and sticky cookies, the websocket, the first rerun), then moves the width slider one step at a time
(a random walk, like a student exploring), sending every widget's state as the browser does, waiting for
the script run to finish and checking that the MACs card changed, with a think time of 0.5x-1.5x --think
seconds (about one move a second) between moves. Per number of students it prints: moves, errors,
p50/p95/p99 move-to-result (rerun sent -> that run's script_finished, every delta in), moves per second,
the server's CPU per move and cores used (utime + stime of the app processes from /proc), their RSS, the
client's own cores, nginx's, and the load of every other process on the machine (the host's busy
jiffies less the server's, nginx's and the client's), so a noisy run can be told apart.

    python bench/bench_class.py --students 30,60,100                    # one `streamlit run app.py`
    python bench/bench_class.py --setup start.sh --processes 2 --students 60,100
    python bench/bench_class.py --students 60 --compare-default          # and Streamlit's default GC
    python bench/bench_class.py --students 10,30 --compare-bare          # and a bare page: Streamlit's floor
    python bench/bench_class.py --students 60 --soak 1800                # RSS and CPU per move over time
    python bench/bench_class.py --url http://127.0.0.1:8501 --server-pid PID --students 10

Every level gets a fresh server (--one-server keeps one for all levels). --compare-default runs each
level a second time against a server started with Streamlit's default `--runner.postScriptGC true`
(a full garbage collection after every script run, which this app's .streamlit/config.toml turns
off) and prints the ratios; --default-gc runs only that server (a soak of it, to compare with the
app's). --compare-bare runs each level again on bench/bare_page.py (one slider, two metrics, one
chart, as a single `streamlit run`): what any Streamlit page costs per move here. Loopback only;
bounded by --max-seconds and by the counts below; everything it starts, it stops. The browser load
test (bench_load.py) stays for what only a browser shows.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from class_client import ProtocolError, StreamlitClient  # noqa: E402

from core.measurement.jobs import data_dir as real_store  # noqa: E402
from tests.browser import free_port, start_sh_process, streamlit_process  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
# The links a class opens (a teacher's share links): students are spread over them in turn.
LINKS = ("backbone=mobilenet_v2", "backbone=efficientnet_b0", "backbone=resnet50", "backbone=mobilenet_v3_large")


@dataclass(frozen=True)
class Page:
    """What the students open and move: the server's script, its page, their links, the slider and the metric
    whose change ends a move."""
    script: str
    name: str
    links: tuple[str, ...]
    slider: str
    metric: str


EXPLORER = Page("app.py", "explorer", LINKS, "Width", "MACs")
BARE_PAGE = Page("bench/bare_page.py", "", ("",), "value", "square")  # the floor any Streamlit page pays
MAX_STUDENTS = 400


# ---- /proc ---------------------------------------------------------------------------------------

def cpu_seconds(pids) -> float:
    """utime + stime of the given processes (children excluded), in seconds; 0 for one that is gone."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def rss_mb(pids) -> float:
    total = 0
    for pid in pids:
        try:
            total += int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())[1])
        except (OSError, TypeError):
            continue
    return total / 1024


def host_busy_seconds() -> float:
    """CPU-seconds the whole host spent busy (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICKS


def children(pid: int) -> list[int]:
    try:
        return [int(v) for v in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Meter:
    """CPU of the server, the proxy, this client and everything else between two readings."""

    def __init__(self, server, proxy=lambda: []):
        self.server, self.proxy = server, proxy  # callables: the pids now
        self.read()

    def read(self) -> dict:
        now = {"t": time.perf_counter(), "host": host_busy_seconds(), "server": cpu_seconds(self.server()),
               "proxy": cpu_seconds(self.proxy()), "client": cpu_seconds([os.getpid()])}
        self.last = now
        return now

    @staticmethod
    def cores(before: dict, after: dict) -> dict:
        elapsed = max(1e-9, after["t"] - before["t"])
        used = {key: (after[key] - before[key]) / elapsed for key in ("host", "server", "proxy", "client")}
        used["others"] = max(0.0, used["host"] - used["server"] - used["proxy"] - used["client"])
        used["elapsed"] = elapsed
        used["server_cpu_s"] = after["server"] - before["server"]
        return used


# ---- servers -------------------------------------------------------------------------------------

CALIBRATIONS = real_store(create=False) / "latency_model"  # this host's latency model fits, if any


def private_store() -> str:
    """A private result store holding this host's latency calibrations (when it has any), so that the
    Explorer shows the predicted-latency card and its stored-measurement lookup, as a calibrated class
    sees it, not the lighter 'calibrating' card."""
    path = tempfile.mkdtemp(prefix="csl-class-data-")
    if CALIBRATIONS.is_dir():
        shutil.copytree(CALIBRATIONS, Path(path) / "latency_model")
    return path


def calibrations() -> list[str]:
    """The calibration files ``private_store`` copies (printed beside the results)."""
    return sorted(path.name for path in CALIBRATIONS.glob("*.json"))


def server_env(data_dir: str, variant: dict) -> dict:
    """A private result store, no calibration queued by pages, no worker; the variant's settings."""
    env = {**os.environ, "CSL_DATA_DIR": data_dir, "CSL_AUTO_CALIBRATE": "0", **variant}
    env.pop("CSL_WORKER_CMD", None)
    return env


@contextlib.contextmanager
def direct_server(variant: dict, script: str = "app.py"):
    """One `streamlit run <script>` (the app) on a free loopback port with a private data dir."""
    data_dir = private_store()
    try:
        with streamlit_process(script, ROOT, server_env(data_dir, variant), timeout=120,
                               own_session=True) as (url, process):
            yield url, (lambda: [process.pid]), (lambda: []), 1
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def start_sh(processes: int, variant: dict):
    """deploy/start.sh with `processes` app processes and nginx, all on free loopback ports."""
    run_dir, data_dir = Path(tempfile.mkdtemp(prefix="csl-class-run-")), private_store()
    listen, ports = free_port(), set()
    while len(ports) < processes:
        ports.add(free_port())
    env = {**server_env(data_dir, variant), "CSL_PORTS": ",".join(map(str, sorted(ports))),
           "CSL_LISTEN": f"127.0.0.1:{listen}", "CSL_RUN_DIR": str(run_dir)}

    def app_pids():
        pids = []
        for path in run_dir.glob("streamlit-*.pid"):
            with contextlib.suppress(OSError, ValueError):
                pids.append(int(path.read_text()))
        return pids

    def nginx_pids():
        try:
            master = int((run_dir / "nginx.pid").read_text())
        except (OSError, ValueError):
            return []
        return [master, *children(master)]

    try:
        with start_sh_process(env, run_dir, 180):
            yield f"http://127.0.0.1:{listen}", app_pids, nginx_pids, processes
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def server_for(args, variant: dict, page: Page = EXPLORER):
    if args.url:
        pids = args.server_pid or []
        return contextlib.nullcontext((args.url.rstrip("/"), lambda: pids, lambda: [], 1))
    if args.setup == "start.sh" and page is EXPLORER:
        return start_sh(args.processes, variant)
    return direct_server(variant, page.script)


async def warm_up(url: str, processes: int, page: Page = EXPLORER) -> None:
    """One page load on every app process (a process's first run imports the engine and the pages)."""
    cookies: dict[str, str] = {}
    if processes > 1:
        for index in range(400):
            request = urllib.request.Request(f"{url}/_stcore/health", headers={"Cookie": f"csl_sticky=w{index}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                cookies.setdefault(response.headers["X-Upstream"], f"w{index}")
            if len(cookies) == processes:
                break
    for cookie in list(cookies.values()) or [None]:
        for link in page.links:
            client = StreamlitClient(url, page.name, link, cookies={"csl_sticky": cookie} if cookie else None)
            await client.connect(120)
            await client.move_slider(page.slider, 1, page.metric)
            await client.close()


# ---- a class -------------------------------------------------------------------------------------

def percentile(values, share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


class Class:
    """N students on one server; each records (finish time, seconds, metric seconds) per move."""

    def __init__(self, url: str, students: int, args, rng: random.Random, page: Page = EXPLORER):
        self.url, self.students, self.args, self.rng, self.page = url, students, args, rng, page
        self.moves: list[tuple[float, float, float]] = []
        self.errors: list[tuple[float, str]] = []
        self.loads: list[float] = []
        self.upstreams: dict[str, int] = {}
        self.unsupported: set[str] = set()
        self.connected = 0
        self.stop_at = float("inf")
        self.all_connected = asyncio.Event()

    async def student(self, index: int) -> None:
        rng = random.Random(self.rng.random())
        await asyncio.sleep(self.args.ramp * index / max(1, self.students))
        page = self.page
        client = StreamlitClient(self.url, page.name, page.links[index % len(page.links)])
        try:
            try:
                self.loads.append(await client.connect(self.args.load_timeout))
                self.upstreams[client.upstream] = self.upstreams.get(client.upstream, 0) + 1
                self.unsupported |= client.unsupported
            except Exception as error:  # noqa: BLE001  (a page that never rendered: an error, go on)
                self.errors.append((time.perf_counter(), f"load: {type(error).__name__}: {str(error)[:160]}"))
                return
            finally:
                self.connected += 1
                if self.connected == self.students:
                    self.all_connected.set()
            direction = rng.choice((1, -1))
            while time.perf_counter() < self.stop_at:
                await asyncio.sleep(self.args.think * rng.uniform(0.5, 1.5))
                if time.perf_counter() >= self.stop_at:
                    break
                _, slider = client.slider(page.slider)
                value = client.widgets[slider.id].double_array_value.data[0]
                if rng.random() < 0.2 or not slider.min < value + direction * slider.step < slider.max:
                    direction = -direction  # turn round now and then, and at either end
                try:
                    result = await client.move_slider(page.slider, direction, page.metric, self.args.move_timeout)
                    self.moves.append((time.perf_counter(), result.seconds, result.metric_seconds))
                except ProtocolError as error:
                    self.errors.append((time.perf_counter(), f"move: {str(error)[:160]}"))
                    if "stream closed" in str(error):
                        return
                    if "no script_finished" in str(error):  # this session's run is lost: reconnect, as
                        return                               # the browser would after its timeout
        finally:
            await client.close()


def summary(moves, errors, used: dict, rss: float, elapsed: float) -> dict:
    seconds = [m[1] * 1000 for m in moves]
    server_ms = used["server_cpu_s"] * 1000 / len(moves) if moves else float("nan")
    return {"moves": len(moves), "errors": len(errors), "p50_ms": percentile(seconds, 0.50),
            "p95_ms": percentile(seconds, 0.95), "p99_ms": percentile(seconds, 0.99),
            "metric_p95_ms": percentile([m[2] * 1000 for m in moves], 0.95),
            "moves_per_s": len(moves) / elapsed, "cpu_ms_per_move": server_ms,
            "server_cores": used["server"], "proxy_cores": used["proxy"], "client_cores": used["client"],
            "others_cores": used["others"], "rss_mb": rss}


HEADER = (f"{'students':>8} {'moves':>6} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'moves/s':>7} {'CPU ms/move':>11} {'server cores':>12} {'RSS MB':>7} {'client':>6} "
          f"{'nginx':>5} {'others':>6}")


def row_text(label, row: dict) -> str:
    return (f"{label:>8} {row['moves']:>6} {row['errors']:>6} {row['p50_ms']:>7.0f} {row['p95_ms']:>7.0f} "
            f"{row['p99_ms']:>7.0f} {row['moves_per_s']:>7.1f} {row['cpu_ms_per_move']:>11.1f} "
            f"{row['server_cores']:>12.2f} {row['rss_mb']:>7.0f} {row['client_cores']:>6.2f} "
            f"{row['proxy_cores']:>5.2f} {row['others_cores']:>6.2f}")


async def run_level(url, server_pids, proxy_pids, students: int, args, rng, page: Page = EXPLORER) -> dict:
    group = Class(url, students, args, rng, page)
    tasks = [asyncio.create_task(group.student(index)) for index in range(students)]
    opened = time.perf_counter()
    try:
        await asyncio.wait_for(group.all_connected.wait(), args.ramp + args.load_timeout + 10)
    except TimeoutError:
        pass
    load_s = time.perf_counter() - opened
    await asyncio.sleep(args.settle)
    meter = Meter(server_pids, proxy_pids)
    before, start = meter.read(), time.perf_counter()
    group.stop_at = start + args.seconds
    if args.soak:
        result = await soak(group, meter, before, server_pids, args)
    else:
        await asyncio.sleep(args.seconds)
        after = meter.read()
        moves = [m for m in group.moves if start <= m[0] <= group.stop_at]
        errors = [e for e in group.errors if e[0] >= opened]
        result = summary(moves, errors, Meter.cores(before, after), rss_mb(server_pids()), args.seconds)
    result["load_s"], result["loaded"], result["students"] = load_s, len(group.loads), students
    result["error_samples"] = [text for _, text in group.errors[:3]]
    result["upstreams"] = dict(group.upstreams)
    result["unsupported"] = sorted(group.unsupported)
    done, pending = await asyncio.wait(tasks, timeout=args.move_timeout + 15)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return result


async def soak(group: Class, meter: Meter, before: dict, server_pids, args) -> dict:
    """A line per --soak-interval; then the first and last --soak-window compared."""
    start = before["t"]
    print(f"{'minute':>6} {'moves':>6} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} {'CPU ms/move':>11} "
          f"{'RSS MB':>7} {'client':>6} {'others':>6}", flush=True)
    samples = [(before, rss_mb(server_pids()))]
    while time.perf_counter() < group.stop_at - 1:
        await asyncio.sleep(min(args.soak_interval, max(0.0, group.stop_at - time.perf_counter())))
        now = meter.read()
        last, _ = samples[-1]
        moves = [m for m in group.moves if last["t"] <= m[0] < now["t"]]
        errors = [e for e in group.errors if last["t"] <= e[0] < now["t"]]
        used = Meter.cores(last, now)
        rss = rss_mb(server_pids())
        samples.append((now, rss))
        row = summary(moves, errors, used, rss, used["elapsed"])
        print(f"{(now['t'] - start) / 60:>6.1f} {row['moves']:>6} {row['errors']:>6} {row['p50_ms']:>7.0f} "
              f"{row['p95_ms']:>7.0f} {row['cpu_ms_per_move']:>11.1f} {rss:>7.0f} {row['client_cores']:>6.2f} "
              f"{row['others_cores']:>6.2f}", flush=True)
    end = samples[-1][0]
    window = args.soak_window

    def part(t0: float, t1: float) -> dict:
        first = min(samples, key=lambda s: abs(s[0]["t"] - t0))[0]
        last = min(samples, key=lambda s: abs(s[0]["t"] - t1))[0]
        moves = [m for m in group.moves if first["t"] <= m[0] < last["t"]]
        errors = [e for e in group.errors if first["t"] <= e[0] < last["t"]]
        used = Meter.cores(first, last)
        return summary(moves, errors, used, 0.0, used["elapsed"])

    head, tail = part(start, start + window), part(end["t"] - window, end["t"])
    result = summary([m for m in group.moves if start <= m[0] <= end["t"]], group.errors,
                     Meter.cores(before, end), samples[-1][1], end["t"] - start)
    result["soak"] = {"first": head, "last": tail, "rss_start_mb": samples[0][1], "rss_end_mb": samples[-1][1],
                      "rss_max_mb": max(s[1] for s in samples), "minutes": (end["t"] - start) / 60,
                      "cpu_ratio": tail["cpu_ms_per_move"] / head["cpu_ms_per_move"],
                      "rss_growth_mb": samples[-1][1] - samples[0][1]}
    return result


async def main_async(args) -> int:
    levels = [int(v) for v in args.students.split(",")]
    rng = random.Random(args.seed)
    variants = [("app", {}, EXPLORER)] if not args.default_gc else []
    if args.compare_default or args.default_gc:  # Streamlit reads STREAMLIT_<SECTION>_<OPTION>, which beats config.toml
        variants.append(("default GC", {"STREAMLIT_RUNNER_POST_SCRIPT_GC": "true"}, EXPLORER))
    if args.compare_bare:
        variants.append(("bare page", {}, BARE_PAGE))
    mode = (f"--url {args.url}" if args.url else "one `streamlit run app.py` process" if args.setup == "direct"
            else f"deploy/start.sh: {args.processes} Streamlit processes behind nginx")
    load1, load5, _ = os.getloadavg()
    print(f"{mode}; {os.cpu_count()} cores; load average before {load1:.2f} (1 min), {load5:.2f} (5 min); "
          f"{'one server for all levels' if args.one_server else 'a fresh server per level'}")
    print(f"each student: the Explorer, width slider one step per move, think {args.think:g} s (x0.5-1.5); "
          f"{args.seconds:g} s measured per level after a {args.ramp:g} s ramp; time = rerun sent -> "
          "script_finished with the MACs card changed; cores: server = app processes, others = every "
          "other process on the host")
    copied = calibrations()
    print(f"latency calibrations copied into each server's private store: {', '.join(copied) or 'none'} "
          f"(from {CALIBRATIONS.parent}; none: the page shows 'calibrating', lighter than a class's)\n")
    results = []
    if not args.soak:
        print(f"{'':>11}{HEADER}", flush=True)

    async def level_on(url, server_pids, proxy_pids, processes, students, name, warmed, page):
        if not warmed:
            await warm_up(url, processes, page)
        row = await run_level(url, server_pids, proxy_pids, students, args, rng, page)
        row["variant"], row["setup"], row["processes"] = name, args.setup if not args.url else "url", processes
        results.append(row)
        if not args.soak:
            print(f"{name:>10} {row_text(students, row)}", flush=True)
        else:
            soak_row = row["soak"]
            print(f"\nsoak {soak_row['minutes']:.1f} min at {students} students: CPU per move "
                  f"{soak_row['first']['cpu_ms_per_move']:.1f} ms in the first {args.soak_window / 60:g} min, "
                  f"{soak_row['last']['cpu_ms_per_move']:.1f} ms in the last ({soak_row['cpu_ratio']:.2f}x, "
                  f"target <= 1.3x); p95 {soak_row['first']['p95_ms']:.0f} -> {soak_row['last']['p95_ms']:.0f} ms; "
                  f"RSS {soak_row['rss_start_mb']:.0f} -> {soak_row['rss_end_mb']:.0f} MB (growth "
                  f"{soak_row['rss_growth_mb']:+.0f} MB, max {soak_row['rss_max_mb']:.0f}; target < 100 MB); "
                  f"{row['moves']} moves, {row['errors']} errors; others {soak_row['first']['others_cores']:.2f} / "
                  f"{soak_row['last']['others_cores']:.2f} cores", flush=True)
        if len(row["upstreams"]) > 1 or processes > 1:
            print(f"{'':>12}students per process (nginx's cookie hash): "
                  f"{' / '.join(str(n) for _, n in sorted(row['upstreams'].items()))}")
        if row["unsupported"]:
            print(f"{'':>12}widgets this client sends no state for: {', '.join(row['unsupported'])}")
        for text in row["error_samples"]:
            print(f"{'':>12}{text}")
        if row["loaded"] < students:
            print(f"{'':>12}only {row['loaded']} of {students} students loaded the page")
        return row

    for name, extra, page in variants:
        if args.one_server or args.url:
            with server_for(args, extra, page) as (url, server_pids, proxy_pids, processes):
                for index, students in enumerate(levels):
                    await level_on(url, server_pids, proxy_pids, processes, students, name, index > 0, page)
        else:
            for students in levels:
                with server_for(args, extra, page) as (url, server_pids, proxy_pids, processes):
                    await level_on(url, server_pids, proxy_pids, processes, students, name, False, page)
    for other in ("default GC", "bare page"):
        pairs = [(app, alternative) for app in results if app["variant"] == "app"
                 for alternative in results if alternative["variant"] == other
                 and alternative["students"] == app["students"]]
        if pairs:
            print(f"\nratios, app / {other}, same students:")
        for app, alternative in pairs:
            keys = ("cpu_ms_per_move", "p95_ms", "moves_per_s", "rss_mb")
            ratios = {key: app[key] / alternative[key] if alternative[key] else float("nan") for key in keys}
            print(f"  {app['students']:>4} students: CPU per move {ratios['cpu_ms_per_move']:.2f}x, "
                  f"p95 {ratios['p95_ms']:.2f}x, moves/s {ratios['moves_per_s']:.2f}x, RSS {ratios['rss_mb']:.2f}x")
    if not args.soak:
        held = [r["students"] for r in results if r["variant"] == variants[0][0] and not r["errors"]
                and r["loaded"] == r["students"] and r["p95_ms"] <= args.target_ms]
        print(f"\nheld (p95 <= {args.target_ms:g} ms, no errors): {max(held) if held else 'none'} of "
              f"{', '.join(map(str, levels))} students")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", default="10,30,60", help="comma-separated class sizes (default 10,30,60)")
    parser.add_argument("--setup", choices=("direct", "start.sh"), default="direct",
                        help="direct: one `streamlit run app.py`; start.sh: deploy/start.sh with nginx")
    parser.add_argument("--processes", type=int, default=2, help="with --setup start.sh: app processes")
    parser.add_argument("--seconds", type=float, default=40, help="measured seconds per level (default 40)")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between a student's moves")
    parser.add_argument("--ramp", type=float, default=10, help="seconds over which the students open the page")
    parser.add_argument("--settle", type=float, default=3, help="seconds after the last page load, before measuring")
    parser.add_argument("--move-timeout", type=float, default=15, help="seconds before a move counts as an error")
    parser.add_argument("--load-timeout", type=float, default=60, help="seconds for a page's first run")
    parser.add_argument("--one-server", action="store_true", help="one server for every level")
    parser.add_argument("--compare-default", action="store_true",
                        help="each level again with Streamlit's default --runner.postScriptGC true; ratios")
    parser.add_argument("--compare-bare", action="store_true",
                        help="each level again on bench/bare_page.py (one slider, two metrics, one chart: the floor "
                             "any Streamlit page pays; one process); ratios")
    parser.add_argument("--default-gc", action="store_true",
                        help="only the server with Streamlit's default per-run GC (for a soak to compare)")
    parser.add_argument("--soak", action="store_true", help="one level for --seconds, a line per --soak-interval")
    parser.add_argument("--soak-interval", type=float, default=60)
    parser.add_argument("--soak-window", type=float, default=300, help="first/last window compared (default 300 s)")
    parser.add_argument("--target-ms", type=float, default=300, help="p95 target (default 300 ms)")
    parser.add_argument("--url", help="an app already running on this host (loopback)")
    parser.add_argument("--server-pid", type=int, action="append", help="with --url: its process id(s)")
    parser.add_argument("--max-seconds", type=float, default=3600, help="stop the whole run after this long")
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not re.fullmatch(r"\d+(,\d+)*", args.students) or not all(
            0 < int(v) <= MAX_STUDENTS for v in args.students.split(",")):
        parser.error(f"--students takes counts from 1 to {MAX_STUDENTS}, comma-separated")
    if not 1 <= args.processes <= 16 or not 1 <= args.seconds <= 7200 or args.think <= 0:
        parser.error("--processes takes 1-16, --seconds 1-7200, --think > 0")
    if args.soak and ("," in args.students or args.seconds < 2 * args.soak_window):
        parser.error("--soak takes one class size and --seconds of at least twice --soak-window")
    if args.compare_bare and (args.url or args.soak):
        parser.error("--compare-bare starts its own servers for a table of levels: not with --url or --soak")
    if args.url and not re.match(r"https?://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?/?$", args.url):
        parser.error("--url must be a loopback address (http://127.0.0.1:PORT)")
    try:
        return asyncio.run(asyncio.wait_for(main_async(args), args.max_seconds))
    except TimeoutError:
        print(f"stopped after --max-seconds {args.max_seconds:g}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
