"""Runs as jobs: the run store (`store`: runs, jobs, metrics), the queue (`queue`: submit, cancel,
resume, sweeps), fair order and forecasts (`schedule`), leases (`leases`: who holds which job), the
one worker per data home (`workers`: lock, liveness, starting it), the supervisor and its slots
(`supervisor`, `worker`), wizard drafts (`drafts`), the learning-curve lab (`datasize`) and the
one-click demo (`demo`).

The names below are the public face the pages and the CLI use. They load on first use, so the
supervisor, which imports only `workers`, `leases` and `schedule`, never imports torch.
"""
from __future__ import annotations

import importlib

_PUBLIC = {
    "queue": ("cancel", "default_owner", "delete_dataset", "lists", "own_backbones", "queue_position", "resume",
              "run", "runs", "submit", "sweep", "sweep_results"),
    "workers": ("alive_workers", "ensure_worker"),
}
__all__ = [name for names in _PUBLIC.values() for name in names]


def __getattr__(name: str):
    for module, names in _PUBLIC.items():
        if name in names:
            return getattr(importlib.import_module(f"core.jobs.{module}"), name)
    raise AttributeError(f"module 'core.jobs' has no attribute {name!r}")
