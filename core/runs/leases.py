"""Who holds which job. A holder is a process identity, "pid:start-time" (the start time tells a live
process from a new one that reuses a dead one's pid); a job is "dead" when its holder is.

Claiming is one transaction (the fair scheduler's pick, or a process's own held job), and a job whose
holding process died is recovered: running → interrupted, queued-but-held → handed to the workers.
No torch here: the supervisor and the Ray tasks use it too.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3

from core import db
from core.errors import UserError
from core.runs import fairness, status, store

INTERRUPTED = "the worker stopped during this run; resume it to continue from its last checkpoint"


# ---- process identities ---------------------------------------------------------------------------
def identity(pid: int | None = None) -> str:
    pid = pid or os.getpid()
    return f"{pid}:{_start_ticks(pid)}"


def _start_ticks(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]  # field 22: start time since boot
    except (OSError, IndexError):
        return ""


def holder_alive(holder: str | None) -> bool:
    if not holder:
        return False
    pid, _, ticks = holder.partition(":")
    return pid_alive(int(pid)) and (not ticks or _start_ticks(int(pid)) in ("", ticks))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


# ---- claiming and recovering ----------------------------------------------------------------------
def claim_next(holder: str | None = None) -> dict | None:
    """Atomically take the job the fair scheduler picks."""
    with db.transaction() as conn:
        row = fairness.next_job(conn)
        return status.start(conn, row, holder or identity()) if row else None


def claim_specific(job_id: int, holder: str | None = None) -> dict:
    """Take one particular queued job: the in-process `train`'s own (held) job, or an unheld one."""
    holder = holder or identity()
    with db.transaction() as conn:
        row = conn.execute("SELECT * FROM jobs WHERE id = ? AND status = ?", (job_id, status.Status.QUEUED.value)).fetchone()
        if row is None:
            raise UserError(f"job {job_id} is not queued any more (a worker may have taken it)")
        if row["holder"] and row["holder"] != holder:
            raise UserError(f"job {job_id} belongs to another process ({row['holder']})")
        return status.start(conn, dict(row), holder)


def recover_interrupted() -> int:
    """Jobs whose holding process is gone: running ones become interrupted (and so do their runs);
    queued ones held by a dead in-process trainer are handed to the workers."""
    with db.transaction() as conn:
        held = [dict(r) for r in conn.execute("SELECT id, run_id, status, holder FROM jobs WHERE holder IS NOT NULL "
                                              "AND status IN (?, ?)", status.ACTIVE)]
        dead = [r for r in held if not holder_alive(r["holder"])]
        for r in dead:
            if r["status"] == status.Status.QUEUED.value:
                conn.execute("UPDATE jobs SET holder = NULL WHERE id = ?", (r["id"],))
            else:
                status.interrupt(conn, r, INTERRUPTED)
    stopped = [r for r in dead if r["status"] == status.Status.RUNNING.value]
    for r in stopped:  # killed between its checkpoint and the epoch's row: the row from the checkpoint
        with contextlib.suppress(sqlite3.Error, OSError):  # a full disk: the job's next ending tries again
            store.backfill_epochs(r["run_id"])
    return len(stopped)


COPIED = ("the server was backed up while this run trained; nothing holds it in the copy: resume it to continue "
          "from its last checkpoint")


def interrupt_running(conn, message: str = COPIED) -> int:
    """In a copy of the store (a backup): no process holds any job there, so running ones are interrupted
    (resumable from their last checkpoint), through the lifecycle like any other."""
    rows = conn.execute("SELECT id, run_id FROM jobs WHERE status = ?", (status.Status.RUNNING.value,)).fetchall()
    return sum(status.interrupt(conn, {"id": job, "run_id": run}, message) for job, run in rows)
