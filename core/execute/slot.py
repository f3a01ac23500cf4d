"""A worker slot: one process that takes queued jobs in the scheduler's fair order and runs them.
The supervisor starts the slots (`python -m core worker --slot N`, `main` here); tests, the demo and
the in-process `train` use the same functions directly.

A slot survives a job's exception and goes on (`outcome` decides: a full disk fails the job with a
message saying so; GPU out of memory retries once at half the batch size, that job only, other slots
being separate processes; anything else fails with its message, a NaN loss included), and waits out a
disk too full to claim the next job. After every job the slot drops the model, optimizer and features and
hands freed memory back, so its footprint stays flat (the decoded-image cache is bounded, and kept:
the next student's job on the same class dataset decodes nothing).

A slot stays warm between jobs: its CUDA context and cuDNN plans live as long as the process, and every
job copies its pretrained trunk from the process's `models.pretrained_cache` (a fresh copy per job, so
nothing one job trains reaches the next). Before its first job the slot warms the class presets' backbones,
or the default one (`training.warmup`); it runs on its share of the CPU cores (`capacity.thread_share`,
the supervisor passes the slot count) and logs one line per job (`job_clock`).
"""
from __future__ import annotations

import ctypes
import dataclasses
import gc
import logging
import os
import signal
import time
import traceback

import torch

from core.config import RunConfig
from core.errors import UserError
from core.execute import capacity, outcome, service
from core.execute.job_clock import JobClock
from core.execute.timing import CANCEL_POLL_SECONDS
from core.paths import resource_error, run_dir
from core.runs import admission, leases, status, store
from core.runs.queue import lists
from core.training import warmup
from core.training.checkpoints import write_text
from core.training.trainer import Trainer

log = logging.getLogger("transferlab.worker")
LOCAL = {"executor": "local", "node": "local"}  # where a job ran, in its summary (the Ray executor names its node)
RESOURCE_WAIT_SECONDS = 5.0  # a slot that cannot claim (full disk, locked store) tries again this much later
WARM_BACKBONES = 2  # at most this many class presets' backbones warmed at a slot's start


class Worker:
    """One slot: claims and runs jobs until stopped, `max_jobs` done, or idle for `idle_exit` s."""

    def __init__(self, poll: float = 0.5, slot: int = 0):
        self.pid, self.poll, self.slot, self.stopping = os.getpid(), poll, slot, False
        self.identity = leases.identity()
        self.heartbeat = service.Heartbeat(self.pid)
        self.warm = False  # warmed up, or ran a job: the next job finds the context, plans and weights ready

    def warm_up(self) -> None:
        """Before the first job: the class presets' backbones (or the default) read into memory, and on
        CUDA their plans made. A warm-up that fails costs the first job its head start, nothing more."""
        for config in warm_configs():
            try:
                log.info("warmed %s", warmup.warm_up(config))
            except Exception as exc:
                log.warning("could not warm %s: %s", config.backbone, exc)
        release_memory()
        self.warm = True

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
            self.heartbeat.job_id, clock = job["id"], JobClock(ready=self.warm)
            log.info(clock.line(job, process(job, clock=clock)))
            release_memory()
            self.heartbeat.job_id, done, idle_since, self.warm = None, done + 1, time.monotonic(), True
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
def process(job: dict, echo=None, clock: JobClock | None = None) -> str:
    """Run one claimed job to a final status; never raises. `echo` also sees every event; `clock` (the
    slot's, else one started now) learns the first step, and the summary carries it and the warmth."""
    clock = clock or JobClock()
    config = store.job_config(job)
    try:
        summary = _train(job, config, echo)
    except Exception as exc:
        trace = traceback.format_exc()
        # The failed attempt's frames (its trainer, model, batch) would live on in the traceback through the
        # retry, holding the very memory an out-of-memory retry at half the batch needs.
        traceback.clear_frames(exc.__traceback__)
        return outcome.end(job, exc, lambda again: _retry_here(again, echo, clock), trace)
    return outcome.record(job, {**summary, **LOCAL, **clock.facts(summary)})


def _retry_here(job: dict, echo=None, clock: JobClock | None = None) -> str:
    release_memory()
    return process(job, echo, clock)


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
def main(slot: int, max_jobs: int | None = None, idle_exit: float | None = None, slots: int = 1) -> int:
    """One of `slots` slots, started by the supervisor that holds the data home's lock (and nobody else)."""
    if service.serving_pid() != os.getppid():
        raise UserError("--slot is started by the worker supervisor; run `python -m core worker` instead")
    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s slot {slot} %(process)d %(message)s")
    log.info("%d CPU thread(s): this slot's share of %d core(s) among %d slot(s)", share_cpu(slots),
             capacity.cpu_cores(), slots)
    worker = Worker(slot=slot)
    signal.signal(signal.SIGTERM, lambda *_: setattr(worker, "stopping", True))
    worker.start()
    try:
        worker.warm_up()
        return worker.serve(max_jobs=max_jobs, idle_exit=idle_exit)
    finally:
        worker.stop()


def share_cpu(slots: int) -> int:
    """This process's CPU threads (intra-op and inter-op) set to one slot's share of the cores. Called
    before any parallel work: torch refuses to change the inter-op pool once it has started."""
    share = capacity.thread_share(slots)
    torch.set_num_threads(share)
    try:
        torch.set_num_interop_threads(share)
    except RuntimeError:  # the pool already runs (not in a fresh slot): the intra-op share is the one that counts
        log.warning("inter-op threads already started; left at %d", torch.get_num_interop_threads())
    return share


def warm_configs() -> list[RunConfig]:
    """What a slot warms: each class preset's backbone and batch size (up to WARM_BACKBONES), or the
    default backbone when no class has a preset."""
    default, found = RunConfig(), {}
    for preset in admission.presets() or [{}]:
        backbone = preset.get("backbone", default.backbone)
        batch = preset.get("batch_size", default.train.batch_size)
        found.setdefault((backbone, batch), default.replace(
            backbone=backbone, train=dataclasses.replace(default.train, batch_size=batch)))
    return list(found.values())[:WARM_BACKBONES]


def _die_with_parent() -> None:
    """A slot must not outlive its supervisor (killed or crashed): its job would run on unwatched
    and hold the device. Linux delivers SIGKILL to the slot when the parent goes."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent went before the call took effect
        os._exit(1)
