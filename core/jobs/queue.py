"""The job queue: submit a RunConfig (plus its companion baselines), list, read, cancel, resume.
Every call is filtered by an owner token, so students on one server see only their own runs.
Also: is a worker alive, and start one if not (the app must never initialise CUDA itself)."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
import uuid

from core import data, db, models
from core.config import FreezePlan, RunConfig
from core.errors import ConfigError, UserError
from core.jobs import store
from core.paths import data_home

HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 15.0


def default_owner() -> str:
    return os.environ.get("TRANSFERLAB_OWNER", "cli")


def companion_configs(config: RunConfig) -> dict[str, RunConfig]:
    """Baselines on the same data, split and seed: from scratch (nothing pretrained, everything
    trained) and a linear probe (pretrained, frozen, head only), for the same number of epochs."""
    epochs = config.train.head_epochs + config.train.finetune_epochs
    out = {}
    for role in config.baselines:
        if role == "scratch":
            train = dataclasses.replace(config.train, head_epochs=0, finetune_epochs=epochs,
                                        finetune_lr=config.train.head_lr, lr_factor=1.0)
            out[role] = dataclasses.replace(config, weights="none", freeze=FreezePlan(mode="none"), train=train,
                                            baselines=())
        else:
            train = dataclasses.replace(config.train, head_epochs=epochs, finetune_epochs=0)
            out[role] = dataclasses.replace(config, weights="imagenet", freeze=FreezePlan(mode="all_but_head"),
                                            train=train, baselines=())
    return out


def submit(config: RunConfig, owner: str | None = None) -> dict:
    """Queue the run (and its baselines). Bad configs are refused here, not in the worker."""
    owner = owner or default_owner()
    models.check(config)
    if not config.data.dataset:
        raise UserError("data.dataset: choose a dataset before training")
    data.check_trainable(config.data.dataset)
    run_id = store.new_run(config, owner)
    job_id = store.add_job(run_id, owner)
    companions = {}
    for role, companion in companion_configs(config).items():
        cid = store.new_run(companion, owner, parent=run_id, role=role)
        store.add_job(cid, owner)
        companions[role] = cid
    return {"run_id": run_id, "job_id": job_id, "companions": companions}


def sweep(config: RunConfig, owner: str | None = None, stage_count: int | None = None) -> dict:
    """One run per freeze depth (0..N stages frozen from the input), same data, split and seed;
    each trains the head first, then fine-tunes what its depth leaves open."""
    owner = owner or default_owner()
    models.check(config)
    data.check_trainable(config.data.dataset or "")
    stages = stage_count or models.stage_count(config.backbone)
    train = dataclasses.replace(config.train, head_epochs=max(1, config.train.head_epochs),
                                finetune_epochs=max(1, config.train.finetune_epochs))
    group = f"sweep-{uuid.uuid4().hex[:8]}"
    ids = []
    for k in range(stages + 1):
        variant = dataclasses.replace(config, freeze=FreezePlan(mode="first_k", k=k, bn=config.freeze.bn),
                                      train=train, baselines=())
        run_id = store.new_run(variant, owner, parent=group, role=f"sweep:{k}")
        store.add_job(run_id, owner)
        ids.append(run_id)
    return {"sweep": group, "runs": ids}


def sweep_results(group: str, owner: str | None = None) -> list[dict]:
    rows = store.list_runs(owner or default_owner(), parent=group)
    out = [{"frozen_stages": int(r["role"].split(":")[1]), "run_id": r["id"], "status": r["status"],
            "test_accuracy": r["test_accuracy"], "val_accuracy": r["val_accuracy"], "seconds": r["seconds"]}
           for r in rows]
    return sorted(out, key=lambda r: r["frozen_stages"])


def own_backbones(owner: str) -> list[models.BackboneInfo]:
    """This owner's succeeded runs, listed beside the library backbones (the develop-model approach)."""
    found = []
    for row in store.list_runs(owner):
        if row["status"] == "succeeded" and row["role"] == "main":
            try:
                found.append(models.get(f"run:{row['id']}").info())
            except ConfigError:
                continue
    return found


def runs(owner: str | None = None) -> list[dict]:
    return store.list_runs(owner or default_owner())


def run(run_id: str, owner: str | None = None, epochs: bool = True) -> dict:
    """Status, per-epoch metrics (unless `epochs=False`: a live page reads them itself, only the new
    rows), evaluation, queue position, companions."""
    owner = owner or default_owner()
    row = store.run_row(run_id, owner)
    job = store.latest_job(run_id)
    if epochs:
        row["epochs"] = store.metrics(run_id, "epoch")
    row["queue_position"] = queue_position(job["id"]) if job and job["status"] == "queued" else None
    row["companions"] = [r["id"] for r in store.list_runs(owner, parent=run_id)]
    return row


def queue_position(job_id: int) -> int:
    """1 = next to start."""
    with db.reading() as conn:
        return conn.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND id <= ?", (job_id,)).fetchone()[0]


def cancel(run_id: str, owner: str | None = None) -> str:
    """Queued: cancelled at once. Running: the worker stops within a batch."""
    row = store.run_row(run_id, owner or default_owner())
    job = store.latest_job(run_id)
    if row["status"] not in ("queued", "running") or job is None:
        raise UserError(f"run {run_id} is {row['status']}; only queued or running runs can be cancelled")
    with db.transaction() as conn:
        updated = conn.execute("""UPDATE jobs SET status = 'cancelled', finished = ?, message = 'cancelled before start'
                                  WHERE id = ? AND status = 'queued'""", (time.time(), job["id"])).rowcount
        if updated:
            conn.execute("UPDATE runs SET status = 'cancelled', finished = ? WHERE id = ?", (time.time(), run_id))
            return "cancelled"
        conn.execute("UPDATE jobs SET cancel = 1 WHERE id = ?", (job["id"],))
    return "cancelling"


def resume(run_id: str, owner: str | None = None) -> int:
    owner = owner or default_owner()
    row = store.run_row(run_id, owner)
    if row["status"] not in ("interrupted", "failed", "cancelled"):
        raise UserError(f"run {run_id} is {row['status']}; only interrupted, failed or cancelled runs resume")
    return store.add_job(run_id, owner, kind="resume")


# ---- worker liveness -----------------------------------------------------------------------------
def alive_workers() -> list[dict]:
    with db.reading() as conn:
        rows = [dict(r) for r in conn.execute("SELECT * FROM workers")]
    return [r for r in rows if time.time() - r["heartbeat"] < STALE_SECONDS and pid_alive(r["pid"])]


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


def ensure_worker() -> int:
    """The pid of a live worker, starting one (detached, logging to the data home) if none is."""
    alive = alive_workers()
    if alive:
        return alive[0]["pid"]
    log = open(data_home() / "worker.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "core", "worker"], stdout=log, stderr=log,
                               stdin=subprocess.DEVNULL, start_new_session=True, env=os.environ.copy(),
                               cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    deadline = time.time() + 20
    while time.time() < deadline and not alive_workers():
        if process.poll() is not None:
            raise UserError(f"the worker exited at once (code {process.returncode}); see {data_home() / 'worker.log'}")
        time.sleep(0.1)
    return process.pid
