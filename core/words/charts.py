"""A learning-curve chart's key numbers in one sentence (issue 33), for the app's charts (ui/chart_words.py) and
the report's pictures alike: "Validation accuracy rose from 31% to 87% over 8 epochs; the from-scratch baseline
reached 12%." Numbers in the project's words (percentages, no 0.863636)."""
from __future__ import annotations

from core.words import number, percent, role as role_name

SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test"}


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 'es' if noun.endswith('s') else 's'}"


def _trend(name: str, values: list[float], shown) -> str:
    """"rose from A to B", "fell from A to B" or "stayed at A" over n epochs; compared as written, so a change
    too small to show reads "stayed"."""
    first, last, epochs = shown(values[0]), shown(values[-1]), len(values)
    if epochs == 1:
        return f"{name} was {last} after 1 epoch"
    if first == last:
        return f"{name} stayed at {last} over {epochs} epochs"
    return f"{name} {'rose' if values[-1] > values[0] else 'fell'} from {first} to {last} over {epochs} epochs"


def _values(series: list[dict], metric: str) -> tuple[str, list[float]]:
    """The validation values of a curve, else the training ones (a run without validation images)."""
    for split in ("val", "train"):
        values = [r[f"{split}_{metric}"] for r in series if r.get(f"{split}_{metric}") is not None]
        if values:
            return SPLIT_WORDS[split], values
    return "", []


METRIC_WORDS = {"map": "mean average precision"}  # a multi-label run's live measure (`val_map`)


def _metric_value(metric: str, value: float) -> str:
    return percent(value) if metric in ("accuracy", "map") else number(value)


def curves(series_by_role: dict[str, list[dict]], metric: str) -> str:
    """"Validation accuracy rose from 31% to 87% over 8 epochs; the from-scratch baseline reached 12%."
    The first role is the run the chart is about; every other one is named with its last value."""
    roles = [(role, *_values(series, metric)) for role, series in series_by_role.items()]
    if not roles or not roles[0][2]:
        return f"No {METRIC_WORDS.get(metric, metric)} yet: no epoch has finished."
    _, split, values = roles[0]
    told = _trend(f"{split.capitalize()} {METRIC_WORDS.get(metric, metric)}", values, lambda v: _metric_value(metric, v))
    others = [f"{_role(role)} reached {_metric_value(metric, vals[-1])}" for role, _, vals in roles[1:] if vals]
    return told + (f"; {listed(others)}" if others else "") + "."


def _role(role: str) -> str:
    """A companion by its role ("the from-scratch baseline"); another run by its label, as the legend says."""
    return f"the {role_name(role)}" if role in ("main", "scratch", "linear_probe") else role


def listed(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
