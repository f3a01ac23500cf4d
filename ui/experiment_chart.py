"""The class experiment's figures, from `core.classroom.results`' plain data: one combined chart (each run a
dot, each value's mean with its 95 % interval, the viewer's own dot marked, the poll's picks beside it) and
the learning curves of every run coloured by value."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures import GREYS, OKABE_ITO, categories

# colour-blind-safe (issue 33); a value's curves differ by dash and marker as well (`style`)
PALETTE = tuple(OKABE_ITO[c] for c in ("blue", "orange", "green", "purple", "vermillion", "sky"))
MEAN = GREYS[3]
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x")


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def style(index: int) -> tuple[str, str, str]:
    """A value's (colour, dash, marker): never colour alone."""
    return colour(index), DASHES[index % len(DASHES)], SYMBOLS[index % len(SYMBOLS)]


def combined(found: dict, large: bool = False) -> go.Figure:
    """Left: accuracy per value (dots, mean, interval). Right: how many picked each value (once locked)."""
    labels = [c["words"] for c in found["cells"]]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.72, 0.28], horizontal_spacing=0.08,
                        subplot_titles=(_metric_title(found["metric"]), "predicted to win (poll)"))
    for i, cell in enumerate(found["cells"]):
        _dots(fig, cell, labels[i], i)
        _mean(fig, cell, labels[i])
    picks = found.get("poll")
    fig.add_trace(go.Bar(x=labels, y=[(picks or {}).get(c["value"], 0) for c in found["cells"]],
                         marker_color=[colour(i) for i in range(len(labels))], name="picks", showlegend=False,
                         hovertemplate="%{x}: %{y} picks<extra></extra>"), row=1, col=2)
    if not picks:
        fig.add_annotation(text="hidden until the poll locks", xref="x2 domain", yref="y2 domain", x=0.5, y=0.5,
                           showarrow=False, font=dict(size=20 if large else 13, color="#616e7c"))
    size = 22 if large else 13
    fig.update_xaxes(**categories(labels), tickfont=dict(size=size))
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=1, tickfont=dict(size=size))
    fig.update_yaxes(rangemode="tozero", dtick=1, row=1, col=2, tickfont=dict(size=size))
    fig.update_layout(height=640 if large else 420, margin=dict(l=10, r=10, t=50, b=10), showlegend=False,
                      font=dict(size=size))
    return fig


def _metric_title(metric: str) -> str:
    return "held-out accuracy per run" if metric == "holdout_accuracy" else "test accuracy per run"


def _dots(fig: go.Figure, cell: dict, label: str, index: int) -> None:
    done = [r for r in cell["runs"] if r["accuracy"] is not None]
    offsets = [(j - (len(done) - 1) / 2) * 0.06 for j in range(len(done))]  # spread repeats side by side
    others = [(o, r) for o, r in zip(offsets, done) if not r["mine"]]
    fig.add_trace(go.Scatter(
        x=[label] * len(others), y=[r["accuracy"] for _, r in others], mode="markers", showlegend=False,
        marker=dict(size=11, color=colour(index), opacity=0.75, line=dict(width=1, color="white")),
        hovertemplate="%{y:.0%}<extra></extra>"), row=1, col=1)
    mine = [r for r in done if r["mine"]]
    if mine:
        fig.add_trace(go.Scatter(
            x=[label], y=[mine[0]["accuracy"]], mode="markers+text", text=["your run"], textposition="middle right",
            marker=dict(size=20, symbol="star", color=colour(index), line=dict(width=2, color=MEAN)),
            showlegend=False, hovertemplate="your run: %{y:.0%}<extra></extra>"), row=1, col=1)


def _mean(fig: go.Figure, cell: dict, label: str) -> None:
    if cell["mean"] is None:
        return
    interval = cell["low"] is not None
    fig.add_trace(go.Scatter(
        x=[label], y=[cell["mean"]], mode="markers", showlegend=False,
        marker=dict(size=16, symbol="line-ew-open", color=MEAN, line=dict(width=4, color=MEAN)),
        error_y=dict(type="data", symmetric=False, array=[cell["high"] - cell["mean"]] if interval else [0],
                     arrayminus=[cell["mean"] - cell["low"]] if interval else [0], thickness=2, width=14,
                     color=MEAN, visible=interval),
        hovertemplate=(f"mean %{{y:.0%}}, 95% interval {cell['low']:.0%} to {cell['high']:.0%}<extra></extra>"
                       if interval else "one run so far: %{y:.0%}<extra></extra>")), row=1, col=1)


def learning_curves(curves: list[dict], values: list[str], labels: dict[str, str]) -> go.Figure:
    """Validation accuracy per epoch, one line per run, coloured by its value; the viewer's run thicker."""
    fig = go.Figure()
    shown: set[str] = set()
    for curve in curves:
        color, dash, symbol = style(values.index(curve["value"]) if curve["value"] in values else 0)
        fig.add_trace(go.Scatter(
            x=curve["epoch"], y=curve["val_accuracy"], mode="lines+markers", name=labels[curve["value"]],
            legendgroup=curve["value"], showlegend=curve["value"] not in shown, marker=dict(symbol=symbol, size=8),
            line=dict(color=color, dash=dash, width=4 if curve["mine"] else 1.5), opacity=1 if curve["mine"] else 0.6))
        shown.add(curve["value"])
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="epoch",
                      yaxis=dict(title="validation accuracy", tickformat=".0%", range=[0, 1.02]),
                      legend=dict(orientation="h"))
    return fig
