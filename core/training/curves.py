"""Learning curves as plain data: epochs numbered across phases, and how a transfer run's curve
compares with a baseline's in the classic terms: higher start, higher slope, higher asymptote."""
from __future__ import annotations

SLOPE_EPOCHS = 3


def epoch_series(epochs: list[dict]) -> list[dict]:
    """Per-epoch rows with `x` = 1, 2, … across both phases (a resumed run keeps its numbering)."""
    rows, seen = [], set()
    for row in epochs:
        key = (row["phase"], row["epoch"])
        if key in seen:
            continue
        seen.add(key)
        rows.append(row)
    order = {"head": 0, "finetune": 1}
    rows.sort(key=lambda r: (order.get(r["phase"], 2), r["epoch"]))
    return [{**r, "x": i + 1} for i, r in enumerate(rows)]


def phase_switch(series: list[dict]) -> float | None:
    """Where the head phase ends and fine-tuning starts (between two x values)."""
    for previous, current in zip(series, series[1:]):
        if previous["phase"] != current["phase"]:
            return previous["x"] + 0.5
    return None


def shape(series: list[dict], key: str = "val_accuracy") -> dict | None:
    values = [r[key] for r in series if r.get(key) is not None]
    if not values:
        return None
    head = values[:SLOPE_EPOCHS]
    slope = (head[-1] - head[0]) / (len(head) - 1) if len(head) > 1 else None  # one point has no slope
    return {"start": values[0], "slope": slope, "end": values[-1], "best": max(values), "epochs": len(values)}


def compare(transfer: list[dict], baseline: list[dict], key: str = "val_accuracy") -> dict | None:
    a, b = shape(transfer, key), shape(baseline, key)
    if not a or not b:
        return None
    sloped = a["slope"] is not None and b["slope"] is not None
    return {"start": round(a["start"] - b["start"], 4), "slope": round(a["slope"] - b["slope"], 4) if sloped else None,
            "end": round(a["end"] - b["end"], 4), "epochs": [a["epochs"], b["epochs"]],
            "verdict": [_higher(a, b, "start", "start"),
                        _higher(a, b, "slope", "slope") if sloped else "no slope yet (one epoch)",
                        _higher(a, b, "end", "asymptote")]}


def _higher(a: dict, b: dict, key: str, word: str) -> str:
    return f"{'higher' if a[key] > b[key] else 'lower' if a[key] < b[key] else 'same'} {word}"
