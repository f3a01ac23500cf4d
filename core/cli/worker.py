"""`python -m core worker`: the data home's one worker (the supervisor, or the Ray dispatcher), and the
slot processes it starts (`--slot N`, hidden). This module imports nothing heavy: `cli.main` loads it
alone when the command is `worker`, so the supervisor never imports torch (the slots do)."""
from __future__ import annotations

import argparse

from core.cli.registry import command, positive_float, positive_int


def _worker_args(p):
    p.add_argument("--slots", "--concurrency", type=positive_int, dest="slots",
                   help="jobs at a time, each in its own process (default: 1 on CPU; on CUDA as many as the "
                        "free GPU memory holds)")
    p.add_argument("--max-jobs", type=positive_int, help="each slot exits after this many jobs")
    p.add_argument("--idle-exit", type=positive_float, help="each slot exits after this many idle seconds")
    p.add_argument("--slot", type=int, help=argparse.SUPPRESS)  # set by the supervisor for its slot processes


@command("worker", "the data home's one worker: runs queued jobs fairly across people (owns the GPU)", _worker_args)
def worker_cmd(args):
    if args.slot is not None:
        from core.execute import slot  # torch: only the slot processes train

        done = slot.main(args.slot, args.max_jobs, args.idle_exit, slots=args.slots or 1)  # --slots: the supervisor's count
        return {"jobs": done}, f"slot {args.slot} stopped after {done} job(s)"
    from core.execute import supervisor

    done = supervisor.main(args.slots, args.max_jobs, args.idle_exit)
    return {"jobs": done}, f"worker stopped after {done} job(s)"
