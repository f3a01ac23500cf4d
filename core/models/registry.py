"""Backbone registry: a leaf that sources register into (`torchvision_source`, `timm_source` with
the bundled EfficientNet-Lite, `run_source` for `run:ID`); it imports none of them.

Facts (params, GFLOPs, top-1, preprocessing) come from the libraries: torchvision `weights.meta` and
`weights.transforms()`, timm's pretrained config; where a library has no figure it is measured on
the meta device (parameters, FLOPs) or left empty (top-1). Nothing here is a hand-typed table.
"""
from __future__ import annotations

import difflib
import functools
import threading
from dataclasses import asdict, dataclass
from typing import Callable

from torch import nn

from core.config import RunConfig
from core.data.transforms import Preprocess
from core.errors import ConfigError, WeightsUnavailable
from core.models import pretrained_cache, stages as stagemod, surgery, weights as W

SOURCES = ("bundled", "torchvision", "timm", "run")


def once(fn):
    """Memoise per argument tuple, computing each value once per process even when many threads
    (Streamlit sessions) ask at the same moment: the second asker waits for the first's result."""
    cache, locks, guard = {}, {}, threading.Lock()

    @functools.wraps(fn)
    def cached(*args):
        if args in cache:
            return cache[args]
        with guard:
            lock = locks.setdefault(args, threading.Lock())
        with lock:
            if args not in cache:
                cache[args] = fn(*args)
        return cache[args]

    cached.cache_clear = cache.clear
    return cached


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    source: str
    family: str
    params: int | None
    gflops: float | None
    top1: float | None
    input_size: int
    weights: str
    weights_note: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Anatomy:
    """A backbone cut for transfer: the classifier's last layer removed, stages for freezing."""

    trunk: nn.Module  # image batch -> pooled features (B, feature_dim)
    feature_dim: int
    stages: list[stagemod.Stage]


class Entry:
    """One registry entry; subclasses say how to build it and where its weights live."""

    name: str
    source: str
    family: str

    def preprocess(self) -> Preprocess: ...
    def weight_status(self) -> tuple[str, str]: ...
    def build(self, pretrained: bool) -> nn.Module: ...
    def strip(self, net: nn.Module, pool: str) -> int: ...
    def cut_stages(self, meta_trunk: nn.Module) -> list[stagemod.Stage]: ...
    def library_facts(self) -> tuple[int | None, float | None, float | None]: ...

    def info(self) -> BackboneInfo:
        params, gflops, top1 = self.library_facts()
        status, note = self.weight_status()
        return BackboneInfo(self.name, self.source, self.family, params, gflops, top1,
                            self.preprocess().crop, status, note)

    def network(self, pretrained: bool) -> nn.Module:
        """The full published network, ImageNet classifier included (for `imagenet` predictions)."""
        if pretrained:
            status, note = self.weight_status()
            if status == W.UNAVAILABLE:
                raise WeightsUnavailable(note)
        return self.build(pretrained).eval()

    def anatomy(self, pretrained: bool, pool: str = "auto", state: dict | None = None,
                source: str = "checkpoint") -> Anatomy:
        """Network cut for transfer. `state`: an imported checkpoint for the whole network. Published
        weights come from this process's `pretrained_cache` (a fresh copy; read from disk once)."""
        if pretrained and state is None:
            net = pretrained_cache.shared().fresh(self.name, lambda: self.network(True))
        else:
            net = self.network(False)
        if state is not None:
            surgery.load_backbone_state(net, state, source)
        feature_dim = self.strip(net, pool)
        return Anatomy(net, feature_dim, self.stage_list())

    def stage_list(self) -> list[stagemod.Stage]:
        return _stage_list_cached(self.name)

    def meta_network(self) -> nn.Module:
        with stagemod.meta_build():
            return self.build(pretrained=False)

    def meta_trunk(self) -> nn.Module:
        net = self.meta_network()
        self.strip(net, "auto")
        return net


# ---- sources register here -------------------------------------------------------------------------
_SOURCES: list[tuple[int, Callable[[], list[Entry]]]] = []
_PREFIXES: dict[str, Callable[[str], Entry]] = {}
_lock = threading.Lock()


def register_source(entries: Callable[[], list[Entry]], order: int) -> None:
    """A function listing a source's entries, called once on first use of the registry; `order`
    places its entries in listings (bundled first: they work offline)."""
    _SOURCES.append((order, entries))
    _registry.cache_clear()


def register_prefix(prefix: str, resolve: Callable[[str], Entry]) -> None:
    """Names like `run:ID` resolved on demand rather than listed."""
    _PREFIXES[prefix] = resolve


@functools.lru_cache(maxsize=1)
def _registry() -> dict[str, Entry]:
    entries = [entry for _, source in sorted(_SOURCES, key=lambda pair: pair[0]) for entry in source()]
    return {e.name: e for e in entries}


def _entries() -> dict[str, Entry]:
    with _lock:  # Streamlit sessions share the process: build the registry once, not once per thread
        return _registry()


def names() -> list[str]:
    return list(_entries())


def get(name: str, field: str = "backbone") -> Entry:
    """The entry for `name`, or an error listing the closest valid names."""
    registry = _entries()
    if name in registry:
        return registry[name]
    for prefix, resolve in _PREFIXES.items():
        if name.startswith(prefix):
            return resolve(name)
    close = difflib.get_close_matches(name, list(registry), n=5, cutoff=0.5)
    hint = f"close names: {', '.join(close)}" if close else "run `python -m core backbones` to list them"
    raise ConfigError(field, f"unknown backbone '{name}'; {hint}")


def check(config: RunConfig) -> RunConfig:
    """Validate the config's backbone against the registry (needs torch, so kept out of config)."""
    get(config.backbone, field="backbone")
    return config


def list_backbones() -> list[BackboneInfo]:
    return [entry.info() for entry in _entries().values()]


def stage_count(name: str) -> int:
    return len(get(name).stage_list())


def describe(name: str) -> dict:
    """Stages with parameter counts (summing to the published network's total) + preprocessing."""
    return {**get(name).info().to_dict(), **_structure(name)}  # the weights' status may change; the rest never


@once
def _structure(name: str) -> dict:
    entry = get(name)
    net = entry.meta_network()
    total = surgery.count(net)
    feature_dim = entry.strip(net, "auto")
    stage_rows = [{"name": s.name, "params": stagemod.param_count(net, s.params)} for s in entry.stage_list()]
    stage_rows.append({"name": "head", "params": total - surgery.count(net),
                       "note": "the ImageNet classifier layer; transfer replaces it"})
    return {"params": total, "feature_dim": feature_dim, "stages": stage_rows,
            "preprocess": entry.preprocess().to_dict()}


@once
def _stage_list_cached(name: str) -> list[stagemod.Stage]:
    entry = get(name)
    return entry.cut_stages(entry.meta_trunk())
