"""TransferLab's engine, usable headless (CLI, worker, tests); it never imports streamlit.

Rooms, with imports pointing one way (cli → jobs → serving → training → models → data → leaves):
- leaves: `config` (RunConfig and every option list), `errors`, `paths`, `db`, `scenarios` (the grid),
  `presets` (scenario → RunConfig, backbone suggestions). No torch at import time.
- `data`: uploads, image decoding, the dataset store, splits, health, the decoded cache, transforms, samples.
- `models`: the backbone registry and its sources, stages, weights, the transfer model, ImageNet probe.
- `training`: the trainer, batch sources, schedules, events, evaluation, curves, the benchmark.
- `serving`: predictions, Grad-CAM and export of finished runs.
- `jobs`: the run store, queue, drafts, worker, demo.
- `cli`: `python -m core` — a leaf command registry and one module per command group.
"""
