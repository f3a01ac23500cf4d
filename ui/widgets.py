"""Small Streamlit helpers shared by pages."""
from __future__ import annotations

import streamlit as st

from core import models, presets
from core.errors import UserError
from core.jobs import policy
from ui import state


def weights_ready(name: str) -> bool:
    try:
        return models.get(name).weight_status()[0] in presets.USABLE_WEIGHTS
    except UserError:
        return False


def apply_scenario(code: str) -> None:
    """The scenario's preset, keeping the person's backbone, data and head."""
    cfg = state.config()
    preset = presets.preset(code, cfg.backbone, models.stage_count(cfg.backbone), base=cfg)
    state.save(preset.replace(head=cfg.head))


def class_rules() -> policy.Policy | None:
    return policy.for_owner(state.token())


def locked(field: str):
    """The value the class fixed `field` at (scenario, backbone, epochs, batch_size), shown with the
    teacher's reason; None when the field is free."""
    rules = class_rules()
    if rules and field in rules.locks:
        st.info(f":material/lock: **{field.replace('_', ' ')}** is fixed by your teacher at "
                f"**{rules.preset[field]}**: {rules.locks[field]}")
        return rules.preset[field]
    return None


def require_dataset():
    cfg = state.config()
    if not cfg.data.dataset:
        st.info("No dataset yet: add images or pick a sample on the **Data** step first.")
        st.page_link("views/data.py", label="Go to Data", icon=":material/photo_library:", query_params={"s": state.token()})
        st.stop()
    return cfg.data.dataset
