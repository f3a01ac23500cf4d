"""The combined result of a class experiment: each run's accuracy (held-out accuracy when the class has a
held-out set, else test accuracy), each value's mean with its 95 % interval, the poll's distribution once
locked, a verdict in plain words that never claims more than the intervals allow, and every run's learning
curve. A teacher sees who ran what; a student sees their own run marked and the others without names."""
from __future__ import annotations

import math
import statistics

from core.classroom import classes, experiments, poll, questions
from core.errors import UserError
from core.runs import store
from core.serving import holdouts
from core.training import curves as epoch_curves

# Student's t, 97.5th percentile, by degrees of freedom (the two-sided 95 % interval of a mean of n runs
# has n - 1): a class's cells are small, where 1.96 would claim far too much (n = 3: 4.30, not 1.96).
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    """Beyond the table, 1.96 + 2.4/df stays within 0.003 of the true value (df 40: 2.021, 120: 1.980)."""
    return T975[df - 1] if df <= len(T975) else 1.96 + 2.4 / df


def interval(values: list[float]) -> dict:
    """{"n", "mean", "low", "high"}: the mean and its 95 % interval, kept within [0, 1] (accuracies);
    one value has a mean but no interval, none has neither."""
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "low": None, "high": None}
    mean = statistics.fmean(values)
    if n == 1:
        return {"n": 1, "mean": mean, "low": None, "high": None}
    half = t975(n - 1) * statistics.stdev(values) / math.sqrt(n)
    return {"n": n, "mean": mean, "low": max(0.0, mean - half), "high": min(1.0, mean + half)}


def overlap(a: dict, b: dict) -> bool:
    return a["low"] <= b["high"] and b["low"] <= a["high"]


def verdict(cells: list[dict], total_runs: int) -> str:
    """Cells: {"words", "finished", "mean", "low", "high"}. Only values with an interval (two or more finished
    runs) are compared; "clearly ahead" only where the intervals do not overlap."""
    done = sum(c["finished"] for c in cells)
    if done == 0:
        return "No results yet: no run of the experiment has finished."
    comparable = sorted((c for c in cells if c["low"] is not None), key=lambda c: -c["mean"])
    waiting = [c["words"] for c in cells if c["low"] is None]
    so_far = f"So far ({done} of {total_runs} runs finished): " if done < total_runs else ""
    if len(comparable) < 2:
        return _capital(f"{so_far}too early to tell: a value needs at least two finished runs to be compared, "
                        f"and {_join(waiting)} {'has' if len(waiting) == 1 else 'have'} fewer.")
    best, rest = comparable[0], comparable[1:]
    ahead = [c["words"] for c in rest if best["low"] > c["high"]]
    tied = [c["words"] for c in rest if overlap(best, c)]
    if not tied:
        said = f"{best['words']} was best, clearly ahead of {_join(ahead)}."
    elif not ahead:
        said = f"no clear difference between {_join([best['words']] + tied)}: the intervals overlap."
    else:
        said = (f"{best['words']} had the highest mean and was clearly ahead of {_join(ahead)}; no clear "
                f"difference from {_join(tied)}: the intervals overlap.")
    later = f" Not compared yet (fewer than two finished runs): {_join(waiting)}." if waiting else ""
    return _capital(so_far + said) + later


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


# ---- the whole result -----------------------------------------------------------------------------------
def viewer(class_id: str, owner: str | None = None, key: str | None = None) -> str:
    """Who reads: "teacher" (the key) or a student's token; anyone else is refused."""
    return poll.voter(class_id, owner, key)[0]


def results(class_id: str, owner: str | None = None, key: str | None = None) -> dict:
    """What `class experiment results --json` prints (see the module's doc for who sees what)."""
    who = viewer(class_id, owner, key)
    experiment = experiments.current(class_id)
    if experiment is None:
        raise UserError(f"class {class_id} has no experiment yet")
    return combined(experiment, who)


def combined(experiment: dict, who: str) -> dict:
    metric, scores = _metric(experiment["class_id"])
    rows = experiments.run_rows(experiment)
    shown = _poll(experiment, who)
    cells = [_cell(experiment, v, rows, scores, metric, who) for v in experiment["values"]]
    out = {"experiment": experiment["id"], "question": experiment["question"],
           "title": questions.TITLES[experiment["question"]], "dataset": experiment["dataset"], "metric": metric,
           "locked": shown["locked"], "lock_reason": shown["lock_reason"], "picks": shown["picks"],
           "mine": shown["mine"], "cells": cells, "verdict": verdict(cells, len(experiment["cells"])),
           "you": _you(experiment, who)}
    if shown["locked"]:
        out["poll"], out["reasons"] = shown["distribution"], shown["reasons"]
    return out


def _metric(class_id: str) -> tuple[str, dict]:
    audience = classes.audience(class_id)
    if holdouts.holdout_of(audience) is None:
        return "test_accuracy", {}
    return "holdout_accuracy", holdouts.scores(audience)


def _poll(experiment: dict, who: str) -> dict:
    return poll.view(experiment, who)


def _cell(experiment: dict, value: str, rows: dict, scores: dict, metric: str, who: str) -> dict:
    members = [c for c in experiment["cells"] if c["value"] == value]
    runs = [_run(c, rows.get(c["run_id"]), scores, metric, who) for c in members]
    stats = interval([r["accuracy"] for r in runs if r["accuracy"] is not None])
    return {"value": value, "words": questions.words(experiment["question"], value, experiment["stages"]),
            "n": len(members), "finished": stats["n"], **{k: _round(stats[k]) for k in ("mean", "low", "high")},
            "runs": runs}


def _run(cell: dict, row: dict | None, scores: dict, metric: str, who: str) -> dict:
    visible = who == poll.TEACHER or who == cell["token"]
    accuracy = None
    if experiments.finished(row):
        accuracy = (scores.get(row["id"]) or {}).get("accuracy") if metric == "holdout_accuracy" \
            else (row["summary"] or {}).get("test_accuracy")
    return {"student": cell["student"] if visible else None, "run_id": row["id"] if row and visible else None,
            "status": row["status"] if row else "not_started", "accuracy": _round(accuracy),
            "mine": who == cell["token"]}


def _you(experiment: dict, who: str) -> dict | None:
    cell = next((c for c in experiment["cells"] if c["token"] == who), None)
    if cell is None:
        return None
    return {"value": cell["value"], "words": questions.words(experiment["question"], cell["value"], experiment["stages"]),
            "run_id": cell["run_id"]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def curves(experiment: dict, who: str) -> list[dict]:
    """Every run's validation accuracy per epoch, with its value (the chart colours by value) and whether it
    is the viewer's own."""
    out = []
    for cell in experiment["cells"]:
        if not cell["run_id"]:
            continue
        series = epoch_curves.epoch_series(store.metrics(cell["run_id"], "epoch"))
        points = [(r["x"], r.get("val_accuracy")) for r in series if r.get("val_accuracy") is not None]
        if points:
            out.append({"value": cell["value"], "mine": who == cell["token"],
                        "epoch": [p[0] for p in points], "val_accuracy": [p[1] for p in points]})
    return out
