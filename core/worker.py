"""``python -m core.worker``: runs queued measurements, one at a time, outside the web server.

A job is a latency measurement (with torch or onnxruntime: export and quantization
happen here too, inside the run's cap), or (``task="ptflops"``) a ptflops cross-check, which patches
torch globally and so must never overlap another model run.

The worker itself never imports torch. It hands each job to a warm child process and
watches it: progress goes to the store, a run past its hard cap or cancelled by
everyone waiting on it is stopped by killing the child (a forward pass cannot be
interrupted from inside), and a fresh child takes the next job. A file lock keeps one
worker per store; it exits after a while with nothing to do (web pages start it again).
"""
from __future__ import annotations

import argparse
import fcntl
import multiprocessing
import os
import signal
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

from core.jobs import LatencyQueue

GRACE_S = 5.0  # past the run's own cap: the child checks the cap itself between passes
CALIBRATION_CAPS = 2  # a family's first run calibrates this host first (with onnxruntime: exports and quantizes)
POLL_S = 0.2


def _child(pipe: Connection) -> None:
    """The warm measuring process: settings in, progress and one result or error out."""
    import torch

    from core.latency import DEFAULT_CAP_S, RUNTIMES, available_devices, measure_latency, supported_dtypes
    from core.scaling import ScalingError

    runtimes = {runtime: {device: supported_dtypes(device, runtime) for device in available_devices(runtime)}
                for runtime in RUNTIMES}
    pipe.send(("ready", {"devices": runtimes["torch"], "runtimes": runtimes,
                         "torch_version": torch.__version__, "default_threads": torch.get_num_threads(),
                         "cpu_count": os.cpu_count(), "cap_s": DEFAULT_CAP_S}))
    while True:
        try:
            settings = pipe.recv()
        except EOFError:  # the worker is gone
            return
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.monotonic() - last[0] > 0.2 or done in (0, total):
                last[0] = time.monotonic()
                pipe.send(("progress", done, total))

        try:
            if settings.get("task") == "ptflops":  # ptflops patches torch globally: here it runs alone
                from core.ptflops_check import cross_check

                config = {key: settings[key] for key in ("backbone", "width", "depth", "resolution")}
                pipe.send(("result", cross_check(**config)))
            else:
                pipe.send(("result", measure_latency(progress=progress, **settings).as_dict()))
        except ScalingError as error:
            pipe.send(("error", str(error)))
        except (RuntimeError, MemoryError) as error:  # e.g. out of memory inside torch
            pipe.send(("error", f"the run failed: {error}. Lower the batch, resolution or width."))


class Worker:
    """Supervises one measuring child for one store."""

    def __init__(self, queue: LatencyQueue, idle_exit_s: float):
        self.queue = queue
        self.idle_exit_s = idle_exit_s
        self.context = multiprocessing.get_context("spawn")
        self.child = self.pipe = None
        self.info: dict = {}

    def _start_child(self) -> None:
        self.pipe, child_end = self.context.Pipe()
        self.child = self.context.Process(target=_child, args=(child_end,), daemon=True)
        self.child.start()
        child_end.close()
        kind, self.info = self.pipe.recv()
        self.queue.beat(self.info)

    def _stop_child(self, job: int, error: str, status: str = "failed") -> None:
        """Kill the child mid-run, record why, and start a fresh child for the next job."""
        self.child.kill()
        self.child.join(5)
        self.queue.finish(job, error=error, status=status)
        self._start_child()

    def serve(self) -> None:
        self.queue.recover()
        self._start_child()
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < self.idle_exit_s:
            claimed = self.queue.claim()
            if claimed is None:
                self.queue.beat()
                time.sleep(POLL_S)
                continue
            self._run(*claimed)
            idle_since = time.monotonic()

    def _run(self, job: int, settings: dict) -> None:
        cap_s = settings.get("cap_s") or self.info.get("cap_s", 30.0)
        started, calibrating = time.monotonic(), True
        self.pipe.send(settings)
        while True:
            self.queue.beat()
            if self.pipe.poll(POLL_S):
                message = self.pipe.recv()
                if message[0] == "progress":
                    if message[1] == 0:  # calibration is over: the run's own clock starts
                        started, calibrating = time.monotonic(), False
                    self.queue.progress(job, message[1], message[2])
                    continue
                kind, payload = message
                self.queue.finish(job, result=payload if kind == "result" else None,
                                  error=payload if kind == "error" else None)
                return
            if self.queue.status_of(job) == "cancelling":
                self._stop_child(job, "cancelled", "cancelled")
                return
            allowed = (CALIBRATION_CAPS if calibrating else 1) * cap_s
            if time.monotonic() - started > allowed + GRACE_S or not self.child.is_alive():
                elapsed = time.monotonic() - started
                if not self.child.is_alive():
                    reason = "the measuring process died (out of memory?)"
                elif calibrating:
                    reason = f"stopped after {elapsed:.0f} s calibrating this host for the family, past {allowed:g} s"
                else:
                    reason = f"stopped after {elapsed:.0f} s, past the {cap_s:g} s cap"
                self._stop_child(job, f"{reason}: lower the resolution, the width, the depth or the batch")
                return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="result store (default: $CSL_DATA_DIR/latency.sqlite3)")
    parser.add_argument("--idle-exit", type=float, default=float(os.environ.get("CSL_WORKER_IDLE_EXIT_S", "600")),
                        help="seconds with no job before exiting (default 600)")
    args = parser.parse_args(argv)
    queue = LatencyQueue(Path(args.db) if args.db else None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exit cleanly: the measuring child goes too
    with open(queue.path.with_suffix(".worker.lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # another worker serves this store
        try:
            Worker(queue, args.idle_exit).serve()
        finally:
            queue.retire()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
