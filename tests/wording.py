"""What a person must never read: raw config identifiers, code and machine-precision numbers. Shared by the
model card's and the report's tests, every AppTest page test (`page_text`, through `no_exceptions`) and the
browser crawler's wording check."""
from __future__ import annotations

import re

from core.config import BN_POLICIES, FREEZE_MODES
from core.models import registry

# Config identifiers with an underscore are code, not words ("none" and "explicit" are plain English).
IDENTIFIERS = sorted({*FREEZE_MODES, *BN_POLICIES} - {"none", "explicit"})
# A backbone's registry name is its name (the Backbone page lists them so), "convnext_tiny" included.
NAMES = sorted(registry.names(), key=len, reverse=True)
RAW = [re.compile(rf"\b{re.escape(name)}\b") for name in IDENTIFIERS] + [
    re.compile(r"\[\]"),  # an empty Python list
    re.compile(r"\bNone\b"),  # Python's missing value
    re.compile(r"(?<![\w.])\d+\.\d{4,}(?![\w.])"),  # 0.863636, 291.5900: more than 3 decimals
    # a run's or a job's id: 8+ hex digits with a letter and a digit ("0c8edf5cd6a6")
    re.compile(r"(?<![\w/.])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}(?![\w/.])"),
    # a snake_case field name ("a_split", "val_accuracy"); a dotted config path ("freeze.k") is named on purpose
    re.compile(r"(?<![\w.\-/])[a-z]+(?:_[a-z]+)+(?![\w.=\[(\-/])"),
    re.compile(r"\b\d(?:\.\d+)?e[-+]\d\d\b"),  # Python's e-notation, "1.4e-06" (a rate written "1e-4" is words)
    re.compile(r"\(N, ?\d"),  # a tensor's shape, "(N, 3, H, W)"
]


def raw_words(text: str) -> list[str]:
    """Every raw identifier, id or over-precise number in `text`, each with a little context."""
    for name in NAMES:  # a backbone named is not code
        text = text.replace(name, "backbone-name")
    text = re.sub(r"`[^`\n]+`", "`code`", text)  # code shown as code (a run's id to type into the CLI) is meant
    found = []
    for pattern in RAW:
        for match in pattern.finditer(text):
            found.append(text[max(0, match.start() - 30):match.end() + 30].replace("\n", " "))
    return found


# AppTest element types whose text a person reads (code blocks, typed values and URLs are not words)
SAID = ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error", "exception")


def page_text(at) -> str:
    """Everything an AppTest page shows in words: headings and messages, metrics, tables, widget labels and
    the options of pickers as they are shown."""
    parts = [str(e.value) for kind in SAID for e in getattr(at, kind, []) if kind != "exception"]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    for kind in ("dataframe", "table"):
        parts += [e.value.to_string() for e in at.get(kind) if hasattr(e.value, "to_string")]
    for kind in ("selectbox", "multiselect", "radio"):
        for widget in getattr(at, kind):
            parts += [str(widget.label), *[str(o) for o in getattr(widget, "options", [])]]
    parts += [str(b.label) for b in at.button]
    return "\n".join(parts)
