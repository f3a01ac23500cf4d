"""Runs, jobs, metrics and artifacts in SQLite (WAL); run files under `<data home>/runs/<id>/`.

A run is one training of one RunConfig; a job is a request to execute it (train, or resume from
its last checkpoint). Status lifecycle: queued → running → succeeded / failed (with message) /
cancelled / interrupted. Checkpoints are safetensors + the RunConfig JSON, so a run can be rebuilt
from its files alone.
"""
from __future__ import annotations

import json
import shutil
import time
import uuid

from core import db
from core.data import pins, removal
from core.errors import UserError
from core.paths import check_run_id, run_dir


def new_run(config, owner: str, parent: str | None = None, role: str = "main") -> str:
    run_id = uuid.uuid4().hex[:12]
    with db.transaction() as conn:
        conn.execute("""INSERT INTO runs (id, owner, parent, role, config, dataset, backbone, scenario, status, created)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)""",
                     (run_id, owner, parent, role, config.to_json(), config.data.dataset, config.backbone,
                      config.scenario, time.time()))
    return run_id


def add_job(run_id: str, owner: str, kind: str = "train", holder: str | None = None) -> int:
    """A queued job; with `holder` (a process identity) it is that process's alone from the start:
    no worker can claim it (in-process training)."""
    with db.transaction() as conn:
        job = conn.execute("""INSERT INTO jobs (run_id, owner, kind, status, created, holder)
                              VALUES (?, ?, ?, 'queued', ?, ?)""", (run_id, owner, kind, time.time(), holder)).lastrowid
        conn.execute("UPDATE runs SET status = 'queued', message = '' WHERE id = ?", (run_id,))
    return job


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


def _brief(row: dict) -> dict:
    summary = row.pop("summary", None) or {}
    row["val_accuracy"] = summary.get("val_accuracy")
    row["test_accuracy"] = summary.get("test_accuracy")
    row["seconds"] = summary.get("seconds")
    return row


def set_run(run_id: str, **fields) -> None:
    for key in ("summary", "evaluation"):
        if key in fields and fields[key] is not None:
            fields[key] = json.dumps(fields[key])
    columns = ", ".join(f"{k} = ?" for k in fields)
    with db.transaction() as conn:
        conn.execute(f"UPDATE runs SET {columns} WHERE id = ?", (*fields.values(), run_id))


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


def add_metric(run_id: str, event: dict) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO metrics (run_id, kind, phase, epoch, step, data, t) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (run_id, event.get("event", "event"), event.get("phase"), event.get("epoch"), event.get("step"),
                      json.dumps(event, default=float), event.get("t", time.time())))


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


def add_artifact(run_id: str, kind: str, path: str) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO artifacts (run_id, kind, path, created) VALUES (?, ?, ?, ?)",
                     (run_id, kind, path, time.time()))


def artifacts(run_id: str) -> list[dict]:
    with db.reading() as conn:
        return [dict(r) for r in conn.execute("SELECT kind, path, created FROM artifacts WHERE run_id = ?", (run_id,))]


def delete_run(run_id: str, owner: str) -> None:
    """Rows (jobs, metrics, artifacts cascade) and the run's folder."""
    row = run_row(run_id, owner)
    if row["status"] in ("queued", "running"):
        raise UserError(f"run {run_id} is {row['status']}: cancel it before deleting")
    with db.transaction() as conn:
        conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
    shutil.rmtree(run_dir(run_id), ignore_errors=True)
    removal.collect(pins.unpin(run_id))  # images only this run still needed (its dataset is gone)
