"""Static pictures for a file that must stand alone (the report): charts drawn with matplotlib's object API
(no pyplot: no global figure state shared by the server's threads) and images, each as a `data:` URI.
PNG metadata is left out: matplotlib would write its web address into every chart."""
from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

# Okabe-Ito colours, as the app's charts (ui/figures.py), and never colour alone: each run its own line style
# and marker too (issue 33). Validation lines are thick with filled markers, training lines thin and hollow.
STYLES = {"main run": ("#0072B2", "-", "o"), "from-scratch baseline": ("#D55E00", "--", "s"),
          "linear-probe baseline": ("#009E73", "-.", "D")}
OTHER = ("#CC79A7", ":", "^")
BAR, REFERENCE = "#0072B2", "#7b8794"


def _uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def image_uri(picture, side: int = 200) -> str:
    """A photo or heat-map overlay (PIL image or HxWx3 uint8 array) as a JPEG data URI, `side` px at most."""
    image = Image.fromarray(picture) if isinstance(picture, np.ndarray) else picture.convert("RGB")
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def curves(series: dict[str, list[dict]]) -> str:
    """Validation accuracy and losses per epoch, one line per run (`series`: name → epoch rows with `x`)."""
    figure = Figure(figsize=(9, 3.2))
    accuracy, loss = figure.subplots(1, 2)
    for name, rows in series.items():
        colour, dash, marker = STYLES.get(name, OTHER)
        xs = [r["x"] for r in rows]
        shown = dict(color=colour, linestyle=dash, marker=marker)
        accuracy.plot(xs, [r.get("val_accuracy") for r in rows], label=name, linewidth=2, **shown)
        loss.plot(xs, [r.get("val_loss") for r in rows], label=f"{name}, validation", linewidth=2, **shown)
        loss.plot(xs, [r.get("train_loss") for r in rows], label=f"{name}, training", linewidth=1,
                  markerfacecolor="white", **shown)
    accuracy.set(title="validation accuracy", xlabel="epoch", ylim=(0, 1.02))
    accuracy.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    loss.set(title="loss", xlabel="epoch")
    for axes in (accuracy, loss):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    return _uri(figure)


def reliability(bins: list[dict]) -> str:
    """Accuracy against confidence per bin: bars on the diagonal are a well-calibrated model."""
    figure = Figure(figsize=(4, 3.2))
    axes = figure.subplots()
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    axes.bar(centres, [b["accuracy"] for b in bins], width=0.09, color=BAR, label="accuracy")
    axes.plot([0, 1], [0, 1], linestyle="--", color=REFERENCE, label="perfect")
    axes.set(xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    axes.legend(fontsize=7)
    return _uri(figure)
