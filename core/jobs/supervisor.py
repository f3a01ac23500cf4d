"""`python -m core worker`: the one process per data home that owns the device. It holds the data
home's worker lock, starts N slot processes (`worker`), restarts a slot that dies, and marks the jobs
of dead holders interrupted. It never imports torch itself: the slots do the training.

Slots: `--slots N`, or automatic: 1 on CPU (two CPU jobs on 2 cores each run 3-4× slower, measured),
and on CUDA as many as the free GPU memory holds at the peak measured for recent jobs.
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core import db
from core.errors import UserError
from core.jobs import workers
from core.jobs.leases import recover_interrupted

log = logging.getLogger("transferlab.supervisor")
RECOVER_SECONDS = 10.0
MAX_SLOTS = 8
DEFAULT_PEAK_MB = 6000.0  # a job's GPU peak until one has been measured here
GPU_HEADROOM = 0.9


class Supervisor:
    def __init__(self, slots: int, slot_args: tuple[str, ...] = ()):
        self.slots, self.slot_args, self.stopping = slots, slot_args, False
        self.children: dict[int, subprocess.Popen] = {}
        self.finished: set[int] = set()

    def run(self) -> int:
        lock = workers.WorkerLock()
        lock.acquire()  # a second worker for this data home stops here, with a message
        started = time.time()
        try:
            recover_interrupted()
            for slot in range(self.slots):
                self._spawn(slot)
            self._watch(recover_interrupted)
        finally:
            self._stop_children()
            lock.release()
        return _jobs_done_since(started)

    def _spawn(self, slot: int) -> None:
        self.children[slot] = subprocess.Popen(
            [sys.executable, "-m", "core", "worker", "--slot", str(slot), *self.slot_args],
            cwd=Path(__file__).resolve().parents[2], env=os.environ.copy())

    def _watch(self, recover) -> None:
        last_recover = time.monotonic()
        while not self.stopping and len(self.finished) < self.slots:
            for slot, child in list(self.children.items()):
                code = child.poll()
                if code is None or slot in self.finished:
                    continue
                if code == 0:  # done: its --max-jobs or --idle-exit was reached
                    self.finished.add(slot)
                else:
                    log.warning("slot %d exited with %s; its job (if any) is interrupted; restarting", slot, code)
                    recover()
                    self._spawn(slot)
            if time.monotonic() - last_recover > RECOVER_SECONDS:
                recover()
                last_recover = time.monotonic()
            time.sleep(0.2)

    def _stop_children(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children.values():
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()


def _jobs_done_since(started: float) -> int:
    with db.reading() as conn:
        return conn.execute("SELECT COUNT(*) FROM jobs WHERE finished >= ? AND status IN ('succeeded', 'failed', "
                            "'cancelled')", (started,)).fetchone()[0]


# ---- how many slots ------------------------------------------------------------------------------------
def auto_slots() -> int:
    gpu = _gpu_memory()
    if gpu is None:
        return 1
    free_mb, _ = gpu
    return slots_for(free_mb)


def slots_for(free_mb: float) -> int:
    """Jobs a GPU with `free_mb` free holds at the peak measured here (the Ray executor asks it too)."""
    return max(1, min(MAX_SLOTS, int(free_mb * GPU_HEADROOM // measured_peak_mb())))


def _gpu_memory() -> tuple[float, float] | None:
    """(free, total) MB of GPU 0, asked in a child process: the supervisor keeps no CUDA context."""
    probe = "import json, torch; print(json.dumps([m / 2**20 for m in torch.cuda.mem_get_info()] " \
            "if torch.cuda.is_available() else None))"
    try:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        found = json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None
    return tuple(found) if found else None


def measured_peak_mb() -> float:
    """The largest GPU peak recent jobs reported (their epoch rows carry gpu_memory_mb)."""
    with db.reading() as conn:
        rows = conn.execute("""SELECT MAX(CAST(json_extract(data, '$.gpu_memory_mb') AS REAL)) AS peak FROM
                               (SELECT data FROM metrics WHERE kind = 'epoch' ORDER BY id DESC LIMIT 200)""").fetchone()
    return float(rows["peak"]) if rows and rows["peak"] else DEFAULT_PEAK_MB


# ---- entry points ------------------------------------------------------------------------------------
EXECUTORS = ("local", "ray")


def executor() -> str:
    """$TRANSFERLAB_EXECUTOR: "local" (this server's slots, the default) or "ray" (a Ray cluster)."""
    name = (os.environ.get("TRANSFERLAB_EXECUTOR") or "local").strip().lower()
    if name not in EXECUTORS:
        raise UserError(f"TRANSFERLAB_EXECUTOR={name!r} is not an executor; choose one of: {', '.join(EXECUTORS)}")
    return name


def main(slots: int | None = None, max_jobs: int | None = None, idle_exit: float | None = None) -> int:
    if executor() == "ray":
        from core.jobs import ray_dispatch  # only here: the local executor never needs Ray installed

        return ray_dispatch.main(slots, max_jobs, idle_exit, slots_for)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(process)d %(message)s")
    slot_args = tuple(a for flag, value in (("--max-jobs", max_jobs), ("--idle-exit", idle_exit)) if value is not None
                      for a in (flag, str(value)))
    supervisor = Supervisor(slots or auto_slots(), slot_args)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: setattr(supervisor, "stopping", True))
    log.info("serving %s with %d slot(s)", db.db_path().parent, supervisor.slots)
    return supervisor.run()


def _die_with_parent() -> None:
    """A slot must not outlive its supervisor (killed or crashed): its job would run on unwatched
    and hold the device. Linux delivers SIGKILL to the slot when the parent goes."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent went before the call took effect
        os._exit(1)


def slot_main(slot: int, max_jobs: int | None = None, idle_exit: float | None = None) -> int:
    """One slot, started by the supervisor that holds the data home's lock (and nobody else)."""
    from core.jobs.worker import Worker

    if workers.serving_pid() != os.getppid():
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
