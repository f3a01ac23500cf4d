"""CLI commands about runs and the worker: runs, run, cancel, resume, worker."""
from __future__ import annotations

from core import jobs
from core.cli.registry import command, owner_arg, positive_float, positive_int, run_arg, table, the_run


@command("runs", "this owner's runs", owner_arg)
def runs_cmd(args):
    rows = jobs.runs(args.owner)
    cols = ["id", "role", "status", "backbone", "scenario", "dataset", "val_accuracy", "test_accuracy", "seconds"]
    return rows, table(rows, cols) if rows else "no runs yet"


def _run_args(p):
    run_arg(p)
    owner_arg(p)


@command("run", "one run: status, per-epoch metrics, evaluation", _run_args)
def run_cmd(args):
    row = jobs.run(the_run(args), args.owner)
    lines = [f"run {row['id']} ({row['role']}): {row['status']} {row['message']}".rstrip()]
    if row["queue_position"]:
        lines.append(f"queue position: {row['queue_position']}")
    lines += [f"  {e['phase']} epoch {e['epoch'] + 1}: val acc {e['val_accuracy']}" for e in row["epochs"]]
    if row.get("evaluation"):
        lines.append(f"test accuracy {row['evaluation']['accuracy']}, ECE {row['evaluation']['calibration']['ece']}")
    return row, "\n".join(lines)


@command("cancel", "cancel a queued or running run", _run_args)
def cancel_cmd(args):
    run_id = the_run(args)
    state = jobs.cancel(run_id, args.owner)
    return {"run_id": run_id, "state": state}, f"run {run_id}: {state}"


@command("resume", "queue an interrupted/failed/cancelled run to continue from its last checkpoint", _run_args)
def resume_cmd(args):
    run_id = the_run(args)
    job = jobs.resume(run_id, args.owner)
    return {"run_id": run_id, "job_id": job}, f"run {run_id} queued to resume (job {job})"


def _worker_args(p):
    p.add_argument("--concurrency", type=positive_int, default=1, help="jobs at a time (separate processes)")
    p.add_argument("--max-jobs", type=positive_int, help="exit after this many jobs")
    p.add_argument("--idle-exit", type=positive_float, help="exit after this many idle seconds")


@command("worker", "run queued jobs (owns the GPU); one at a time by default", _worker_args)
def worker_cmd(args):
    from core.jobs import worker

    done = worker.main(args.concurrency, args.max_jobs, args.idle_exit)
    return {"jobs": done}, f"worker stopped after {done} job(s)"
