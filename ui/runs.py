"""Which run a results page shows: `?run=` in the URL, else the wizard's last run."""
from __future__ import annotations

import streamlit as st

from core import jobs
from ui import state


def pick(statuses: tuple[str, ...] = ("succeeded",), label: str = "Run") -> str | None:
    owner = state.token()
    rows = [r for r in jobs.runs(owner) if r["status"] in statuses]
    if not rows:
        return None
    wanted = st.query_params.get("run") or state.wizard_state().get("run")
    ids = [r["id"] for r in rows]
    index = ids.index(wanted) if wanted in ids else 0
    brief = {r["id"]: f"{r['id']} · {r['backbone']} · {r['scenario']} · {r['role']} · test acc "
                      f"{_accuracy(r['test_accuracy'])}" for r in rows}
    chosen = st.selectbox(label, ids, index=index, format_func=brief.get, key="run_pick")
    if st.query_params.get("run") != chosen:
        st.query_params["run"] = chosen
    return chosen


def link_params(run_id: str) -> dict:
    return {"s": state.token(), "run": run_id}


def _accuracy(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
