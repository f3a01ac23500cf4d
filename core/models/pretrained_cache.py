"""Pretrained networks a process keeps in memory, so that a worker slot's second job on a backbone reads
no weights from disk.

Kept per backbone (its registry name fixes the published weights): the network as published, pretrained,
in eval mode, on the CPU. Nothing ever trains it. A job gets `fresh`: a deep copy, new modules with their
own copy of every tensor (parameters and BatchNorm statistics alike), so no job's trained weights,
optimizer state or statistics can reach the next job. A copy of the whole module rather than a weightless
build plus `load_state_dict`, because torchvision builds some networks differently when it loads weights
(GoogLeNet and Inception then normalise their input themselves, `transform_input=True`): a weightless
build is not always the same network. Measured on this CPU, EfficientNet-Lite0 (18 MB): a copy takes
0.09-0.13 s, building it from the package's weights file 0.2-0.3 s (load average 2-3).

Bounded in MB (`TRANSFERLAB_PRETRAINED_CACHE_MB`, default 512: about five ResNet-50s or 28
EfficientNet-Lite0s per process; 0 keeps nothing); the least recently used network leaves first.
`reads()` counts the trunk weights this process read from disk (or downloaded): the cache's misses,
imported checkpoint files and `run:` backbones.
"""
from __future__ import annotations

import copy
import os
import threading
from collections import OrderedDict
from typing import Callable

import torch
from torch import nn

DEFAULT_MB = 512


def bound_bytes() -> int:
    """$TRANSFERLAB_PRETRAINED_CACHE_MB in bytes (default DEFAULT_MB)."""
    return int(float(os.environ.get("TRANSFERLAB_PRETRAINED_CACHE_MB", DEFAULT_MB)) * 2**20)


def network_bytes(net: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*net.parameters(), *net.buffers()))


class PretrainedCache:
    def __init__(self):
        self._nets: OrderedDict[str, tuple[nn.Module, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.reads = 0

    def fresh(self, key: str, load: Callable[[], nn.Module]) -> nn.Module:
        """A copy of the pretrained network `key`, loaded by `load` (from disk) only when not kept. Two
        threads asking for the same missing network read it once: the second waits and copies."""
        kept = self._hit(key)
        if kept is None:
            with self._loading_lock(key):
                kept = self._hit(key)
                if kept is None:
                    with torch.random.fork_rng(devices=[]):  # a copy draws no random numbers: neither may a read,
                        net = load().eval()  # or a job's head would start differently in a warm slot
                    self.note_read()
                    if not self._keep(key, net):
                        return net  # not kept: nobody else holds it, so it needs no copy
                    kept = net
        return copy.deepcopy(kept)

    def note_read(self) -> None:
        with self._lock:
            self.reads += 1

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._nets)

    def clear(self) -> None:
        with self._lock:
            self._nets.clear()

    def _hit(self, key: str) -> nn.Module | None:
        with self._lock:
            found = self._nets.get(key)
            if found is not None:
                self._nets.move_to_end(key)
            return found[0] if found else None

    def _loading_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._loading.setdefault(key, threading.Lock())

    def _keep(self, key: str, net: nn.Module) -> bool:
        size, bound = network_bytes(net), bound_bytes()
        if size > bound:
            return False
        with self._lock:
            self._nets[key] = (net, size)
            while sum(s for _, s in self._nets.values()) > bound:
                self._nets.popitem(last=False)
        return True


_shared = PretrainedCache()


def shared() -> PretrainedCache:
    """This process's cache (a worker slot keeps it between jobs)."""
    return _shared


def note_read() -> None:
    """Trunk weights that bypass the cache were read from disk (an imported checkpoint, a `run:` backbone)."""
    _shared.note_read()


def reads() -> int:
    """Trunk weights read from disk (or downloaded) by this process so far."""
    return _shared.reads
