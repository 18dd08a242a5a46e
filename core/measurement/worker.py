"""``python -m core.measurement.worker``: runs queued measurements, one at a time, outside the web server.

A job is a latency measurement (with torch or onnxruntime: export and quantization
happen here too, inside the run's cap), or (``task="ptflops"``) a ptflops cross-check, which patches
torch globally and so must never overlap another model run.

The worker itself never imports torch. It checks each job's settings (``core.measurement.job_settings``),
hands the job to a warm child process (which loads a custom network's ``spec`` first) and watches it: progress goes to the store; a run past its
hard cap, over its memory limit, or cancelled by everyone waiting on it is stopped by killing the
child (a forward pass cannot be interrupted from inside), and a fresh child takes the next job.
Whatever a job does (raise, die, exhaust memory, fill the disk), it ends as a failed job with a
message and the worker goes on. With nothing queued and the host quiet, it measures provisional
results (``core.measurement.quality``) again, most asked for first. A file lock keeps one worker per store; it exits after a while
with nothing to do (web pages, or deploy/start.sh, start it again).
"""
from __future__ import annotations

import argparse
import fcntl
import multiprocessing
import os
import shutil
import signal
import sys
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

from core.measurement.job_settings import BadSettings, check_job, default_cap_s
from core.measurement.jobs import LatencyQueue, QueueFull, StoreUnavailable, data_dir, settings_key
from core.measurement.memory import (
    child_memory_limit_mb,
    limit_address_space,
    out_of_memory_message,
    peak_rss_mb,
    reset_peak_rss,
    rss_mb,
    trim_heap,
)
from core.measurement.onnx_recipe import leftovers
from core.measurement.quality import QUIET_CORES, busy_cores

GRACE_S = 5.0  # past the run's own cap: the child checks the cap itself between passes
CALIBRATION_CAPS = 2  # a family's first run calibrates this host first (with onnxruntime: exports and quantizes)
POLL_S = 0.2
# Runs are refused up front when estimated above the memory limit; the estimate errs up to about 1.3x
# (bench/bench_memory.py), so a running child is killed only once its RSS passes this multiple of it.
KILL_FACTOR = 1.3
PRUNE_EVERY_S = 600.0
REMEASURE_EVERY_S = 30.0  # how often an idle worker looks for provisional results to measure again
STORE_RETRY_S = 2.0


def _child(pipe: Connection, limit_mb: float) -> None:
    """The warm measuring process: settings in, progress and one result or error out."""
    import torch

    from core.measurement.latency import RUNTIMES, available_devices, measure_latency, supported_dtypes
    from core.network.scaling import ScalingError

    limit_address_space(limit_mb)  # an allocation past the backstop fails inside the job, not the machine
    runtimes = {runtime: {device: supported_dtypes(device, runtime) for device in available_devices(runtime)}
                for runtime in RUNTIMES}
    pipe.send(("ready", {"devices": runtimes["torch"], "runtimes": runtimes,
                         "torch_version": torch.__version__, "default_threads": torch.get_num_threads(),
                         "cpu_count": os.cpu_count(), "cap_s": default_cap_s(),
                         "memory_limit_mb": limit_mb, "pid": os.getpid(), "rss_mb": rss_mb()}))
    while True:
        try:
            settings = pipe.recv()
        except (EOFError, OSError):  # the worker is gone
            return
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.monotonic() - last[0] > 0.2 or done in (0, total):
                last[0] = time.monotonic()
                pipe.send(("progress", done, total))

        reset_peak_rss()
        try:
            settings = _with_network(settings)
            if settings.get("task") == "ptflops":  # ptflops patches torch globally: here it runs alone
                from core.measurement.ptflops_check import cross_check

                config = {key: settings.get(key) for key in ("backbone", "width", "depth", "resolution",
                                                             "stage_width", "stage_depth")}  # no cap_s
                result = cross_check(**config, memory_limit_mb=limit_mb)
            elif settings.get("task") == "calibrate":  # this host's latency model, asked for by a page
                from core.prediction.calibration import calibrate

                fit = calibrate(settings["runtime"], settings["dtype"], settings["threads"],
                                budget_s=settings["budget_s"], progress=progress)
                result = {"runtime": settings["runtime"], "dtype": settings["dtype"], "threads": settings["threads"],
                          "fit_error": fit.fit_error, "seconds": fit.seconds, "timings": len(fit.samples)}
            else:
                result = measure_latency(progress=progress, memory_limit_mb=limit_mb, **settings).as_dict()
            pipe.send(("result", {**result, "peak_rss_mb": round(peak_rss_mb(), 1)}))
        except ScalingError as error:
            pipe.send(("error", str(error)))
        except MemoryError:
            pipe.send(("error", out_of_memory_message(settings)))
        except Exception as error:  # noqa: BLE001 - any failure of a job is that job's, never the worker's
            text = (str(error).strip().splitlines() or [""])[0][:200]
            if "alloc" in text.lower() or "out of memory" in text.lower():
                pipe.send(("error", out_of_memory_message(settings)))
            else:
                traceback.print_exc()  # for the operator, in the worker's log
                pipe.send(("error", f"the run failed ({type(error).__name__}: {text}): try runtime torch, or "
                                    "a smaller configuration"))
        finally:
            trim_heap()


def _with_network(settings: dict) -> dict:
    """The settings without their ``spec``, which is loaded and registered here: its ``backbone`` (the spec's
    ``custom-<digest>`` name, as ``check_job`` made sure) then finds it in this process."""
    if settings.get("spec") is None:
        return {key: value for key, value in settings.items() if key != "spec"}
    from core.network.families import resolve
    from core.network.spec import load_spec

    resolve(load_spec(settings["spec"]))  # resolving a custom architecture registers it by its name
    return {key: value for key, value in settings.items() if key != "spec"}


class Worker:
    """Supervises one measuring child for one store."""

    def __init__(self, queue: LatencyQueue, idle_exit_s: float):
        self.queue = queue
        self.idle_exit_s = idle_exit_s
        self.limit_mb = child_memory_limit_mb()
        self.context = multiprocessing.get_context("spawn")
        self.child = self.pipe = None
        self.info: dict = {}
        self.remeasured: set[str] = set()

    def _start_child(self) -> None:
        self.pipe, child_end = self.context.Pipe()
        self.child = self.context.Process(target=_child, args=(child_end, self.limit_mb), daemon=True)
        self.child.start()
        child_end.close()
        kind, self.info = self.pipe.recv()
        self._store(self.queue.beat, self.info)

    def _kill_child(self) -> None:
        """Kill the child and remove the unfinished files it left in the ONNX cache."""
        pid = self.child.pid
        self.child.kill()
        self.child.join(5)
        for path in leftovers(data_dir(create=False) / "onnx", pid):  # where core.measurement.onnx_runtime caches
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        self._start_child()

    def _store(self, call, *args, **kwargs):
        """A store call that must not take the worker down: a fault is logged and retried later."""
        try:
            return call(*args, **kwargs)
        except StoreUnavailable as error:
            print(f"worker: {error}", file=sys.stderr, flush=True)
            return None

    def _finish(self, job: int, **outcome) -> None:
        """Record a job's end; a store that cannot take it now is retried for a while, a store that no
        longer has the job (deleted, replaced) is left alone."""
        for _ in range(10):
            try:
                self.queue.finish(job, **outcome)
                return
            except StoreUnavailable as error:
                print(f"worker: {error}", file=sys.stderr, flush=True)
            time.sleep(STORE_RETRY_S)

    def serve(self) -> None:
        self._store(self.queue.recover)
        self._start_child()
        idle_since = pruned = looked = time.monotonic()
        self._store(self.queue.prune)
        while time.monotonic() - idle_since < self.idle_exit_s:
            if time.monotonic() - pruned > PRUNE_EVERY_S:
                self._store(self.queue.prune)
                pruned = time.monotonic()
            try:
                claimed = self.queue.claim()
            except StoreUnavailable as error:
                print(f"worker: {error}", file=sys.stderr, flush=True)
                time.sleep(STORE_RETRY_S)
                continue
            if claimed is None:
                self._store(self.queue.beat, self.info)  # an upsert: a recreated store learns of this worker
                if time.monotonic() - looked > REMEASURE_EVERY_S:
                    self._remeasure()
                    looked = time.monotonic()
                else:
                    time.sleep(POLL_S)
                continue
            job, settings = claimed
            try:
                settings = check_job(settings)
            except Exception as error:  # noqa: BLE001 - BadSettings, or anything a hostile row provokes
                self._finish(job, error=f"not run: {error}")
                continue
            try:
                self._run(job, settings)
            except Exception as error:  # noqa: BLE001 - the worker outlives anything a job does
                traceback.print_exc()
                self._kill_child()
                self._finish(job, error=f"the worker could not run this ({type(error).__name__}): try again")
            idle_since = time.monotonic()

    def _remeasure(self) -> None:
        """With nothing queued and the host quiet, queue the most-asked provisional result again (each
        at most once per worker: a host that is never quiet while timing gets no endless re-runs)."""
        candidates = [settings for settings in self._store(self.queue.provisional_results) or []
                      if settings_key(settings) not in self.remeasured]
        if not candidates:
            return
        busy = busy_cores(1.0)
        if busy is None or busy > QUIET_CORES:
            return
        self.remeasured.add(settings_key(candidates[0]))
        try:
            self.queue.submit(candidates[0], "worker:remeasure")
        except (StoreUnavailable, QueueFull, BadSettings) as error:
            print(f"worker: not measuring a provisional result again: {error}", file=sys.stderr, flush=True)

    def _run(self, job: int, settings: dict) -> None:
        cap_s = settings["cap_s"]
        # a latency run's first run of a family calibrates its speed first (until progress 0); a
        # calibration job's cap covers all of it
        started, calibrating = time.monotonic(), settings.get("task") != "calibrate"
        self.pipe.send(settings)
        while True:
            self._store(self.queue.beat, self.info)
            try:
                ready = self.pipe.poll(POLL_S)
                message = self.pipe.recv() if ready else None
            except (EOFError, OSError):  # the child closed the pipe: it died
                message = None
            if message is not None and message[0] == "progress":
                if message[1] == 0:  # calibration is over: the run's own clock starts
                    started, calibrating = time.monotonic(), False
                self._store(self.queue.progress, job, message[1], message[2])
                continue
            if message is not None:
                kind, payload = message
                self._finish(job, result=payload if kind == "result" else None,
                             error=payload if kind == "error" else None)
                return
            if self._store(self.queue.status_of, job) == "cancelling":
                self._kill_child()
                self._finish(job, error="cancelled", status="cancelled")
                return
            used_mb = rss_mb(self.child.pid)
            if used_mb is not None and used_mb > KILL_FACTOR * self.limit_mb:
                self._kill_child()
                self._finish(job, error=out_of_memory_message(settings, used_mb, KILL_FACTOR * self.limit_mb))
                return
            if not self.child.is_alive():
                self._finish(job, error=self._death(settings))
                self._kill_child()
                return
            allowed = (CALIBRATION_CAPS if calibrating else 1) * cap_s
            elapsed = time.monotonic() - started
            if elapsed > allowed + GRACE_S:
                reason = (f"stopped after {elapsed:.0f} s calibrating this host for the family, past {allowed:g} s"
                          if calibrating else f"stopped after {elapsed:.0f} s, past the {cap_s:g} s cap")
                self._kill_child()
                self._finish(job, error=f"{reason}: lower the resolution, the width, the depth or the batch")
                return

    def _death(self, settings: dict) -> str:
        """Why the child died, for the failed job's message."""
        self.child.join(1)
        code = self.child.exitcode
        if code == -signal.SIGKILL:
            return out_of_memory_message(settings, killed=True)
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit status {code}"
        return (f"the measuring process died ({how}) during this run: lower the batch or the resolution, or try "
                "the other runtime")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.measurement.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="result store (default: $CSL_DATA_DIR/latency.sqlite3)")
    parser.add_argument("--idle-exit", type=float, default=float(os.environ.get("CSL_WORKER_IDLE_EXIT_S", "600")),
                        help="seconds with no job before exiting (default 600)")
    args = parser.parse_args(argv)
    queue = LatencyQueue(Path(args.db) if args.db else None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exit cleanly: the measuring child goes too
    queue.path.parent.mkdir(parents=True, exist_ok=True)
    with open(queue.lock_path, "w") as lock:  # named from the store's real path: one worker per store
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # another worker serves this store
        worker = Worker(queue, args.idle_exit)
        try:
            worker.serve()
        finally:
            worker._store(queue.retire)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
