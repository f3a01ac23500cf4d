"""A person's, and a class's, room on the server: usage against the limits, in words (Data, Train and
Teacher pages), and the teacher's form for the class's limits."""
from __future__ import annotations

import streamlit as st

from core.classroom import teacher
from core.data import quotas
from core.errors import UserError
from core.runs import admission
from ui import words

LIMIT_LABELS = {"max_mb": "Stored MB, all students together", "max_images": "Images, all students together",
                "max_jobs": "Queued or running jobs, all students together"}


def caption(owner: str) -> None:
    """One line under a page's heading: "Your space: 12 MB of 2 GB stored · …", the class's beside it, and a
    warning when the server's disk is below its free-space floor."""
    room = admission.room(owner)
    said = [f"Your space: {room['you']['words']}."]
    said += [f"Your class together: {r['words']}." for r in room["classes"].values()]
    st.caption(" ".join(said))
    if room["free_bytes"] < room["min_free_bytes"]:
        st.warning(f"The server's disk is nearly full ({words.size(room['free_bytes'])} free): new uploads and "
                   "training wait until space is freed. Everything stored can still be viewed.")


def class_panel(class_id: str, key: str) -> None:
    """The Teacher page: the class's usage against its limits, each student's against theirs, and the limits."""
    found = teacher.usage(class_id, key)
    with st.container(border=True):
        st.markdown("**Space and jobs** (limits for all students together)")
        st.caption(f"The class: {found['words']}.")
        rows = [{"student": s["student"], "use": s["words"]} for s in found["students"]]
        if rows:
            st.dataframe(words.table(rows, {"student": "student", "use": "uses (against the limits per person)"}),
                         hide_index=True, width="stretch", key="usage_table")
        limits_form(class_id, key, found["limits"])


def limits_form(class_id: str, key: str, current: dict) -> None:
    columns = st.columns(len(quotas.FIELDS))
    chosen = {}
    for column, name in zip(columns, quotas.FIELDS):  # "no limit" is a switch: a 0 that meant it read as zero
        limited = column.toggle(f"Limit: {LIMIT_LABELS[name].lower()}", value=bool(current[name]),
                                key=f"limited_{name}", help="off: no class limit (each student's own still applies)")
        if limited:
            chosen[name] = int(column.number_input(LIMIT_LABELS[name], min_value=1, value=int(current[name] or 1),
                                                   step=1, key=f"limit_{name}"))
        else:
            column.caption("No class limit.")
            chosen[name] = None
    if st.button("Save the limits", key="limits_save"):
        try:
            teacher.set_rules(class_id, key, chosen, {})
            st.rerun()
        except UserError as exc:
            st.error(str(exc))
