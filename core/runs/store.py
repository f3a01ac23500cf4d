"""Runs, jobs, metrics and artifacts in SQLite; run files under `<data home>/runs/<id>/`.

A run is one training of one RunConfig; a job is a request to execute it (train, or resume from its
last checkpoint). Statuses move only through `status` (the lifecycle). Checkpoints are safetensors +
the RunConfig JSON, so a run can be rebuilt from its files alone. No torch and no data room here: the
supervisor reads what it needs through this module.
"""
from __future__ import annotations

import dataclasses
import json
import time
import uuid

from core import db
from core.config import RunConfig
from core.errors import UserError
from core.paths import check_run_id, run_dir
from core.runs import status


def new_run(config, owner: str, parent: str | None = None, role: str = "main") -> str:
    run_id = uuid.uuid4().hex[:12]
    with db.transaction() as conn:
        conn.execute("""INSERT INTO runs (id, owner, parent, role, config, dataset, backbone, scenario, status, created)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                     (run_id, owner, parent, role, config.to_json(), config.data.dataset, config.backbone,
                      config.scenario, status.Status.QUEUED.value, time.time()))
    return run_id


def add_job(run_id: str, owner: str, kind: str = "train", holder: str | None = None) -> int:
    """A queued job (`status.enqueue`); with `holder` (a process identity) it is that process's alone
    from the start: no worker can claim it (in-process training)."""
    with db.transaction() as conn:
        return status.enqueue(conn, run_id, owner, kind, holder)


def run_row(run_id: str, owner: str | None = None) -> dict:
    """A run as plain data; with `owner`, someone else's run is reported as not found."""
    check_run_id(run_id)
    with db.reading() as conn:
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None or (owner is not None and row["owner"] != owner):
        raise UserError(f"no run {run_id!r} for this owner")
    return _decode(dict(row))


def _decode(row: dict) -> dict:
    for key in ("config", "summary", "evaluation"):
        if row.get(key):
            row[key] = json.loads(row[key])
    return row


def list_runs(owner: str, limit: int = 200, parent: str | None = None) -> list[dict]:
    """This owner's runs, newest first; with `parent`, only its companions or sweep members."""
    query = """SELECT id, owner, parent, role, dataset, backbone, scenario, status, message, created,
                      started, finished, summary FROM runs WHERE owner = ?"""
    args: list = [owner]
    if parent is not None:
        query += " AND parent = ?"
        args.append(parent)
    with db.reading() as conn:
        rows = conn.execute(query + " ORDER BY created DESC LIMIT ?", (*args, limit)).fetchall()
    return [_brief(_decode(dict(r))) for r in rows]


def runs_of(owners: list[str]) -> list[dict]:
    """Every run of these owners (a class's students), newest first, with its latest job's id."""
    marks = ",".join("?" * len(owners))
    with db.reading() as conn:
        rows = conn.execute(f"""SELECT r.*, (SELECT j.id FROM jobs j WHERE j.run_id = r.id ORDER BY j.id DESC LIMIT 1)
                                AS job_id FROM runs r WHERE r.owner IN ({marks}) ORDER BY r.created DESC""",
                            list(owners)).fetchall()
    return [_decode(dict(r)) for r in rows]


def succeeded(run_ids: list[str], limit: int) -> list[dict]:
    """{"id", "owner"} of those of `run_ids` that succeeded, the earliest finished first."""
    marks = ",".join("?" * len(run_ids))
    with db.reading() as conn:
        rows = conn.execute(f"""SELECT id, owner FROM runs WHERE status = ? AND id IN ({marks})
                                ORDER BY finished LIMIT ?""", (status.Status.SUCCEEDED.value, *run_ids, limit))
        return [dict(r) for r in rows]


def timings() -> dict[str, dict]:
    """Every run's owner, status and clock (created, started, finished): a benchmark's raw material."""
    with db.reading() as conn:
        rows = conn.execute("SELECT id, owner, status, created, started, finished FROM runs")
        return {r["id"]: dict(r) for r in rows}


def succeeded_jobs() -> list[dict]:
    """Each succeeded job's clock (started, finished) with its run's summary."""
    with db.reading() as conn:
        rows = conn.execute("""SELECT j.started, j.finished, r.summary FROM jobs j JOIN runs r ON r.id = j.run_id
                               WHERE j.status = ?""", (status.Status.SUCCEEDED.value,))
        return [{**dict(r), "summary": json.loads(r["summary"])} for r in rows]


def _brief(row: dict) -> dict:
    summary = row.pop("summary", None) or {}
    row["val_accuracy"] = summary.get("val_accuracy")
    row["test_accuracy"] = summary.get("test_accuracy")
    row["seconds"] = summary.get("seconds")
    return row


def delete_run_rows(run_id: str) -> None:
    """The run's rows; its jobs, metrics, artifacts and holdout scores go with it (cascade)."""
    with db.transaction() as conn:
        conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))


def job_row(job_id: int) -> dict:
    with db.reading() as conn:
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise UserError(f"no job {job_id}")
    return dict(row)


def latest_job(run_id: str) -> dict | None:
    with db.reading() as conn:
        row = conn.execute("SELECT * FROM jobs WHERE run_id = ? ORDER BY id DESC LIMIT 1", (run_id,)).fetchone()
    return dict(row) if row else None


def job_config(job: dict) -> RunConfig:
    """The run's config, at the batch size an out-of-memory retry chose for this job."""
    config = RunConfig.from_dict(run_row(job["run_id"])["config"])
    if job["batch_size"]:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, batch_size=job["batch_size"]))
    return config


def active_jobs(owners: list[str]) -> int:
    """These owners' queued and running jobs together (what `admission.check_room` holds to a limit)."""
    marks = ",".join("?" * len(owners)) or "NULL"
    with db.reading() as conn:
        return conn.execute(f"SELECT COUNT(*) FROM jobs WHERE owner IN ({marks}) AND status IN (?, ?)",
                            (*owners, *status.ACTIVE)).fetchone()[0]


def cancel_asked(job_ids: list[int]) -> list[int]:
    """Those of `job_ids` whose cancel was asked for (the running job stops within a batch)."""
    marks = ",".join("?" * len(job_ids))
    with db.reading() as conn:
        return [r[0] for r in conn.execute(f"SELECT id FROM jobs WHERE cancel = 1 AND id IN ({marks})", job_ids)]


def ask_cancel(job_id: int) -> None:
    with db.transaction() as conn:
        conn.execute("UPDATE jobs SET cancel = 1 WHERE id = ?", (job_id,))


def jobs_ended_since(since: float) -> int:
    """Jobs that succeeded, failed or were cancelled since `since` (what a stopping worker reports)."""
    marks = ",".join("?" * len(status.ENDINGS))
    with db.reading() as conn:
        return conn.execute(f"SELECT COUNT(*) FROM jobs WHERE finished >= ? AND status IN ({marks})",
                            (since, *status.ENDINGS)).fetchone()[0]


def add_metric(run_id: str, event: dict) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO metrics (run_id, kind, phase, epoch, step, data, t) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (run_id, event.get("event", "event"), event.get("phase"), event.get("epoch"), event.get("step"),
                      json.dumps(event, default=float), event.get("t", time.time())))


def backfill_epochs(run_id: str) -> int:
    """Epoch rows the run's last checkpoint counts as finished but the store lacks (the process stopped
    between writing the checkpoint and the row, or a full disk refused the row), written from its
    progress.json and marked `backfilled`; how many. Without them a resumed run's chart would skip an epoch."""
    try:
        history = json.loads((run_dir(run_id) / "progress.json").read_text())["history"]
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    have = {(m.get("phase"), m.get("epoch")) for m in metrics(run_id, "epoch")}
    missing = [row for row in history if (row.get("phase"), row.get("epoch")) not in have]
    for row in missing:
        add_metric(run_id, {**row, "event": "epoch", "backfilled": True})
    return len(missing)


def metrics(run_id: str, kind: str | None = None, after_id: int = 0) -> list[dict]:
    query = "SELECT id, data FROM metrics WHERE run_id = ? AND id > ?"
    args: list = [run_id, after_id]
    if kind:
        query += " AND kind = ?"
        args.append(kind)
    with db.reading() as conn:
        rows = conn.execute(query + " ORDER BY id", args).fetchall()
    return [{"id": r["id"], **json.loads(r["data"])} for r in rows]


def activity(run_ids: list[str]) -> dict[str, tuple]:
    """Per run: (status, last non-step metric id, last step metric id): a watcher's cheap "anything new?"."""
    out = {}
    with db.reading() as conn:
        for run_id in run_ids:
            row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            events = conn.execute("SELECT MAX(id) FROM metrics WHERE run_id = ? AND kind != 'step'", (run_id,)).fetchone()
            steps = conn.execute("SELECT MAX(id) FROM metrics WHERE run_id = ? AND kind = 'step'", (run_id,)).fetchone()
            out[run_id] = (row["status"] if row else None, events[0] or 0, steps[0] or 0)
    return out


def peak_gpu_mb(recent: int = 200) -> float | None:
    """The largest GPU memory peak (`gpu_memory_mb` of the trainer's epoch events) among the last
    `recent` epochs of this data home; None before any was measured."""
    with db.reading() as conn:
        row = conn.execute("""SELECT MAX(CAST(json_extract(data, '$.gpu_memory_mb') AS REAL)) AS peak FROM
                              (SELECT data FROM metrics WHERE kind = 'epoch' ORDER BY id DESC LIMIT ?)""",
                           (recent,)).fetchone()
    return float(row["peak"]) if row and row["peak"] else None


def add_artifact(run_id: str, kind: str, path: str) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO artifacts (run_id, kind, path, created) VALUES (?, ?, ?, ?)",
                     (run_id, kind, path, time.time()))


def artifacts(run_id: str) -> list[dict]:
    with db.reading() as conn:
        return [dict(r) for r in conn.execute("SELECT kind, path, created FROM artifacts WHERE run_id = ?", (run_id,))]


# ---- a copy of the store (a backup) ------------------------------------------------------------------
def run_ids(conn) -> list[str]:
    """Every run in the store `conn` opens (a backup's copy)."""
    return [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY created")]


def keep_only(conn, owners: set[str]) -> None:
    """In a copy of the store (a class's backup): `owners`' runs alone (their jobs, metrics, artifacts and
    holdout scores go with the others)."""
    marks = ",".join("?" * len(owners))  # none: NOT IN () keeps nothing
    conn.execute(f"DELETE FROM runs WHERE owner NOT IN ({marks})", sorted(owners))
