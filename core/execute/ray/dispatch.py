"""`python -m core worker` with TRANSFERLAB_EXECUTOR=ray: the dispatcher, the one process per data home
that sends queued jobs to a Ray cluster instead of running them on this server.

It holds the same worker lock as the local supervisor and claims jobs in the scheduler's fair order,
only as many as the cluster can run at once (so later arrivals still get their fair place). The
dispatcher itself is each claimed job's holder: while it lives its jobs are running wherever Ray put
them; when it dies they are interrupted (`leases.recover_interrupted`), as a dead slot's are. A task
whose node or process is lost marks its run interrupted here, and resume sends the last checkpoint
that came back. SQLite on this server stays the one record: a thread per job writes the events as
they stream in, lands checkpoint files in the run folder, and ends the job with the same code as a
local slot (`outcome`: one decision, with its half-batch retry on out-of-memory, and one writer).
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
import traceback
from pathlib import Path

from core.errors import UserError

try:
    import ray
except ImportError:  # the optional extra: requirements-ray.txt
    raise UserError("TRANSFERLAB_EXECUTOR=ray needs Ray on this server: pip install -r requirements-ray.txt "
                    "(or unset TRANSFERLAB_EXECUTOR to run jobs here)") from None

from core import db  # after the check above: without Ray, nothing below can load
from core.execute import capacity, outcome, service
from core.execute.ray import cluster, task
from core.execute.timing import RECOVER_SECONDS, STOP_GRACE_SECONDS
from core.models.run_source import PREFIX as RUN_PREFIX
from core.paths import run_dir
from core.runs import status, store
from core.runs.leases import claim_next, identity, recover_interrupted
from core.runs.queue import lists

log = logging.getLogger("transferlab.ray")
POLL_SECONDS = 0.2
SHAPE_SECONDS = 5.0  # nodes join and leave: the cluster's size is read again this often
LOST = "the Ray node or process running this run went away ({}); resume it to continue from its last checkpoint"
STOPPED = "the Ray dispatcher stopped during this run; resume it to continue from its last checkpoint"


class Dispatcher:
    def __init__(self, slots: int | None = None):
        self.slots, self.stopping, self.closed = slots, False, False
        self.identity = identity()
        self.running: dict[int, Follower] = {}
        self.relayed: set[int] = set()
        self.done = 0
        self._lock = threading.Lock()

    def run(self, max_jobs: int | None = None, idle_exit: float | None = None) -> int:
        lock = service.WorkerLock()
        lock.acquire()  # a second worker for this data home, local or Ray, stops here
        try:
            address = cluster.connect()
            self._on_signals()  # after ray.init, which installs its own SIGTERM handler (exit at once)
            try:
                log.info("dispatching %s to Ray at %s", db.db_path().parent, address)
                return self._serve(max_jobs, idle_exit)
            finally:
                self._close()
                cluster.disconnect()  # a local Ray we started stops with it; a cluster's driver leaves
        finally:
            lock.release()

    def _on_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: setattr(self, "stopping", True))

    def _serve(self, max_jobs: int | None, idle_exit: float | None) -> int:
        recover_interrupted()  # jobs of a dispatcher or slot that died before us
        self.flags, self.shelf = task.CancelFlags.remote(), cluster.ImageShelf()
        self.shape = cluster.shape(self.slots, capacity.slots_for)
        self.beat = service.Heartbeat()
        self.beat.start()
        log.info("each job: %s CPU, %s GPU; %d at once", self.shape.num_cpus, self.shape.num_gpus, self.shape.capacity)
        clocks = {"recover": time.monotonic(), "shape": time.monotonic(), "busy": time.monotonic()}
        while not self.stopping and (max_jobs is None or self.done < max_jobs):
            self._relay_cancels()
            if self._fill(max_jobs) or self.running:
                clocks["busy"] = time.monotonic()
            elif idle_exit is not None and time.monotonic() - clocks["busy"] > idle_exit:
                break
            elif outcome.score_pending():  # idle: catch up on runs finished before a holdout existed
                continue
            self._every(clocks)
            self.beat.job_id = next(iter(list(self.running)), None)  # a copy: followers remove themselves
            time.sleep(POLL_SECONDS)
        return self.done

    def _every(self, clocks: dict) -> None:
        now = time.monotonic()
        if now - clocks["recover"] > RECOVER_SECONDS:
            recover_interrupted()  # in-process `train` holders that died; ours are alive while we are
            clocks["recover"] = now
        if now - clocks["shape"] > SHAPE_SECONDS:  # GPU memory was probed once: keep the share it gave
            share = round(1 / self.shape.num_gpus) if self.shape.num_gpus else None
            before, self.shape = self.shape, cluster.shape(self.slots or share, capacity.slots_for)
            if self.shape != before:
                log.info("the cluster changed: %d job(s) at once", self.shape.capacity)
            clocks["shape"] = now

    def _fill(self, max_jobs: int | None) -> int:
        """Claim jobs while the cluster has room (and `max_jobs` allows): each becomes a task."""
        launched = 0
        while len(self.running) < self.shape.capacity and \
                (max_jobs is None or self.done + len(self.running) < max_jobs):
            job = claim_next(self.identity)
            if job is None:
                break
            self.launch(job)
            launched += 1
        return launched

    def launch(self, job: dict) -> str:
        """Send a claimed job to Ray and follow it in a thread; also the out-of-memory retry's way back in."""
        config = store.job_config(job)
        try:
            stream = self._submit(job, config)
        except Exception as exc:  # its images or files could not be read: this job fails, the dispatcher goes on
            ended = outcome.end(job, exc, self.launch, traceback.format_exc())
            with self._lock:
                self.done += ended != status.Status.RUNNING
            return ended
        follower = Follower(self, job, config, stream)
        with self._lock:
            self.running[job["id"]] = follower
        follower.start()
        return "running"

    def _submit(self, job: dict, config):
        folder = run_dir(job["run_id"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(config.to_json())
        splits = lists(job["run_id"], job["owner"])
        sent = {k: job[k] for k in ("id", "run_id", "kind", "attempts")}
        return task.run_job.options(num_cpus=self.shape.num_cpus, num_gpus=self.shape.num_gpus).remote(
            sent, config.to_json(), splits, self.shelf.ref(splits), _files_for(job, config), self.flags)

    def _relay_cancels(self) -> None:
        """Cancel requests reach the task through the flags actor; a task Ray has not started yet is
        simply cancelled."""
        waiting = [job_id for job_id in list(self.running) if job_id not in self.relayed]
        if not waiting:
            return
        for job_id in store.cancel_asked(waiting):
            self.relayed.add(job_id)
            self.flags.cancel.remote(job_id)
            follower = self.running.get(job_id)
            if follower and not follower.placed:
                ray.cancel(follower.stream)

    def finished(self, follower: "Follower", ended: str) -> None:
        with self._lock:
            if self.running.get(follower.job["id"]) is follower:
                del self.running[follower.job["id"]]
                self.relayed.discard(follower.job["id"])
            self.done += ended != status.Status.RUNNING  # running: an out-of-memory retry took its place

    def _close(self) -> None:
        """Stopping: jobs get STOP_GRACE_SECONDS to finish; the rest are interrupted (resumable)."""
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while self.running and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        self.closed = True
        for follower in list(self.running.values()):
            outcome.interrupted(follower.job, STOPPED)
        if getattr(self, "beat", None):
            self.beat.stop()


def _files_for(job: dict, config) -> dict[str, bytes]:
    """What the task needs from this server's disk, by path under a data home: the run's last checkpoint
    when it resumes, and a `run:ID` backbone's trained model."""
    out = {}
    if status.resumes(job):
        out.update(_read_run(job["run_id"], task.CHECKPOINT_FILES))
    if config.backbone.startswith(RUN_PREFIX):
        out.update(_read_run(config.backbone[len(RUN_PREFIX):], ("config.json", "meta.json", "model.safetensors")))
    return out


def _read_run(run_id: str, names) -> dict[str, bytes]:
    folder = run_dir(run_id)
    return {f"runs/{run_id}/{name}": (folder / name).read_bytes() for name in names if (folder / name).exists()}


class Follower(threading.Thread):
    """One job's stream: events into the store, files into the run folder, then the job's end."""

    def __init__(self, dispatcher: Dispatcher, job: dict, config, stream):
        super().__init__(daemon=True, name=f"job-{job['id']}")
        self.dispatcher, self.job, self.config, self.stream = dispatcher, job, config, stream
        self.placed: dict = {}

    def run(self) -> None:
        ended = status.Status.FAILED.value
        try:
            ended = self._follow()
        except Exception:  # a bug here must not leave the job running forever
            log.exception("following job %s failed", self.job["id"])
            ended = outcome.interrupted(self.job, LOST.format("dispatcher error"))
        finally:
            self.dispatcher.finished(self, ended)

    def _follow(self) -> str:
        """The task's end, as a local slot's: the summary (`outcome.record`), or an error for
        `outcome.end` to decide on."""
        try:
            summary = self._drain()
        except ray.exceptions.RayTaskError as err:  # the training raised: same handling as a local slot
            error, trace = err.cause or err, str(err)
        except ray.exceptions.OutOfMemoryError as err:  # Ray's memory monitor killed it: a smaller batch needs less
            error, trace = MemoryError(f"out of memory: {err}"), str(err)
        except ray.exceptions.TaskCancelledError:  # cancelled before Ray started it
            return self._end(lambda: outcome.record(self.job, {"status": "cancelled", "executor": "ray", "node": None}))
        except ray.exceptions.RayError as err:  # the worker process or the node died: resumable
            error, trace = outcome.Lost(LOST.format(type(err).__name__)), ""
        else:
            return self._end(lambda: outcome.record(self.job, {**summary, "executor": "ray", **self._where()}))
        return self._end(lambda: outcome.end(self.job, error, self.dispatcher.launch, trace))

    def _drain(self) -> dict:
        run_id, summary = self.job["run_id"], None
        for ref in self.stream:
            kind, payload = ray.get(ref)
            if kind == "event":
                store.add_metric(run_id, payload)
            elif kind == "files":
                _land(run_dir(run_id), payload)
            elif kind == "placed":
                self.placed = payload
                store.add_metric(run_id, {"event": "placed", "executor": "ray", **payload})
            elif kind == "summary":
                summary = payload
        if summary is None:
            raise ray.exceptions.RaySystemError("the task ended without a summary")
        return summary

    def _where(self) -> dict:
        return {"node": self.placed.get("node"), "node_address": self.placed.get("node_address"),
                "host": self.placed.get("host")}

    def _end(self, write) -> str:
        """After the dispatcher has stopped, its jobs are already marked interrupted: write nothing."""
        return status.Status.INTERRUPTED.value if self.dispatcher.closed else write()


def _land(folder: Path, files: dict[str, bytes]) -> None:
    """Each file atomically (temp name, then rename), progress.json last: it names a complete checkpoint."""
    for name in sorted(files, key=lambda n: n == "progress.json"):
        if name not in task.RETURNED:
            continue
        tmp = folder / f".{name}.{os.getpid()}.part"
        tmp.write_bytes(files[name])
        os.replace(tmp, folder / name)


def main(slots: int | None = None, max_jobs: int | None = None, idle_exit: float | None = None) -> int:
    """`slots`: jobs per GPU (or per CPU node); `max_jobs`: stop after that many jobs in all; `idle_exit`:
    stop after that many seconds with nothing to run. Returns the number of jobs that ended."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s ray-dispatcher %(process)d %(message)s")
    return Dispatcher(slots).run(max_jobs, idle_exit)
