"""The develop-model approach: a finished run serves as the backbone of a new run.

`run:ID` behaves like its source backbone (same stages, preprocessing, family) but its
"pretrained" weights are the run's trained network without its head. It is read from the run's
own files (config.json, meta.json, model.safetensors); who may use which run is the job queue's
decision, made before a config reaches here.
"""
from __future__ import annotations

import json

from safetensors.torch import load_file

from core.config import RunConfig
from core.errors import ConfigError
from core.models import pretrained_cache, registry, weights as W
from core.paths import check_run_id, run_dir

PREFIX = "run:"


class RunEntry(registry.Entry):
    source = "run"

    def __init__(self, run_id: str):
        self.run_id, self.name = run_id, f"{PREFIX}{run_id}"
        self.folder = run_dir(run_id)
        if not (self.folder / "model.safetensors").exists():
            raise ConfigError("backbone", f"run {run_id!r} has no trained model to reuse (it has not succeeded)")
        self.config = RunConfig.from_json((self.folder / "config.json").read_text())
        self.base = registry.get(self.config.backbone)
        self.family = self.base.family

    def library_facts(self):
        params, gflops, _ = self.base.library_facts()
        return params, gflops, None

    def preprocess(self):
        return self.base.preprocess()

    def weight_status(self):
        meta = json.loads((self.folder / "meta.json").read_text())
        return "trained", (f"trained by run {self.run_id} on {self.config.data.dataset} "
                           f"({len(meta['classes'])} classes) from {self.config.backbone}")

    def build(self, pretrained: bool):
        return self.base.build(pretrained=False)

    def strip(self, net, pool):
        return self.base.strip(net, pool)

    def cut_stages(self, meta_trunk):
        return self.base.cut_stages(meta_trunk)

    def stage_list(self):
        return self.base.stage_list()

    def anatomy(self, pretrained: bool, pool: str = "auto", state=None, source: str = "checkpoint"):
        anatomy = self.base.anatomy(False, pool)
        if pretrained and state is None:
            saved = load_file(str(self.folder / "model.safetensors"))
            pretrained_cache.note_read()
            trunk_state = {k[len("trunk."):]: v for k, v in saved.items() if k.startswith("trunk.")}
            W.load_into(anatomy.trunk, trunk_state, f"run {self.run_id}")
        return anatomy


def resolve(name: str) -> RunEntry:
    try:
        return RunEntry(check_run_id(name[len(PREFIX):]))
    except ConfigError:
        raise
    except Exception as exc:  # a malformed id or unreadable files: a config problem, named as such
        raise ConfigError("backbone", f"{name}: {exc}") from None


registry.register_prefix(PREFIX, resolve)
