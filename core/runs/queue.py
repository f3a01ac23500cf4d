"""The job queue: submit a RunConfig (plus its companion baselines), list, read, cancel, resume, delete.
Every call is filtered by an owner token, so students on one server see only their own runs, and
every run pins its exact image lists when it is submitted (`data.pins`)."""
from __future__ import annotations

import dataclasses
import shutil

from core import data, db, models
from core.config import FreezePlan, RunConfig
from core.data import pins, removal
from core.errors import ConfigError, UserError
from core.models.run_source import PREFIX as RUN_PREFIX
from core.paths import env_owner, run_dir
from core.runs import admission, fairness, leases, status, store

default_owner = env_owner  # the owner a headless caller acts for


def companion_configs(config: RunConfig) -> dict[str, RunConfig]:
    """Baselines on the same data, split and seed: from scratch (nothing pretrained, everything
    trained) and a linear probe (pretrained, frozen, head only), for the same number of epochs."""
    epochs = config.train.total_epochs
    out = {}
    for role in config.baselines:
        if role == "scratch":
            out[role] = scratch_config(config)
        else:
            train = dataclasses.replace(config.train, head_epochs=epochs, finetune_epochs=0)
            out[role] = dataclasses.replace(config, weights="imagenet", freeze=FreezePlan(mode="all_but_head"),
                                            train=train, baselines=())
    return out


def scratch_config(config: RunConfig) -> RunConfig:
    """The same network, data, split, seed and epochs, from random weights with everything trained."""
    epochs = config.train.total_epochs
    train = dataclasses.replace(config.train, head_epochs=0, finetune_epochs=epochs,
                                finetune_lr=config.train.head_lr, lr_factor=1.0)
    return dataclasses.replace(config, weights="none", freeze=FreezePlan(mode="none"), train=train, baselines=())


def check(config: RunConfig, owner: str, jobs: int = 1) -> data.Splits:
    """Refuse bad configs here, not in the worker (a class's locks and epochs cap included), and `jobs`
    more jobs when the server or the owner has no room for them (`admission.check_room`; 0: checked
    later, once the caller knows how many); returns the lists the run will pin."""
    models.check(config)
    admission.check(config, owner)
    if jobs:
        admission.check_room(owner, jobs)
    if config.backbone.startswith(RUN_PREFIX):  # the develop-model approach: only your own runs
        store.run_row(config.backbone[len(RUN_PREFIX):], owner)
    if not config.data.dataset:
        raise UserError("data.dataset: choose a dataset before training")
    return data.for_spec(config.data, owner, config.task)


def enqueue(config: RunConfig, owner: str, lists: data.Splits, parent: str | None = None, role: str = "main",
           holder: str | None = None) -> tuple[str, int]:
    run_id = store.new_run(config, owner, parent=parent, role=role)
    dataset = data.find(config.data.dataset, owner)
    pins.pin(run_id, dataset.id, dataset.name, owner, lists)
    return run_id, store.add_job(run_id, owner, holder=holder)


def submit(config: RunConfig, owner: str | None = None, hold: bool = False) -> dict:
    """Queue the run and its baselines on the same pinned lists. `hold=True`: the jobs belong to
    this process from the start (in-process training), so no worker can take them."""
    owner = owner or default_owner()
    lists = check(config, owner, jobs=1 + len(config.baselines))
    holder = leases.identity() if hold else None
    run_id, job_id = enqueue(config, owner, lists, holder=holder)
    companions = {role: enqueue(companion, owner, lists, run_id, role, holder)[0]
                  for role, companion in companion_configs(config).items()}
    return {"run_id": run_id, "job_id": job_id, "companions": companions}


def make_room(owner: str, jobs: int) -> None:
    """For recipes that learn how many jobs they queue only after `check(..., jobs=0)`."""
    admission.check_room(owner, jobs)


def own_backbones(owner: str) -> list[models.BackboneInfo]:
    """This owner's succeeded runs, listed beside the library backbones (the develop-model approach)."""
    found = []
    for row in store.list_runs(owner):
        if row["status"] == "succeeded" and row["role"] == "main":
            try:
                found.append(models.get(f"{RUN_PREFIX}{row['id']}").info())
            except ConfigError:
                continue
    return found


def runs(owner: str | None = None) -> list[dict]:
    return store.list_runs(owner or default_owner())


def run(run_id: str, owner: str | None = None, epochs: bool = True) -> dict:
    """Status, per-epoch metrics (unless `epochs=False`: a live page reads them itself, only the new
    rows), evaluation, queue position, companions, and the run's own image lists."""
    owner = owner or default_owner()
    row = store.run_row(run_id, owner)
    job = store.latest_job(run_id)
    if epochs:
        row["epochs"] = store.metrics(run_id, "epoch")
        row["images"] = pins.hashes(run_id)
    origin = pins.dataset_of(run_id)
    row["dataset_gone"] = bool(origin) and origin["dataset_id"] is None
    row["queue_position"] = queue_position(job["id"]) if job and job["status"] == "queued" else None
    row["companions"] = [r["id"] for r in store.list_runs(owner, parent=run_id)]
    return row


def lists(run_id: str, owner: str | None = None) -> data.Splits:
    """The run's pinned image lists (train, val, test), whatever became of its dataset since."""
    row = store.run_row(run_id, owner or default_owner())
    found = pins.load(run_id)
    if found is None:  # a run from before lists were pinned: its dataset's lists now
        config = RunConfig.from_dict(row["config"])
        return data.for_spec(config.data, row["owner"], config.task)
    return found


def queue_position(job_id: int) -> int | None:
    """1 = next to start, in the scheduler's fair order (None: not waiting for a worker)."""
    found = [job["id"] for job in fairness.order()]
    return found.index(job_id) + 1 if job_id in found else None


def cancel(run_id: str, owner: str | None = None) -> str:
    """Queued: cancelled at once. Running: the worker stops within a batch."""
    row = store.run_row(run_id, owner or default_owner())
    job = store.latest_job(run_id)
    if row["status"] not in status.ACTIVE or job is None:
        raise UserError(f"run {run_id} is {row['status']}; only queued or running runs can be cancelled")
    with db.transaction() as conn:
        if status.cancel_queued(conn, job):
            return "cancelled"
    store.ask_cancel(job["id"])
    return "cancelling"


def resume(run_id: str, owner: str | None = None) -> int:
    owner = owner or default_owner()
    row = store.run_row(run_id, owner)
    if row["status"] not in status.RESUMABLE:
        raise UserError(f"run {run_id} is {row['status']}; only interrupted, failed or cancelled runs resume")
    admission.check_room(owner)
    return store.add_job(run_id, owner, kind="resume")


def delete_run(run_id: str, owner: str) -> None:
    """Rows (jobs, metrics, artifacts cascade) and the run's folder; images only this run still needed
    (its dataset is gone) leave the content store."""
    row = store.run_row(run_id, owner)
    if row["status"] in status.ACTIVE:
        raise UserError(f"run {run_id} is {row['status']}: cancel it before deleting")
    store.delete_run_rows(run_id)
    shutil.rmtree(run_dir(run_id), ignore_errors=True)
    removal.collect(pins.unpin(run_id))


def delete_dataset(name: str, owner: str | None = None, force: bool = False) -> dict:
    """Refused while runs use the dataset (they are named) unless forced; then those runs keep their
    pinned images and stay readable."""
    return data.delete_dataset(name, owner or default_owner(), force)
