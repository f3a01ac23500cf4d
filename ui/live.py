"""A Train page's view of running jobs: each poll reads only metric rows newer than the last one
seen (an `after_id` cursor per run, kept in the session), never the whole run again."""
from __future__ import annotations

import time

import streamlit as st

from core.runs import store

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


# ---- when to redraw -----------------------------------------------------------------------------------
EVENT_REDRAW_SECONDS = 2.0  # new epochs, progress: at most this often (an epoch on cached features takes ms)
STEP_REDRAW_SECONDS = 10.0  # the step charts alone: less often still
QUEUED_REDRAW_SECONDS = 10.0  # a queued run's position and ETA


def drawn(run_ids: list[str]) -> None:
    """The page has just drawn these runs: remember what it showed."""
    st.session_state["drawn"] = {"ids": run_ids, "seen": store.activity(run_ids), "at": time.monotonic()}


def drawn_statuses() -> set[str]:
    """The statuses of the last snapshot: the page watches while any was queued or running there."""
    return {status for status, _, _ in st.session_state.get("drawn", {}).get("seen", {}).values()}


def stale() -> bool:
    """Anything new since the last draw that is worth a redraw now? A status change always is; new
    epochs and events after EVENT_REDRAW_SECONDS; new steps alone after STEP_REDRAW_SECONDS."""
    last = st.session_state.get("drawn")
    if not last:
        return True
    now, age = store.activity(last["ids"]), time.monotonic() - last["at"]
    for run_id, (status, events, steps) in now.items():
        was = last["seen"].get(run_id, (None, 0, 0))
        if status != was[0] or (events != was[1] and age >= EVENT_REDRAW_SECONDS) or \
                (steps != was[2] and age >= STEP_REDRAW_SECONDS) or (status == "queued" and age >= QUEUED_REDRAW_SECONDS):
            return True
    return False
