"""A worker slot: one process that takes queued jobs in the scheduler's fair order and runs them.
The supervisor starts the slots (`python -m core worker --slot N`, `main` here); tests, the demo and
the in-process `train` use the same functions directly.

A slot survives a job's exception and goes on (`outcome` decides: a full disk fails the job with a
message saying so; GPU out of memory retries once at half the batch size, that job only, other slots
being separate processes; anything else fails with its message, a NaN loss included), and waits out a
disk too full to claim the next job. After every job the slot drops the model, optimizer and features and
hands freed memory back, so its footprint stays flat (the decoded-image cache is bounded, and kept:
the next student's job on the same class dataset decodes nothing).
"""
from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import time
import traceback

import torch

from core.config import RunConfig
from core.errors import UserError
from core.execute import outcome, service
from core.execute.timing import CANCEL_POLL_SECONDS
from core.paths import resource_error, run_dir
from core.runs import leases, status, store
from core.runs.queue import lists
from core.training.checkpoints import write_text
from core.training.trainer import Trainer

log = logging.getLogger("transferlab.worker")
LOCAL = {"executor": "local", "node": "local"}  # where a job ran, in its summary (the Ray executor names its node)
RESOURCE_WAIT_SECONDS = 5.0  # a slot that cannot claim (full disk, locked store) tries again this much later


class Worker:
    """One slot: claims and runs jobs until stopped, `max_jobs` done, or idle for `idle_exit` s."""

    def __init__(self, poll: float = 0.5, slot: int = 0):
        self.pid, self.poll, self.slot, self.stopping = os.getpid(), poll, slot, False
        self.identity = leases.identity()
        self.heartbeat = service.Heartbeat(self.pid)

    def start(self) -> None:
        self.heartbeat.start()

    def stop(self) -> None:
        self.stopping = True
        self.heartbeat.stop()

    def serve(self, max_jobs: int | None = None, idle_exit: float | None = None) -> int:
        done, idle_since = 0, time.monotonic()
        while not self.stopping and (max_jobs is None or done < max_jobs):
            job = self._claim()
            if job is None:
                if idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                    break
                if not outcome.score_pending():  # idle: catch up on runs finished before a holdout existed
                    time.sleep(self.poll)
                continue
            self.heartbeat.job_id = job["id"]
            process(job)
            release_memory()
            self.heartbeat.job_id, done, idle_since = None, done + 1, time.monotonic()
        return done

    def _claim(self) -> dict | None:
        """The next job, or None; on a full disk or a locked store the slot waits instead of dying (a dead
        slot would be restarted, import torch again, and meet the same disk)."""
        try:
            return leases.claim_next(self.identity)
        except Exception as exc:
            explained = resource_error(exc)
            if explained is None:
                raise
            log.warning("cannot take a job now: %s", explained)
            time.sleep(RESOURCE_WAIT_SECONDS)
            return None


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
def process(job: dict, echo=None) -> str:
    """Run one claimed job to a final status; never raises. `echo` also sees every event."""
    config = store.job_config(job)
    try:
        summary = _train(job, config, echo)
    except Exception as exc:
        return outcome.end(job, exc, lambda again: _retry_here(again, echo), traceback.format_exc())
    return outcome.record(job, {**summary, **LOCAL})


def _retry_here(job: dict, echo=None) -> str:
    release_memory()
    return process(job, echo)


def _train(job: dict, config: RunConfig, echo=None) -> dict:
    folder = run_dir(job["run_id"])
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / "config.json", config.to_json())  # atomic: a full disk leaves no half a config

    def emit(event: dict) -> None:
        store.add_metric(job["run_id"], event)
        if echo:
            echo(event)

    trainer = Trainer(config, emit=emit, should_stop=_cancel_flag(job["id"]), run_dir=folder,
                      resume=status.resumes(job), splits=lists(job["run_id"], job["owner"]))
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


# ---- a slot process, started by the supervisor --------------------------------------------------------
def main(slot: int, max_jobs: int | None = None, idle_exit: float | None = None) -> int:
    """One slot, started by the supervisor that holds the data home's lock (and nobody else)."""
    if service.serving_pid() != os.getppid():
        raise UserError("--slot is started by the worker supervisor; run `python -m core worker` instead")
    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s slot {slot} %(process)d %(message)s")
    worker = Worker(slot=slot)
    signal.signal(signal.SIGTERM, lambda *_: setattr(worker, "stopping", True))
    worker.start()
    try:
        return worker.serve(max_jobs=max_jobs, idle_exit=idle_exit)
    finally:
        worker.stop()


def _die_with_parent() -> None:
    """A slot must not outlive its supervisor (killed or crashed): its job would run on unwatched
    and hold the device. Linux delivers SIGKILL to the slot when the parent goes."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent went before the call took effect
        os._exit(1)
