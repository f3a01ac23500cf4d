"""The app server's view of the Ray cluster: joining it (or starting a local one), what each job asks of
a node, and the images' one copy in the object store.

`TRANSFERLAB_RAY_ADDRESS` names the head (`HOST:6379`); without it the dispatcher starts a Ray of its
own on this machine, in a private folder (never /tmp/ray, which another Ray on the machine may use),
and `disconnect()` stops it and removes the folder.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from core.data import content
from core.errors import UserError
from core.execute.ray import task

ADDRESS_ENV = "TRANSFERLAB_RAY_ADDRESS"
SHELF_MB_ENV = "TRANSFERLAB_RAY_IMAGES_MB"
PROBE_SECONDS = 60.0


_local_dir: str | None = None  # the folder of the local Ray this process started, if it did


def connect() -> str:
    """Join the cluster at $TRANSFERLAB_RAY_ADDRESS, or start a local Ray. Returns the address used."""
    global _local_dir
    address = os.environ.get(ADDRESS_ENV, "").strip()
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:  # "local": a new Ray of our own, never some other cluster that happens to run on this machine
            # Short and under /tmp: Ray's socket paths (folder + ~60 characters) must fit in 107 bytes.
            _local_dir = tempfile.mkdtemp(prefix="transferlab-ray-", dir="/tmp")
            ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING, _temp_dir=_local_dir)
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as exc:
        where = address or "a new local Ray"
        disconnect()
        raise UserError(f"cannot join the Ray cluster at {where}: {exc}{_auth_hint(exc)}") from None
    return address or "local"


def disconnect() -> None:
    """Leave the cluster: a local Ray we started stops (its processes and its folder go); a cluster's
    driver just leaves, and Ray ends the tasks it still owned."""
    global _local_dir
    ray.shutdown()
    if _local_dir:
        shutil.rmtree(_local_dir, ignore_errors=True)
        _local_dir = None


def _auth_hint(exc: Exception) -> str:
    if "token" not in str(exc).lower():
        return ""
    return " (the cluster uses token authentication: set RAY_AUTH_MODE=token here too, with the head's token " \
           "in ~/.ray/auth_token or $RAY_AUTH_TOKEN)"


# ---- what one job asks for ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shape:
    """Resources per job and how many jobs the cluster runs at once."""

    num_cpus: float
    num_gpus: float
    capacity: int


def shape(slots: int | None, slots_for: Callable[[float], int] | None) -> Shape:
    """On GPU nodes `slots` jobs share a GPU (num_gpus = 1/slots; automatic: as many as the smallest free
    GPU memory holds at the measured peak, `slots_for(free_mb)`), each with its share of the node's CPUs.
    On a CPU-only cluster each job takes a node's CPUs divided by `slots` (default 1: two CPU jobs on the
    same cores each run 3-4x slower, measured). Capacity 0 (no node can train yet): nothing is claimed,
    and jobs wait in the queue rather than as Ray tasks nobody can run."""
    nodes = [n["Resources"] for n in ray.nodes() if n["Alive"]]
    gpu_nodes = [r for r in nodes if r.get("GPU", 0) >= 1]
    if gpu_nodes:
        per_gpu = slots or _probe_slots(slots_for)
        cpus = min(int(r.get("CPU", 0) // (r["GPU"] * per_gpu)) for r in gpu_nodes)
        return Shape(cpus, 1 / per_gpu, sum(_fits(r, cpus, per_gpu) for r in gpu_nodes))
    cpu_nodes = [r for r in nodes if r.get("CPU", 0) >= 1]
    cpus = max(1, min((int(r["CPU"] // (slots or 1)) for r in cpu_nodes), default=1))
    return Shape(cpus, 0, sum(int(r["CPU"] // cpus) for r in cpu_nodes))


def _fits(node: dict, cpus: int, per_gpu: int) -> int:
    """Jobs one GPU node runs at once: its GPU shares, and as many as its CPUs allow."""
    shares = int(node["GPU"] * per_gpu)
    return min(shares, int(node.get("CPU", 0) // cpus)) if cpus else shares


def _probe_slots(slots_for: Callable[[float], int] | None) -> int:
    """Ask each GPU node for its free memory (a tiny task pinned to the node); one job per GPU when
    no answer comes."""
    if slots_for is None:
        return 1
    probes = [_free_gpu_mb.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote()
              for n in ray.nodes() if n["Alive"] and n["Resources"].get("GPU", 0) >= 1]
    try:
        free = ray.get(probes, timeout=PROBE_SECONDS)
    except (ray.exceptions.RayError, TimeoutError):
        return 1
    return max(1, slots_for(min(free)))


@ray.remote(num_gpus=0.01, num_cpus=0)  # a sliver: it must run beside whatever already holds the GPU
def _free_gpu_mb() -> float:
    import torch  # on the GPU node, not on the app server

    return torch.cuda.mem_get_info()[0] / 2**20


# ---- the images, once per set ------------------------------------------------------------------------------
class ImageShelf:
    """Image bytes in the object store, one copy per set of images: a class of 30 students training on
    one dataset ships it once. Past the byte budget the least recently used sets are dropped from the
    shelf; a running task keeps its own set alive (Ray counts the task's reference)."""

    def __init__(self, max_bytes: int | None = None):
        self.max_bytes = max_bytes or int(os.environ.get(SHELF_MB_ENV, "2048")) * 2**20
        self.sets: OrderedDict[str, tuple[ray.ObjectRef, int]] = OrderedDict()
        self.bytes = 0
        self._lock = threading.Lock()  # the OOM retry launches from a job's thread

    def ref(self, splits) -> ray.ObjectRef:
        shas = sorted({r.sha256 for records in (splits.train, splits.val, splits.test) for r in records})
        key = hashlib.sha256("".join(shas).encode()).hexdigest()
        with self._lock:
            if key not in self.sets:
                self._put(key, {sha: content.read_bytes(sha) for sha in shas})
            self.sets.move_to_end(key)
            return self.sets[key][0]

    def _put(self, key: str, images: dict[str, bytes]) -> None:
        size = sum(len(b) for b in images.values())
        self.sets[key] = (ray.put(task.pack_images(images)), size)
        self.bytes += size
        while self.bytes > self.max_bytes and len(self.sets) > 1:
            _, (_, dropped) = self.sets.popitem(last=False)
            self.bytes -= dropped
