"""Runs as jobs: the run store (`store`: runs, jobs, metrics), the queue (`queue`: submit, cancel,
resume, sweeps, worker liveness), the worker process (`worker`), wizard drafts (`drafts`) and the
one-click demo (`demo`). The names below are the public face the pages and the CLI use."""
from core.jobs.queue import (alive_workers, cancel, default_owner, ensure_worker, own_backbones, queue_position,
                             resume, run, runs, submit, sweep, sweep_results)

__all__ = ["alive_workers", "cancel", "default_owner", "ensure_worker", "own_backbones", "queue_position", "resume",
           "run", "runs", "submit", "sweep", "sweep_results"]
