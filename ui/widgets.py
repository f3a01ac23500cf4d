"""Small Streamlit helpers shared by pages."""
from __future__ import annotations

import dataclasses

import streamlit as st

from core import models, presets
from core.errors import UserError
from core.runs import admission as policy
from ui import state


def chart(fig, words: str, slot=st, **plotly_kwargs):
    """A Plotly chart with its key numbers in one sentence right under it (issue 33): a screen reader gets no
    text from the chart's canvas, and the sentence is visible, so it helps everyone. `slot` is where both go
    (a column, a tab); the kwargs go to `plotly_chart` unchanged (keys and selections are what tests click by).
    Returns the chart's selection event, as `plotly_chart` does."""
    event = slot.plotly_chart(fig, **plotly_kwargs)
    slot.caption(words)
    return event


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


def initial(key: str, value):
    """A widget's starting value, given only while the session holds none for its key. A callback that sets
    the key (the LR finder's "Use this learning rate") would otherwise meet a default as well, and
    Streamlit logs a warning about the pair on the server."""
    return None if key in st.session_state else value


# Streamlit's dropzone prints the limit in decimal units with no digits: 512 MB shows as "1GB per file"
# (seen in Chromium; it moves up a unit past half of it). The pages hide that line and say upload_limit().
_HIDE_DROPZONE_LIMIT = "<style>[data-testid='stFileUploaderDropzoneInstructions'] {display: none;}</style>"


def upload_limit() -> str:
    """The per-file limit the server enforces, from its own option (server.maxUploadSize in
    .streamlit/config.toml, in MB), as a sentence; hides Streamlit's wrong rounding of it."""
    st.html(_HIDE_DROPZONE_LIMIT)  # style only: Streamlit puts it out of the page's flow
    return f"Up to {st.get_option('server.maxUploadSize')} MB per file."


def text_form(key: str, button: str, fields: dict[str, dict], *, button_key: str,
              widths: list[float] | None = None, optional: tuple[str, ...] = (),
              clear: bool = False) -> dict[str, str] | None:
    """Text fields and their button in one st.form; the typed values on submit, else None.

    Outside a form a text input sends its value only on Enter or blur, so a button disabled until the
    text arrived ignored the click that blurred the field: people typed, clicked, and had to click again.
    In a form the click (or Enter in any field) submits every field at once. `fields` maps a name to
    st.text_input's arguments; a field not in `optional` is required, and an empty one is named in a warning.
    `clear` empties the fields after a submit (for a list that grows one name at a time).
    """
    with st.form(key, border=False, enter_to_submit=True, clear_on_submit=clear):
        slots = st.columns(widths, vertical_alignment="bottom") if widths else [st] * (len(fields) + 1)
        values = {name: slot.text_input(**spec) for (name, spec), slot in zip(fields.items(), slots)}
        pressed = slots[-1].form_submit_button(button, key=button_key)
    if not pressed:
        return None
    missing = [fields[name]["label"] for name, value in values.items()
               if name not in optional and not value.strip()]
    if missing:
        st.warning(f"Fill in {' and '.join(missing)} first.")
        return None
    return values


def set_balance(option: str) -> None:
    """A callback: the draft trains with this `train.class_balance` option."""
    cfg = state.config()
    state.save(cfg.replace(train=dataclasses.replace(cfg.train, class_balance=option)))
