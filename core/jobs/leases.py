"""Who holds which job: claiming is one transaction (the fair scheduler's pick, or a process's own
held job), and a job whose holding process died is recovered: running → interrupted, queued-but-held
→ handed to the workers. Holders are process identities (`workers.identity`). No torch here: the
supervisor uses it too."""
from __future__ import annotations

import time

from core import db
from core.errors import UserError
from core.jobs import schedule, workers

INTERRUPTED = "the worker stopped during this run; resume it to continue from its last checkpoint"


def claim_next(holder: str | None = None) -> dict | None:
    """Atomically take the job the fair scheduler picks."""
    with db.transaction() as conn:
        row = schedule.next_job(conn)
        return _claim(conn, row, holder or workers.identity()) if row else None


def claim_specific(job_id: int, holder: str | None = None) -> dict:
    """Take one particular queued job: the in-process `train`'s own (held) job, or an unheld one."""
    holder = holder or workers.identity()
    with db.transaction() as conn:
        row = conn.execute("SELECT * FROM jobs WHERE id = ? AND status = 'queued'", (job_id,)).fetchone()
        if row is None:
            raise UserError(f"job {job_id} is not queued any more (a worker may have taken it)")
        if row["holder"] and row["holder"] != holder:
            raise UserError(f"job {job_id} belongs to another process ({row['holder']})")
        return _claim(conn, dict(row), holder)


def _claim(conn, row: dict, holder: str) -> dict:
    now = time.time()
    conn.execute("UPDATE jobs SET status = 'running', started = ?, holder = ? WHERE id = ?", (now, holder, row["id"]))
    conn.execute("UPDATE runs SET status = 'running', started = COALESCE(started, ?), message = '' WHERE id = ?",
                 (now, row["run_id"]))
    return {**row, "status": "running", "holder": holder}


def recover_interrupted() -> int:
    """Jobs whose holding process is gone: running ones become interrupted (and so do their runs);
    queued ones held by a dead in-process trainer are handed to the workers."""
    with db.transaction() as conn:
        held = [dict(r) for r in conn.execute("""SELECT id, run_id, status, holder FROM jobs
                                                 WHERE holder IS NOT NULL AND status IN ('running', 'queued')""")]
        dead = [r for r in held if not workers.holder_alive(r["holder"])]
        for r in dead:
            if r["status"] == "queued":
                conn.execute("UPDATE jobs SET holder = NULL WHERE id = ?", (r["id"],))
                continue
            conn.execute("UPDATE jobs SET status = 'interrupted', finished = ?, message = ? WHERE id = ?",
                         (time.time(), INTERRUPTED, r["id"]))
            conn.execute("UPDATE runs SET status = 'interrupted', message = ? WHERE id = ?", (INTERRUPTED, r["run_id"]))
    return sum(1 for r in dead if r["status"] == "running")
