"""The develop-model approach: a finished run serves as the backbone of a new run.

`run:ID` behaves like its source backbone (same stages, preprocessing, families) but its
"pretrained" weights are the run's trained network without its head.
"""
from __future__ import annotations

import json

from safetensors.torch import load_file

from core import backbones, store, weights
from core.config import RunConfig
from core.errors import ConfigError


class RunEntry(backbones.Entry):
    source = "run"

    def __init__(self, run_id: str):
        self.run_id, self.name = run_id, f"run:{run_id}"
        self.folder = store.run_dir(run_id)
        if not (self.folder / "model.safetensors").exists():
            raise ConfigError("backbone", f"run {run_id!r} has no trained model to reuse (it has not succeeded)")
        self.config = RunConfig.from_json((self.folder / "config.json").read_text())
        self.base = backbones.get(self.config.backbone)
        self.family = self.base.family

    def _library_facts(self):
        return self.base._library_facts()[0], self.base._library_facts()[1], None

    def preprocess(self):
        return self.base.preprocess()

    def weight_status(self):
        meta = json.loads((self.folder / "meta.json").read_text())
        return "trained", (f"trained by run {self.run_id} on {self.config.data.dataset} "
                           f"({len(meta['classes'])} classes) from {self.config.backbone}")

    def _build(self, pretrained: bool):
        return self.base._build(pretrained=False)

    def _strip(self, net, pool):
        return self.base._strip(net, pool)

    def _stages(self, meta_trunk):
        return self.base._stages(meta_trunk)

    def anatomy(self, pretrained: bool, pool: str = "auto", state=None, source: str = "checkpoint"):
        anatomy = self.base.anatomy(False, pool)
        if pretrained and state is None:
            saved = load_file(str(self.folder / "model.safetensors"))
            trunk_state = {k[len("trunk."):]: v for k, v in saved.items() if k.startswith("trunk.")}
            weights.load_into(anatomy.trunk, trunk_state, f"run {self.run_id}")
        return anatomy


def run_entry(name: str) -> RunEntry:
    return RunEntry(name.split(":", 1)[1])


def finished_runs(owner: str) -> list[backbones.BackboneInfo]:
    """This owner's succeeded runs, listed beside the library backbones."""
    found = []
    for row in store.list_runs(owner):
        if row["status"] == "succeeded" and row["role"] == "main":
            try:
                found.append(RunEntry(row["id"]).info())
            except ConfigError:
                continue
    return found
