"""The latency queue and worker: one run per settings, shared, stored across restarts, cancellable."""
import json
import re
import sqlite3
import subprocess
import sys
import time

import pytest

from core.measurement.jobs import MAX_ACTIVE_PER_SESSION, LatencyQueue, QueueFull
from core.measurement.quality import quality
from tests.conftest import ROOT

SMALL = dict(backbone="mobilenet_v3_small", width=0.5, depth=1.0, resolution=64, device="cpu", batch=1,
             dtype="float32", channels_last=False, threads=1, warmup=1, repeats=3)
SLOW = dict(SMALL, backbone="resnet50", width=1.0, resolution=320, warmup=0, repeats=10_000)


@pytest.fixture
def queue(tmp_path):
    return LatencyQueue(tmp_path / "latency.sqlite3")


@pytest.fixture
def worker(queue):
    process = subprocess.Popen([sys.executable, "-m", "core.measurement.worker", "--db", str(queue.path), "--idle-exit", "60"],
                               cwd=ROOT)
    yield process
    process.terminate()
    process.wait(10)


def wait(queue, job, until, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = queue.state(job)
        if until(state):
            return state
        time.sleep(0.2)
    pytest.fail(f"job {job} still {queue.state(job)} after {timeout} s")


def test_two_sessions_asking_for_the_same_measurement_cause_one_run(queue, worker):
    first, second = queue.submit(SMALL, "alice"), queue.submit(SMALL, "bob")
    assert first.id == second.id
    done = wait(queue, first.id, lambda state: not state.active)
    assert done.status == "done" and done.result["runs"] == 3 and done.result["threads"] == 1
    again = queue.submit(SMALL, "carol")
    if quality(done.result).provisional:  # a noisy result is measured again (see the provisional tests below)
        assert again.id != first.id
    else:  # a later asker gets the stored result
        assert again.id == first.id and again.status == "done"


def test_a_restarted_server_shows_the_stored_result(queue, worker):
    job = queue.submit(SMALL, "alice")
    median = wait(queue, job.id, lambda state: state.status == "done").result["median_ms"]
    worker.terminate()
    worker.wait(10)
    reopened = LatencyQueue(queue.path)  # a new web process on the same store
    stored = reopened.find(SMALL)
    assert stored.status == "done" and stored.result["median_ms"] == median
    assert reopened.worker_info() is None  # nothing is running: the result came from the store


def test_queued_runs_show_their_position_and_cancel_works(queue, worker):
    slow = queue.submit(SLOW, "alice")
    wait(queue, slow.id, lambda state: state.status == "running" and state.done >= 1)
    waiting = queue.submit(SMALL, "bob")
    assert waiting.status == "queued" and waiting.position == 1
    later = queue.submit(dict(SMALL, resolution=96), "carol")
    assert queue.state(later.id).position == 2
    queue.cancel(later.id, "carol")
    assert queue.state(later.id).status == "cancelled"
    queue.cancel(slow.id, "alice")  # kills the running child
    assert wait(queue, slow.id, lambda state: not state.active, timeout=30).status == "cancelled"
    assert wait(queue, waiting.id, lambda state: not state.active).status == "done"


def test_a_shared_run_keeps_going_while_someone_still_waits(queue):
    job = queue.submit(SMALL, "alice")
    queue.submit(SMALL, "bob")
    queue.cancel(job.id, "alice")
    assert queue.state(job.id).status == "queued"
    queue.cancel(job.id, "bob")
    assert queue.state(job.id).status == "cancelled"


def test_a_session_holds_only_a_few_queued_runs(queue):
    for index in range(MAX_ACTIVE_PER_SESSION):
        queue.submit(dict(SMALL, resolution=64 + 8 * index), "alice")
    with pytest.raises(QueueFull, match="wait for one to finish or cancel one"):
        queue.submit(dict(SMALL, resolution=200), "alice")
    queue.submit(dict(SMALL, resolution=200), "bob")  # others are not blocked


def test_a_run_that_cannot_fit_fails_with_what_to_lower(queue, worker):
    job = queue.submit(dict(SMALL, backbone="efficientnet_b7", width=3.0, depth=4.0, resolution=1024), "alice")
    failed = wait(queue, job.id, lambda state: not state.active)
    assert failed.status == "failed" and re.search(r"lower the (batch, )?resolution", failed.error)


def test_the_worker_exports_quantizes_and_times_with_onnxruntime(queue, worker):
    # the configuration test_runtimes, test_cli and test_app time too: its files are made once in the suite
    onnx = dict(SMALL, runtime="onnxruntime", dtype="int8", backbone="mobilenet_v2", width=0.35, resolution=96)
    job = queue.submit(onnx, "alice")
    done = wait(queue, job.id, lambda state: not state.active)
    assert done.status == "done", done.error
    assert done.result["runtime"] == "onnxruntime" and done.result["dtype"] == "int8" and done.result["runs"] == 3
    assert done.result["model_file_bytes"] < done.result["fp32_file_bytes"]
    assert queue.find(dict(onnx, runtime="torch", dtype="float32")) is None  # torch's is another entry


def test_worker_reports_devices_and_one_worker_serves_a_store(queue, worker):
    deadline = time.time() + 60
    while queue.worker_info() is None and time.time() < deadline:
        time.sleep(0.2)
    info = queue.worker_info()
    assert "cpu" in info["devices"] and info["cap_s"] == 30
    assert info["runtimes"]["onnxruntime"]["cpu"] == ["float32", "int8"]
    second = subprocess.run([sys.executable, "-m", "core.measurement.worker", "--db", str(queue.path)], cwd=ROOT, timeout=30)
    assert second.returncode == 0  # the lock was taken: it left at once


def test_the_server_holds_a_bounded_number_of_queued_runs(queue, monkeypatch):
    import core.measurement.jobs

    monkeypatch.setattr(core.measurement.jobs, "MAX_QUEUED", 3)
    for index in range(3):
        queue.submit(dict(SMALL, resolution=64 + 8 * index), f"student{index}")
    with pytest.raises(QueueFull, match=r"the server's queue is full \(3 runs waiting\)"):
        queue.submit(dict(SMALL, resolution=200), "another")
    assert queue.submit(dict(SMALL, resolution=64), "another").status == "queued"  # joining a queued run is free


def test_only_a_waiting_session_may_cancel(queue):
    job = queue.submit(SMALL, "alice")
    assert queue.is_waiting(job.id, "alice") and not queue.is_waiting(job.id, "mallory")
    queue.cancel(job.id, "mallory")
    assert queue.state(job.id).status == "queued"


def test_old_jobs_and_waiters_are_pruned(queue):
    done = [queue.submit(dict(SMALL, resolution=64 + 8 * index), "alice").id for index in range(4)]
    for job in done:
        queue.claim()
        queue.finish(job, result={"median_ms": 1.0})
    again = queue.submit(dict(SMALL, resolution=64), "bob")  # done: the stored result is returned
    assert again.id == done[0]
    failed = queue.submit(dict(SMALL, resolution=200), "alice").id
    queue.claim()
    queue.finish(failed, error="boom")
    with sqlite3.connect(queue.path) as db:  # a second result for the same key, as before results healed
        db.execute("INSERT INTO jobs (key, settings, status, created, finished, result) SELECT key, settings, "
                   "'done', created, finished + 1, result FROM jobs WHERE id = ?", (done[1],))
    queue.prune(keep_results=2, keep_failed_s=-1)
    with sqlite3.connect(queue.path) as db:
        left = db.execute("SELECT id, status FROM jobs ORDER BY id").fetchall()
        waiters = db.execute("SELECT COUNT(*) FROM waiters").fetchone()[0]
    assert [status for _, status in left] == ["done", "done"] and waiters == 0
    assert done[1] not in [job for job, _ in left]  # the superseded copy went, the newest stayed


def test_pruning_keeps_the_stored_result_while_the_same_network_is_measured_again(queue):
    stored = _finish(queue, SMALL, BUSY)
    _finish(queue, SMALL, dict(BUSY, other_load_cores=2.0))  # a worse copy
    again = queue.submit(SMALL, "bob")  # provisional: measured again, queued
    queue.prune()
    assert queue.state(stored).status == "done" and queue.state(again.id).status == "queued"


def test_one_worker_serves_a_store_whatever_path_names_it(queue, worker, tmp_path):
    deadline = time.time() + 60
    while queue.worker_info() is None and time.time() < deadline:
        time.sleep(0.2)
    alias = tmp_path / "alias"
    alias.symlink_to(queue.path.parent)
    second = subprocess.run([sys.executable, "-m", "core.measurement.worker", "--db", str(alias / queue.path.name)], cwd=ROOT,
                            timeout=30)
    # it left at once (it would otherwise serve until its idle exit, past the timeout): the lock was taken
    assert second.returncode == 0 and LatencyQueue(alias / queue.path.name).path == queue.path


def test_a_supervised_server_never_starts_its_own_worker(queue, monkeypatch):
    monkeypatch.setenv("CSL_WORKER_SUPERVISED", "1")
    queue.submit(SMALL, "alice")
    queue.ensure_worker()
    time.sleep(1)
    assert queue.worker_pid() is None and not queue.lock_path.exists()


GOOD = {"median_ms": 10.0, "p10_ms": 9.8, "p90_ms": 10.4, "runs": 20, "host_busy": False, "other_load_cores": 0.1}
BUSY = {"median_ms": 95.0, "p10_ms": 40.0, "p90_ms": 160.0, "runs": 10, "host_busy": True, "other_load_cores": 1.4}


def _finish(queue, settings, result, session="alice"):
    job = queue.submit(settings, session).id
    claimed = queue.claim()
    assert claimed[0] == job
    queue.finish(job, result=result)
    return job


def test_a_busy_result_is_provisional_and_the_next_measure_replaces_it(queue):
    from core.measurement.quality import quality

    busy = _finish(queue, SMALL, BUSY)
    assert quality(queue.find(SMALL).result).label.startswith("provisional: busy host (1.4 other cores)")
    again = queue.submit(SMALL, "bob")
    assert again.id != busy and again.status == "queued"  # Measure queues a replacement
    queue.claim()
    queue.finish(again.id, result=GOOD)
    assert queue.find(SMALL).result == GOOD and queue.submit(SMALL, "carol").id == again.id


def test_a_good_result_is_not_displaced_by_a_later_busy_one(queue):
    good = _finish(queue, SMALL, GOOD)
    with sqlite3.connect(queue.path) as db:  # another (noisy) copy of the same network, newer
        db.execute("INSERT INTO jobs (key, settings, status, created, finished, result) SELECT key, settings, "
                   "'done', created, finished + 1, ? FROM jobs WHERE id = ?", (json.dumps(BUSY), good))
    assert queue.find(SMALL).id == good


def test_two_repeat_counts_give_one_stored_value(queue):
    job = _finish(queue, dict(SMALL, repeats=20), GOOD)
    assert queue.find(dict(SMALL, repeats=10)).id == job
    assert queue.submit(dict(SMALL, repeats=10), "bob").id == job  # nothing queued again


def test_an_idle_worker_measures_the_most_asked_provisional_result_again_when_the_host_is_quiet(queue, monkeypatch):
    import core.measurement.worker

    _finish(queue, dict(SMALL, resolution=96), BUSY)
    popular = _finish(queue, SMALL, BUSY)
    with sqlite3.connect(queue.path) as db:
        db.execute("UPDATE jobs SET asks = 30 WHERE id = ?", (popular,))
    assert [settings["resolution"] for settings in queue.provisional_results()] == [64, 96]
    worker = core.measurement.worker.Worker(queue, idle_exit_s=0)
    monkeypatch.setattr(core.measurement.worker, "busy_cores", lambda seconds: 1.5)
    worker._remeasure()
    assert queue.find(SMALL).id == popular  # the host is busy: nothing queued
    monkeypatch.setattr(core.measurement.worker, "busy_cores", lambda seconds: 0.1)
    worker._remeasure()
    state = queue.find(SMALL)
    assert state.status == "queued" and state.id != popular
    worker._remeasure()  # once per worker: the other one is next
    assert queue.find(dict(SMALL, resolution=96)).status == "queued"


def test_a_recent_answer_is_reused_only_within_its_age_and_never_past_this_processs_own_submit(queue):
    """A class on one configuration reads the store once per interval; what it submits shows at once."""
    assert queue.find_many([SMALL], max_age_s=60) == [None]
    other = LatencyQueue(queue.path)  # another server process queues it
    queued = other.submit(SMALL, "bob")
    assert queue.find_many([SMALL], max_age_s=60) == [None]  # the remembered answer, within its age
    assert queue.find_many([SMALL])[0].id == queued.id  # max_age_s 0: read afresh
    assert queue.find_many([SMALL], max_age_s=60)[0].id == queued.id  # and remembered from then on
    other.cancel(queued.id, "bob")
    mine = queue.submit(SMALL, "alice")  # this process's own submit is never hidden by an old answer
    assert queue.find_many([SMALL], max_age_s=60)[0].id == mine.id
