"""What the pages print, in people's words: core.words' numbers and settings (one wording for pages,
model card and CLI), plus tables with plain column names and empty cells where a value does not exist."""
from __future__ import annotations

import time
from typing import Callable

import pandas as pd

from core.words import (
    MISSING,
    about,
    accuracy_interval,
    balance,
    balanced_sentence,
    blank,
    chance_margin,
    duration,
    family,
    freeze_plan,
    head,
    interval_sentence,
    number,
    percent,
    rate,
    role,
    size,
    weights,
    wilson,
)

__all__ = ["MISSING", "about", "accuracy_interval", "balance", "balanced_sentence", "interval_sentence", "blank", "chance_margin", "duration", "family", "freeze_plan", "head", "number", "percent", "rate",
           "role", "size", "weights", "wilson", "table", "short_name", "run_label", "started"]


def started(created: float | None) -> str:
    """When a run was submitted, as a person tells runs apart: "today 14:02", else "3 Dec 14:02"."""
    if not created:
        return MISSING
    moment = time.localtime(created)
    day = "today" if moment[:3] == time.localtime()[:3] else time.strftime("%d %b", moment).lstrip("0")
    return f"{day} {time.strftime('%H:%M', moment)}"


def run_label(row: dict) -> str:
    """A run in a picker: when, which backbone, what for, how it did. Never its id, a code (issue 29)."""
    result = (f"test accuracy {percent(row['test_accuracy'])}" if row.get("test_accuracy") is not None
              else row.get("status") or "")
    return " · ".join(x for x in (f"run of {started(row.get('created'))}", f"backbone {row.get('backbone')}",
                                  role(row.get("role") or "main"), result) if x)


def table(rows: list[dict], columns: dict[str, str], formats: dict[str, Callable] | None = None) -> pd.DataFrame:
    """`rows` under plain names (`columns`: field → heading, in order), each value through its format. A
    missing value is an empty cell, never "None"; a column with one is all text (a column of numbers and
    blanks is what Arrow cannot type, and Streamlit logs a warning while it patches it)."""
    formats = formats or {}
    out = {}
    for field, title in columns.items():
        values = [row.get(field) for row in rows]
        shown = formats.get(field) or (str if None in values else None)
        out[title] = [_cell(v, shown) for v in values]
    return pd.DataFrame(out, columns=list(columns.values()))


def _cell(value, shown: Callable | None) -> object:
    if value is None:
        return ""
    return shown(value) if shown else value


def short_name(name: str, limit: int = 16) -> str:
    """A file name that fits under a thumbnail: whole when short, else its start and its end (the
    extension and any number) around an ellipsis, never cut off mid-word without a mark."""
    name = name.rsplit("/", 1)[-1]
    if len(name) <= limit:
        return name
    keep = limit - 1
    return f"{name[:keep - keep // 2]}…{name[-(keep // 2):]}"
