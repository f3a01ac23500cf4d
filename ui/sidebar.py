"""The sidebar: the steps with done/pending marks, the current choices at a glance, continue."""
from __future__ import annotations

import streamlit as st

from core.scenarios import SCENARIOS
from ui import classroom, runs, state, words

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
            f"scenario **{cfg.scenario}**, {_lower_first(SCENARIOS[cfg.scenario].title)}" if cfg.scenario in SCENARIOS
            else "no scenario yet", f"backbone {cfg.backbone}",
            f"dataset **{cfg.data.dataset}**" if cfg.data.dataset else "no dataset yet",
            f"while fine-tuning: {words.freeze_plan(cfg.freeze, cfg.train.finetune_epochs)}",
            f"head: {_head_text(cfg)}"]))
        target, label = _next()
        st.page_link(target, label=label, icon=":material/arrow_forward:", query_params={"s": state.token()})
        with st.expander("Open on another device"):
            st.caption("This link opens your workspace anywhere. Anyone who has it sees your work: "
                       "do not share it or show it on a projector.")
            st.code(f"{classroom.public_url()}/?s={state.token()}", language=None)
            classroom.loopback_warning(classroom.public_url())


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]  # "Small dataset, similar to ImageNet" inside a sentence


def _next() -> tuple[str, str]:
    """Where the person goes next: the first step not done, else what their latest run calls for."""
    upcoming = state.next_step()
    if upcoming:
        return PAGE_FILES[upcoming], f"Continue: {state.TITLES[upcoming]}"
    status = runs.status_of(state.wizard_state().get("run"))
    if status == "succeeded":
        return "views/evaluate.py", "Next: see how your model does (Evaluate)"
    if status in ("queued", "running"):
        return "views/train.py", "Watch your training"
    return "views/train.py", "Continue: Train"


def _head_text(cfg) -> str:
    layers = " → ".join(str(h) for h in cfg.head.hidden)
    return f"{layers} → classes" if layers else "linear"
