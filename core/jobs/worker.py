"""`python -m core worker`: the process that owns the GPU and runs queued jobs, FIFO, one at a time.

It survives a job's exception and goes on: CUDA out-of-memory retries once at half the batch size,
then fails with the message; a NaN loss fails with a clear message. At start it marks jobs left
running by a dead worker as interrupted (their runs resume from the last checkpoint on request).
A heartbeat row tells the app a worker is alive.
"""
from __future__ import annotations

import dataclasses
import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback

import torch

from core import db
from core.config import RunConfig
from core.errors import UserError
from core.jobs import queue, store
from core.paths import run_dir
from core.training.trainer import Trainer

log = logging.getLogger("transferlab.worker")
CANCEL_POLL_SECONDS = 0.5


class Worker:
    def __init__(self, poll: float = 0.5):
        self.pid, self.poll, self.stopping = os.getpid(), poll, False
        self._job_id: int | None = None

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        with db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO workers (pid, started, heartbeat) VALUES (?, ?, ?)",
                         (self.pid, time.time(), time.time()))
        recover_interrupted()
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
                                 (time.time(), self._job_id, self.pid))
            except Exception:  # a busy database must not kill the heartbeat
                log.exception("heartbeat failed")
            time.sleep(queue.HEARTBEAT_SECONDS)

    def serve(self, max_jobs: int | None = None, idle_exit: float | None = None) -> int:
        """Run jobs until stopped (or `max_jobs` done, or idle for `idle_exit` seconds)."""
        done, idle_since = 0, time.monotonic()
        while not self.stopping and (max_jobs is None or done < max_jobs):
            job = claim_next(self.pid)
            if job is None:
                if idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                    break
                time.sleep(self.poll)
                continue
            self._job_id = job["id"]
            process(job)
            self._job_id, done, idle_since = None, done + 1, time.monotonic()
        return done


def claim_next(pid: int) -> dict | None:
    """Atomically take the oldest queued job."""
    with db.transaction() as conn:
        row = conn.execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
        return _claim(conn, row, pid) if row else None


def claim_specific(job_id: int, pid: int | None = None) -> dict:
    """Take one particular queued job (the CLI's in-process `train`)."""
    with db.transaction() as conn:
        row = conn.execute("SELECT * FROM jobs WHERE id = ? AND status = 'queued'", (job_id,)).fetchone()
        if row is None:
            raise UserError(f"job {job_id} is not queued any more (a worker may have taken it)")
        return _claim(conn, row, pid or os.getpid())


def _claim(conn, row, pid: int) -> dict:
    now = time.time()
    conn.execute("UPDATE jobs SET status = 'running', started = ?, worker_pid = ? WHERE id = ?", (now, pid, row["id"]))
    conn.execute("UPDATE runs SET status = 'running', started = COALESCE(started, ?), message = '' WHERE id = ?",
                 (now, row["run_id"]))
    return {**dict(row), "status": "running", "worker_pid": pid}


def recover_interrupted() -> int:
    """Jobs marked running whose worker is gone become interrupted (and so do their runs)."""
    alive = {w["pid"] for w in queue.alive_workers()}
    with db.transaction() as conn:
        stale = [dict(r) for r in conn.execute("SELECT id, run_id, worker_pid FROM jobs WHERE status = 'running'")]
        stale = [r for r in stale if r["worker_pid"] not in alive]
        message = "the worker stopped during this run; resume it to continue from its last checkpoint"
        for r in stale:
            conn.execute("UPDATE jobs SET status = 'interrupted', finished = ?, message = ? WHERE id = ?",
                         (time.time(), message, r["id"]))
            conn.execute("UPDATE runs SET status = 'interrupted', message = ? WHERE id = ?", (message, r["run_id"]))
    return len(stale)


# ---- one job -------------------------------------------------------------------------------------
def process(job: dict, echo=None) -> str:
    """Run one claimed job to a final status; never raises. `echo` also sees every event."""
    config = RunConfig.from_dict(store.run_row(job["run_id"])["config"])
    if job["batch_size"]:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, batch_size=job["batch_size"]))
    try:
        summary = _train(job, config, echo)
    except Exception as exc:
        return _handle_failure(job, config, exc, echo)
    status = summary["status"]
    store.set_run(job["run_id"], status=status, finished=time.time(), summary=_without_eval(summary),
                  evaluation=summary.get("evaluation"), message="" if status == "succeeded" else "cancelled by request")
    _finish_job(job["id"], status, "")
    return status


def _train(job: dict, config: RunConfig, echo=None) -> dict:
    folder = run_dir(job["run_id"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config.to_json())

    def emit(event: dict) -> None:
        store.add_metric(job["run_id"], event)
        if echo:
            echo(event)

    trainer = Trainer(config, emit=emit,
                      should_stop=_cancel_flag(job["id"]), run_dir=folder,
                      resume=job["kind"] == "resume" or job["attempts"] > 0)
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


def _handle_failure(job: dict, config: RunConfig, exc: Exception, echo=None) -> str:
    if _is_oom(exc) and job["attempts"] == 0 and config.train.batch_size > 1:
        half = max(1, config.train.batch_size // 2)
        message = f"out of GPU memory at batch size {config.train.batch_size}; retrying at {half}"
        _release_gpu_memory()
        with db.transaction() as conn:
            conn.execute("UPDATE jobs SET attempts = attempts + 1, batch_size = ?, message = ? WHERE id = ?",
                         (half, message, job["id"]))
        store.add_metric(job["run_id"], {"event": "retry", "message": message, "batch_size": half})
        return process({**job, "attempts": job["attempts"] + 1, "batch_size": half}, echo)
    message = _failure_message(exc)
    if not isinstance(exc, UserError):
        (run_dir(job["run_id"]) / "worker.log").write_text(traceback.format_exc())
    store.add_metric(job["run_id"], {"event": "error", "message": message})
    store.set_run(job["run_id"], status="failed", finished=time.time(), message=message)
    _finish_job(job["id"], "failed", message)
    return "failed"


def _is_oom(exc: Exception) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _release_gpu_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _failure_message(exc: Exception) -> str:
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


# ---- entry point ---------------------------------------------------------------------------------
def main(concurrency: int = 1, max_jobs: int | None = None, idle_exit: float | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(process)d %(message)s")
    children = [subprocess.Popen([sys.executable, "-m", "core", "worker"]) for _ in range(concurrency - 1)]
    worker = Worker()
    signal.signal(signal.SIGTERM, lambda *_: setattr(worker, "stopping", True))
    worker.start()
    try:
        return worker.serve(max_jobs=max_jobs, idle_exit=idle_exit)
    finally:
        worker.stop()
        for child in children:
            child.terminate()
