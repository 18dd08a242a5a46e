"""The latency queue and result store: one SQLite file shared by web processes and the worker.

Web processes only queue measurements and read their state; ``core.worker`` (another
process) runs them one at a time. A measurement is keyed by its settings, the torch
version and a host fingerprint, so two sessions asking for the same thing share one
run, and a finished result outlives a restart. Torch-free: the web server imports this.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from core.onnx_recipe import RECIPE as ONNX_RECIPE

MAX_ACTIVE_PER_SESSION = 6
HEARTBEAT_STALE_S = 5.0
ACTIVE = ("queued", "running", "cancelling")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    settings TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_key ON jobs (key, id);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, id);
CREATE TABLE IF NOT EXISTS waiters (
    job INTEGER NOT NULL,
    session TEXT NOT NULL,
    PRIMARY KEY (job, session)
);
CREATE TABLE IF NOT EXISTS worker (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER,
    heartbeat REAL,
    info TEXT
);
"""


def data_dir() -> Path:
    """Where the result store lives: ``CSL_DATA_DIR``, else ~/.cache/channel-scaling-lab."""
    path = Path(os.environ.get("CSL_DATA_DIR") or Path.home() / ".cache" / "channel-scaling-lab")
    path.mkdir(parents=True, exist_ok=True)
    return path


@cache
def host_fingerprint() -> str:
    """Machine name, CPU model and core count: results from another host are not this host's."""
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{platform.node()}|{model}|{os.cpu_count()}"


@cache
def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "none"


def torch_version() -> str:
    return package_version("torch")


def settings_key(settings: dict) -> str:
    """The store key: settings plus library versions and host (anything that changes a timing).

    Runtime torch (the default) keys exactly as before runtimes existed, so stored results stay
    valid; any other runtime is in the key with its own version and export/quantization recipe
    (results are never mixed, and a changed recipe measures again).
    """
    settings = dict(settings)
    versions = [torch_version()]
    if settings.get("runtime", "torch") == "torch":
        settings.pop("runtime", None)
    else:
        versions += [package_version(settings["runtime"]), ONNX_RECIPE]
    payload = json.dumps([sorted(settings.items()), *versions, host_fingerprint()])
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class JobState:
    """What a page shows of one measurement."""

    id: int
    status: str  # queued | running | cancelling | done | failed | cancelled
    position: int  # 0 = running now; n = n runs ahead of it; -1 once finished
    elapsed_s: float
    done: int
    total: int
    result: dict | None
    error: str | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


class LatencyQueue:
    """Queue measurements, read their state and results, cancel them; safe from many processes."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else data_dir() / "latency.sqlite3"
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self):
        with closing(sqlite3.connect(self.path, timeout=10, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            yield db

    # ---- asking ----------------------------------------------------------------------------

    def submit(self, settings: dict, session: str) -> JobState:
        """The finished or active job for these settings, else a new queued one; ``session`` waits on it.

        Raises ``QueueFull`` when the session already waits on ``MAX_ACTIVE_PER_SESSION`` runs.
        """
        key = settings_key(settings)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT id, status FROM jobs WHERE key = ? AND status NOT IN "
                                 "('failed', 'cancelled') ORDER BY id DESC LIMIT 1", (key,)).fetchone()
                if row is not None and row[1] == "done":
                    db.execute("COMMIT")
                    return self._state(db, row[0])
                if row is None or row[1] == "cancelling":
                    waiting = db.execute(
                        "SELECT COUNT(*) FROM waiters JOIN jobs ON jobs.id = waiters.job "
                        f"WHERE session = ? AND status IN ({', '.join('?' * len(ACTIVE))})",
                        (session, *ACTIVE)).fetchone()[0]
                    if waiting >= MAX_ACTIVE_PER_SESSION:
                        raise QueueFull(f"you already have {waiting} measurements queued: wait for one to "
                                        "finish or cancel one")
                    job = db.execute("INSERT INTO jobs (key, settings, status, created) VALUES (?, ?, 'queued', ?)",
                                     (key, json.dumps(settings), time.time())).lastrowid
                else:
                    job = row[0]
                db.execute("INSERT OR IGNORE INTO waiters (job, session) VALUES (?, ?)", (job, session))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return self._state(db, job)

    def find(self, settings: dict) -> JobState | None:
        """The newest job for these settings (finished, active or failed), without queueing one."""
        return self.find_many([settings])[0]

    def find_many(self, requests: list[dict]) -> list[JobState | None]:
        """``find`` for each of ``requests``, over one connection (a page polls many at once)."""
        with self._connect() as db:
            rows = [db.execute("SELECT id FROM jobs WHERE key = ? AND status != 'cancelled' ORDER BY id DESC "
                               "LIMIT 1", (settings_key(settings),)).fetchone() for settings in requests]
            return [None if row is None else self._state(db, row[0]) for row in rows]

    def state(self, job: int) -> JobState:
        with self._connect() as db:
            return self._state(db, job)

    def cancel(self, job: int, session: str) -> None:
        """Stop waiting; the run itself stops once nobody else waits on it."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM waiters WHERE job = ? AND session = ?", (job, session))
            if not db.execute("SELECT 1 FROM waiters WHERE job = ?", (job,)).fetchone():
                db.execute("UPDATE jobs SET status = 'cancelled', finished = ? WHERE id = ? AND status = 'queued'",
                           (time.time(), job))
                db.execute("UPDATE jobs SET status = 'cancelling' WHERE id = ? AND status = 'running'", (job,))
            db.execute("COMMIT")

    def _state(self, db, job: int) -> JobState:
        status, created, started, finished, done, total, result, error = db.execute(
            "SELECT status, created, started, finished, done, total, result, error FROM jobs WHERE id = ?",
            (job,)).fetchone()
        if status == "queued":
            position = db.execute("SELECT COUNT(*) FROM jobs WHERE (status = 'queued' AND id < ?) "
                                  "OR status IN ('running', 'cancelling')", (job,)).fetchone()[0]
        else:
            position = 0 if status in ACTIVE else -1
        elapsed = (finished or time.time()) - (started or created)
        return JobState(job, status, position, elapsed, done, total,
                        None if result is None else json.loads(result), error)

    # ---- the worker's side -----------------------------------------------------------------

    def claim(self) -> tuple[int, dict] | None:
        """The oldest queued job, now marked running."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT id, settings FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
            if row is not None:
                db.execute("UPDATE jobs SET status = 'running', started = ? WHERE id = ?", (time.time(), row[0]))
            db.execute("COMMIT")
        return None if row is None else (row[0], json.loads(row[1]))

    def progress(self, job: int, done: int, total: int) -> None:
        with self._connect() as db:
            db.execute("UPDATE jobs SET done = ?, total = ? WHERE id = ?", (done, total, job))

    def finish(self, job: int, result: dict | None = None, error: str | None = None,
               status: str | None = None) -> None:
        status = status or ("done" if error is None else "failed")
        with self._connect() as db:
            db.execute("UPDATE jobs SET status = ?, finished = ?, result = ?, error = ? WHERE id = ?",
                       (status, time.time(), None if result is None else json.dumps(result), error, job))

    def status_of(self, job: int) -> str:
        with self._connect() as db:
            return db.execute("SELECT status FROM jobs WHERE id = ?", (job,)).fetchone()[0]

    def recover(self) -> None:
        """Requeue runs a dead worker left running (a new worker calls this first)."""
        with self._connect() as db:
            db.execute("UPDATE jobs SET status = 'queued', started = NULL, done = 0, total = 0 "
                       "WHERE status = 'running'")
            db.execute("UPDATE jobs SET status = 'cancelled', finished = ? WHERE status = 'cancelling'",
                       (time.time(),))

    def beat(self, info: dict | None = None) -> None:
        with self._connect() as db:
            if info is None:
                db.execute("UPDATE worker SET heartbeat = ? WHERE id = 1", (time.time(),))
            else:
                db.execute("INSERT OR REPLACE INTO worker (id, pid, heartbeat, info) VALUES (1, ?, ?, ?)",
                           (os.getpid(), time.time(), json.dumps(info)))

    def retire(self) -> None:
        """A worker that leaves says so, so that the next page starts a new one at once."""
        with self._connect() as db:
            db.execute("UPDATE worker SET heartbeat = NULL WHERE id = 1 AND pid = ?", (os.getpid(),))

    def worker_info(self) -> dict | None:
        """What the live worker reported (devices, dtypes, torch version), or None if none is alive."""
        with self._connect() as db:
            row = db.execute("SELECT heartbeat, info FROM worker WHERE id = 1").fetchone()
        if row is None or row[0] is None or time.time() - row[0] > HEARTBEAT_STALE_S:
            return None
        return json.loads(row[1])

    def worker_pid(self) -> int | None:
        """The pid of the last worker that served this store (alive or not)."""
        with self._connect() as db:
            row = db.execute("SELECT pid FROM worker WHERE id = 1").fetchone()
        return None if row is None else row[0]

    def ensure_worker(self) -> None:
        """Start ``python -m core.worker`` for this store unless one is alive (a file lock keeps it single)."""
        if self.worker_info() is not None:
            return
        log = open(self.path.with_suffix(".worker.log"), "ab")
        subprocess.Popen([sys.executable, "-m", "core.worker", "--db", str(self.path)],
                         cwd=Path(__file__).resolve().parents[1], stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        log.close()


class QueueFull(Exception):
    """A session asked for more measurements than it may have queued at once."""
