"""CLI commands about runs: runs, run, cancel, resume."""
from __future__ import annotations

from core.cli.registry import command, owner_arg, run_arg, table, the_run
from core.runs import queue


@command("runs", "this owner's runs", owner_arg)
def runs_cmd(args):
    rows = queue.runs(args.owner)
    cols = ["id", "role", "status", "backbone", "scenario", "dataset", "val_accuracy", "test_accuracy", "seconds"]
    return rows, table(rows, cols) if rows else "no runs yet"


def _run_args(p):
    run_arg(p)
    owner_arg(p)


@command("run", "one run: status, per-epoch metrics, evaluation", _run_args)
def run_cmd(args):
    row = queue.run(the_run(args), args.owner)
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
    state = queue.cancel(run_id, args.owner)
    return {"run_id": run_id, "state": state}, f"run {run_id}: {state}"


@command("resume", "queue an interrupted/failed/cancelled run to continue from its last checkpoint", _run_args)
def resume_cmd(args):
    run_id = the_run(args)
    job = queue.resume(run_id, args.owner)
    return {"run_id": run_id, "job_id": job}, f"run {run_id} queued to resume (job {job})"
