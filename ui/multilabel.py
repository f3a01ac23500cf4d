"""A multi-label run on the Evaluate page: mean average precision, every label right, and per label its
measures at its threshold with how that threshold was set (`core.training.multilabel`)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import words

SPLIT_NAMES = {"test": "test", "val": "validation"}


def evaluation(report: dict, run_id: str) -> None:
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
    st.caption(f"The report and the per-label numbers are also on the command line: `python -m core evaluate "
               f"--run {run_id}`.")
