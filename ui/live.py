"""A Train page's view of running jobs: each poll reads only metric rows newer than the last one
seen (an `after_id` cursor per run, kept in the session), never the whole run again."""
from __future__ import annotations

import streamlit as st

from core.jobs import store

STEP_POINTS = 300  # step rows kept per run: the step charts show the recent window only


def events(run_id: str) -> list[dict]:
    """Every event of the run so far (step events: the last STEP_POINTS), reading only new rows."""
    seen = st.session_state.setdefault(f"events:{run_id}", {"after": 0, "rows": [], "steps": []})
    new = store.metrics(run_id, after_id=seen["after"])
    if new:
        seen["after"] = new[-1]["id"]
        seen["rows"] += [e for e in new if e["event"] != "step"]
        seen["steps"] = (seen["steps"] + [e for e in new if e["event"] == "step"])[-STEP_POINTS:]
    return seen["rows"] + seen["steps"]


def epochs(run_id: str) -> list[dict]:
    return [e for e in events(run_id) if e["event"] == "epoch"]


def steps(run_id: str) -> list[dict]:
    return st.session_state.get(f"events:{run_id}", {}).get("steps", [])
