"""Warm the server once, in the background, when its first page is served: the backbone registry's
facts, the stage maps of the backbones the wizard suggests, and this machine's measured speed. Each
is computed once per process (see `models.registry.once`), so the first class does not wait ~a
minute per student while every session computes the same facts.

The thread stops between items when the process exits (an interpreter that kills a thread inside a
torch call aborts the whole process)."""
from __future__ import annotations

import atexit
import logging
import sys
import threading
import time

from core import models, presets
from core.models import estimate
from core.scenarios import CODES

log = logging.getLogger("transferlab.warm")
_lock = threading.Lock()
_stop = threading.Event()
_thread: threading.Thread | None = None
DONE = "TransferLab is warm: backbone facts, stage maps and this machine's speed measured"


def start() -> None:
    global _thread
    with _lock:
        if _thread is not None:
            return
        _thread = threading.Thread(target=_warm, name="transferlab-warm", daemon=True)
        _thread.start()
    atexit.register(_finish)


def _finish() -> None:
    _stop.set()
    if _thread is not None:
        _thread.join(timeout=60)


def _warm() -> None:
    started = time.monotonic()
    try:
        infos = models.list_backbones()
        suggested = sorted({name for code in CODES for name in presets.recommend(code, infos)})
        for name in [*suggested, "efficientnet_lite0"]:
            if _stop.is_set():
                return
            models.describe(name)
        if not _stop.is_set():
            for frozen in (True, False):  # the Backbone page's two figures for the default choice
                estimate.seconds_per_image(estimate.PROBE, frozen)
                # said on the server's console: until then every page shares the process with this work
                # (tools/click_latency.py waits for it before timing a warm server's first paint)
                print(f"{DONE} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    except Exception:  # warming is an optimisation: a failure only costs the first visitor time
        log.exception("warming the registry failed")
