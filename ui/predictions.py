"""What a prediction says to a person, alike on the Predict page and a share link's page: the verdict
("unknown", "not sure" or the class) and pictures read from uploads and the camera through the same
validation as every upload (`core.data.decode`: size, pixel count, format; a clear reason per file)."""
from __future__ import annotations

import hashlib
import io

import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from core import data
from core.data import ImageRejected, decode
from core.errors import UserError
from core.serving import card, predict
from ui import figures


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


def is_multilabel(run_id: str) -> bool:
    """Several labels per image: each label is a yes or no at its own threshold (no "not sure" slider)."""
    return predict.load_run(run_id).config.task == "multilabel"


def labels_line(row: dict) -> str:
    """A multi-label answer: "bottle ✓ 0.91 · can ✓ 0.64 · box 0.08" (✓: at or above the label's threshold),
    most probable first; "none of the labels" when none is, "unknown" when predict measured the picture as
    unlike the training images."""
    ordered = sorted(row["labels"], key=lambda x: -x["probability"])
    shown = " · ".join(f"{x['label']}{' ✓' if x['on'] else ''} {x['probability']:.2f}" for x in ordered)
    if row.get("unknown"):
        return f"**unknown** — doesn't look like the training images ({shown})"
    return f"**none of the labels** ({shown})" if row["none"] else shown


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


def digest(raw: bytes) -> str:
    """A picture's content key: what the caches below are keyed by (a name or an upload's id is not)."""
    return hashlib.sha256(raw).hexdigest()


@st.cache_data(show_spinner=False, max_entries=256)
def stored_picture(sha: str):
    """A stored image (a test image), decoded once per server rather than on every rerun."""
    return decode(data.read_bytes(sha))


def answers(run_id: str, pictures: list[tuple[str, str, object]], k: int, method: str | None) -> list[tuple]:
    """(what `predict.judge` says, the heat map or why there is none) per (name, content key, picture).
    With heat maps, each picture's one pass through the network answers both (`predict.explain`); without,
    one pass judges them all. Both are kept per run and content, so a moved slider, another heat map and
    back, or a picture already answered runs the network for nothing new."""
    cams: dict[str, dict | str] = {}
    for _, key, picture in pictures if method else []:
        try:
            cams[key] = heat_map(run_id, key, method, k, picture)
        except UserError as exc:  # a backbone with no map to draw: the answer without it
            cams[key] = str(exc)
    rest = [p for p in pictures if not isinstance(cams.get(p[1]), dict)]
    rows = dict(zip([key for _, key, _ in rest], _judged(run_id, tuple(key for _, key, _ in rest), k,
                                                         [picture for _, _, picture in rest]))) if rest else {}
    return [(cams[key]["judged"] if isinstance(cams.get(key), dict) else rows[key], cams.get(key))
            for _, key, _ in pictures]


@st.cache_data(show_spinner="Asking the model…", max_entries=64)
def _judged(run_id: str, keys: tuple[str, ...], k: int, _pictures: list) -> list[dict]:
    return predict.judge(run_id, _pictures, k=k)


@st.cache_data(show_spinner="Drawing where the model looks: one pass forward and back through the network…",
               max_entries=256)
def heat_map(run_id: str, key: str, method: str, k: int, _picture, index: int | None = None) -> dict:
    """`predict.explain` once per run, picture (by its content key), method and class (`index`; None: the most
    probable) in this server, the overlay encoded to PNG once (each redraw cost seconds a click, and each
    rerun encoded it again)."""
    found = predict.explain(run_id, _picture, class_index=index, method=method, k=k)
    return {"overlay": png(found["overlay"]), "label": found["label"], "judged": found["judged"]}


@st.cache_data(show_spinner=False, max_entries=256)
def shown(key: str, _picture) -> bytes:
    """The picture itself as PNG bytes, encoded once."""
    return png(_picture)


def png(picture, side: int = 1024) -> bytes:
    """PNG bytes of a PIL image or an HWC uint8 array, at most `side` pixels a side (a camera's 12-megapixel
    photo is shown in a third of the page: encoding it whole cost far more than the picture shows)."""
    image = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    if max(image.size) > side:
        image = image.copy()
        image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@st.cache_resource(show_spinner=False, max_entries=512)
def top_k_figure(top: list[dict], threshold: float) -> go.Figure:
    """The top-k bars, built once per answer and threshold: building one cost 79 ms at load 6, and a copy
    out of `st.cache_data` (unpickled) 114 ms, so the one figure is kept; `st.plotly_chart` only reads it
    (7 ms), nothing changes it after this."""
    return figures.top_k(top, threshold)
