"""TransferLab's engine, usable headless (CLI, worker, tests); it never imports streamlit.

Rooms, with imports pointing one way
(cli → classroom → recipes → execute → runs → serving → training → models → data → leaves):
- leaves: `config` (RunConfig and every option list), `errors`, `paths`, `db` (the one schema and its
  migrations), `scenarios` (the grid), `presets` (scenario → RunConfig, backbone suggestions). No torch
  at import time.
- `data`: uploads, image decoding, the dataset store, splits, pins, removal, health, the decoded cache,
  transforms, samples.
- `models`: the backbone registry and its sources, stages, weights, the transfer model, ImageNet probe.
- `training`: the trainer, batch sources, schedules, events, evaluation, curves, the benchmark.
- `serving`: predictions, Grad-CAM, export, rescoring and class holdouts of finished runs.
- `runs`: the record (runs, jobs, metrics), a job's lifecycle, the queue, admission, fairness, leases, drafts.
- `execute`: the worker service, supervisor and slots, how a job ends; `execute.ray` for a Ray cluster.
- `recipes`: the freeze sweep, the learning-curve lab, the demo.
- `classroom`: classes, the teacher's view, a student's draft from the class rules, the class simulation.
- `cli`: `python -m core` — a leaf command registry and one module per command group.
"""

import os

# PyTorch's CPU kernels run on GNU OpenMP, whose idle threads spin waiting for the next parallel region. On a
# shared box (the app server beside a worker slot, a class's jobs, a second test suite) spinning threads steal
# the cores the other process needs: one EfficientNet-sized training step ran 4-5x slower beside a second
# PyTorch process (tools/thread_wait_bench.py), and no slower alone when idle threads sleep instead. libgomp
# reads this when PyTorch loads, so it is set here, before any room imports torch; a value already set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
