"""`python -m core classroom-sim`: a class in a fresh data home, measured (a benchmark, not a test).

The teacher publishes a sample; one greedy student submits a whole freeze sweep first; then every
other student submits one small S1 job, all within a second. The data home's real worker (the
supervisor and its slots, or the Ray dispatcher) runs them. Reported: makespan, waits from submit to
finished (p50 / p95 / max over each student's first job), every student's first-job wait, whether
any student's first job had to wait for the greedy student's second job, and what a job costs beyond its
training loop (claim to finished, minus the fit's own seconds: model build, evaluation, saving, and with
Ray also placing the task, shipping its inputs and streaming its events and files back), and per job
(`per_job`, in the order claimed) the seconds from claim to its first optimisation step
(`claim_to_first_step_s`) and whether its slot was warm (`warm`: the slot had warmed up or run a job, and
the job read no trunk weights from disk; null under Ray, whose tasks do not say). The same `--students`
and `--per-class` give the same jobs under either executor, so the two reports compare.
"""
from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.config import AugmentSpec, DataSpec, RunConfig, TrainSpec

BACKBONE = "efficientnet_lite0"


def job_config(dataset: str, backbone: str = BACKBONE) -> RunConfig:
    """A small S1 job: two head epochs on cached features."""
    return RunConfig(backbone=backbone, augment=AugmentSpec(preset="none"), data=DataSpec(dataset=dataset),
                     train=TrainSpec(head_epochs=2, head_lr=3e-3, batch_size=32))


def simulate(students: int = 30, slots: int | None = None, per_class: int = 10, executor: str = "local",
             sample: str = "digits", home: str | None = None) -> dict:
    home = home or tempfile.mkdtemp(prefix="classroom-sim-")
    os.environ["TRANSFERLAB_HOME"] = home  # this process and the worker it starts share the fresh home
    os.environ["TRANSFERLAB_EXECUTOR"] = executor
    code, firsts, greedy = _setup(students, per_class, sample)
    spawned = time.time()
    worker = _start_worker(slots, home)
    try:
        runs = _wait_all()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(120)
    return {**_report(runs, firsts, greedy, students, slots, executor, home), **_costs(spawned)}


def _setup(students: int, per_class: int, sample: str) -> tuple[str, dict[str, str], list[str]]:
    from core.classroom import classes, teacher
    from core.data import samples
    from core.recipes import sweeps
    from core.runs import queue

    made = classes.create("classroom sim")
    samples.materialize(sample, "class-data", per_class=per_class, owner=made["teacher_key"])
    teacher.publish(made["class"], made["teacher_key"], "class-data")
    tokens = [classes.join(made["join_code"], f"student {i + 1:02d}")["token"] for i in range(students)]
    config = job_config("class-data")
    sweep = config.replace(train=TrainSpec(head_epochs=1, finetune_epochs=1, batch_size=32))
    greedy = sweeps.sweep(sweep, tokens[0])["runs"]  # the greedy student: a whole sweep, submitted first
    firsts = {tokens[0]: greedy[0]}
    for token in tokens[1:]:
        firsts[token] = queue.submit(config, token)["run_id"]
    return made["join_code"], firsts, greedy


def _start_worker(slots: int | None, home: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "core", "worker"] + (["--slots", str(slots)] if slots else [])
    log = open(Path(home) / "worker.log", "ab")
    return subprocess.Popen(args, env=os.environ.copy(), stdout=log, stderr=log,
                            cwd=Path(__file__).resolve().parents[2])


def _wait_all(poll: float = 0.5) -> dict[str, dict]:
    from core.runs import status, store

    while True:
        rows = store.timings()
        if all(status.is_final(r["status"]) for r in rows.values()):
            return rows
        time.sleep(poll)


def _report(runs: dict, firsts: dict, greedy: list, students: int, slots, executor: str, home: str) -> dict:
    waits = {owner: runs[rid]["finished"] - runs[rid]["created"] for owner, rid in firsts.items()}
    ordered = sorted(waits.values())
    second = runs[greedy[1]] if len(greedy) > 1 else None
    behind = [o for o, rid in firsts.items() if second and runs[rid]["started"] > second["started"]]
    median = statistics.median(ordered)
    return {
        "students": students, "executor": executor, "slots": slots or "auto", "home": home,
        "jobs": len(runs), "statuses": sorted({r["status"] for r in runs.values()}),
        "makespan_seconds": round(max(r["finished"] for r in runs.values()) - min(r["created"] for r in runs.values()), 1),
        "first_job_wait_seconds": {"p50": round(median, 1), "p95": round(_quantile(ordered, 0.95), 1),
                                   "max": round(ordered[-1], 1)},
        "max_over_median": round(ordered[-1] / median, 2) if median else None,
        "first_jobs_behind_greedy_second_job": len(behind),
        "per_student_first_job_wait_seconds": [round(w, 1) for w in waits.values()],
    }


def _costs(spawned: float) -> dict:
    """Per job (claim to finished) against its fit's own seconds; where the jobs ran."""
    from core.runs import store

    rows = sorted(store.succeeded_jobs(), key=lambda r: r["started"])
    if not rows:
        return {}
    summaries = [r["summary"] for r in rows]
    wall = [r["finished"] - r["started"] for r in rows]
    outside = [w - s["seconds"] for w, s in zip(wall, summaries)]
    return {
        "worker_ready_seconds": round(min(r["started"] for r in rows) - spawned, 1),  # start until the first claim
        "job_seconds": _spread(wall), "fit_seconds": _spread([s["seconds"] for s in summaries]),
        "outside_fit_seconds_per_job": _spread(outside),
        # first claim to last finish, per job: the executor's whole cost, gaps between jobs included
        "seconds_per_job_once_ready": round((max(r["finished"] for r in rows) - min(r["started"] for r in rows))
                                            / len(rows), 2),
        "ran_on": sorted({f"{s.get('executor')}:{s.get('node')}" for s in summaries}),
        **_warmth(rows, outside),
    }


def _warmth(rows: list[dict], outside: list[float]) -> dict:
    """Claim to first step and warm or cold, per job and summed up (what a warm slot saves shows here)."""
    per_job = [{"claim_to_first_step_s": r["summary"].get("claim_to_first_step_s"), "warm": r["summary"].get("warm"),
                "job_s": round(r["finished"] - r["started"], 2), "fit_s": r["summary"]["seconds"],
                "outside_fit_s": round(o, 2)} for r, o in zip(rows, outside)]
    firsts = [j["claim_to_first_step_s"] for j in per_job if j["claim_to_first_step_s"] is not None]
    return {"claim_to_first_step_seconds": _spread(firsts) if firsts else None,
            "warm_jobs": sum(j["warm"] is True for j in per_job), "cold_jobs": sum(j["warm"] is False for j in per_job),
            "per_job": per_job}


def _spread(values: list[float]) -> dict:
    return {"mean": round(statistics.fmean(values), 2), "p50": round(statistics.median(values), 2),
            "max": round(max(values), 2)}


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]
