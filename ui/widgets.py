"""Small Streamlit helpers shared by pages."""
from __future__ import annotations

import streamlit as st

from core import backbones, scenarios
from core.errors import UserError
from ui import state


def weights_ready(name: str) -> bool:
    try:
        return backbones.get(name).weight_status()[0] in scenarios.AVAILABLE
    except UserError:
        return False


def apply_scenario(code: str) -> None:
    """The scenario's preset, keeping the person's backbone, data and head."""
    cfg = state.config()
    stages = len(backbones.get(cfg.backbone).stage_list())
    preset = scenarios.preset(code, cfg.backbone, stages, base=cfg)
    state.save(preset.replace(head=cfg.head))


def require_dataset():
    cfg = state.config()
    if not cfg.data.dataset:
        st.info("No dataset yet: add images or pick a sample on the **Data** step first.")
        st.page_link("pages/data.py", label="Go to Data", icon=":material/photo_library:", query_params={"s": state.token()})
        st.stop()
    return cfg.data.dataset
