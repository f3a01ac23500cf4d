"""What a prediction says to a person, alike on the Predict page and a share link's page: the verdict
("unknown", "not sure" or the class) and pictures read from uploads and the camera through the same
validation as every upload (`core.data.decode`: size, pixel count, format; a clear reason per file)."""
from __future__ import annotations

import streamlit as st

from core.data import ImageRejected, decode
from core.serving import card, predict


def verdict(top: list[dict], threshold: float, unknown: bool = False) -> str:
    """"unknown" when predict measured the picture as unlike the training images (`predict.judge`'s
    `unknown`), "not sure" when the best class is below `threshold`, else the best class."""
    first = top[0]
    if unknown:
        return "unknown"
    return first["label"] if first["prob"] >= threshold else "not sure"


def explained(top: list[dict], threshold: float, unknown: bool = False) -> str:
    """The verdict with its reason when it is not a class."""
    said = verdict(top, threshold, unknown)
    if said == "unknown":
        return (f"**unknown** — doesn't look like any of your classes (best guess {top[0]['label']} at "
                f"{top[0]['prob']:.0%})")
    if said == "not sure":
        return f"**not sure** (best guess {top[0]['label']} at {top[0]['prob']:.0%})"
    return f"**{said}**"


def suggested(run_id: str) -> float:
    """The "not sure" slider's start: the confidence suggested on the run's validation images, on the
    slider's 0.05 grid (0.5 for a run trained before the suggestion, or where none reached the precision)."""
    found = predict.suggested_confidence(run_id)
    return round(round(min(0.95, found["confidence"]) / 0.05) * 0.05, 2) if found else 0.5


def suggestion_text(run_id: str) -> str:
    """Where the slider's start comes from, in words."""
    found = predict.suggested_confidence(run_id)
    if not found:
        return "Start at 50 %: this run has no suggestion measured on its validation images."
    return (f"Suggested from the validation images: at {found['confidence']:.0%} or more, the answers kept were right "
            f"{found['precision']:.0%} of the time, and {found['kept']:.0%} of the images were answered.")


def unknown_text(run_id: str) -> str:
    """How "unknown" is decided for this run, in words (`card.unknown_rule`); empty for a run without it."""
    found = predict.load_run(run_id).meta.get("unknown")
    return f"**Unknown** means {card.unknown_rule(found)}." if found else ""


def pictures(files) -> list[tuple[str, object, bytes]]:
    """(name, PIL image, bytes) for each upload or camera shot that decodes; each refused one is named."""
    out = []
    for upload in files:
        raw = upload.getvalue()
        try:
            out.append((upload.name, decode(raw), raw))
        except ImageRejected as exc:
            st.error(f"{upload.name}: {exc}")
    return out


@st.cache_data(show_spinner="Drawing where the model looks: one pass forward and back through the network…",
               max_entries=64)
def heat_map(run_id: str, picture, method: str) -> dict:
    """`predict.explain`, once per run, picture and method in this server: a moved slider, another heat map
    and back, or a second look at the same picture draw nothing again (each redraw cost seconds a click)."""
    return predict.explain(run_id, picture, method=method)
