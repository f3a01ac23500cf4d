"""How a job ends, for both executors (the local slots and the Ray dispatcher): one pure decision and one
writer, so both leave the same rows behind.

A fit that returned ends in `record` (succeeded, or cancelled by request). A fit that raised goes to
`decide`, which looks only at the error and the job: a full disk or the server's memory → fail with a
message that says what, where and what to do; GPU out of memory on a first attempt → retry once at
half the batch size (resuming); the process or node lost (`Lost`) → interrupt (a resume continues
from the last checkpoint); anything else → fail with a message (an internal error's trace goes to the
run's worker.log). `end` carries the decision out, first removing what a write cut short left behind;
an ending refused by a full disk is tried again for a while (`persist`). Every status write goes
through `runs.status`.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Callable

from core import db
from core.errors import MEMORY, UserError, resource_kind
from core.paths import resource_error, run_dir
from core.runs import status, store
from core.serving import holdouts

log = logging.getLogger("transferlab.worker")


class Lost(Exception):
    """The process or node running the job went away: not the job's fault, and resumable."""


@dataclass(frozen=True)
class Retry:
    batch_size: int
    message: str


@dataclass(frozen=True)
class Fail:
    message: str
    internal: bool  # not the person's mistake: keep the trace


@dataclass(frozen=True)
class Interrupt:
    message: str


def decide(error: BaseException, job: dict, batch_size: int) -> Retry | Fail | Interrupt:
    """What happens to a job whose training raised `error` at `batch_size`. Pure: no database. Out of
    memory retries once at half the batch; a full disk (or memory again) fails the job with a message that
    says what, where and what to do: a smaller batch would not give a disk room."""
    if isinstance(error, Lost):
        return Interrupt(str(error))
    if is_oom(error) and job["attempts"] == 0 and batch_size > 1:
        half = max(1, batch_size // 2)
        return Retry(half, f"out of GPU memory at batch size {batch_size}; retrying at {half}")
    explained = resource_error(error)
    if explained is not None:
        return Fail(str(explained), internal=False)
    return Fail(failure_message(error), internal=not isinstance(error, UserError))


def is_oom(error: BaseException) -> bool:
    """torch.cuda.OutOfMemoryError (and Ray's, by name: no torch or Ray needed here), the server's own
    memory running out (MemoryError, torch's "can't allocate memory"), or any error that says so."""
    return (type(error).__name__ == "OutOfMemoryError" or resource_kind(error) == MEMORY
            or "out of memory" in str(error).lower())


def failure_message(error: BaseException) -> str:
    if isinstance(error, UserError):
        return str(error)
    if is_oom(error):
        return f"out of GPU memory even at a smaller batch size: choose a smaller backbone or batch size ({error})"
    return f"internal error: {type(error).__name__}: {error}"


# ---- the writer ------------------------------------------------------------------------------------
def end(job: dict, error: BaseException, retry: Callable[[dict], str], trace: str = "") -> str:
    """Carry out `decide` for a job whose training raised; `retry(job)` runs the smaller attempt and
    returns its status."""
    drop_partial_files(job["run_id"])  # a checkpoint cut short by a full disk gives its room back first
    persist(lambda: store.backfill_epochs(job["run_id"]))  # an epoch checkpointed whose row was refused
    verdict = decide(error, job, store.job_config(job).train.batch_size)
    if isinstance(verdict, Retry):
        with db.transaction() as conn:
            again = status.retry(conn, job, verdict.batch_size, verdict.message)
        store.add_metric(job["run_id"], {"event": "retry", "message": verdict.message, "batch_size": verdict.batch_size})
        return retry(again)
    if isinstance(verdict, Interrupt):
        return interrupted(job, verdict.message)
    return _failed(job, verdict, trace)


def record(job: dict, summary: dict) -> str:
    """A fit that returned (succeeded or cancelled): the run's summary and evaluation, the job's
    status, and a class's holdout score."""
    ended = summary["status"]

    def write() -> None:
        with db.transaction() as conn:
            status.finish(conn, job, ended, "", "" if ended == status.Status.SUCCEEDED else "cancelled by request",
                          summary={k: v for k, v in summary.items() if k != "evaluation"},
                          evaluation=summary.get("evaluation"))

    persist(lambda: store.backfill_epochs(job["run_id"]))
    persist(write)
    if ended == status.Status.SUCCEEDED:
        _score_holdouts(job["run_id"], job["owner"])
    return ended


def interrupted(job: dict, message: str) -> str:
    """The process or node running the job went away: resume continues from its last checkpoint."""
    with db.transaction() as conn:
        status.interrupt(conn, job, message)
    return status.Status.INTERRUPTED.value


def _failed(job: dict, verdict: Fail, trace: str) -> str:
    if verdict.internal and trace:
        with contextlib.suppress(OSError):  # the trace is for the log; the status below matters more
            run_dir(job["run_id"]).mkdir(parents=True, exist_ok=True)  # a job can fail before its folder exists
            (run_dir(job["run_id"]) / "worker.log").write_text(trace)

    def write() -> None:
        with db.transaction() as conn:
            status.finish(conn, job, status.Status.FAILED.value, verdict.message, verdict.message)

    persist(write)  # the status first: of the two writes it is the one a person must see
    persist(lambda: store.add_metric(job["run_id"], {"event": "error", "message": verdict.message}))
    return status.Status.FAILED.value


# ---- writing an ending on a disk that is full ----------------------------------------------------------
PERSIST_WAITS = (0.5, 1, 2, 4, 8, 15)  # seconds between tries: about half a minute for space to come back


def persist(write: Callable[[], None], waits: tuple[float, ...] = PERSIST_WAITS) -> None:
    """Run `write` (an ending's database writes), trying again while resource trouble (a full disk, a
    locked store) refuses it; other errors, and the last refusal, are raised. A slot that cannot record
    an ending exits, and its job becomes interrupted (resumable) once the database can be written."""
    for wait in (*waits, None):
        try:
            return write()
        except Exception as exc:
            if wait is None or resource_error(exc) is None:
                raise
            log.warning("cannot record a job's end yet (%s); trying again in %s s", exc, wait)
            time.sleep(wait)


def drop_partial_files(run_id: str) -> None:
    """Temporary files a write left in the run's folder when it was cut short (checkpoints are written to
    `.NAME.PID.tmp`, then renamed): once the job has ended nothing will rename them, and on a full disk they
    hold the room the job's ending needs."""
    folder = run_dir(run_id)
    for partial in folder.glob(".*.tmp") if folder.is_dir() else ():
        with contextlib.suppress(OSError):
            partial.unlink()


def _score_holdouts(run_id: str, owner: str) -> None:
    """A class's held-out score, right after the run (a failure here never fails the run)."""
    try:
        holdouts.score(run_id, owner)
    except Exception:  # logged; the leaderboard simply lacks this run
        log.exception("holdout scoring failed for run %s", run_id)


def score_pending(limit: int = 1) -> int:
    """Score up to `limit` succeeded runs a holdout should have scored and has not (runs that finished
    before their class had a holdout), the earliest finished first: an idle worker's catch-up."""
    found = store.succeeded(holdouts.unscored(), limit)
    for run in found:
        holdouts.score(run["id"], run["owner"])
    return len(found)
