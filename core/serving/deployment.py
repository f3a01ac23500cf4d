"""What deploying a run was measured to cost (`quantize`): the last figures, kept in the run's folder beside
its model, so the model card, the Export page and the report read them without measuring again. A leaf of
serving: no onnxruntime, no torch."""
from __future__ import annotations

import json
import time

from core.paths import run_dir

FILE = "deployment.json"


def save(run_id: str, facts: dict) -> None:
    (run_dir(run_id) / FILE).write_text(json.dumps({**facts, "measured": time.time()}, indent=2))


def measured(run_id: str) -> dict | None:
    """The figures of the run's last int8 export, or None when it was never quantized."""
    path = run_dir(run_id) / FILE
    return json.loads(path.read_text()) if path.exists() else None
