"""Your runs: history, reopen one in Evaluate or Predict, share a finished one by link, delete one (files
and rows)."""
import streamlit as st

from core.errors import UserError
from core.runs import queue
from ui import runs, share, state, words

st.title("Runs")
owner = state.token()
rows = queue.runs(owner)
if not rows:
    st.info("No runs yet.")
    st.stop()
table = words.table(rows[:100], {"created": "submitted", "status": "status", "role": "role", "backbone": "backbone",
                                "scenario": "scenario", "dataset": "dataset", "val_accuracy": "validation accuracy",
                                "test_accuracy": "test accuracy", "seconds": "training time"},
                    {"created": words.started, "role": words.role, "val_accuracy": words.percent, "test_accuracy": words.percent,
                     "seconds": words.duration})
st.table(table.set_index("submitted"))
ids = [r["id"] for r in rows]
chosen = st.selectbox("Run", ids, index=ids.index(runs.opening(rows, st.query_params.get("run"))), key="runs_pick",
                      format_func=lambda i: words.run_label(next(r for r in rows if r["id"] == i)))
c1, c2, c3, c4 = st.columns(4)
c1.page_link("views/train.py", label="Watch", icon=":material/monitoring:", query_params=runs.link_params(chosen))
c2.page_link("views/evaluate.py", label="Evaluate", icon=":material/insights:", query_params=runs.link_params(chosen))
c3.page_link("views/predict.py", label="Predict", icon=":material/image_search:", query_params=runs.link_params(chosen))
if c4.button("Delete", key="delete"):
    try:
        queue.delete_run(chosen, owner)
        st.rerun()
    except UserError as exc:
        st.error(str(exc))
if next(r["status"] for r in rows if r["id"] == chosen) == "succeeded":
    share.panel(chosen)
