"""This server's own measured speed, per backbone and device, read from its recent runs' events: every run
updates it by running. The Backbone page's time estimates come from here ("about 40 s, 30 s to 1 min").

A GFLOPs figure times a CPU rate probed once in the web server's process was off by an order of magnitude
on a loaded 2-core box (13 min per fine-tune epoch said, about 40 s measured; 4 min 21 s of feature
extraction said for 500 images, 60 s measured): the probe runs beside the server's own work and the worker
trains with other thread counts. So measured runs come first; a backbone this server has not run yet gets
a short timing of that backbone (core/models/estimate.py) scaled by what the measured backbones on the same
device showed over their own timing, with a wider range.
"""
from __future__ import annotations

import json
import statistics

from core import db
from core.models import estimate, registry

RECENT_RUNS = 30  # per backbone: recent enough to follow the server's load, enough to give a range
# A figure for a backbone not run here: from a third to three times. Before their own runs, three backbones'
# estimates were 0.48 to 1.56 times what they then took (the small MobileNet's extraction the furthest: its
# time is mostly reading and resizing images, which a timing of the network alone leaves out).
UNMEASURED_SPREAD = 3.0
PER = 1000  # images the timing-based estimate is asked for (it rounds to a tenth of a second)


def per_image(backbone: str, device: str) -> dict[str, list[float]]:
    """{"train": seconds per image of a fine-tune epoch, "extract": seconds per image of a feature extraction},
    one figure per recent run of `backbone` on `device`."""
    out: dict[str, list[float]] = {"train": [], "extract": []}
    for events in _recent_events(backbone):
        start = next((e for e in events if e["event"] == "fit_start"), None)
        if not start or _device_kind(start.get("device")) != device or not start.get("sizes", {}).get("train"):
            continue
        images = start["sizes"]["train"]
        tuned = [e["train_seconds"] / images for e in events
                 if e["event"] == "epoch" and e.get("phase") == "finetune" and e.get("train_seconds")]
        if tuned:
            out["train"].append(statistics.median(tuned))
        extracted = next((e for e in events if e["event"] == "extract" and e.get("split") == "train"
                          and e.get("done") == e.get("total") and not e.get("cached")), None)
        if extracted and extracted["total"]:
            out["extract"].append((extracted["t"] - start["t"]) / extracted["total"])
    return out


def _recent_events(backbone: str) -> list[list[dict]]:
    with db.reading() as conn:
        runs = [r["id"] for r in conn.execute("SELECT id FROM runs WHERE backbone = ? AND started IS NOT NULL "
                                              "ORDER BY created DESC LIMIT ?", (backbone, RECENT_RUNS))]
        rows = conn.execute(f"""SELECT run_id, data FROM metrics WHERE run_id IN ({','.join('?' * len(runs))})
                                AND kind IN ('fit_start', 'epoch', 'extract') ORDER BY id""", runs).fetchall()
    grouped: dict[str, list[dict]] = {r: [] for r in runs}
    for row in rows:
        grouped[row["run_id"]].append(json.loads(row["data"]))
    return list(grouped.values())


def _device_kind(device: str | None) -> str:
    return "cuda" if str(device or "cpu").startswith("cuda") else str(device or "cpu")


def worker_device() -> str:
    """The device this data home's worker trained on last ("cpu" until it has trained)."""
    with db.reading() as conn:
        row = conn.execute("SELECT data FROM metrics WHERE kind = 'fit_start' ORDER BY id DESC LIMIT 1").fetchone()
    return _device_kind(json.loads(row["data"]).get("device")) if row else "cpu"


def epoch_estimate(backbone: str, images: int, trunk_frozen: bool, device: str | None = None) -> dict:
    """Seconds for one epoch over `images` on `device` (default: the worker's): a feature extraction when the
    trunk is frozen, a fine-tune epoch otherwise; {"seconds", "low", "high", "device", "basis", "measured"}."""
    device = device or worker_device()
    kind = "extract" if trunk_frozen else "train"
    rates = per_image(backbone, device)[kind]
    if rates:
        return _figure(images, statistics.median(rates), min(rates), max(rates), device, True,
                       f"measured on this server: {len(rates)} recent run(s) of {backbone} on its {device}")
    guess = estimate.epoch_seconds(backbone, PER, trunk_frozen)["seconds"]
    scale, basis = _scale(backbone, device, kind, trunk_frozen)
    middle = guess / PER * scale
    return _figure(images, middle, middle / UNMEASURED_SPREAD, middle * UNMEASURED_SPREAD, device, False, basis)


def _figure(images: int, middle: float, low: float, high: float, device: str, measured: bool, basis: str) -> dict:
    return {"seconds": round(images * middle, 1), "low": round(images * low, 1), "high": round(images * high, 1),
            "device": device, "measured": measured, "basis": basis}


def _scale(backbone: str, device: str, kind: str, trunk_frozen: bool) -> tuple[float, str]:
    """Measured over timing-predicted time, for the other backbones this server ran on `device` (1.0 and the
    probe's basis when it ran none)."""
    ratios = []
    for other in _measured_backbones(backbone):
        rates = per_image(other, device)[kind]
        predicted = estimate.epoch_seconds(other, PER, trunk_frozen)["seconds"]
        if rates and predicted:
            ratios.append(statistics.median(rates) * PER / predicted)
    # a heavy backbone is not timed itself (estimate.HEAVY_GFLOPS): the basis says what it rests on
    how = "a short timing of it" if estimate.timed_itself(backbone) else "its GFLOPs and a short timing of Lite0"
    if not ratios:
        return 1.0, f"not run here yet: from {how} on this machine, so only rough"
    return statistics.median(ratios), (f"not run here yet: from {how}, scaled by what {len(ratios)} other "
                                       f"backbone(s) measured on this server's {device}")


def _measured_backbones(excluded: str) -> list[str]:
    with db.reading() as conn:
        names = [r["backbone"] for r in conn.execute("SELECT DISTINCT backbone FROM runs WHERE started IS NOT NULL")]
    known = set(registry.names())
    return [n for n in names if n != excluded and n in known]


def int8_estimate(backbone: str) -> dict | None:
    """How long building and measuring an int8 model of `backbone` took on this server (the spinner said
    "about a minute" where it took 131 s); None before the first."""
    with db.reading() as conn:
        rows = conn.execute("""SELECT m.data FROM metrics m JOIN runs r ON r.id = m.run_id WHERE m.kind = 'int8_build'
                               AND r.backbone = ? ORDER BY m.id DESC LIMIT ?""", (backbone, RECENT_RUNS)).fetchall()
    took = [json.loads(r["data"])["seconds"] for r in rows]
    return {"seconds": statistics.median(took), "low": min(took), "high": max(took)} if took else None
