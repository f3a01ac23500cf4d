"""Continue where you left off, in this browser. The workspace token lives in the URL (`?s=`); a bare
URL used to start an empty workspace, so a person who closed the tab found nothing. Now this browser
keeps its last workspace's token in a cookie, and a bare URL offers it back beside a fresh start.

Streamlit reads cookies (`st.context.cookies`, from this session's own connection) but cannot set one,
so the page sets it with a line of JavaScript. Only a workspace with something in it is remembered:
an empty fresh one never pushes out the one worth coming back to. The cookie is written from this
session's token and read from this browser's request, never through a cache shared by sessions: no
browser is ever offered a token it did not hold itself.
"""
from __future__ import annotations

import streamlit as st

from core.config import RunConfig
from core.runs import drafts
from ui import state

COOKIE = "transferlab_workspace"
KEEP_SECONDS = 90 * 24 * 3600  # a term
OFFER = "resume_offer"  # session key: the remembered token on offer, None once answered (or none)


def check() -> None:
    """At a session's first run, before state.token() puts a new token into a bare URL: what to offer."""
    if OFFER in st.session_state:
        return
    bare = not st.query_params.get("s") and not st.query_params.get("join")
    kept = _cookie() if bare else None
    st.session_state[OFFER] = kept if kept and _worth_continuing(drafts.load(kept)) else None


def offer() -> None:
    """The choice, above the page, until it is made; otherwise keep this browser's workspace."""
    kept = st.session_state.get(OFFER)
    if kept and kept != state.token():
        with st.container(border=True):
            st.markdown("**Welcome back.** This browser was last used with another workspace: its data, settings "
                        "and runs are still there.")
            left, right, _ = st.columns([2, 1, 3])
            left.button("Continue where you left off", type="primary", key="resume_continue", on_click=_continue,
                        args=(kept,))
            right.button("Start fresh", key="resume_fresh", on_click=_answered)
        return
    if _worth_continuing((state.config(), state.wizard_state())):
        _remember(state.token())


def _cookie() -> str | None:
    value = st.context.cookies.get(COOKIE)
    return value if drafts.valid_token(value) else None


def _worth_continuing(draft: tuple[RunConfig, dict] | None) -> bool:
    """Anything in it: a setting changed, a step done, a dataset picked or a run started."""
    return bool(draft) and (draft[0] != RunConfig() or bool(draft[1]))


def _continue(kept: str) -> None:
    state.switch_token(kept)
    _answered()


def _answered() -> None:
    st.session_state[OFFER] = None


def _remember(token: str) -> None:
    """Set the cookie from the page (same-site only; the token is URL-safe base64, nothing to escape)."""
    st.sidebar.html(f"<script>document.cookie = '{COOKIE}={token}; max-age={KEEP_SECONDS}; path=/; "
                    f"SameSite=Strict';</script>", unsafe_allow_javascript=True)
