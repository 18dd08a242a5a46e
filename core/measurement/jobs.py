"""The latency queue and result store: one SQLite file shared by web processes and the worker.

Web processes only queue measurements and read their state; ``core.measurement.worker`` (another
process) runs them one at a time. A measurement is keyed by its settings, the torch
version and a host fingerprint, so two sessions asking for the same thing share one
run, and a finished result outlives a restart. A fault of the store (deleted, corrupt,
read-only, full) heals where it can and is otherwise one ``StoreUnavailable`` line, never
a traceback on a page. Torch-free: the web server imports this.
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

from core.measurement.job_settings import check_job
from core.measurement.onnx_recipe import RECIPE as ONNX_RECIPE
from core.measurement.quality import quality, rank
from core.network.scaling import uniform

MAX_ACTIVE_PER_SESSION = 6
RECENT_ENTRIES = 4096  # find_many's remembered answers per process (cleared whole when full)
MAX_QUEUED = int(os.environ.get("CSL_MAX_QUEUED", "100"))  # waiting runs for the whole server, every session
MAX_ATTEMPTS = 2  # a run its worker died during is retried once, then failed
KEEP_RESULTS = 20_000  # stored results kept (newest first); older ones are pruned
KEEP_FAILED_S = 86_400.0  # failed and cancelled jobs are shown for a day, then pruned
HEARTBEAT_STALE_S = 5.0
ACTIVE = ("queued", "running", "cancelling")
CALIBRATION_MARK = '"task": "calibrate"'  # how a calibration job's settings read in the store (json.dumps)
WORKER_DIED = ("the worker stopped twice while running this (killed, or out of memory): lower the batch, the "
               "resolution or the width")

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
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    asks INTEGER NOT NULL DEFAULT 0
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
# What a page says when the store fails, by SQLite's error name
_STORE_FAULTS = {"SQLITE_READONLY": "the result store is read-only", "SQLITE_FULL": "the disk holding the result "
                 "store is full", "SQLITE_CANTOPEN": "the result store cannot be opened", "SQLITE_BUSY":
                 "the result store is busy", "SQLITE_LOCKED": "the result store is busy", "SQLITE_IOERR":
                 "the result store had a disk error", "SQLITE_CORRUPT": "the result store is damaged",
                 "SQLITE_NOTADB": "the result store is damaged", "SQLITE_PERM": "the result store may not be written"}


class StoreUnavailable(Exception):
    """The result store cannot be read or written right now; the message says why in one line."""


def data_dir(create: bool = True) -> Path:
    """Where the result store lives: ``CSL_DATA_DIR``, else ~/.cache/channel-scaling-lab."""
    path = Path(os.environ.get("CSL_DATA_DIR") or Path.home() / ".cache" / "channel-scaling-lab")
    if create:
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
    """The store key: the network and settings plus library versions and host (anything that changes a
    timing), so one network at one group of settings has one stored value.

    How many runs were timed, and within what cap, is the result's quality, not its identity: a result
    of 10 runs and one of 20 answer the same question. Runtime torch (the default) keys without the
    runtime; any other runtime is in the key with its own version and export/quantization recipe
    (results are never mixed, and a changed recipe measures again).

    A custom network is its name: ``backbone`` is the digest of its ``spec`` (``core.load_spec``), so the
    bulky spec itself stays out of the key. Per-stage multipliers are in it as numbers (1 and 1.0 alike);
    none, and all ones, are the uniform network and key as it does.
    """
    settings = {key: value for key, value in settings.items() if key not in ("repeats", "cap_s", "spec")}
    for key in ("stage_width", "stage_depth"):
        if key in settings:
            values = _stage_values(settings.pop(key))
            if values is not None:
                settings[key] = values
    versions = [torch_version()]
    if settings.get("runtime", "torch") == "torch":
        settings.pop("runtime", None)
    else:
        versions += [package_version(settings["runtime"]), ONNX_RECIPE]
    payload = json.dumps([sorted(settings.items()), *versions, host_fingerprint()])
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _stage_values(values):
    """Per-stage multipliers as the key holds them: floats, or None for none or all ones (anything else as is)."""
    if values is None:
        return None
    if isinstance(values, (list, tuple)) and all(isinstance(value, (int, float)) and not isinstance(value, bool)
                                                 for value in values):
        return None if uniform(values) else [float(value) for value in values]
    return values


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
    attempts: int = 1  # 2: the worker died during the first attempt and this is the retry

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


class LatencyQueue:
    """Queue measurements, read their state and results, cancel them; safe from many processes.

    Every call opens its own connection, so a store that was deleted, replaced or repaired by
    another process is seen at once. A missing schema is created and a corrupt file is moved aside
    (kept as ``*.corrupt-<time>`` for inspection) and started afresh; any other fault (read-only,
    full disk) raises ``StoreUnavailable`` with one line that says why, and pages keep their numbers.
    """

    def __init__(self, path: Path | None = None):
        # One store, one worker, whatever name reaches it: a symlinked path is the same store.
        self.path = Path(os.path.realpath(path if path else data_dir(create=False) / "latency.sqlite3"))
        self._recent: dict[str, tuple[float, JobState | None]] = {}  # find_many's answers, by key
        self._written = 0.0  # when this process last submitted or cancelled: older answers are not reused

    @property
    def lock_path(self) -> Path:
        """The file lock that keeps one worker per store."""
        return self.path.with_suffix(".worker.lock")

    @contextmanager
    def _connect(self):
        with closing(sqlite3.connect(self.path, timeout=10, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            yield db

    def _use(self, work):
        """``work(db)`` on a fresh connection; a corrupt file, then a missing schema, are healed on the way."""
        for attempt in (1, 2, 3):
            try:
                with self._connect() as db:
                    return work(db)
            except sqlite3.DatabaseError as error:
                if attempt < 3 and self._healed(error):
                    continue
                name = getattr(error, "sqlite_errorname", "")
                reason = next((text for code, text in _STORE_FAULTS.items() if name.startswith(code)),
                              f"the result store failed ({str(error)[:80]})")
                raise StoreUnavailable(f"{reason} ({self.path})") from error
            except OSError as error:
                raise StoreUnavailable(f"the result store cannot be reached ({error.strerror}: {self.path})") \
                    from error

    def _healed(self, error: sqlite3.DatabaseError) -> bool:
        """``_heal``, where a failure to heal (read-only, busy, another process healing) is a no."""
        try:
            return self._heal(error)
        except (sqlite3.Error, OSError):
            return False

    def _heal(self, error: sqlite3.DatabaseError) -> bool:
        """Repair what can be repaired: True to try again."""
        name, text = getattr(error, "sqlite_errorname", ""), str(error)
        if "no such table" in text or "no such column" in text:  # new, deleted or older store
            with self._connect() as db:
                db.executescript(_SCHEMA)
                columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
                for column in ("attempts", "asks"):  # added since the first stores were made
                    if column not in columns:
                        try:
                            db.execute(f"ALTER TABLE jobs ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
                        except sqlite3.OperationalError as race:  # another process added it first
                            if "duplicate column" not in str(race):
                                raise
            return True
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.replace(f"{self.path}{suffix}", f"{self.path}.corrupt-{stamp}{suffix}")
                except FileNotFoundError:
                    pass  # another process moved it first
            return True
        if name.startswith("SQLITE_CANTOPEN") and not self.path.parent.exists():
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)  # a deleted data directory
            except OSError:
                return False
            return True
        return False

    # ---- asking ----------------------------------------------------------------------------

    def submit(self, settings: dict, session: str) -> JobState:
        """The finished or active job for these settings, else a new queued one; ``session`` waits on it.

        Raises ``BadSettings`` for settings no run may use, and ``QueueFull`` when the session already
        waits on ``MAX_ACTIVE_PER_SESSION`` runs or the server has ``MAX_QUEUED`` waiting.
        """
        check_job(settings)
        key = settings_key(settings)

        def work(db) -> JobState:
            db.execute("BEGIN IMMEDIATE")
            try:
                best = self._best(db, key)
                status, result = (None, None) if best is None else db.execute(
                    "SELECT status, result FROM jobs WHERE id = ?", (best,)).fetchone()
                if status == "done" and not quality(json.loads(result)).provisional:
                    db.execute("UPDATE jobs SET asks = asks + 1 WHERE id = ?", (best,))
                    db.execute("COMMIT")
                    return self._state(db, best)
                if status in ("queued", "running"):
                    job = best
                else:  # nothing yet, a failed or cancelled run, or a provisional result to replace
                    waiting = db.execute(
                        "SELECT COUNT(*) FROM waiters JOIN jobs ON jobs.id = waiters.job "
                        f"WHERE session = ? AND status IN ({', '.join('?' * len(ACTIVE))})",
                        (session, *ACTIVE)).fetchone()[0]
                    if waiting >= MAX_ACTIVE_PER_SESSION:
                        raise QueueFull(f"you already have {waiting} measurements queued: wait for one to "
                                        "finish or cancel one")
                    queued = db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued'").fetchone()[0]
                    if queued >= MAX_QUEUED:
                        raise QueueFull(f"the server's queue is full ({queued} runs waiting): try again in a few "
                                        "minutes")
                    job = db.execute("INSERT INTO jobs (key, settings, status, created) VALUES (?, ?, 'queued', ?)",
                                     (key, json.dumps(settings), time.time())).lastrowid
                db.execute("UPDATE jobs SET asks = asks + 1 WHERE id = ?", (job,))
                db.execute("INSERT OR IGNORE INTO waiters (job, session) VALUES (?, ?)", (job, session))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return self._state(db, job)

        try:
            return self._use(work)
        finally:
            self._forget()

    @staticmethod
    def _best(db, key: str) -> int | None:
        """The job a page shows for a key: a queued or running one (its progress), else the best stored
        result (``core.measurement.quality.rank``), else the newest failure."""
        rows = db.execute("SELECT id, status, result FROM jobs WHERE key = ? AND status != 'cancelled' "
                          "ORDER BY id DESC", (key,)).fetchall()
        active = next((job for job, status, _ in rows if status in ("queued", "running")), None)
        if active is not None:
            return active
        done = [(rank(json.loads(result), job), job) for job, status, result in rows if status == "done"]
        if done:
            return max(done)[1]
        return rows[0][0] if rows else None

    @staticmethod
    def _best_done(db, key: str) -> int | None:
        """The best stored result for a key (what ``_best`` shows once nothing is running for it)."""
        done = [(rank(json.loads(result), job), job) for job, result in db.execute(
            "SELECT id, result FROM jobs WHERE key = ? AND status = 'done'", (key,)).fetchall()]
        return max(done)[1] if done else None

    def find(self, settings: dict) -> JobState | None:
        """The job a page shows for these settings (running, best stored, or failed), queueing nothing."""
        return self.find_many([settings])[0]

    def find_many(self, requests: list[dict], max_age_s: float = 0.0) -> list[JobState | None]:
        """``find`` for each of ``requests``, over one connection (a page polls many at once).

        ``max_age_s`` > 0 accepts an answer this process read that recently: a class on one
        configuration then reads the store once per interval, not once per student's move. What
        this process submits or cancels is read afresh.
        """
        keys = [settings_key(settings) for settings in requests]
        now = time.monotonic()
        if max_age_s > 0:
            recent = [self._recent.get(key) for key in keys]
            if all(hit is not None and now - hit[0] <= max_age_s and hit[0] > self._written for hit in recent):
                return [hit[1] for hit in recent]

        def work(db) -> list[JobState | None]:
            best = [self._best(db, key) for key in keys]
            return [None if job is None else self._state(db, job) for job in best]

        states = self._use(work)
        if now > self._written:  # a read begun before this process's own write is not kept
            if len(self._recent) > RECENT_ENTRIES:
                self._recent.clear()
            self._recent.update(zip(keys, ((now, state) for state in states)))
        return states

    def _forget(self) -> None:
        """After this process's own write: every remembered answer, and every read begun before it, is stale."""
        self._written = time.monotonic()
        self._recent.clear()

    def state(self, job: int) -> JobState:
        return self._use(lambda db: self._state(db, job))

    def is_waiting(self, job: int, session: str) -> bool:
        """Whether ``session`` asked for this job (only then can it cancel it)."""
        return self._use(lambda db: db.execute("SELECT 1 FROM waiters WHERE job = ? AND session = ?",
                                               (job, session)).fetchone() is not None)

    def cancel(self, job: int, session: str) -> None:
        """Stop waiting; the run itself stops once nobody else waits on it."""
        def work(db) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM waiters WHERE job = ? AND session = ?", (job, session))
            if not db.execute("SELECT 1 FROM waiters WHERE job = ?", (job,)).fetchone():
                db.execute("UPDATE jobs SET status = 'cancelled', finished = ? WHERE id = ? AND status = 'queued'",
                           (time.time(), job))
                db.execute("UPDATE jobs SET status = 'cancelling' WHERE id = ? AND status = 'running'", (job,))
            db.execute("COMMIT")

        try:
            self._use(work)
        finally:
            self._forget()

    def _state(self, db, job: int) -> JobState:
        status, created, started, finished, done, total, result, error, attempts = db.execute(
            "SELECT status, created, started, finished, done, total, result, error, attempts FROM jobs "
            "WHERE id = ?", (job,)).fetchone()
        if status == "queued":
            # in claim's order: measurements by id, then calibrations by id
            position = db.execute(
                f"SELECT COUNT(*) FROM jobs WHERE status IN ('running', 'cancelling') OR (status = 'queued' AND "
                f"(settings LIKE '%{CALIBRATION_MARK}%', id) < (SELECT settings LIKE '%{CALIBRATION_MARK}%', id "
                "FROM jobs WHERE id = ?))", (job,)).fetchone()[0]
        else:
            position = 0 if status in ACTIVE else -1
        elapsed = (finished or time.time()) - (started or created)
        return JobState(job, status, position, elapsed, done, total,
                        None if result is None else json.loads(result), error, max(1, attempts))

    # ---- the worker's side -----------------------------------------------------------------

    def claim(self) -> tuple[int, dict] | None:
        """The oldest queued job, now marked running (one more attempt); its settings as stored.

        Calibrations go last: they take minutes, and a measurement someone waits for should not.
        """
        def work(db):
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT id, settings FROM jobs WHERE status = 'queued' ORDER BY "
                             f"settings LIKE '%{CALIBRATION_MARK}%', id LIMIT 1").fetchone()
            if row is not None:
                db.execute("UPDATE jobs SET status = 'running', started = ?, attempts = attempts + 1 WHERE id = ?",
                           (time.time(), row[0]))
            db.execute("COMMIT")
            return row

        row = self._use(work)
        if row is None:
            return None
        try:
            return row[0], json.loads(row[1])
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's stack
            return row[0], None  # the worker fails it

    # Only a running row is the worker's to write: a store deleted or replaced mid-run starts numbering
    # jobs again, and an old run's result must not land on a new job that happens to share its id.

    def progress(self, job: int, done: int, total: int) -> None:
        self._use(lambda db: db.execute("UPDATE jobs SET done = ?, total = ? WHERE id = ? AND status IN "
                                        "('running', 'cancelling')", (done, total, job)))

    def finish(self, job: int, result: dict | None = None, error: str | None = None,
               status: str | None = None) -> None:
        status = status or ("done" if error is None else "failed")
        self._use(lambda db: db.execute(
            "UPDATE jobs SET status = ?, finished = ?, result = ?, error = ? WHERE id = ? AND status IN "
            "('running', 'cancelling')",
            (status, time.time(), None if result is None else json.dumps(result), error, job)))

    def status_of(self, job: int) -> str | None:
        """A job's status; None when the store no longer has it (deleted or replaced)."""
        row = self._use(lambda db: db.execute("SELECT status FROM jobs WHERE id = ?", (job,)).fetchone())
        return None if row is None else row[0]

    def recover(self) -> None:
        """Requeue runs a dead worker left running, once: a run it died during twice fails (a new worker calls this)."""
        def work(db) -> None:
            now = time.time()
            db.execute("UPDATE jobs SET status = 'failed', finished = ?, error = ? WHERE status = 'running' "
                       "AND attempts >= ?", (now, WORKER_DIED, MAX_ATTEMPTS))
            db.execute("UPDATE jobs SET status = 'queued', started = NULL, done = 0, total = 0 "
                       "WHERE status = 'running'")
            db.execute("UPDATE jobs SET status = 'cancelled', finished = ? WHERE status = 'cancelling'", (now,))

        self._use(work)

    def prune(self, keep_results: int = KEEP_RESULTS, keep_failed_s: float = KEEP_FAILED_S) -> int:
        """Drop what no page needs: failed and cancelled jobs after a while, results a better one for the same
        key supersedes, the oldest results past ``keep_results``, waiters of finished jobs. Returns the jobs
        dropped."""
        def work(db) -> int:
            db.execute("BEGIN IMMEDIATE")
            dropped = db.execute("DELETE FROM jobs WHERE status IN ('failed', 'cancelled') AND finished < ?",
                                 (time.time() - keep_failed_s,)).rowcount
            shown = {self._best_done(db, key) for (key,) in db.execute(
                "SELECT key FROM jobs WHERE status = 'done' GROUP BY key HAVING COUNT(*) > 1").fetchall()}
            superseded = [(job,) for (job, key) in db.execute(
                "SELECT id, key FROM jobs WHERE status = 'done' AND key IN (SELECT key FROM jobs WHERE status = "
                "'done' GROUP BY key HAVING COUNT(*) > 1)").fetchall() if job not in shown]
            dropped += len(superseded)
            db.executemany("DELETE FROM jobs WHERE id = ?", superseded)
            dropped += db.execute("DELETE FROM jobs WHERE status = 'done' AND id NOT IN (SELECT id FROM jobs "
                                  "WHERE status = 'done' ORDER BY finished DESC LIMIT ?)", (keep_results,)).rowcount
            db.execute(f"DELETE FROM waiters WHERE job NOT IN (SELECT id FROM jobs WHERE status IN "
                       f"({', '.join('?' * len(ACTIVE))}))", ACTIVE)
            db.execute("COMMIT")
            return dropped

        return self._use(work)

    def provisional_results(self, limit: int = 20) -> list[dict]:
        """Settings of stored results that are provisional and shown (nothing better or newer for their key),
        most asked for first: what the worker measures again when the host is quiet."""
        def work(db) -> list[dict]:
            rows = db.execute("SELECT id, key, settings, result FROM jobs WHERE status = 'done' ORDER BY asks DESC, "
                              "id DESC").fetchall()
            found = []
            for job, key, settings, result in rows:
                if quality(json.loads(result)).provisional and self._best(db, key) == job:  # nothing better
                    found.append(json.loads(settings))
                    if len(found) >= limit:
                        break
            return found

        return self._use(work)

    def beat(self, info: dict | None = None) -> None:
        if info is None:
            self._use(lambda db: db.execute("UPDATE worker SET heartbeat = ? WHERE id = 1", (time.time(),)))
        else:
            self._use(lambda db: db.execute("INSERT OR REPLACE INTO worker (id, pid, heartbeat, info) "
                                            "VALUES (1, ?, ?, ?)", (os.getpid(), time.time(), json.dumps(info))))

    def retire(self) -> None:
        """A worker that leaves says so, so that the next page starts a new one at once."""
        self._use(lambda db: db.execute("UPDATE worker SET heartbeat = NULL WHERE id = 1 AND pid = ?",
                                        (os.getpid(),)))

    def worker_info(self) -> dict | None:
        """What the live worker reported (devices, dtypes, torch version), or None if none is alive."""
        row = self._use(lambda db: db.execute("SELECT heartbeat, info FROM worker WHERE id = 1").fetchone())
        if row is None or row[0] is None or time.time() - row[0] > HEARTBEAT_STALE_S:
            return None
        return json.loads(row[1])

    def worker_pid(self) -> int | None:
        """The pid of the last worker that served this store (alive or not)."""
        row = self._use(lambda db: db.execute("SELECT pid FROM worker WHERE id = 1").fetchone())
        return None if row is None else row[0]

    def ensure_worker(self) -> None:
        """Start ``python -m core.measurement.worker`` for this store unless one is alive (a file lock keeps it single).

        Under a supervisor (``CSL_WORKER_SUPERVISED=1``, set by deploy/start.sh) the supervisor owns the
        worker and pages never start one.
        """
        if os.environ.get("CSL_WORKER_SUPERVISED") == "1" or self.worker_info() is not None:
            return
        try:
            with open(self.path.with_suffix(".worker.log"), "ab") as log:
                subprocess.Popen([sys.executable, "-m", "core.measurement.worker", "--db", str(self.path)],
                                 cwd=Path(__file__).resolve().parents[2], stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        except OSError as error:
            raise StoreUnavailable(f"the latency worker cannot be started ({error.strerror}: {self.path.parent})") \
                from error


class QueueFull(Exception):
    """A session, or the whole server, has as many measurements queued as it may."""
