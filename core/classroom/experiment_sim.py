"""`python -m core classroom-sim --experiment QUESTION --values A,B,...`: a whole class's experiment in a fresh
data home, measured (a benchmark, not a test).

The teacher publishes the sample, the students join, the experiment is created (every student assigned),
each student predicts (deterministically: student i picks value i mod k, the next one along from their own),
the teacher launches every run at once, and the data home's real worker runs them through the fair queue.
Reported: seconds from launch to the combined chart complete (every run final and the combined result
computed once more, as the page would), the poll's lock and distribution, each value's mean and interval,
and the verdict printed."""
from __future__ import annotations

import os
import signal
import tempfile
import time


def simulate(question: str, values: str, students: int = 30, per_class: int = 10, epochs: int | None = 2,
             slots: int | None = None, sample: str = "digits", home: str | None = None) -> dict:
    from core.classroom import sim

    home = home or tempfile.mkdtemp(prefix="experiment-sim-")
    os.environ["TRANSFERLAB_HOME"] = home  # this process and the worker it starts share the fresh home
    os.environ["TRANSFERLAB_EXECUTOR"] = "local"
    made, tokens, created = _setup(question, values, students, per_class, epochs, sample)
    worker = sim._start_worker(slots, home)
    try:
        launched, seconds, found = _run(made)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(120)
    return _report(created, launched, seconds, found, students, per_class, slots, home)


def _setup(question: str, values: str, students: int, per_class: int, epochs: int | None, sample: str):
    from core.classroom import classes, experiments, poll, teacher
    from core.data import samples

    made = classes.create("experiment sim")
    samples.materialize(sample, "class-data", per_class=per_class, owner=made["teacher_key"])
    teacher.publish(made["class"], made["teacher_key"], "class-data")
    tokens = [classes.join(made["join_code"], f"student {i + 1:02d}")["token"] for i in range(students)]
    created = experiments.create(made["class"], made["teacher_key"], question, values, "class-data", epochs)
    k = len(created["values"])
    for i, token in enumerate(tokens):  # predictions made before anything runs
        poll.pick(made["class"], created["values"][(i + 1) % k], owner=token)
    return made, tokens, created


def _run(made: dict, every: float = 0.5) -> tuple[dict, float, dict]:
    """Launch, wait until every experiment run is final, then compute the combined result once more."""
    from core.classroom import experiments, results
    from core.runs import status

    started = time.monotonic()
    launched = experiments.launch(made["class"], made["teacher_key"])
    while True:
        experiment = experiments.current(made["class"])
        rows = experiments.run_rows(experiment)
        if len(rows) == len(experiment["cells"]) and all(status.is_final(r["status"]) for r in rows.values()):
            break
        time.sleep(every)
    found = results.results(made["class"], key=made["teacher_key"])
    return launched, round(time.monotonic() - started, 1), found


def _report(created: dict, launched: dict, seconds: float, found: dict, students: int, per_class: int, slots,
            home: str) -> dict:
    statuses = sorted({r["status"] for c in found["cells"] for r in c["runs"]})
    return {"question": created["question"], "values": created["values"], "epochs": created["epochs"],
            "students": students, "per_class": per_class, "slots": slots or "auto", "home": home,
            "queued": launched["queued"], "statuses": statuses,
            "launch_to_chart_complete_seconds": seconds, "seconds_per_run": round(seconds / max(1, students), 2),
            "locked": found["locked"], "lock_reason": found["lock_reason"], "poll": found.get("poll"),
            "cells": [{k: c[k] for k in ("value", "words", "n", "finished", "mean", "low", "high")}
                      for c in found["cells"]],
            "verdict": found["verdict"]}
