"""Which run a results page shows, and whose it is: `?run=` in the URL, else the wizard's last run.
A teacher's session may open a run of their class's students, read-only; anyone else's run is
"not yours"."""
from __future__ import annotations

import streamlit as st

from core.classroom import teacher
from core.runs import queue
from ui import state, words


def pick(statuses: tuple[str, ...] = ("succeeded",), label: str = "Run") -> str | None:
    asked = st.query_params.get("run")
    if asked and student_of(asked):
        st.info(f"Teacher view: run `{asked}` of one of your students, read-only.")
        return asked
    owner = state.token()
    mine = queue.runs(owner)
    if asked and asked not in [r["id"] for r in mine]:
        st.warning(f"Run `{asked}` is not yours (or was deleted): it belongs to another workspace."
                   + (" Showing your own runs instead." if mine else ""))
    rows = [r for r in mine if r["status"] in statuses]
    if not rows:
        return None
    ids = [r["id"] for r in rows]
    index = ids.index(opening(rows, asked))
    brief = {r["id"]: words.run_label(r) for r in rows}
    chosen = st.selectbox(label, ids, index=index, format_func=brief.get, key="run_pick")
    if st.query_params.get("run") != chosen:
        st.query_params["run"] = chosen
    return chosen


def opening(rows: list[dict], asked: str | None = None) -> str:
    """The run a page opens on: the one asked for (URL), else the wizard's last, else the newest main run.
    Companions are created after their main run, so 'newest first' opened on the from-scratch baseline."""
    ids = [r["id"] for r in rows]
    for wanted in (asked, state.wizard_state().get("run")):
        if wanted in ids:
            return wanted
    return next((r["id"] for r in rows if r["role"] == "main"), ids[0])


def student_of(run_id: str) -> str | None:
    """In a teacher's session: the student who owns `run_id` when it is a run of the teacher's class."""
    key = st.session_state.get("teacher_key")
    return teacher.viewable_owner(key, run_id) if key else None


def owner_of(run_id: str) -> str:
    """Whose run the page reads: the browser's own, or (teacher view) the student's."""
    return student_of(run_id) or state.token()


def status_of(run_id: str | None) -> str | None:
    """This person's run's status; None for no run, or one that is not theirs (any more)."""
    if not run_id:
        return None
    return next((r["status"] for r in queue.runs(state.token()) if r["id"] == run_id), None)


def link_params(run_id: str) -> dict:
    return {"s": state.token(), "run": run_id}
