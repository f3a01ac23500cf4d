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
