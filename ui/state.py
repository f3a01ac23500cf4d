"""Wizard state that survives page switches and browser refreshes.

The URL carries one token (`?s=...`): it names the draft RunConfig kept in the store and is the
owner token of this person's runs. Session state only caches what the store holds.
"""
from __future__ import annotations

import dataclasses

import streamlit as st

from core.config import RunConfig
from core.data import store as data_store
from core.runs import drafts

STEPS = drafts.STEPS  # the wizard's steps, as a draft records them
TITLES = {"scenario": "Scenario", "backbone": "Backbone", "data": "Data", "layers": "Layers & head"}


def token() -> str:
    """This browser's token: from the session, else the URL, else a new draft."""
    current = st.session_state.get("token")
    if not current:
        from_url = st.query_params.get("s")
        current = from_url if drafts.valid_token(from_url) and drafts.load(from_url) else drafts.new()
        st.session_state["token"] = current
    if st.query_params.get("s") != current and not st.session_state.get("projector"):  # a projector shows no token
        st.query_params["s"] = current
    return current


def switch_token(new: str) -> None:
    """This browser becomes the workspace `new` (a student who just joined a class)."""
    st.session_state["token"] = new
    st.query_params["s"] = new


def _loaded() -> tuple[RunConfig, dict]:
    key = f"draft:{token()}"
    if key not in st.session_state:
        st.session_state[key] = drafts.load(token()) or (RunConfig(), {})
    return st.session_state[key]


def config() -> RunConfig:
    return _loaded()[0]


def wizard_state() -> dict:
    return _loaded()[1]


def save(new_config: RunConfig | None = None, **state_changes) -> RunConfig:
    cfg, state = _loaded()
    cfg = new_config or cfg
    state = {**state, **state_changes}
    drafts.save(token(), cfg, state)
    st.session_state[f"draft:{token()}"] = (cfg, state)
    return cfg


def update(**changes) -> RunConfig:
    return save(dataclasses.replace(config(), **changes))


def set_dataset(name: str) -> RunConfig:
    """The draft trains on `name`, with its task (several labels per image, or one class per image)."""
    cfg = config()
    task = data_store.dataset_task(name, token())
    return save(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dataset=name)).with_task(task))


def mark_done(step: str) -> None:
    if not wizard_state().get(step):
        save(**{step: True})


def done(step: str) -> bool:
    return bool(wizard_state().get(step))


def next_step() -> str | None:
    return next((s for s in STEPS if not done(s)), None)
