"""`python -m core worker`: the one process per data home that owns the device. It holds the data
home's worker lock, starts N slot processes (`slot`), restarts a slot that dies, and marks the jobs
of dead holders interrupted. It never imports torch itself (a test keeps it so): the slots do the
training, and the CLI loads only the worker command to start it.

Slots: `--slots N`, or as many as the device holds (`capacity`); each slot is told how many there are,
and takes its share of the CPU cores. With TRANSFERLAB_EXECUTOR=ray the same command runs the Ray
dispatcher instead (`execute.ray.dispatch`).
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core import db
from core.errors import UserError
from core.execute import capacity, service
from core.execute.timing import RECOVER_SECONDS, STOP_GRACE_SECONDS
from core.runs import store
from core.runs.leases import recover_interrupted

log = logging.getLogger("transferlab.supervisor")


class Supervisor:
    def __init__(self, slots: int, slot_args: tuple[str, ...] = ()):
        self.slots, self.slot_args, self.stopping = slots, slot_args, False
        self.children: dict[int, subprocess.Popen] = {}
        self.finished: set[int] = set()

    def run(self) -> int:
        lock = service.WorkerLock()
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
        return store.jobs_ended_since(started)

    def _spawn(self, slot: int) -> None:
        self.children[slot] = subprocess.Popen(
            [sys.executable, "-m", "core", "worker", "--slot", str(slot), "--slots", str(self.slots), *self.slot_args],
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
                child.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()


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
        from core.execute.ray import dispatch  # only here: the local executor never needs Ray installed

        return dispatch.main(slots, max_jobs, idle_exit)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(process)d %(message)s")
    slot_args = tuple(a for flag, value in (("--max-jobs", max_jobs), ("--idle-exit", idle_exit)) if value is not None
                      for a in (flag, str(value)))
    supervisor = Supervisor(slots or capacity.auto_slots(), slot_args)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: setattr(supervisor, "stopping", True))
    log.info("serving %s with %d slot(s)", db.db_path().parent, supervisor.slots)
    return supervisor.run()
