"""CLI commands about runs and the worker: runs, run, cancel, resume, worker."""
from __future__ import annotations

import argparse

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
    p.add_argument("--slots", "--concurrency", type=positive_int, dest="slots",
                   help="jobs at a time, each in its own process (default: 1 on CPU; on CUDA as many as the "
                        "free GPU memory holds)")
    p.add_argument("--max-jobs", type=positive_int, help="each slot exits after this many jobs")
    p.add_argument("--idle-exit", type=positive_float, help="each slot exits after this many idle seconds")
    p.add_argument("--slot", type=int, help=argparse.SUPPRESS)  # set by the supervisor for its slot processes


@command("worker", "the data home's one worker: runs queued jobs fairly across people (owns the GPU)", _worker_args)
def worker_cmd(args):
    from core.jobs import supervisor

    if args.slot is not None:
        done = supervisor.slot_main(args.slot, args.max_jobs, args.idle_exit)
        return {"jobs": done}, f"slot {args.slot} stopped after {done} job(s)"
    done = supervisor.main(args.slots, args.max_jobs, args.idle_exit)
    return {"jobs": done}, f"worker stopped after {done} job(s)"
