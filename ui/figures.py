"""Plotly figures. Builders take plain data from core and return figures; no computing here."""
from __future__ import annotations

import math

import plotly.graph_objects as go

from core.words.charts import SPLIT_WORDS
from ui import words

# Okabe & Ito's eight colours stay apart for every common colour-vision deficiency (about 1 boy in 12 has
# one); every chart colour comes from here or is a neutral grey (issue 33). Yellow is last: on white it is faint.
OKABE_ITO = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
             "sky": "#56B4E9", "purple": "#CC79A7", "black": "#000000", "yellow": "#F0E442"}
# Greys for what is neither a role nor a class: frozen parts, reference lines, outlines, notes.
GREYS = ("#9aa5b1", "#7b8794", "#cbd2d9", "#1f2933", "#3e4c59", "#616e7c", "white")
FROZEN, TRAINABLE = GREYS[0], OKABE_ITO["blue"]
FROZEN_PATTERN = "/"  # frozen bars are hatched too: grey against blue is not the only difference
# pale blue, orange, vermillion and green (Okabe–Ito at low opacity); each quadrant's label names it
SCENARIO_COLORS = {"S1": "rgba(0,114,178,0.12)", "S2": "rgba(230,159,0,0.14)", "S3": "rgba(213,94,0,0.12)",
                   "S4": "rgba(0,158,115,0.12)"}


def human(n: float | int | None) -> str:
    if n is None:
        return "–"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return str(int(n))


def categories(labels: list) -> dict:
    """An axis of names in this order, every one labelled. Class names are names even when they look like
    numbers: given "0".."9" Plotly would make a numeric axis, place bars by value and label every other one."""
    names = [str(label) for label in labels]
    return dict(type="category", categoryorder="array", categoryarray=names, tickmode="array", tickvals=names,
                ticktext=names)


def scenario_grid(scenarios: dict, selected: str, small_per_class: float, similar: float,
                  measured: dict | None = None) -> go.Figure:
    """The 2×2: x = similarity to ImageNet (mean top-1 confidence), y = images per class (log)."""
    y_split = math.log10(small_per_class)
    boxes = {"S1": (similar, 1, 0, y_split), "S2": (0, similar, 0, y_split),
             "S3": (0, similar, y_split, 4), "S4": (similar, 1, y_split, 4)}
    fig = go.Figure()
    for code, (x0, x1, y0, y1) in boxes.items():
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(width=3 if code == selected else 1,
                      color="#1f2933" if code == selected else "#cbd2d9"), fillcolor=SCENARIO_COLORS[code], layer="below")
    centers = {code: ((x0 + x1) / 2, (y0 + y1) / 2) for code, (x0, x1, y0, y1) in boxes.items()}
    fig.add_trace(go.Scatter(
        x=[c[0] for c in centers.values()], y=[c[1] for c in centers.values()], mode="markers+text",
        text=[f"<b>{code}</b><br>{scenarios[code].strategy}" for code in centers], textposition="middle center",
        marker=dict(size=70, opacity=0.01), customdata=list(centers), hoverinfo="text",
        hovertext=[scenarios[code].title for code in centers], name="scenarios"))
    if measured:
        fig.add_trace(go.Scatter(
            x=[measured["similarity"]], y=[math.log10(max(measured["per_class"], 1))], mode="markers",
            marker=dict(size=16, color=OKABE_ITO["vermillion"], symbol="star", line=dict(width=1, color="white")),
            name="★ your data (measured)", hovertemplate="your data<extra></extra>", showlegend=True))
    fig.update_xaxes(range=[0, 1], title="similarity to ImageNet (mean top-1 confidence)", showgrid=False)
    fig.update_yaxes(range=[0, 4], title="images per class", tickvals=[0, 1, 2, 3, 4],
                     ticktext=["1", "10", "100", "1,000", "10,000"], showgrid=False)
    # only the star has a legend entry: it names the star away from the quadrants' labels
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=10, b=10), clickmode="event+select",
                      legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"))
    fig.update_traces(showlegend=False, selector=dict(name="scenarios"))
    return fig


def stage_map(rows: list[dict], phase: str) -> go.Figure:
    """The backbone as a row of blocks, input on the left: frozen grey and hatched, trainable blue; each bar
    says which in words too."""
    names = [r["name"] for r in rows]
    colors = [FROZEN if r[phase] == "frozen" else TRAINABLE for r in rows]
    fig = go.Figure(go.Bar(
        x=names, y=[max(r["params"], 1) for r in rows], marker_color=colors,
        marker_pattern_shape=[FROZEN_PATTERN if r[phase] == "frozen" else "" for r in rows],
        text=[f"{human(r['params'])}<br>{r[phase]}" for r in rows], textposition="outside",
        hovertemplate="%{x}: %{y:,} parameters<extra></extra>"))
    fig.update_yaxes(type="log", title="parameters (log)")
    fig.update_xaxes(title="input → output", **categories(names))
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), showlegend=False)
    return fig


def stage_params(stages: list[dict]) -> go.Figure:
    fig = go.Figure(go.Bar(x=[s["name"] for s in stages], y=[s["params"] for s in stages],
                           marker_color=[FROZEN if s["name"] == "head" else TRAINABLE for s in stages],
                           marker_pattern_shape=[FROZEN_PATTERN if s["name"] == "head" else "" for s in stages],
                           text=[human(s["params"]) for s in stages], textposition="outside"))
    fig.update_yaxes(type="log", title="parameters (log)")
    fig.update_xaxes(**categories([s["name"] for s in stages]))
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=20, b=10))
    return fig


def class_counts(counts: dict[str, int]) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), marker_color=TRAINABLE,
                           text=list(counts.values()), textposition="outside"))
    fig.update_xaxes(**categories(list(counts)))
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), title="images per class")
    return fig


def split_sizes(by_class: dict[str, dict[str, int]]) -> go.Figure:
    fig = go.Figure()
    for split, color in SPLIT_COLORS.items():
        fig.add_trace(go.Bar(name=SPLIT_WORDS[split], x=list(by_class), y=[v[split] for v in by_class.values()],
                             marker_color=color, marker_pattern_shape=SPLIT_PATTERNS[split]))
    fig.update_xaxes(**categories(list(by_class)))
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(barmode="stack", height=300, margin=dict(l=10, r=10, t=30, b=10), title="split sizes per class")
    return fig


SPLIT_COLORS = {"train": TRAINABLE, "val": OKABE_ITO["orange"], "test": OKABE_ITO["green"]}
SPLIT_PATTERNS = {"train": "", "val": "/", "test": "."}  # stacked bars differ by hatching as well as colour
# A run's role differs by colour, line dash and marker shape (never colour alone); the split of a curve by
# its width and a hollow (training) or filled (validation) marker, and the legend says both in words.
COMPANION_COLORS = {"main": TRAINABLE, "pretrained": TRAINABLE, "scratch": OKABE_ITO["vermillion"],
                    "linear_probe": OKABE_ITO["green"]}
COMPANION_DASHES = {"main": "solid", "pretrained": "solid", "scratch": "dash", "linear_probe": "dashdot"}
COMPANION_SYMBOLS = {"main": "circle", "pretrained": "circle", "scratch": "square", "linear_probe": "diamond"}
# curves named by a label, not a role (Evaluate compares runs by their labels): one style each, in order;
# a fifth run repeats the first style (its legend entry still tells it apart)
OTHER_STYLES = tuple(zip((OKABE_ITO["purple"], OKABE_ITO["sky"], OKABE_ITO["orange"], OKABE_ITO["black"]),
                         ("longdash", "dot", "longdashdot", "solid"), ("triangle-up", "cross", "x", "star")))


def role_style(role: str, index: int) -> tuple[str, str, str]:
    """(colour, dash, symbol) of a curve: a companion's own style, else the index'th other style."""
    if role in COMPANION_COLORS:
        return COMPANION_COLORS[role], COMPANION_DASHES[role], COMPANION_SYMBOLS[role]
    return OTHER_STYLES[index % len(OTHER_STYLES)]


def curves(series_by_role: dict[str, list[dict]], metric: str, switch: float | None, title: str) -> go.Figure:
    """Train (thin, hollow markers) and val (thick, filled) per epoch for the run and its companions, each
    role its own colour, dash and marker; phase switch marked."""
    fig = go.Figure()
    others = [role for role in series_by_role if role not in COMPANION_COLORS]
    for role, series in series_by_role.items():
        color, dash, symbol = role_style(role, others.index(role) if role in others else 0)
        name = words.role(role) if role in COMPANION_COLORS else role  # "main" is a code: "main run"
        for split, width, shape in (("train", 1.5, f"{symbol}-open"), ("val", 3, symbol)):
            ys = [r.get(f"{split}_{metric}") for r in series]
            if any(y is not None for y in ys):
                fig.add_trace(go.Scatter(x=[r["x"] for r in series], y=ys, mode="lines+markers", name=f"{name}, {SPLIT_WORDS[split]}",
                                         line=dict(color=color, dash=dash, width=width),
                                         marker=dict(symbol=shape, size=8)))
    if switch:
        fig.add_vline(x=switch, line_dash="dash", line_color="#7b8794", annotation_text="fine-tune starts")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), title=title, xaxis_title="epoch")
    fig.update_xaxes(dtick=1, rangemode="tozero")
    if metric in ("accuracy", "map"):
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    else:
        fig.update_yaxes(rangemode="tozero")
    return fig


def step_chart(steps: list[dict], key: str, title: str) -> go.Figure:
    fig = go.Figure(go.Scatter(y=[s[key] for s in steps], mode="lines", line=dict(color=TRAINABLE)))
    fig.update_layout(height=220, margin=dict(l=10, r=10, t=40, b=10), title=title, xaxis_title="logged step")
    if key == "lr":  # as the Layers page writes rates ("5e-4"), not "0.0005"
        fig.update_yaxes(tickformat=".0e", exponentformat="e")
    return fig


def confusion(matrix: list[list[int]], classes: list[str]) -> go.Figure:
    """Heatmap plus an invisible marker per cell, so a click selects (true, predicted)."""
    fig = go.Figure(go.Heatmap(z=matrix, x=classes, y=classes, colorscale="Blues", showscale=False,
                               text=matrix, texttemplate="%{text}", hoverinfo="skip"))
    cells = [(t, p) for t in range(len(classes)) for p in range(len(classes))]
    fig.add_trace(go.Scatter(x=[classes[p] for _, p in cells], y=[classes[t] for t, _ in cells], mode="markers",
                             marker=dict(size=28, opacity=0.01, symbol="square"), customdata=[list(c) for c in cells],
                             hovertemplate="true %{y}, predicted %{x}<extra></extra>", showlegend=False))
    fig.update_xaxes(title="predicted", **categories(classes))
    fig.update_yaxes(title="true", **categories(classes), autorange="reversed")
    fig.update_layout(height=80 + 42 * len(classes), margin=dict(l=10, r=10, t=10, b=10), clickmode="event+select")
    return fig


def reliability(bins: list[dict]) -> go.Figure:
    centers = [(b["low"] + b["high"]) / 2 for b in bins]
    fig = go.Figure(go.Bar(x=centers, y=[b["accuracy"] for b in bins], width=0.09, name="accuracy",
                           marker_color=TRAINABLE, customdata=[b["fraction"] for b in bins],
                           hovertemplate="confidence %{x:.2f}: accuracy %{y:.2f} (%{customdata:.0%} of images)<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="#7b8794"), name="perfect"))
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="confidence",
                      yaxis_title="accuracy", xaxis_range=[0, 1], yaxis_range=[0, 1])
    return fig


def top_k(top: list[dict], threshold: float) -> go.Figure:
    """The k best guesses by rank, the first on top (a horizontal bar chart draws its first category at
    the bottom, hence the reversed order)."""
    top = list(reversed(top))
    labels = [str(t["label"]) for t in top]
    fig = go.Figure(go.Bar(x=[t["prob"] for t in top], y=labels, orientation="h",
                           marker_color=[TRAINABLE if t["prob"] >= threshold else FROZEN for t in top],
                           marker_pattern_shape=["" if t["prob"] >= threshold else FROZEN_PATTERN for t in top],
                           text=[f"{t['prob']:.1%}" for t in top], textposition="outside",
                           hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    fig.add_vline(x=threshold, line_dash="dot", line_color=OKABE_ITO["vermillion"])
    fig.update_yaxes(**categories(labels))
    fig.update_xaxes(range=[0, 1.1], tickformat=".0%")
    fig.update_layout(height=60 + 32 * len(top), margin=dict(l=10, r=30, t=10, b=10))
    return fig


def sweep(results: list[dict]) -> go.Figure:
    done = [r for r in results if r["test_accuracy"] is not None]
    fig = go.Figure(go.Scatter(x=[r["frozen_stages"] for r in done], y=[r["test_accuracy"] for r in done],
                               mode="lines+markers", name="test accuracy", line=dict(color=TRAINABLE)))
    fig.add_trace(go.Bar(x=[r["frozen_stages"] for r in done], y=[r["seconds"] for r in done], name="seconds",
                         yaxis="y2", marker_color=FROZEN, opacity=0.5))
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="stages frozen (from the input)",
                      yaxis=dict(title="test accuracy", range=[0, 1]),
                      yaxis2=dict(title="training seconds", overlaying="y", side="right"))
    return fig


DATA_SIZE_NAMES = {"pretrained": "pretrained", "scratch": "from scratch"}  # legends in words, not role codes


def data_size(points: list[dict]) -> go.Figure:
    """Test accuracy against training images per class, pretrained and from scratch; each gap labelled.
    Sizes sit evenly on a category axis (5, 10, 25, 50 … grow roughly geometrically)."""
    fig = go.Figure()
    for kind in ("pretrained", "scratch"):
        done = [p for p in points if p.get(kind) is not None]
        color, dash, symbol = role_style(kind, 0)
        fig.add_trace(go.Scatter(x=[str(p["per_class"]) for p in done], y=[p[kind] for p in done], mode="lines+markers",
                                 name=DATA_SIZE_NAMES[kind], line=dict(color=color, dash=dash, width=3), marker=dict(symbol=symbol, size=9)))
    for i, p in enumerate(points):
        if p.get("pretrained") is not None and p.get("scratch") is not None:
            x, gap = str(p["per_class"]), p["pretrained"] - p["scratch"]
            fig.add_trace(go.Scatter(x=[x, x], y=[p["scratch"], p["pretrained"]], mode="lines", showlegend=False,
                                     hoverinfo="skip", line=dict(color="#7b8794", dash="dot")))
            # on a category axis an annotation's x is the category's position, not its name
            fig.add_annotation(x=i, y=(p["pretrained"] + p["scratch"]) / 2, text=f"<b>{gap:+.2f}</b>", showarrow=False,
                               xshift=24, font=dict(color="#3e4c59"))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10), title="Test accuracy against training images",
                      xaxis=dict(title="training images per class (nested subsets)", type="category",
                                 categoryorder="array", categoryarray=[str(p["per_class"]) for p in points]),
                      yaxis=dict(title="test accuracy", range=[0, 1.05]))
    return fig


PALETTE = tuple(OKABE_ITO.values())
CLASS_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "star", "hexagon")
# a class's shape is its own; the split only changes how it is drawn: filled, hollow, hollow with a dot
SPLIT_FILLS = {"train": "", "val": "-open", "test": "-open-dot"}


def class_style(index: int) -> tuple[str, str]:
    """A class's (colour, shape): a pair no other of the first 64 classes has (8 colours × 8 shapes)."""
    n = len(PALETTE)
    return PALETTE[index % n], CLASS_SYMBOLS[(index + index // n) % len(CLASS_SYMBOLS)]
SVG_POINTS = 2_000  # more points than this draw with WebGL: an SVG path per point slows the browser


def feature_map(points: list[dict]) -> go.Figure:
    """One trace per class (its colour and shape), split as the marker's fill; a point's customdata is its image id.
    The axes carry no units: only who sits near whom means something."""
    scatter = go.Scatter if len(points) <= SVG_POINTS else go.Scattergl
    classes = list(dict.fromkeys(p["class"] for p in points))
    fig = go.Figure()
    for i, name in enumerate(classes):
        mine = [p for p in points if p["class"] == name]
        color, symbol = class_style(i)
        fig.add_trace(scatter(
            x=[p["x"] for p in mine], y=[p["y"] for p in mine], mode="markers", name=name,
            customdata=[p["id"] for p in mine], text=[f"class {name} · {p['split']} · image {p['id']}" for p in mine],
            hovertemplate="%{text}<extra></extra>",
            marker=dict(color=color, size=8, opacity=0.8,
                        symbol=[symbol + SPLIT_FILLS.get(p["split"], "") for p in mine])))
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None)
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=30, b=10), legend_title_text="class",
                      title="each point an image; colour and shape: its class; filled: training, hollow: validation, "
                            "hollow with a dot: test")
    return fig
