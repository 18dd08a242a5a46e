"""The class tally: each student's Workshop prediction, anonymously, per class code and lesson.

A vote is a class code, a lesson number, a random per-session token and the chosen option: no name,
no address, no free text. Counts are bounded per class and lesson and in all, and votes older than a
day are pruned on every write. The store is a SQLite file beside the latency store, and faults are
handled as ``LatencyQueue`` handles them (a corrupt file moved aside, a missing table made again, any
other fault one ``StoreUnavailable`` line). Streamlit-free, like the rest of ``core``.
"""
from __future__ import annotations

import math
import re
import sqlite3
import time
from pathlib import Path

from core.measurement.jobs import LatencyQueue, data_dir

CLASS_CODE = re.compile(r"[a-z0-9-]{1,16}")
VOTER = re.compile(r"[0-9a-f]{16,64}")
MAX_LESSON = 32
MAX_VOTES_PER_LESSON = 300  # a large lecture hall; more are refused, not stored
MAX_VOTES = 50_000  # every class together, within a day
KEEP_S = 86_400.0  # a class's votes are kept for the day

_SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
    class_code TEXT NOT NULL,
    lesson INTEGER NOT NULL,
    voter TEXT NOT NULL,
    choice REAL NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (class_code, lesson, voter)
);
CREATE INDEX IF NOT EXISTS votes_by_age ON votes (created);
"""


class TallyFull(Exception):
    """This class's lesson (or the whole tally) already holds as many votes as it may."""


class ClassTally(LatencyQueue):
    """Votes in their own SQLite file, through ``LatencyQueue``'s connection, healing and fault messages."""

    def __init__(self, path: Path | None = None):
        super().__init__(path if path else data_dir(create=False) / "tally.sqlite3")

    def _heal(self, error: sqlite3.DatabaseError) -> bool:
        if "no such table" in str(error):  # a new or deleted store: the tally's own table, not the queue's
            with self._connect() as db:
                db.executescript(_SCHEMA)
            return True
        if "no such column" in str(error):  # not a table this code wrote: say so, add no queue tables to it
            return False
        return super()._heal(error)

    def record(self, class_code: str, lesson: int, voter: str, choice: float, now: float | None = None) -> None:
        """Store (or change) one voter's prediction; raises ``TallyFull`` past the bounds, ``ValueError``
        for a value no vote may hold."""
        _check(class_code, lesson)
        if not VOTER.fullmatch(voter) or not math.isfinite(choice):
            raise ValueError("a vote is a hex voter token and a finite option")
        now = time.time() if now is None else now

        def work(db) -> None:
            db.execute("BEGIN IMMEDIATE")  # the counts and the insert as one: the bounds hold across processes
            try:
                db.execute("DELETE FROM votes WHERE created < ?", (now - KEEP_S,))
                known = db.execute("SELECT 1 FROM votes WHERE class_code = ? AND lesson = ? AND voter = ?",
                                   (class_code, lesson, voter)).fetchone()
                if not known:
                    (in_lesson,) = db.execute("SELECT COUNT(*) FROM votes WHERE class_code = ? AND lesson = ?",
                                              (class_code, lesson)).fetchone()
                    (in_all,) = db.execute("SELECT COUNT(*) FROM votes").fetchone()
                    if in_lesson >= MAX_VOTES_PER_LESSON:
                        raise TallyFull(f"the class tally is full ({MAX_VOTES_PER_LESSON} votes a lesson)")
                    if in_all >= MAX_VOTES:
                        raise TallyFull(f"the server's tally is full ({MAX_VOTES:,} votes today, every class)")
                db.execute("INSERT INTO votes VALUES (?, ?, ?, ?, ?) ON CONFLICT (class_code, lesson, voter) "
                           "DO UPDATE SET choice = excluded.choice, created = excluded.created",
                           (class_code, lesson, voter, float(choice), now))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        self._use(work)

    def counts(self, class_code: str, lesson: int, now: float | None = None) -> dict[float, int]:
        """How many of the class chose each option in this lesson (today's votes only)."""
        _check(class_code, lesson)
        since = (time.time() if now is None else now) - KEEP_S
        rows = self._use(lambda db: db.execute(
            "SELECT choice, COUNT(*) FROM votes WHERE class_code = ? AND lesson = ? AND created >= ? "
            "GROUP BY choice", (class_code, lesson, since)).fetchall())
        return {choice: count for choice, count in rows}


def _check(class_code: str, lesson: int) -> None:
    if not CLASS_CODE.fullmatch(class_code) or not 1 <= lesson <= MAX_LESSON:
        raise ValueError("a class code is 1 to 16 of a-z, 0-9 and -, and a lesson 1 to 32")

