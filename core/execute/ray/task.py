"""What runs inside a Ray task: one job's training, on whichever node Ray placed it.

The task has no data home of its own. It gets the config, the run's pinned image lists, the images'
bytes (one object-store copy per set of images, shared by every task that trains on it) and the files
it needs (the run's last checkpoint when it resumes, a `run:ID` backbone's model). It trains in a
thread, in a scratch folder, and streams back (kind, payload) pairs in order: where it runs
("placed"), every event ("event"), each epoch's checkpoint files just before that epoch's event, as
the local worker has them on disk by then ("files"), and at the end the final files and the summary.
Cancel: the dispatcher sets a flag in a small actor (`CancelFlags`) that the task polls.
"""
from __future__ import annotations

import os
import pickle
import queue
import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import ray
import torch

from core.config import RunConfig
from core.data.cache import reading_bytes_from
from core.errors import UserError
from core.execute.timing import CANCEL_POLL_SECONDS
from core.runs.leases import pid_alive
from core.runs.status import resumes
from core.training.trainer import Trainer

# progress.json last: it names a complete checkpoint, so it must never arrive before the weights it describes
CHECKPOINT_FILES = ("last.safetensors", "last_optimizer.pt", "best.safetensors", "progress.json")
FINAL_FILES = ("model.safetensors", "config.json", "meta.json", "progress.json", "ood.safetensors", "hardest.json")
RETURNED = frozenset(CHECKPOINT_FILES + FINAL_FILES)
STOP_WAIT_SECONDS = 60.0


@ray.remote(num_cpus=0)  # bookkeeping only: it must fit on a node whose CPUs are all training
class CancelFlags:
    """The dispatcher's cancel requests, readable from any node of the cluster."""

    def __init__(self):
        self.jobs: set[int] = set()

    def cancel(self, job_id: int) -> None:
        self.jobs.add(job_id)

    def cancelled(self, job_id: int) -> bool:
        return job_id in self.jobs


# max_retries=0: a lost node is reported (interrupted, resumable from the last checkpoint that came
# back), never silently restarted by Ray from the older files the task was started with.
@ray.remote(max_retries=0)
def run_job(job: dict, config_json: str, splits, images: dict, files: dict[str, bytes], flags):
    """A streaming generator of (kind, payload) pairs: "placed", "event", "files", "summary"."""
    with _scratch_home() as home:
        yield "placed", _placement()
        _unpack(home, files)
        folder = home / "runs" / job["run_id"]
        folder.mkdir(parents=True, exist_ok=True)
        yield from _stream(job, RunConfig.from_json(config_json), splits, images, folder, flags)


def pack_images(images: dict[str, bytes]) -> dict:
    """The images as one uint8 array and an index (sha → start, end): Ray hands a numpy array to every
    task on a node straight from that node's shared memory, where a dict of bytes would be unpickled
    into each task's own heap (a class's dataset, once per student)."""
    index, offset = {}, 0
    for sha, data in images.items():
        index[sha] = (offset, offset + len(data))
        offset += len(data)
    return {"index": index, "blob": np.frombuffer(b"".join(images.values()), dtype=np.uint8)}


def image_reader(packed: dict):
    """`read(sha) -> bytes` over `pack_images`' output (a read-only view until the slice is copied)."""
    index, blob = packed["index"], packed["blob"]
    return lambda sha: blob[index[sha][0]:index[sha][1]].tobytes()


SCRATCH = Path(tempfile.gettempdir()) / f"transferlab-tasks-{os.getuid()}"  # one folder per task inside


@contextmanager
def _scratch_home():
    """A private data home for the task's life: nothing it does can touch the app server's home, even
    when Ray runs it on the app server. A Ray worker process runs one task at a time, so setting the
    variable affects no one else."""
    SCRATCH.mkdir(mode=0o700, exist_ok=True)
    _sweep_dead()
    home, before = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=SCRATCH)), os.environ.get("TRANSFERLAB_HOME")
    os.environ["TRANSFERLAB_HOME"] = str(home)
    try:
        yield home
    finally:
        if before is None:
            os.environ.pop("TRANSFERLAB_HOME", None)
        else:
            os.environ["TRANSFERLAB_HOME"] = before
        shutil.rmtree(home, ignore_errors=True)


def _sweep_dead() -> None:
    """A killed task cannot clean up after itself: the next task on the node removes the folders of
    processes that are gone (each folder's name starts with its process id)."""
    for folder in SCRATCH.iterdir():
        pid = folder.name.partition("-")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _placement() -> dict:
    context = ray.get_runtime_context()
    return {"node": context.get_node_id(), "node_address": ray.util.get_node_ip_address(),
            "host": socket.gethostname(), "pid": os.getpid(), "gpus": [str(g) for g in ray.get_gpu_ids()]}


def _unpack(home: Path, files: dict[str, bytes]) -> None:
    """Files named by their path under the data home (`runs/<id>/<name>`)."""
    for relative, data in files.items():
        path = (home / relative).resolve()
        if home.resolve() not in path.parents:
            raise ValueError(f"refusing to write {relative!r} outside the task's folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _stream(job: dict, config: RunConfig, splits, images: dict, folder: Path, flags):
    outbox: queue.Queue = queue.Queue()
    stop = threading.Event()
    resume = resumes(job)
    threads = max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    fit = threading.Thread(target=_fit, args=(config, splits, images, folder, resume, threads, outbox.put, stop.is_set),
                           daemon=True)
    fit.start()
    try:
        yield from _relay(outbox, stop, flags, job["id"])
    finally:
        stop.set()  # closed early (cancelled, or its owner went): the trainer stops within a batch, and
        fit.join(STOP_WAIT_SECONDS)  # this process's next task never trains beside a leftover one


def _relay(outbox: queue.Queue, stop: threading.Event, flags, job_id: int):
    polled = 0.0
    while True:
        try:
            kind, payload = outbox.get(timeout=CANCEL_POLL_SECONDS)
        except queue.Empty:
            kind, payload = None, None
        if time.monotonic() - polled > CANCEL_POLL_SECONDS:
            polled = time.monotonic()
            if _cancelled(flags, job_id):
                stop.set()
        if kind == "error":
            raise payload
        if kind:
            yield kind, payload
        if kind == "summary":
            return


def _cancelled(flags, job_id: int) -> bool:
    try:
        return ray.get(flags.cancelled.remote(job_id), timeout=10)
    except ray.exceptions.RayError:  # the flags are gone only with the dispatcher, and this task goes with it
        return False


def _fit(config, splits, images, folder: Path, resume: bool, threads: int, put, should_stop) -> None:
    """The training thread: everything it has to say goes through `put`, errors included."""
    torch.set_num_threads(threads)  # the CPUs Ray gave this task, not every core of the node
    try:
        with reading_bytes_from(image_reader(images)):
            trainer = Trainer(config, emit=_emitter(folder, put), should_stop=should_stop, run_dir=folder,
                              resume=resume, splits=splits)
            summary = trainer.fit()
        put(("files", _read(folder, FINAL_FILES)))
        put(("summary", summary))
    except BaseException as exc:  # re-raised by the generator: Ray reports it to the dispatcher
        put(("error", portable(exc)))


def portable(exc: BaseException) -> BaseException:
    """The exception as the dispatcher can rebuild it. One whose class cannot be rebuilt from its
    pickled args (an `__init__` that wants more than the message) would reach it as Ray's
    UnserializableException, a RayError like a lost node: a user's mistake would read "interrupted"
    and fail again on resume."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # any failure to round-trip: send the text instead
        if isinstance(exc, UserError):
            return UserError(str(exc))
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _emitter(folder: Path, put):
    sent: dict[str, tuple[int, int]] = {}

    def emit(event: dict) -> None:
        if event.get("event") == "epoch":  # the trainer wrote this epoch's checkpoint just before
            put(("files", _read(folder, CHECKPOINT_FILES, sent)))
        put(("event", event))

    return emit


def _read(folder: Path, names: tuple[str, ...], sent: dict | None = None) -> dict[str, bytes]:
    """The files that exist; with `sent`, only those changed since they were last read (best.safetensors
    changes only when validation improves: a large model's weights need not travel every epoch)."""
    out = {}
    for name in names:
        path = folder / name
        if not path.exists():
            continue
        stamp = (path.stat().st_mtime_ns, path.stat().st_size)
        if sent is None or sent.get(name) != stamp:
            out[name] = path.read_bytes()
            if sent is not None:
                sent[name] = stamp
    return out
