"""A job's life in one place: the statuses, the moves allowed between them, and the only SQL that writes
a run's or a job's status (a test keeps it so).

    queued ──start──▶ running ──finish──▶ succeeded | failed | cancelled
      │                  ├──interrupt──▶ interrupted   (its process or node went away)
      │                  └──retry──────▶ running       (another attempt, at a smaller batch)
      └──cancel_queued──▶ cancelled
    a run in RESUMABLE ──enqueue (a resume job)──▶ queued

A run's status mirrors its latest job's. Each move takes the caller's open transaction and names the
states it may leave from in its WHERE clause, so a move that no longer applies (a job already ended
by someone else) changes nothing and says so.
"""
from __future__ import annotations

import json
import sqlite3
import time
from enum import Enum


class Status(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:
        return self.value


ACTIVE = (Status.QUEUED.value, Status.RUNNING.value)  # waiting for, or holding, a worker
FINAL = (Status.SUCCEEDED.value, Status.FAILED.value, Status.CANCELLED.value, Status.INTERRUPTED.value)
RESUMABLE = (Status.INTERRUPTED.value, Status.FAILED.value, Status.CANCELLED.value)
ENDINGS = (Status.SUCCEEDED.value, Status.FAILED.value, Status.CANCELLED.value)  # what `finish` may write


def is_final(status: str | None) -> bool:
    return status in FINAL


def resumes(job: dict) -> bool:
    """A job continues from the run's last checkpoint when it was asked to resume, or when it is a
    later attempt of the same job (the out-of-memory retry)."""
    return job["kind"] == "resume" or job["attempts"] > 0


# ---- the moves ---------------------------------------------------------------------------------------
def enqueue(conn: sqlite3.Connection, run_id: str, owner: str, kind: str = "train", holder: str | None = None) -> int:
    """A new queued job for the run (its first, or a resume); the run reads queued again. With `holder`
    (a process identity) the job is that process's alone from the start (in-process training)."""
    job = conn.execute("""INSERT INTO jobs (run_id, owner, kind, status, created, holder) VALUES (?, ?, ?, ?, ?, ?)""",
                       (run_id, owner, kind, Status.QUEUED.value, time.time(), holder)).lastrowid
    conn.execute("UPDATE runs SET status = ?, message = '' WHERE id = ?", (Status.QUEUED.value, run_id))
    return job


def start(conn: sqlite3.Connection, job: dict, holder: str) -> dict | None:
    """queued → running, held by `holder`; None when the job was not queued any more."""
    now = time.time()
    moved = conn.execute("UPDATE jobs SET status = ?, started = ?, holder = ? WHERE id = ? AND status = ?",
                         (Status.RUNNING.value, now, holder, job["id"], Status.QUEUED.value)).rowcount
    if not moved:
        return None
    conn.execute("UPDATE runs SET status = ?, started = COALESCE(started, ?), message = '' WHERE id = ?",
                 (Status.RUNNING.value, now, job["run_id"]))
    return {**job, "status": Status.RUNNING.value, "holder": holder}


def cancel_queued(conn: sqlite3.Connection, job: dict) -> bool:
    """queued → cancelled at once (a running job is asked to stop instead, and ends through `finish`)."""
    now = time.time()
    moved = conn.execute("""UPDATE jobs SET status = ?, finished = ?, message = 'cancelled before start'
                            WHERE id = ? AND status = ?""",
                         (Status.CANCELLED.value, now, job["id"], Status.QUEUED.value)).rowcount
    if moved:
        conn.execute("UPDATE runs SET status = ?, finished = ? WHERE id = ?", (Status.CANCELLED.value, now, job["run_id"]))
    return bool(moved)


def finish(conn: sqlite3.Connection, job: dict, status: str, job_message: str, run_message: str,
           summary: dict | None = None, evaluation: dict | None = None) -> bool:
    """running → succeeded, failed or cancelled; the run gets its summary and evaluation when there are."""
    if status not in ENDINGS:
        raise ValueError(f"a job finishes as one of {ENDINGS}, not {status!r}")
    now = time.time()
    moved = conn.execute("UPDATE jobs SET status = ?, finished = ?, message = ? WHERE id = ? AND status = ?",
                         (status, now, job_message, job["id"], Status.RUNNING.value)).rowcount
    if moved:
        conn.execute("""UPDATE runs SET status = ?, finished = ?, message = ?, summary = COALESCE(?, summary),
                        evaluation = COALESCE(?, evaluation) WHERE id = ?""",
                     (status, now, run_message, _json(summary), _json(evaluation), job["run_id"]))
    return bool(moved)


def interrupt(conn: sqlite3.Connection, job: dict, message: str) -> bool:
    """running → interrupted: the process or node running it went away; a resume continues from the
    last checkpoint."""
    moved = conn.execute("UPDATE jobs SET status = ?, finished = ?, message = ? WHERE id = ? AND status = ?",
                         (Status.INTERRUPTED.value, time.time(), message, job["id"], Status.RUNNING.value)).rowcount
    if moved:
        conn.execute("UPDATE runs SET status = ?, message = ? WHERE id = ? AND status = ?",
                     (Status.INTERRUPTED.value, message, job["run_id"], Status.RUNNING.value))
    return bool(moved)


def retry(conn: sqlite3.Connection, job: dict, batch_size: int, message: str) -> dict:
    """running → running: another attempt of the same job at `batch_size` (it resumes, see `resumes`)."""
    conn.execute("UPDATE jobs SET attempts = attempts + 1, batch_size = ?, message = ? WHERE id = ? AND status = ?",
                 (batch_size, message, job["id"], Status.RUNNING.value))
    return {**job, "attempts": job["attempts"] + 1, "batch_size": batch_size}


def _json(value: dict | None) -> str | None:
    return None if value is None else json.dumps(value)
