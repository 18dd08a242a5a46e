"""Faults injected on purpose against a real worker, on loopback, with a private CSL_DATA_DIR.

After each fault (a killed measuring child, a worker killed mid-run twice, a truncated cached ONNX
file, hostile rows, a read-only, full, corrupt or deleted store) the next queued job completes, the
failed one says what happened, and the Explorer renders its engine cards with no exception.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.measurement.jobs import WORKER_DIED, LatencyQueue, StoreUnavailable
from tests.browser import IN_CI
from tests.conftest import ROOT
from tests.test_jobs import SMALL, wait

# about CAP_S of timed passes (the cap ends it): long enough to be killed mid-run
LONG = dict(SMALL, backbone="mobilenet_v2", width=1.0, resolution=224, warmup=0, repeats=100_000)
CAP_S = 4


@pytest.fixture
def data(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@contextmanager
def running_worker(data: Path, cap_s: float = CAP_S):
    env = {**os.environ, "CSL_DATA_DIR": str(data), "CSL_LATENCY_CAP_S": str(cap_s), "CSL_WORKER_IDLE_EXIT_S": "120"}
    process = subprocess.Popen([sys.executable, "-m", "core.measurement.worker", "--db", str(data / "latency.sqlite3")],
                               cwd=ROOT, env=env, stderr=open(data.parent / "worker.err", "ab"))
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(15)


def finished(queue: LatencyQueue, job: int, timeout: float = 90):
    return wait(queue, job, lambda state: not state.active, timeout)


def child_pid(queue: LatencyQueue) -> int:
    deadline = time.time() + 60
    while time.time() < deadline:
        info = queue.worker_info()
        if info and "pid" in info:
            return info["pid"]
        time.sleep(0.2)
    pytest.fail("the worker never reported its measuring child")


def insert_row(queue: LatencyQueue, settings: dict) -> int:
    """A row written straight into the store, as a buggy or hostile writer would."""
    queue.find(SMALL)  # creates the schema
    with sqlite3.connect(queue.path) as db:
        return db.execute("INSERT INTO jobs (key, settings, status, created) VALUES (?, ?, 'queued', ?)",
                          (f"hostile-{time.time()}", json.dumps(settings), time.time())).lastrowid


def explorer_renders(data: Path, monkeypatch, view: str = "position") -> AppTest:
    """The Explorer on this store: engine cards, no exception (the latency view reads the store)."""
    import ui.engine

    monkeypatch.setenv("CSL_DATA_DIR", str(data))
    monkeypatch.setenv("CSL_WORKER_SUPERVISED", "1")  # the test's own worker serves the store
    ui.engine.latency_queue.clear()
    try:
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        app.query_params["view"] = view
        app.run()
    finally:
        ui.engine.latency_queue.clear()
    assert not app.exception, [exception.value for exception in app.exception]
    labels = {metric.label for metric in app.metric}
    assert {"Parameters", "MACs"} <= labels, labels
    return app


BAD_ROWS = [
    (dict(SMALL, bogus=1), "not run: unknown setting 'bogus'"),
    (dict(SMALL, batch=True), "not run: batch must be a whole number"),
    (dict(SMALL, width=float("nan")), "not run: width must be a finite number"),
    (dict(SMALL, threads=1_000_000), "not run: threads 1000000 is more than this host's"),
    (["not", "an", "object"], "not run: a job's settings must be a JSON object"),
    ({"task": []}, "not run: a setting has a value of the wrong kind"),
    (dict(SMALL, batch=10 ** 400), "not run: a setting has a value of the wrong kind"),
]


def test_poison_jobs_fail_one_by_one_and_the_queue_goes_on(data, monkeypatch):
    """One worker meets them all in turn: its measuring child killed mid-run, rows of bad settings, and a
    row asking for a billion-second cap (clamped to the server's); the next job completes after each."""
    queue = LatencyQueue(data / "latency.sqlite3")
    with running_worker(data) as worker:
        victim = queue.submit(LONG, "alice")
        following = queue.submit(SMALL, "bob")
        wait(queue, victim.id, lambda state: state.status == "running" and state.done >= 1)
        os.kill(child_pid(queue), signal.SIGKILL)
        failed = finished(queue, victim.id, 30)
        assert failed.status == "failed" and "measuring process was killed" in failed.error
        assert "lower the batch or the resolution" in failed.error
        assert finished(queue, following.id).status == "done"

        bad = [(insert_row(queue, row), message) for row, message in BAD_ROWS]
        huge_cap = insert_row(queue, dict(LONG, resolution=192, cap_s=1e9))
        after = queue.submit(dict(SMALL, resolution=96), "bob")
        for job, message in bad:
            state = finished(queue, job)
            assert state.status == "failed" and state.error.startswith(message), state.error
        capped = finished(queue, huge_cap, 60)
        assert capped.status == "done" and capped.result["wall_s"] <= CAP_S + 1, capped.error
        assert finished(queue, after.id).status == "done"
        assert worker.poll() is None
    explorer_renders(data, monkeypatch, "latency")


def test_a_worker_killed_mid_run_retries_once_then_fails_the_job(data, monkeypatch):
    queue = LatencyQueue(data / "latency.sqlite3")
    victim = queue.submit(LONG, "alice")
    following = queue.submit(SMALL, "bob")
    for attempt in (1, 2):
        with running_worker(data) as worker:
            wait(queue, victim.id, lambda state, attempt=attempt: state.status == "running" and state.done >= 1
                 and state.attempts == attempt)  # the second worker requeued it and runs it again
            worker.kill()  # mid-run: no chance to record anything
            worker.wait(10)
        assert queue.state(victim.id).status == "running"  # as the dead worker left it
    with running_worker(data):
        failed = finished(queue, victim.id)
        assert failed.status == "failed" and failed.error == WORKER_DIED
        assert finished(queue, following.id).status == "done"  # the poison job no longer runs first
    explorer_renders(data, monkeypatch, "latency")


def test_a_truncated_cached_onnx_file_is_made_again(data, monkeypatch):
    queue = LatencyQueue(data / "latency.sqlite3")
    onnx = dict(SMALL, runtime="onnxruntime", backbone="mobilenet_v2", width=0.35, resolution=96)
    with running_worker(data):
        first = finished(queue, queue.submit(onnx, "alice").id)
        assert first.status == "done", first.error
        for path in (data / "onnx").glob("*.onnx"):
            path.write_bytes(path.read_bytes()[:1000])  # a disk that filled up mid-write, a bad copy
        again = finished(queue, queue.submit(dict(onnx, repeats=4), "alice").id)
        assert again.status == "done", again.error
        assert again.result["prepared_cached"] is False  # deleted and exported again, once
    explorer_renders(data, monkeypatch, "latency")




@contextmanager
def read_only(folder: Path):
    """``folder`` read-only for this process: a read-only bind mount (root ignores permissions), else chmod."""
    if os.geteuid() != 0:
        modes = {path: path.stat().st_mode for path in [folder, *folder.iterdir()]}
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True)
    if mounted.returncode != 0 or subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)]).returncode != 0:
        subprocess.run(["umount", str(folder)], capture_output=True)
        reason = f"cannot make a read-only mount as root: {mounted.stderr.decode().strip()}"
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)  # lazily: the worker may hold the store open


def test_a_read_only_store_keeps_the_page_and_says_why(data, monkeypatch):
    queue = LatencyQueue(data / "latency.sqlite3")
    with running_worker(data) as worker:  # the same worker before, during and after
        stored = finished(queue, queue.submit(SMALL, "alice").id)
        with read_only(data):
            with pytest.raises(StoreUnavailable, match="read-only|cannot be opened"):
                queue.submit(dict(SMALL, resolution=96), "alice")
            app = explorer_renders(data, monkeypatch, "latency")
            shown = [element.value for element in [*app.warning, *app.caption]]
            assert any(text.startswith("Latency results are unavailable: `the result store") for text in shown)
        following = queue.submit(dict(SMALL, resolution=96), "alice")  # writable again: the queue goes on
        assert finished(queue, following.id).status == "done" and worker.poll() is None
    assert queue.find(SMALL).result == stored.result


def test_a_corrupt_store_is_moved_aside_and_started_afresh(data, monkeypatch):
    queue = LatencyQueue(data / "latency.sqlite3")
    queue.find(SMALL)
    for suffix in ("-wal", "-shm"):
        Path(f"{queue.path}{suffix}").unlink(missing_ok=True)
    queue.path.write_bytes(b"not a database" * 1000)
    explorer_renders(data, monkeypatch, "latency")
    kept = list(data.glob("latency.sqlite3.corrupt-*"))
    assert kept and kept[0].read_bytes().startswith(b"not a database")  # kept for inspection
    with running_worker(data):
        assert finished(queue, queue.submit(SMALL, "alice").id).status == "done"


def test_a_store_deleted_under_a_running_worker_is_recreated(data, monkeypatch):
    queue = LatencyQueue(data / "latency.sqlite3")
    with running_worker(data) as worker:
        assert finished(queue, queue.submit(SMALL, "alice").id).status == "done"
        running = queue.submit(LONG, "alice")
        wait(queue, running.id, lambda state: state.status == "running" and state.done >= 1)
        shutil.rmtree(data)  # the whole data directory, mid-run, as an over-eager clean-up would
        explorer_renders(data, monkeypatch, "latency")
        job = queue.submit(dict(SMALL, resolution=96), "alice")
        assert finished(queue, job.id).status == "done"
        assert worker.poll() is None


def test_a_full_disk_fails_the_job_with_a_message_and_the_page_stays(data, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(data)]).returncode != 0:
        (pytest.fail if IN_CI else pytest.skip)("cannot mount a tmpfs as root")
    try:
        queue = LatencyQueue(data / "latency.sqlite3")
        with running_worker(data):
            assert finished(queue, queue.submit(SMALL, "alice").id).status == "done"
            (data / "filler").write_bytes(b"\0" * (4 * 2 ** 20 - 64 * 1024))  # nearly full
            onnx = dict(SMALL, runtime="onnxruntime", backbone="mobilenet_v2", width=0.35, resolution=96)
            try:
                job = queue.submit(onnx, "alice")
            except StoreUnavailable as error:
                assert "full" in str(error)
            else:  # queued: the export cannot be written, and the job says so
                failed = finished(queue, job.id)
                assert failed.status == "failed" and "No space left on device" in failed.error, failed.error
            explorer_renders(data, monkeypatch, "latency")
            (data / "filler").unlink()
            assert finished(queue, queue.submit(dict(SMALL, resolution=96), "alice").id).status == "done"
    finally:
        subprocess.run(["umount", "-l", str(data)], check=True)
