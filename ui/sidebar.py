"""The sidebar: the steps with done/pending marks, the current choices at a glance, continue."""
from __future__ import annotations

import streamlit as st

from ui import classroom, state

PAGE_FILES = {"scenario": "views/scenario.py", "backbone": "views/backbone.py", "data": "views/data.py",
              "layers": "views/layers.py"}


def render() -> None:
    cfg = state.config()
    with st.sidebar:
        st.markdown("### Your run")
        for step in state.STEPS:
            mark = ":material/check_circle:" if state.done(step) else ":material/radio_button_unchecked:"
            st.markdown(f"{mark} {state.TITLES[step]}")
        st.caption(" · ".join([
            f"**{cfg.scenario}**", cfg.backbone, f"data: {cfg.data.dataset or '—'}",
            f"freeze: {_freeze_text(cfg)}", f"head: {_head_text(cfg)}"]))
        upcoming = state.next_step()
        target, title = (PAGE_FILES[upcoming], state.TITLES[upcoming]) if upcoming else ("views/train.py", "Train")
        st.page_link(target, label=f"Continue: {title}", icon=":material/arrow_forward:",
                     query_params={"s": state.token()})
        with st.expander("Open on another device"):
            st.caption("This link opens your workspace anywhere. Anyone who has it sees your work: "
                       "do not share it or show it on a projector.")
            st.code(f"{classroom.public_url()}/?s={state.token()}", language=None)


def _freeze_text(cfg) -> str:
    plan = cfg.freeze
    if plan.mode == "first_k":
        return f"first {plan.k} stages"
    if plan.mode == "explicit":
        return ", ".join(plan.stages)
    return {"none": "nothing", "all_but_head": "all but head"}[plan.mode]


def _head_text(cfg) -> str:
    layers = " → ".join(str(h) for h in cfg.head.hidden)
    return f"{layers} → classes" if layers else "linear"
