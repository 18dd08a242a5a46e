"""Latency runs in the background, so a page never waits on a forward pass.

One worker thread (``measure_latency`` serializes runs anyway); each job keeps its
progress, result or error; finished results are kept for the last ``max_results``
configurations so a repeated request is answered at once.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from core.latency import LatencyResult, measure_latency
from core.scaling import ScalingError


@dataclass
class LatencyJob:
    """One requested measurement; ``done``/``total`` count forward passes."""

    done: int = 0
    total: int = 0
    result: LatencyResult | None = None
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return not self.finished.is_set()


class LatencyJobs:
    """Submit measurements by settings; read their progress and results without blocking."""

    def __init__(self, max_results: int = 128):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="latency")
        self._jobs: OrderedDict[tuple, LatencyJob] = OrderedDict()
        self._lock = threading.Lock()
        self._max_results = max_results

    @staticmethod
    def key(**settings) -> tuple:
        """A hashable key for ``measure_latency`` keyword arguments."""
        return tuple(sorted(settings.items()))

    def submit(self, **settings) -> LatencyJob:
        """Queue a measurement, or return the job already queued or finished for these settings."""
        key = self.key(**settings)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.error is None:
                self._jobs.move_to_end(key)
                return job
            job = self._jobs[key] = LatencyJob()
            while len(self._jobs) > self._max_results:
                oldest, stale = next(iter(self._jobs.items()))
                if stale.running:
                    break
                del self._jobs[oldest]
        self._executor.submit(self._run, job, settings)
        return job

    def get(self, **settings) -> LatencyJob | None:
        """The job for these settings, if one was submitted."""
        with self._lock:
            return self._jobs.get(self.key(**settings))

    def _run(self, job: LatencyJob, settings: dict) -> None:
        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        try:
            job.result = measure_latency(progress=progress, **settings)
        except ScalingError as error:
            job.error = str(error)
        except (RuntimeError, MemoryError) as error:  # e.g. out of memory inside torch
            job.error = f"the run failed: {error}. Lower the batch, resolution or width."
        finally:
            job.finished.set()
