"""What the pages print, in people's words: core.words' numbers and settings (one wording for pages,
model card and CLI), plus tables with plain column names and empty cells where a value does not exist."""
from __future__ import annotations

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

__all__ = ["MISSING", "about", "accuracy_interval", "balance", "balanced_sentence", "interval_sentence", "blank", "chance_margin", "duration", "freeze_plan", "head", "number", "percent", "rate",
           "role", "size", "weights", "wilson", "table", "short_name"]


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
