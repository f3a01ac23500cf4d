"""A multi-label run on the Evaluate page: mean average precision, every label right, per label its measures at
its threshold with how that threshold was set, and per label a precision–recall curve with the chosen threshold
marked and a slider to try another (the figures follow). The numbers come from `core.training.multilabel`."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.training import multilabel
from ui import cached, figures, widgets, words

SPLIT_NAMES = {"test": "test", "val": "validation"}


def evaluation(report: dict, run_id: str, records: dict | None = None) -> None:
    """`records`: the run's pinned images by id (the pictures a label missed or wrongly added are shown)."""
    split = SPLIT_NAMES.get(report["split"], report["split"])
    m1, m2, m3 = st.columns(3)
    m1.metric(f"{split} mean average precision", words.percent(report["map"]))
    m2.metric("every label right", words.percent(report["subset_accuracy"]),
              help="images whose labels were all said right: none missed, none added")
    m3.metric("images", report["images"])
    st.caption("Several labels per image: each label is a yes or no of its own, at a threshold chosen on the "
               f"validation images (best F1). {report.get('none_of_the_labels', 0)} of the {split} images carry none "
               "of the labels.")
    st.dataframe(pd.DataFrame([{"label": x["label"], "AP": words.percent(x["ap"]), "precision": words.percent(x["precision"]),
                                "recall": words.percent(x["recall"]), "F1": words.percent(x["f1"]),
                                "threshold": f"{x['threshold']:.2f}", f"{split} images with it": x["support"],
                                "how the threshold was set": x.get("threshold_note", "")} for x in report["per_label"]]),
                 hide_index=True, width="stretch")
    mistakes_together(report)
    if report["predictions"] and "probs" in report["predictions"][0]:
        curve_of_one_label(report, split, run_id, records or {})
    st.caption(f"The per-label numbers are also on the command line: `python -m core evaluate --run {run_id}`.")


def mistakes_together(report: dict) -> None:
    """Which labels' mistakes come together: per label missed (rows), how often each other label was wrongly
    added to the same image (columns), at the run's thresholds."""
    names = [x["label"] for x in report["per_label"]]
    pairs = multilabel.mistake_pairs(report["predictions"], len(names))
    if not any(any(row) for row in pairs):
        st.caption("No image had one label missed and another wrongly added at the chosen thresholds.")
        return
    st.markdown("**Mistakes that come together**: images where the row's label was missed and the column's "
                "label wrongly added")
    st.dataframe(pd.DataFrame(pairs, index=[f"missed {n}" for n in names], columns=[f"added {n}" for n in names]),
                 width="stretch")


def curve_of_one_label(report: dict, split: str, run_id: str, records: dict) -> None:
    """One label's precision–recall curve on the held-out images; a slider moves its threshold and the
    precision, recall and F1 below it follow (the run keeps its own threshold: this only shows what another
    would do)."""
    st.subheader("One label: precision and recall against its threshold")
    names = [x["label"] for x in report["per_label"]]
    left, right = st.columns([1, 2])
    name = left.selectbox("Label", names, key=f"ml_label:{run_id}")
    index, row = names.index(name), report["per_label"][names.index(name)]
    scores = np.array([p["probs"][index] for p in report["predictions"]])
    truth = np.array([index in p["true"] for p in report["predictions"]])
    chosen = float(row["threshold"])
    moved = left.slider("Threshold", 0.0, 1.0, round(chosen, 2), 0.01, key=f"ml_threshold:{run_id}:{name}")
    measured = multilabel.at_threshold(scores >= moved, truth)
    left.metric("precision", words.percent(measured["precision"]))
    left.metric("recall", words.percent(measured["recall"]))
    left.metric("F1", words.percent(measured["f1"]))
    said = (f"{name} on {len(scores)} {split} images ({int(truth.sum())} carry it): at threshold {moved:.2f} precision "
            f"{words.percent(measured['precision'])}, recall {words.percent(measured['recall'])}, F1 "
            f"{words.percent(measured['f1'])}; at the chosen {chosen:.2f}: precision {words.percent(row['precision'])}, "
            f"recall {words.percent(row['recall'])}.")
    widgets.chart(_figure(multilabel.pr_curve(scores, truth), row, (moved, measured)), said, right, width="stretch",
                  key=f"ml_pr:{run_id}:{name}")
    ids = [p["image_id"] for p in report["predictions"]]
    on = scores >= moved
    for title, picked in ((f"Missed: carry {name}, not said at {moved:.2f}", truth & ~on),
                          (f"Wrongly added: said {name} at {moved:.2f}, not carrying it", on & ~truth)):
        shown = [(ids[i], scores[i]) for i in np.flatnonzero(picked) if ids[i] in records][:24]
        with st.expander(f"{title} ({int(picked.sum())})"):
            if shown:
                st.image([cached.thumbnail(records[i].sha256) for i, _ in shown], width=96,
                         caption=[f"{records[i].original.split('/')[-1]}: {name} {q:.2f}" for i, q in shown])
            else:
                st.caption("No image at this threshold.")


def _figure(curve: dict, row: dict, moved: tuple[float, dict]) -> go.Figure:
    fig = go.Figure(go.Scatter(x=curve["recall"], y=curve["precision"], mode="lines+markers", name="precision–recall",
                               line=dict(color=figures.TRAINABLE, shape="hv"), customdata=curve["threshold"],
                               hovertemplate="threshold %{customdata:.2f}: recall %{x:.0%}, precision %{y:.0%}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[row["recall"]], y=[row["precision"]], mode="markers", name="chosen threshold",
                             marker=dict(symbol="star", size=16, color=figures.OKABE_ITO["vermillion"])))
    threshold, measured = moved
    fig.add_trace(go.Scatter(x=[measured["recall"]], y=[measured["precision"]], mode="markers",
                             name=f"threshold {threshold:.2f}", marker=dict(symbol="diamond-open", size=14,
                                                                            color=figures.OKABE_ITO["orange"])))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="recall", yaxis_title="precision",
                      xaxis=dict(range=[0, 1.02], tickformat=".0%"), yaxis=dict(range=[0, 1.02], tickformat=".0%"))
    return fig
