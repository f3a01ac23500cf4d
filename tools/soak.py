"""Soak test (a benchmark, not in `make test`; tests/test_soak.py runs a short one): a class of simulated
students for N minutes against the real queue and a real worker (`python -m core worker`), while the
harness kills the worker twice (SIGKILL, then a restart) and fills the disk to the free-space floor once.

usage: .venv/bin/python tools/soak.py --students 30 --minutes 5 [--slots 1] [--tmpfs-mb 3072 | --no-tmpfs] --json

Each student is a thread acting as the app's server would for one browser: upload a few images into their
own dataset, submit a small S1 job (two head epochs on cached features: seconds on a CPU), cancel, resume,
predict with a finished run, and delete old runs. Limits are part of the lesson: each student may have 3
queued or running jobs (TRANSFERLAB_OWNER_MAX_JOBS). The data home is a tmpfs the harness mounts (root
only), filled with one file until the free space is just under the floor; elsewhere the floor
(TRANSFERLAB_MIN_FREE_MB) is raised above the free space for the same while.

At the end (students stopped, the queue drained, what is still queued cancelled, the worker stopped):
every run final or resumable, an epoch row for every epoch a checkpoint counts as finished, PRAGMA
integrity_check ok, every referenced image file present and no file nothing references, every image a
student was told was stored still there, every run a student was given still there.
JSON: actions, refused_with_reason, failed_without_reason (must be 0), lost (must be 0), and the details.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

from core import data
from core.classroom import classes, teacher
from core.classroom.sim import job_config
from core.data import cleaner, content, pins, samples, store as datasets
from core.data.uploads import Item
from core.errors import UserError
from core.paths import free_bytes, resource_error, run_dir
from core.runs import leases, queue, status, store
from core.serving import predict

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PER_CLASS = 6  # the class dataset the teacher publishes: 60 digits
OWN_PER_UPLOAD = (3, 6)  # images per upload of a student's own
MAX_JOBS, KEEP_FINISHED = 3, 3
FLOOR_MB, FILL_BELOW_FLOOR_MB = 200, 10  # the fill leaves 190 MB: under the floor, room for the jobs in flight
THINK = (1.0, 4.0)  # seconds between a student's actions
ACTIONS = {"ingest": 2, "submit": 4, "cancel": 1, "resume": 1, "predict": 3, "delete": 1}


# ---- counting --------------------------------------------------------------------------------------------
class Tally:
    """What the students did and how each action ended, thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.done, self.refused, self.failed = Counter(), Counter(), Counter()
        self.reasons, self.failures = Counter(), []

    def act(self, name: str, action) -> object:
        try:
            result = action()
        except UserError as exc:
            return self._refused(name, str(exc))
        except Exception as exc:  # what a page or the CLI would say: resource trouble in words, else a bug
            explained = resource_error(exc)
            return self._refused(name, str(explained)) if explained else self._failed(name, exc)
        with self.lock:
            self.done[name] += 1
        return result

    def _refused(self, name: str, reason: str):
        with self.lock:
            if reason.strip():
                self.refused[name] += 1
                self.reasons[_short(reason)] += 1
            else:
                self.failed[name] += 1
                self.failures.append(f"{name}: refused without a reason")

    def _failed(self, name: str, exc: Exception):
        with self.lock:
            self.failed[name] += 1
            self.failures.append(f"{name}: {type(exc).__name__}: {exc}")


def _short(reason: str) -> str:
    """A reason without its particulars (file names, numbers), to count alike ones together."""
    words = reason.split(": ", 1)[-1] if reason.startswith(("img", "/")) else reason
    return " ".join(w for w in words.split()[:9] if not any(ch.isdigit() for ch in w))


# ---- the class -------------------------------------------------------------------------------------------
class Student(threading.Thread):
    def __init__(self, index: int, token: str, pool: list, tally: Tally, stop: threading.Event, seed: int):
        super().__init__(daemon=True, name=f"student-{index}")
        self.token, self.pool, self.tally, self.stop = token, pool, tally, stop
        self.random, self.next_image = random.Random(seed), index * 7 % len(pool)
        self.runs, self.deleted, self.stored = [], set(), set()  # run ids given, deleted; hashes reported stored

    def run(self) -> None:
        names, weights = list(ACTIONS), list(ACTIONS.values())
        while not self.stop.wait(self.random.uniform(*THINK)):
            name = self.random.choices(names, weights)[0]
            self.tally.act(name, getattr(self, name))

    def ingest(self) -> None:
        count = self.random.randint(*OWN_PER_UPLOAD)
        items = [self.pool[(self.next_image + i) % len(self.pool)] for i in range(count)]
        self.next_image += count
        offered = [Item(f"upload-{self.next_image}-{i}.png", item.class_name, item.data) for i, item in enumerate(items)]
        report = data.ingest("mine", offered, owner=self.token)
        skipped = {r["file"] for r in report.rejected} | {d["file"] for d in report.duplicates}
        self.stored |= {hashlib.sha256(i.data).hexdigest() for i in offered if i.file not in skipped}
        if report.limit:
            raise Refused(report.limit)

    def submit(self) -> None:
        dataset = "mine" if self.stored and self.random.random() < 0.3 else "class-data"
        self.runs.append(queue.submit(job_config(dataset), self.token)["run_id"])

    def cancel(self) -> None:
        queue.cancel(self._pick(("queued", "running")), self.token)

    def resume(self) -> None:
        queue.resume(self._pick(("interrupted", "failed", "cancelled")), self.token)

    def predict(self) -> None:
        run_id = self._pick(("succeeded",))
        picture = data.decode(self.random.choice(self.pool).data)
        if not predict.top_k(run_id, [picture], 3)[0]:
            raise RuntimeError(f"run {run_id} predicted nothing")

    def delete(self) -> None:
        ended = [r for r in queue.runs(self.token) if r["status"] in status.FINAL]
        if len(ended) <= KEEP_FINISHED:
            raise Refused(f"nothing to tidy up: {len(ended)} finished runs kept")
        oldest = ended[-1]["id"]
        queue.delete_run(oldest, self.token)
        self.deleted.add(oldest)

    def _pick(self, statuses: tuple[str, ...]) -> str:
        found = [r["id"] for r in queue.runs(self.token) if r["status"] in statuses]
        if not found:
            raise Refused(f"no run that is {' or '.join(statuses)}")
        return self.random.choice(found)


class Refused(UserError):
    """A student's action with nothing to act on (no finished run to predict with): a reason, not a bug."""


def _setup(students: int) -> tuple[list[str], list]:
    made = classes.create("soak")
    samples.materialize("digits", "class-data", per_class=SAMPLE_PER_CLASS, owner=made["teacher_key"])
    teacher.publish(made["class"], made["teacher_key"], "class-data")
    tokens = [classes.join(made["join_code"], f"student {i + 1:02d}")["token"] for i in range(students)]
    return tokens, list(samples.items("digits", per_class=40))


# ---- the worker and the disk -----------------------------------------------------------------------------
class Worker:
    """`python -m core worker` in its own process; killed with SIGKILL and started again by the harness."""

    def __init__(self, home: Path, slots: int):
        self.home, self.slots, self.process, self.kills = home, slots, None, 0

    def start(self) -> None:
        log = open(self.home / "soak-worker.log", "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "core", "worker", "--slots", str(self.slots)],
                                        cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=log)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)  # its slots die with it (PR_SET_PDEATHSIG)
        self.process.wait()
        self.kills += 1
        time.sleep(1.0)
        self.start()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Disk:
    """The data home: a tmpfs of `size_mb` where it can be mounted (filled with a file to the floor), else
    a temporary folder (the floor raised above its free space instead)."""

    def __init__(self, size_mb: int | None):
        self.root = Path(tempfile.mkdtemp(prefix="transferlab-soak-"))
        self.mounted = bool(size_mb) and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(self.root)],
            capture_output=True).returncode == 0
        self.size_mb, self.filler, self.floor_env = size_mb, self.root / "filler", None
        self.home = self.root / "home"

    def kind(self) -> str:
        return f"tmpfs of {self.size_mb} MB" if self.mounted else "a folder (the free-space floor raised for the fill)"

    def fill(self) -> int:
        """Leave just under the floor free; returns the bytes free then."""
        if self.mounted:
            size = max(0, free_bytes(self.root) - (FLOOR_MB - FILL_BELOW_FLOOR_MB) * 2 ** 20)
            with open(self.filler, "wb") as fh:  # written for real: a sparse file would take no room
                for _ in range(size // 2 ** 20):
                    fh.write(b"\0" * 2 ** 20)
        else:
            self.floor_env = os.environ.get("TRANSFERLAB_MIN_FREE_MB")
            os.environ["TRANSFERLAB_MIN_FREE_MB"] = str(free_bytes(self.root) // 2 ** 20 + 1024)
        return free_bytes(self.root)

    def empty(self) -> None:
        self.filler.unlink(missing_ok=True)
        if not self.mounted:
            os.environ["TRANSFERLAB_MIN_FREE_MB"] = self.floor_env or str(FLOOR_MB)

    def release(self, keep: bool = False) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.root)], check=False)
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)


def _lesson(seconds: float, worker: Worker, disk: Disk) -> dict:
    """The harness's own events, at fixed points of the lesson: kill, fill the disk, kill again."""
    started, fill = time.monotonic(), {}

    def at(fraction: float) -> None:
        time.sleep(max(0.0, started + fraction * seconds - time.monotonic()))

    at(0.25)
    worker.kill()
    at(0.45)
    fill["free_bytes_while_full"], fill["started_s"] = disk.fill(), round(time.monotonic() - started, 1)
    at(0.65)
    disk.empty()
    fill["seconds"] = round(time.monotonic() - started - fill["started_s"], 1)
    at(0.8)
    worker.kill()
    at(1.0)
    return fill


def _drain(worker: Worker, seconds: float) -> dict:
    """The lesson is over: the queue runs out (up to `seconds`), what still waits is cancelled, the running
    jobs end, the worker stops, and a job a dead process held becomes interrupted."""
    deadline, cap = time.monotonic() + seconds, time.monotonic() + max(seconds, 300)
    # Past `seconds` the drain waits on an event, not the clock: until one run has trained after the kills
    # (or nothing is left to run). On a loaded box the restarted worker alone can take longer than a fixed
    # drain to import PyTorch, and "nothing succeeded" would then say the machine was slow, not the worker.
    while _active() and (time.monotonic() < deadline or (not _succeeded() and time.monotonic() < cap)):
        time.sleep(1.0)
    cancelled = 0
    for row in store.timings().values():
        if row["status"] == status.Status.QUEUED.value:
            cancelled += queue.cancel(row["id"], row["owner"]) == "cancelled"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _active():
        time.sleep(1.0)
    worker.stop()
    return {"cancelled_at_the_end": cancelled, "interrupted_at_the_end": leases.recover_interrupted()}


def _active() -> bool:
    return any(r["status"] in status.ACTIVE for r in store.timings().values())


def _succeeded() -> bool:
    return any(r["status"] == status.Status.SUCCEEDED.value for r in store.timings().values())


# ---- the checks ------------------------------------------------------------------------------------------
def _checks(students: list[Student], home: Path) -> dict:
    runs = store.timings()
    given = {run_id for s in students for run_id in s.runs} - {run_id for s in students for run_id in s.deleted}
    with closing(sqlite3.connect(home / "transferlab.db")) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        referenced = datasets.every_sha(conn) | pins.every_sha(conn) | cleaner.every_awaiting_undo(conn)
    files = {p.name for p in (home / "images").rglob("*") if p.is_file() and not p.name.startswith(".")}
    return {"integrity_check": integrity,
            "runs_not_final": sorted(r for r, row in runs.items() if not status.is_final(row["status"])),
            "runs_lost": sorted(given - set(runs)),
            "epoch_rows_missing": _missing_epochs(runs),
            "images_lost": _images_lost(students),
            "files_missing": sorted(sha for sha in referenced if not content.image_path(sha).exists()),
            "orphan_files": sorted(files - referenced),
            "failed_runs_without_reason": sorted(r for r, row in runs.items() if _unexplained(r, row))}


def _missing_epochs(runs: dict) -> list[str]:
    """'run phase epoch' for every epoch a run's checkpoint counts as finished without its row."""
    missing = []
    for run_id in runs:
        try:
            history = json.loads((run_dir(run_id) / "progress.json").read_text())["history"]
        except (OSError, ValueError):
            continue
        have = {(m.get("phase"), m.get("epoch")) for m in store.metrics(run_id, "epoch")}
        missing += [f"{run_id} {h['phase']} {h['epoch']}" for h in history if (h["phase"], h["epoch"]) not in have]
    return missing


def _images_lost(students: list[Student]) -> list[str]:
    lost = []
    for s in students:
        if s.stored:
            kept = {r.sha256 for r in data.records("mine", s.token)}
            lost += sorted(s.stored - kept)
    return lost


def _unexplained(run_id: str, row: dict) -> bool:
    if row["status"] != "failed":
        return False
    message = store.run_row(run_id)["message"]
    return not message.strip() or message.startswith("internal error")


# ---- the report ------------------------------------------------------------------------------------------
def soak(students: int, minutes: float, slots: int = 1, tmpfs_mb: int | None = 3072, seed: int = 0,
         drain_seconds: float = 90, keep: bool = False) -> dict:
    disk = Disk(tmpfs_mb)
    os.environ.update({"TRANSFERLAB_HOME": str(disk.home), "TRANSFERLAB_OFFLINE": "1", "TRANSFERLAB_EXECUTOR": "local",
                       "TRANSFERLAB_OWNER_MAX_JOBS": str(MAX_JOBS), "TRANSFERLAB_MIN_FREE_MB": str(FLOOR_MB)})
    started = time.monotonic()
    try:
        tokens, pool = _setup(students)
        tally, stop, worker = Tally(), threading.Event(), Worker(disk.home, slots)
        worker.start()
        crowd = [Student(i, t, pool, tally, stop, seed * 1000 + i) for i, t in enumerate(tokens)]
        for student in crowd:
            student.start()
        fill = _lesson(minutes * 60, worker, disk)
        stop.set()
        for student in crowd:
            student.join(120)
        end = _drain(worker, drain_seconds)
        return _report(students, minutes, slots, disk, tally, crowd, fill, end, started)
    finally:
        disk.release(keep)


def _report(students, minutes, slots, disk, tally, crowd, fill, end, started) -> dict:
    checks = _checks(crowd, disk.home)
    runs = store.timings()
    lost = sum(len(checks[k]) for k in ("runs_lost", "images_lost", "files_missing", "epoch_rows_missing"))
    lost += len(checks["runs_not_final"]) + (checks["integrity_check"] != "ok")
    return {
        "students": students, "minutes": minutes, "slots": slots, "data_home": disk.kind(),
        "actions": sum(tally.done.values()) + sum(tally.refused.values()) + sum(tally.failed.values()),
        "refused_with_reason": sum(tally.refused.values()),
        "failed_without_reason": sum(tally.failed.values()) + len(checks["failed_runs_without_reason"]),
        "lost": lost,
        "checks_ok": lost == 0 and not checks["orphan_files"] and not checks["failed_runs_without_reason"],
        "by_action": {a: {"done": tally.done[a], "refused": tally.refused[a], "failed": tally.failed[a]} for a in ACTIONS},
        "reasons": dict(tally.reasons.most_common(12)), "failures": tally.failures[:10],
        "runs": dict(Counter(r["status"] for r in runs.values())), "worker_kills": 2,
        "disk_fill": fill, "end": end, "checks": {k: v if isinstance(v, str) else len(v) for k, v in checks.items()},
        "problems": {k: v[:10] for k, v in checks.items() if not isinstance(v, str) and v},
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=30)
    p.add_argument("--minutes", type=float, default=5)
    p.add_argument("--slots", type=int, default=1)
    p.add_argument("--tmpfs-mb", type=int, default=3072, help="the tmpfs data home's size (root only)")
    p.add_argument("--no-tmpfs", action="store_true", help="a plain folder: the floor is raised instead")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--drain-seconds", type=float, default=90)
    p.add_argument("--keep", action="store_true", help="keep the data home (a folder; a tmpfs goes with its unmount)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    result = soak(a.students, a.minutes, a.slots, None if a.no_tmpfs else a.tmpfs_mb, a.seed, a.drain_seconds, a.keep)
    print(json.dumps(result, indent=2) if a.json else
          f"{result['actions']} actions, {result['refused_with_reason']} refused with a reason, "
          f"{result['failed_without_reason']} failed without one, {result['lost']} lost; runs {result['runs']}")
    return 0 if result["failed_without_reason"] == 0 and result["checks_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
