"""A worker slot: one process that takes queued jobs in the scheduler's fair order and runs them.
The supervisor (`supervisor`) starts the slots; tests and the in-process `train` use the same
functions directly.

A slot survives a job's exception and goes on: CUDA out-of-memory retries once at half the batch size
(that job only; other slots are separate processes and untouched), then fails with the message; a NaN
loss fails with a clear message. After every job the slot drops the model, optimizer and features and
hands freed memory back, so its footprint stays flat (the decoded-image cache is bounded, and kept:
the next student's job on the same class dataset decodes nothing).

How a job ends (`record`, `record_interrupted`, `handle_failure` with its half-batch retry) is shared
with the Ray executor (`ray_dispatch`), so both write the same rows.
"""
from __future__ import annotations

import ctypes
import dataclasses
import gc
import logging
import os
import threading
import time
import traceback

import torch

from core import db
from core.config import RunConfig
from core.errors import UserError
from core.jobs import holdouts, store, workers
from core.jobs.leases import claim_next
from core.jobs.queue import lists
from core.paths import run_dir
from core.training.trainer import Trainer

log = logging.getLogger("transferlab.worker")
CANCEL_POLL_SECONDS = 0.5


class Worker:
    """One slot: claims and runs jobs until stopped, `max_jobs` done, or idle for `idle_exit` s."""

    def __init__(self, poll: float = 0.5, slot: int = 0):
        self.pid, self.poll, self.slot, self.stopping = os.getpid(), poll, slot, False
        self.identity = workers.identity()
        self.job_id: int | None = None

    def start(self) -> None:
        with db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO workers (pid, started, heartbeat) VALUES (?, ?, ?)",
                         (self.pid, time.time(), time.time()))
        threading.Thread(target=self._heartbeat, daemon=True).start()

    def stop(self) -> None:
        self.stopping = True
        with db.transaction() as conn:
            conn.execute("DELETE FROM workers WHERE pid = ?", (self.pid,))

    def _heartbeat(self) -> None:
        while not self.stopping:
            try:
                with db.transaction() as conn:
                    conn.execute("UPDATE workers SET heartbeat = ?, job_id = ? WHERE pid = ?",
                                 (time.time(), self.job_id, self.pid))
            except Exception:  # a busy database must not kill the heartbeat
                log.exception("heartbeat failed")
            time.sleep(workers.HEARTBEAT_SECONDS)

    def serve(self, max_jobs: int | None = None, idle_exit: float | None = None) -> int:
        done, idle_since = 0, time.monotonic()
        while not self.stopping and (max_jobs is None or done < max_jobs):
            job = claim_next(self.identity)
            if job is None:
                if idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                    break
                if not holdouts.score_pending():  # idle: catch up on runs finished before a holdout existed
                    time.sleep(self.poll)
                continue
            self.job_id = job["id"]
            process(job)
            release_memory()
            self.job_id, done, idle_since = None, done + 1, time.monotonic()
        return done


def release_memory() -> None:
    """Hand what the last job freed back to the system (glibc keeps freed heap otherwise)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the allocator keeps it, nothing breaks
        pass


# ---- one job -------------------------------------------------------------------------------------
LOCAL = {"executor": "local", "node": "local"}  # where a job ran, in its summary (the Ray executor names its node)


def process(job: dict, echo=None) -> str:
    """Run one claimed job to a final status; never raises. `echo` also sees every event."""
    config = job_config(job)
    try:
        summary = _train(job, config, echo)
    except Exception as exc:
        return handle_failure(job, config, exc, lambda again: _retry_here(again, echo), traceback.format_exc())
    return record(job, {**summary, **LOCAL})


def _retry_here(job: dict, echo=None) -> str:
    _release_gpu_memory()
    return process(job, echo)


def job_config(job: dict) -> RunConfig:
    """The run's config, at the batch size an out-of-memory retry chose for this job."""
    config = RunConfig.from_dict(store.run_row(job["run_id"])["config"])
    if job["batch_size"]:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, batch_size=job["batch_size"]))
    return config


# ---- how a job ends (shared by both executors: these slots and the Ray dispatcher) --------------------
def record(job: dict, summary: dict) -> str:
    """A fit that returned (succeeded or cancelled): the run's summary and evaluation, the job's
    status, and a class's holdout score."""
    status = summary["status"]
    store.set_run(job["run_id"], status=status, finished=time.time(), summary=_without_eval(summary),
                  evaluation=summary.get("evaluation"), message="" if status == "succeeded" else "cancelled by request")
    _finish_job(job["id"], status, "")
    if status == "succeeded":
        _score_holdouts(job)
    return status


def record_interrupted(job: dict, message: str) -> str:
    """The process or node running the job went away: resume continues from its last checkpoint."""
    with db.transaction() as conn:
        conn.execute("UPDATE jobs SET status = 'interrupted', finished = ?, message = ? WHERE id = ? AND status = "
                     "'running'", (time.time(), message, job["id"]))
        conn.execute("UPDATE runs SET status = 'interrupted', message = ? WHERE id = ? AND status = 'running'",
                     (message, job["run_id"]))
    return "interrupted"


def _score_holdouts(job: dict) -> None:
    """A class's held-out score, right after the run (a failure here never fails the run)."""
    try:
        holdouts.score(job["run_id"], job["owner"])
    except Exception:  # noqa: BLE001  (logged; the leaderboard simply lacks this run)
        log.exception("holdout scoring failed for run %s", job["run_id"])


def _train(job: dict, config: RunConfig, echo=None) -> dict:
    folder = run_dir(job["run_id"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config.to_json())

    def emit(event: dict) -> None:
        store.add_metric(job["run_id"], event)
        if echo:
            echo(event)

    trainer = Trainer(config, emit=emit, should_stop=_cancel_flag(job["id"]), run_dir=folder,
                      resume=job["kind"] == "resume" or job["attempts"] > 0, splits=lists(job["run_id"], job["owner"]))
    return trainer.fit()


def _cancel_flag(job_id: int):
    """Polled every batch; reads the database at most every CANCEL_POLL_SECONDS."""
    state = {"checked": 0.0, "cancel": False}

    def should_stop() -> bool:
        if not state["cancel"] and time.monotonic() - state["checked"] > CANCEL_POLL_SECONDS:
            state["checked"] = time.monotonic()
            state["cancel"] = bool(store.job_row(job_id)["cancel"])
        return state["cancel"]

    return should_stop


def handle_failure(job: dict, config: RunConfig, exc: BaseException, retry, trace: str = "") -> str:
    """Out of memory on a first attempt: once more at half the batch size, resuming (`retry(job)`);
    anything else fails the run with its message (an internal error's `trace` goes to the run's worker.log)."""
    if _is_oom(exc) and job["attempts"] == 0 and config.train.batch_size > 1:
        half = max(1, config.train.batch_size // 2)
        message = f"out of GPU memory at batch size {config.train.batch_size}; retrying at {half}"
        with db.transaction() as conn:
            conn.execute("UPDATE jobs SET attempts = attempts + 1, batch_size = ?, message = ? WHERE id = ?",
                         (half, message, job["id"]))
        store.add_metric(job["run_id"], {"event": "retry", "message": message, "batch_size": half})
        return retry({**job, "attempts": job["attempts"] + 1, "batch_size": half})
    message = _failure_message(exc)
    if not isinstance(exc, UserError) and trace:
        run_dir(job["run_id"]).mkdir(parents=True, exist_ok=True)  # a job can fail before its folder exists
        (run_dir(job["run_id"]) / "worker.log").write_text(trace)
    store.add_metric(job["run_id"], {"event": "error", "message": message})
    store.set_run(job["run_id"], status="failed", finished=time.time(), message=message)
    _finish_job(job["id"], "failed", message)
    return "failed"


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _release_gpu_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _failure_message(exc: BaseException) -> str:
    if isinstance(exc, UserError):
        return str(exc)
    if _is_oom(exc):
        return f"out of GPU memory even at a smaller batch size: choose a smaller backbone or batch size ({exc})"
    return f"internal error: {type(exc).__name__}: {exc}"


def _finish_job(job_id: int, status: str, message: str) -> None:
    with db.transaction() as conn:
        conn.execute("UPDATE jobs SET status = ?, finished = ?, message = ? WHERE id = ?",
                     (status, time.time(), message, job_id))


def _without_eval(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "evaluation"}
