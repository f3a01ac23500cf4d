"""Sharing a run by link, on the Predict and Runs pages: the owner makes a link (shown once, with its QR
code), sees their links and turns one off; a teacher viewing a student's run sees whether the student
shared it, and cannot make a link for them. What a link opens is views/shared.py."""
from __future__ import annotations

import datetime

import streamlit as st

from core.errors import UserError
from core.runs import shares
from ui import classroom, runs, state


@st.fragment  # its buttons redraw the panel, not the page under it
def panel(run_id: str) -> None:
    with st.expander("Share this model by link", icon=":material/share:"):
        student = runs.student_of(run_id)
        if student:
            _students_links(run_id, student)
            return
        st.caption(f"Anyone with the link can try this model on their own pictures (camera or upload) and see its "
                   f"classes and test accuracy: nothing else of your workspace, no training images, no export. At "
                   f"most {shares.LIMIT} pictures a minute per link. The link is shown once; turn it off below at any time.")
        if st.button("Create a share link", key=f"share-create-{run_id}", icon=":material/add_link:"):
            try:
                st.session_state[f"share-made:{run_id}"] = shares.create(run_id, state.token(), classroom.public_url())
            except UserError as exc:
                st.error(str(exc))
        made = st.session_state.get(f"share-made:{run_id}")
        if made:
            _new_link(made)
        _own_links(run_id)


def _new_link(made: dict) -> None:
    left, right = st.columns([3, 1])
    left.markdown("**Your new link** (copy it now: it is not shown again)")
    left.code(made["url"], language=None)
    with left:
        classroom.loopback_warning(made["url"])
    right.image(classroom.qr_png(made["url"]), width=180, caption="QR code: scan to try it")


def _own_links(run_id: str) -> None:
    for link in shares.links(state.token(), run_id):
        line = f"Link `{link['id']}`, made {_when(link['created'])}"
        if not link["active"]:
            st.caption(f"{line}: turned off {_when(link['revoked'])}.")
            continue
        left, right = st.columns([3, 1])
        left.markdown(f"{line}: open.")
        if right.button("Turn off", key=f"share-revoke-{link['id']}"):
            shares.revoke(link["id"], state.token())
            made = st.session_state.get(f"share-made:{run_id}")
            if made and shares.digest(made["token"]).startswith(link["id"]):
                del st.session_state[f"share-made:{run_id}"]
            st.rerun()


def _students_links(run_id: str, student: str) -> None:
    """The teacher's view: the student's links' state, never the links (only the student holds them)."""
    open_links = [link for link in shares.links(student, run_id) if link["active"]]
    if not open_links:
        st.info("The student has not shared this run. Only they can make a link to it.")
        return
    st.info(f"The student shared this run: {len(open_links)} open link{'s' if len(open_links) != 1 else ''}, the "
            f"latest made {_when(open_links[0]['created'])}. The link itself is theirs to give out.")


def _when(stamp: float) -> str:
    return datetime.datetime.fromtimestamp(stamp).strftime("%d %b %Y, %H:%M")
