"""Plotly figures. Builders take plain data from core and return figures; no computing here."""
from __future__ import annotations

import math

import plotly.graph_objects as go

FROZEN, TRAINABLE = "#9aa5b1", "#2e7dd7"
SCENARIO_COLORS = {"S1": "#e8f1fb", "S2": "#fdf1e6", "S3": "#fde8ea", "S4": "#e9f7ee"}


def human(n: float | int | None) -> str:
    if n is None:
        return "–"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return str(int(n))


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
            x=[measured["similarity"]], y=[math.log10(max(measured["per_class"], 1))], mode="markers+text",
            marker=dict(size=16, color="#d64545", symbol="star"), text=["your data"], textposition="top center",
            name="your data", hoverinfo="skip"))
    fig.update_xaxes(range=[0, 1], title="similarity to ImageNet (mean top-1 confidence)", showgrid=False)
    fig.update_yaxes(range=[0, 4], title="images per class", tickvals=[0, 1, 2, 3, 4],
                     ticktext=["1", "10", "100", "1,000", "10,000"], showgrid=False)
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=10, b=10), showlegend=False, clickmode="event+select")
    return fig


def stage_map(rows: list[dict], phase: str) -> go.Figure:
    """The backbone as a row of blocks, input on the left: grey frozen, blue trainable."""
    names = [r["name"] for r in rows]
    colors = [FROZEN if r[phase] == "frozen" else TRAINABLE for r in rows]
    fig = go.Figure(go.Bar(
        x=names, y=[max(r["params"], 1) for r in rows], marker_color=colors,
        text=[f"{human(r['params'])}<br>{r[phase]}" for r in rows], textposition="outside",
        hovertemplate="%{x}: %{y:,} parameters<extra></extra>"))
    fig.update_yaxes(type="log", title="parameters (log)")
    fig.update_xaxes(title="input → output")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), showlegend=False)
    return fig


def stage_params(stages: list[dict]) -> go.Figure:
    fig = go.Figure(go.Bar(x=[s["name"] for s in stages], y=[s["params"] for s in stages],
                           marker_color=[FROZEN if s["name"] == "head" else TRAINABLE for s in stages],
                           text=[human(s["params"]) for s in stages], textposition="outside"))
    fig.update_yaxes(type="log", title="parameters (log)")
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=20, b=10))
    return fig


def class_counts(counts: dict[str, int]) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), marker_color=TRAINABLE,
                           text=list(counts.values()), textposition="outside"))
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), title="images per class")
    return fig


def split_sizes(by_class: dict[str, dict[str, int]]) -> go.Figure:
    fig = go.Figure()
    for split, color in (("train", TRAINABLE), ("val", "#f0a202"), ("test", "#3ba776")):
        fig.add_trace(go.Bar(name=split, x=list(by_class), y=[v[split] for v in by_class.values()], marker_color=color))
    fig.update_layout(barmode="stack", height=300, margin=dict(l=10, r=10, t=30, b=10), title="split sizes per class")
    return fig
