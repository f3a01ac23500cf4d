"""Your runs: history, reopen one in Evaluate or Predict, delete one (files and rows)."""
import pandas as pd
import streamlit as st

from core.errors import UserError
from core.runs import queue
from ui import runs, state

st.title("Runs")
owner = state.token()
rows = queue.runs(owner)
if not rows:
    st.info("No runs yet.")
    st.stop()
table = pd.DataFrame([{"id": r["id"], "status": r["status"], "role": r["role"], "backbone": r["backbone"],
                       "scenario": r["scenario"], "dataset": r["dataset"], "val accuracy": r["val_accuracy"],
                       "test accuracy": r["test_accuracy"], "seconds": r["seconds"]} for r in rows])
st.table(table.head(100).set_index("id"))
chosen = st.selectbox("Run", [r["id"] for r in rows], key="runs_pick")
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
