"""Shared by the browser tests and bench/bench_load.py: Debian's chromium, its launch flags, and a
fresh `streamlit run app.py` on a free loopback port.

Playwright's own browser download does not work offline, so everything drives Debian's chromium
through `executable_path`. Without it the tests skip with the reason, except under CI=true.
"""
from __future__ import annotations

import contextlib
import os
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(reason: str):
    """Skip a test that lacks a tool, or fail it under CI=true, where it must run."""
    import pytest
    if IN_CI:
        pytest.fail(f"CI=true requires this test: {reason}")
    pytest.skip(reason)


def launch_chromium(playwright, **options):
    """Debian's chromium through Playwright (sync or async API), with the shared flags."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, **options)


@contextlib.contextmanager
def chromium():
    """A launched chromium for a test, or a skip (a failure under CI=true) naming what is missing."""
    if CHROMIUM is None:
        missing("no chromium on PATH (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install -r tests/requirements.txt)")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> bool:
    """Poll `url`/_stcore/health until it answers 200; False if the process died or time ran out."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                return True
        except OSError:
            time.sleep(0.5)
    return False


@contextlib.contextmanager
def streamlit_server(script: str = "app.py", cwd: Path = ROOT, env: dict | None = None):
    """A fresh `streamlit run` on a free loopback port (with ``env`` in place of this environment); yields its URL."""
    with streamlit_process(script, cwd, env) as (url, _process):
        yield url


@contextlib.contextmanager
def streamlit_process(script: str = "app.py", cwd: Path = ROOT, env: dict | None = None, timeout: float = 60,
                      own_session: bool = False):
    """Like streamlit_server, yielding (base URL, Popen) so a caller can read the process's CPU time.

    ``timeout``: seconds for it to answer its health check; ``own_session``: out of the caller's process
    group (a bench's Ctrl-C stops the bench, which then stops the server)."""
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a long run must not fill a pipe
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--browser.gatherUsageStats", "false"],
        cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=own_session)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_healthy(url, process, timeout):
            process.kill()
            process.wait(10)
            log.seek(0)
            raise RuntimeError(f"streamlit did not start: {log.read()}")
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        log.close()


@contextlib.contextmanager
def start_sh_process(env: dict, run_dir: Path, timeout: float = 120):
    """``deploy/start.sh`` with ``env`` (its CSL_RUN_DIR is ``run_dir``), once it prints "start.sh: ready".

    Yields the script's Popen; stops it after with SIGTERM (its own teardown), then its process group.
    Raises RuntimeError with the script's output if it does not come up within ``timeout`` seconds.
    Shared by the deploy test and bench/bench_class.py."""
    log_path = run_dir / "start.out"
    log = open(log_path, "w")
    script = subprocess.Popen(["bash", str(ROOT / "deploy" / "start.sh")], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + timeout
        while "start.sh: ready" not in log_path.read_text():
            if script.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"deploy/start.sh did not come up:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield script
    finally:
        if script.poll() is None:
            script.send_signal(signal.SIGTERM)
            try:
                script.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(script.pid, signal.SIGKILL)
                script.wait(10)
        log.close()
