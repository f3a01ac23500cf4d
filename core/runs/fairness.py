"""Which queued job runs next: fair across people, not first-come.

The next job is the oldest queued job of the owner served least recently, and an owner who already
has a job running goes behind every owner who has none (at most one running job per person while
others wait). So one student's freeze sweep of 9 runs, or a run's companions, wait behind everyone
else's first job. Jobs held by an in-process trainer are never taken.

The same rule, simulated over the queue with measured job durations, gives each job its position
and an estimated start.
"""
from __future__ import annotations

import json
import statistics
import time

from core import db

DEFAULT_JOB_SECONDS = 60.0  # until this data home has finished a job to measure
RECENT_JOBS = 20

NEXT_JOB = """
WITH waiting AS (SELECT owner, MIN(id) AS first FROM jobs WHERE status = 'queued' AND holder IS NULL GROUP BY owner),
     served AS (SELECT owner, SUM(status = 'running') AS running, MAX(COALESCE(started, 0)) AS last
                FROM jobs WHERE owner IN (SELECT owner FROM waiting) GROUP BY owner)
SELECT j.* FROM waiting w JOIN jobs j ON j.id = w.first LEFT JOIN served s ON s.owner = w.owner
ORDER BY COALESCE(s.running, 0) > 0, COALESCE(s.last, 0), w.first LIMIT 1
"""


def next_job(conn) -> dict | None:
    """Inside the claiming transaction: the job the fair rule picks now."""
    row = conn.execute(NEXT_JOB).fetchone()
    return dict(row) if row else None


def order(conn=None) -> list[dict]:
    """Every claimable queued job in the order the scheduler will start them (as if each started
    job stayed running), with the running jobs it starts from."""
    if conn is None:
        with db.reading() as conn:
            return order(conn)
    queued = [dict(r) for r in conn.execute(
        "SELECT id, owner, run_id, created FROM jobs WHERE status = 'queued' AND holder IS NULL ORDER BY id")]
    running, last = {}, {}
    for r in conn.execute("SELECT owner, SUM(status = 'running') AS n, MAX(COALESCE(started, 0)) AS t FROM jobs "
                          "GROUP BY owner"):
        running[r["owner"]], last[r["owner"]] = r["n"], r["t"]
    out, clock = [], time.time()
    while queued:
        firsts = {}
        for job in queued:
            firsts.setdefault(job["owner"], job)
        job = min(firsts.values(), key=lambda j: (running.get(j["owner"], 0) > 0, last.get(j["owner"], 0), j["id"]))
        queued.remove(job)
        clock += 1e-6  # started one after the other: the next pick sees this owner as just served
        running[job["owner"]], last[job["owner"]] = running.get(job["owner"], 0) + 1, clock
        out.append(job)
    return out


def job_seconds() -> float:
    """Median wall time of the recently finished jobs in this data home."""
    with db.reading() as conn:
        rows = conn.execute("""SELECT finished - started AS s FROM jobs WHERE status = 'succeeded' AND started
                               IS NOT NULL ORDER BY finished DESC LIMIT ?""", (RECENT_JOBS,)).fetchall()
    return statistics.median(r["s"] for r in rows) if rows else DEFAULT_JOB_SECONDS


def forecast(slots: int, now: float | None = None) -> dict[int, dict]:
    """job id → {"position" (1 = next), "eta_seconds" (until it starts)}: the fair order played out on
    `slots` slots, from what each running job still has to do (its remaining epochs at its own measured
    speed), each queued job taking the measured median time. `now`: a clock of the caller's (tests)."""
    now = time.time() if now is None else now
    duration = job_seconds()
    with db.reading() as conn:
        running = [dict(r) for r in conn.execute("SELECT id, run_id, started FROM jobs WHERE status = 'running'")]
        queue = order(conn)
        busy = [remaining(conn, job, duration, now) for job in running]
    free = sorted(busy + [0.0] * max(0, slots - len(running)))
    out = {}
    for position, job in enumerate(queue, start=1):
        start = free.pop(0) if free else 0.0
        out[job["id"]] = {"position": position, "eta_seconds": round(start, 1)}
        free = sorted(free + [start + duration])
    return out


def remaining(conn, job: dict, typical: float, now: float) -> float:
    """Seconds a running job still needs: its epochs left at the pace of those it finished since it started
    (a student read "starts in under 1 s" beside a slot busy for 12 more minutes: the median job is short,
    her neighbour's was not); before its first epoch, the typical job less what it has run."""
    started = job["started"] or now
    row = conn.execute("SELECT config FROM runs WHERE id = ?", (job["run_id"],)).fetchone()
    train = json.loads(row["config"]).get("train", {}) if row else {}
    total = int(train.get("head_epochs", 0)) + int(train.get("finetune_epochs", 0))
    epochs = conn.execute("SELECT COUNT(DISTINCT COALESCE(phase, '') || ':' || epoch) AS n, MAX(t) AS last, "
                          "SUM(t >= ?) AS here FROM metrics WHERE run_id = ? AND kind = 'epoch'",
                          (started, job["run_id"])).fetchone()
    if not epochs["here"]:
        return max(typical - (now - started), 0.0)
    pace = (epochs["last"] - started) / epochs["here"]
    left = max(total - epochs["n"], 0) * pace - (now - epochs["last"])
    budget = train.get("time_budget_seconds")
    if budget:  # a budgeted run starts no epoch that would end past its budget
        left = min(left, started + budget - now)
    return max(left, 0.0)
