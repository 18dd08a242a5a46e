"""Health monitor for deploy/start.sh: keeps nginx's rotation to the replicas that answer.

Every ``--interval`` seconds it asks each Streamlit replica for ``/_stcore/health`` (a short
timeout). A replica that fails ``--fails`` checks in a row is marked ``down`` in nginx's upstream
file and nginx is told to reload (SIGHUP), so no new session reaches it while its own sessions
stay where they are; one that answers again is put back. A replica that stays down (hung, e.g.
stopped, or stuck in a long computation) for ``--restart-after`` seconds is killed, and start.sh's
supervisor loop starts it again. The last answering replica is never taken out (nginx would then
refuse everyone). Standard library only; every change is one line on stderr (start.sh's log).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path


def healthy(port: int, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def upstreams(ports: list[int], down: set[int]) -> str:
    """The upstream servers for nginx, with ``down`` on those out of rotation."""
    return "".join(f"server 127.0.0.1:{port} max_fails=3 fail_timeout=10s{' down' if port in down else ''};\n"
                   for port in ports)


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _log(message: str) -> None:
    print(f"health: {message}", file=sys.stderr, flush=True)


def monitor(run_dir: Path, ports: list[int], interval: float, fails: int, restart_after: float,
            timeout: float) -> None:
    failures = dict.fromkeys(ports, 0)
    out: set[int] = set()  # out of nginx's rotation
    unhealthy_since: dict[int, float] = {}  # failing its checks, in rotation or not (the only replica stays in)
    while True:
        started = time.monotonic()
        changed = False
        for port in ports:
            if healthy(port, timeout):
                failures[port] = 0
                unhealthy_since.pop(port, None)
                if port in out:
                    out.discard(port)
                    _log(f"127.0.0.1:{port} answers again: back in rotation")
                    changed = True
                continue
            failures[port] += 1
            if failures[port] < fails:
                continue
            unhealthy_since.setdefault(port, time.monotonic())
            if port not in out and len(out) < len(ports) - 1:
                out.add(port)
                _log(f"127.0.0.1:{port} failed {failures[port]} health checks: out of rotation")
                changed = True
            if time.monotonic() - unhealthy_since[port] > restart_after:
                pid = _pid(run_dir / f"streamlit-{port}.pid")
                if pid is not None:
                    _log(f"127.0.0.1:{port} down for {restart_after:g} s: killing pid {pid} (start.sh restarts it)")
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                unhealthy_since[port] = time.monotonic()  # give the restarted process its own start-up time
        if changed:
            (run_dir / "upstreams.conf.new").write_text(upstreams(ports, out))
            os.replace(run_dir / "upstreams.conf.new", run_dir / "upstreams.conf")
            nginx = _pid(run_dir / "nginx.pid")
            if nginx is not None:
                try:
                    os.kill(nginx, signal.SIGHUP)  # reload: new connections follow the new rotation
                except ProcessLookupError:
                    pass
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("ports", type=lambda text: [int(port) for port in text.split(",")])
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--fails", type=int, default=2)
    parser.add_argument("--restart-after", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--render", action="store_true", help="write upstreams.conf with every replica and exit")
    args = parser.parse_args()
    if args.render:
        (args.run_dir / "upstreams.conf").write_text(upstreams(args.ports, set()))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    monitor(args.run_dir, args.ports, args.interval, args.fails, args.restart_after, args.timeout)


if __name__ == "__main__":
    main()
