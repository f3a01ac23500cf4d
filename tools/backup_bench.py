"""Benchmark (not a test): backup and restore of a class-sized data home, through the commands.

usage: .venv/bin/python tools/backup_bench.py [--students 30] [--per-class 20] [--runs 2] --json

Builds a fresh home: a class whose teacher publishes MNIST (--per-class digits per class), and students who
each store their own slice of MNIST (as many images) and train --runs small S1 runs (two head epochs on cached features, in
this process). Then `python -m core backup --out FILE --json` (the whole home, and the class alone) and
`python -m core restore FILE --json` into a new home, each timed as a person would run it (a new process).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(home: Path, students: int, per_class: int, runs: int) -> dict:
    os.environ["TRANSFERLAB_HOME"] = str(home)
    from core.classroom import classes, teacher
    from core.classroom.sim import job_config
    from core.data import ingest, samples
    from core.execute import slot
    from core.runs import queue

    made = classes.create("backup bench")
    samples.materialize("mnist", "class-data", per_class=per_class, owner=made["teacher_key"])
    teacher.publish(made["class"], made["teacher_key"], "class-data")
    pool, size = list(samples.items("mnist")), per_class * 10  # each student their own slice of the 5,000
    random.Random(0).shuffle(pool)  # the sample comes class by class: a plain slice would hold one digit
    for i in range(students):
        token = classes.join(made["join_code"], f"student {i + 1:02d}")["token"]
        start = i * size % len(pool)
        ingest("mine", (pool + pool)[start:start + size], owner=token)
        for k in range(runs):
            queue.submit(job_config("class-data" if k % 2 == 0 else "mine"), token, hold=False)
    slot.Worker(poll=0.05).serve(max_jobs=students * runs, idle_exit=5)
    return made


def command(home: Path, *args) -> tuple[dict, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "core", *args, "--json"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TRANSFERLAB_HOME": str(home)})
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    return json.loads(done.stdout), round(time.monotonic() - started, 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=30)
    p.add_argument("--per-class", type=int, default=20)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="backup-bench-"))
    made = build(work / "home", a.students, a.per_class, a.runs)
    whole, whole_s = command(work / "home", "backup", "--out", str(work / "home.tar"))
    one, one_s = command(work / "home", "backup", "--out", str(work / "class.tar"), "--class", made["class"],
                         "--teacher-key", made["teacher_key"])
    back, back_s = command(work / "restored", "restore", str(work / "home.tar"))
    result = {"students": a.students, "images_per_student": a.per_class * 10, "runs_per_student": a.runs,
              "home": {"bytes": whole["bytes"], "seconds_in_command": whole["seconds"], "seconds_wall": whole_s,
                       "counts": whole["counts"]},
              "class": {"bytes": one["bytes"], "seconds_in_command": one["seconds"], "seconds_wall": one_s},
              "restore": {"seconds_wall": back_s, "counts": back["counts"]}, "work": str(work)}
    print(json.dumps(result, indent=2) if a.json else result)


if __name__ == "__main__":
    main()
