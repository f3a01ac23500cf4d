"""Warm the server once, in the background, when its first page is served: the backbone registry's
facts, the stage maps of the backbones the wizard suggests, and this machine's measured speed. Each
is computed once per process (see `models.registry.once`), so the first class does not wait ~a
minute per student while every session computes the same facts."""
from __future__ import annotations

import logging
import threading

from core import models, presets
from core.models import estimate
from core.scenarios import CODES

log = logging.getLogger("transferlab.warm")
_started = threading.Event()
_lock = threading.Lock()


def start() -> None:
    with _lock:
        if _started.is_set():
            return
        _started.set()
    threading.Thread(target=_warm, name="transferlab-warm", daemon=True).start()


def _warm() -> None:
    try:
        infos = models.list_backbones()
        suggested = {name for code in CODES for name in presets.recommend(code, infos)}
        for name in sorted(suggested) + ["efficientnet_lite0"]:
            models.describe(name)
        estimate.cpu_gflops_per_second()
    except Exception:  # noqa: BLE001  (warming is an optimisation: a failure only costs the first visitor time)
        log.exception("warming the registry failed")
