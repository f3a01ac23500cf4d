"""What a person must never read: raw config identifiers and machine-precision numbers. Shared by the
model card's test and the browser crawler's wording check."""
from __future__ import annotations

import re

from core.config import BN_POLICIES, FREEZE_MODES

# Config identifiers with an underscore are code, not words ("none" and "explicit" are plain English).
IDENTIFIERS = sorted({*FREEZE_MODES, *BN_POLICIES} - {"none", "explicit"})
RAW = [re.compile(rf"\b{re.escape(name)}\b") for name in IDENTIFIERS] + [
    re.compile(r"\[\]"),  # an empty Python list
    re.compile(r"\bNone\b"),  # Python's missing value
    re.compile(r"(?<![\w.])\d+\.\d{4,}(?![\w.])"),  # 0.863636, 291.5900: more than 3 decimals
]


def raw_words(text: str) -> list[str]:
    """Every raw identifier or over-precise number in `text`, each with a little context."""
    found = []
    for pattern in RAW:
        for match in pattern.finditer(text):
            found.append(text[max(0, match.start() - 30):match.end() + 30].replace("\n", " "))
    return found
