"""A student's part in the class experiment: the wizard opens with their value filled in and locked (the lock
says why), the Train page queues their experiment run, and the Class experiment page holds the prediction
poll and the combined chart (live as runs finish). The chart section is shared with the Teacher page."""
from __future__ import annotations

import streamlit as st

from core.classroom import experiments, poll, questions, results
from core.errors import UserError
from core.execute import service
from ui import chart_words, experiment_chart, state, widgets

LIVE_SECONDS = 5.0
# The wizard's widgets each question fixes: the page draws them disabled and shows the lock
WIDGETS = {"freeze": "freeze", "learning_rate": "learning_rate", "augment": "augment", "backbone": "backbone",
           "pretrained": "backbone", "data_size": "data"}


def mine() -> dict | None:
    """This browser's part in its class's current experiment (None: not a student, or no experiment)."""
    try:
        return experiments.of_student(state.token())
    except UserError:
        return None


def fill_draft() -> None:
    """Once per experiment: the student's draft becomes their experiment run's settings (their value in)."""
    found = mine()
    if found and state.wizard_state().get("experiment") != found["experiment"]:
        state.save(found["config"], experiment=found["experiment"])


def locked(*asked: str) -> bool:
    """On a wizard page: when the student's experiment asks one of `asked`, say so with the lock and why."""
    found = mine()
    if not found or found["question"] not in asked:
        return False
    st.info(f":material/lock: **{questions.TITLES[found['question']].capitalize()}** is fixed: {found['reason']}.",
            icon=None)
    return True


def enforce(config):
    """What a wizard page saves: the student's own choices, with their experiment value kept."""
    return experiments.enforce(config, mine())


# ---- the Train page -----------------------------------------------------------------------------------
def train_box() -> None:
    """The student's experiment run: queue it (exactly the class's settings), or see where it stands."""
    found = mine()
    if not found:
        return
    with st.container(border=True):
        st.markdown(f"**Class experiment**: you train **{found['words']}**. Your run uses the class's settings, so "
                    "the class can compare every value fairly.")
        if found["run_id"]:
            st.caption("Your experiment run is queued or done: see it on the **Class experiment** page.")
        if st.button("Train my experiment run", type="primary", key="experiment_train"):
            try:
                started = experiments.train_mine(state.token())
                service.ensure_worker()
                state.save(run=started["run_id"])
                st.query_params["run"] = started["run_id"]
                st.rerun()
            except UserError as exc:
                st.error(str(exc))


# ---- the Class experiment page --------------------------------------------------------------------------
def poll_form(class_id: str, owner: str | None = None, key: str | None = None) -> None:
    """Pick before the first run finishes; the pick can change until then, and nobody sees others' picks."""
    experiment = experiments.current(class_id)
    seen = poll.view(experiment, owner or poll.TEACHER)
    if seen["locked"]:
        said = f"your pick: **{_words(experiment, seen['mine']['choice'])}**" if seen["mine"] else "you did not pick"
        st.caption(f"The poll is closed ({seen['lock_reason']}); {said}.")
        return
    with st.form("experiment_poll", border=True):
        st.markdown("**Predict first**: which value will win? Others' picks show once the first run finishes.")
        options = experiment["values"]
        current = seen["mine"]["choice"] if seen["mine"] else None
        choice = st.radio("My prediction", options, index=options.index(current) if current in options else None,
                          format_func=lambda v: _words(experiment, v), key="poll_choice", horizontal=True)
        reason = st.text_input("Why? (optional, one line)", value=(seen["mine"] or {}).get("reason", ""),
                               max_chars=poll.MAX_REASON, key="poll_reason")
        if st.form_submit_button("Save my prediction", type="primary"):
            if choice is None:
                st.error("Pick a value first.")
            else:
                try:
                    poll.pick(class_id, choice, reason, owner=owner, key=key)
                    st.success(f"Saved: you predict **{_words(experiment, choice)}**.")
                except UserError as exc:
                    st.error(str(exc))
    st.caption(f"{seen['picks']} pick{'s' if seen['picks'] != 1 else ''} so far.")


def _words(experiment: dict, value: str) -> str:
    return questions.words(experiment["question"], value, experiment["stages"])


@st.fragment(run_every=LIVE_SECONDS)
def live_results(class_id: str, owner: str | None = None, key: str | None = None, large: bool = False) -> None:
    """The combined chart, the verdict and the learning curves, re-read every few seconds."""
    who = results.viewer(class_id, owner, key)
    experiment = experiments.current(class_id)
    if experiment is None:
        st.info("No class experiment yet.")
        return
    found = results.combined(experiment, who)
    done, total = sum(c["finished"] for c in found["cells"]), sum(c["n"] for c in found["cells"])
    st.markdown(f"{'## ' if large else '#### '}{found['title'].capitalize()}: {done} of {total} runs finished")
    widgets.chart(experiment_chart.combined(found, large), chart_words.experiment(found), width="stretch",
                  key="experiment_chart")
    (st.success if done and done == total else st.info)(found["verdict"])
    if found["you"]:
        st.caption(f"You trained {found['you']['words']}: your run is the star.")
    curves = results.curves(experiment, who)
    if curves and not large:
        st.markdown("**Learning curves** (validation accuracy per epoch; each value its own colour, dash and marker)")
        labels = {c["value"]: c["words"] for c in found["cells"]}
        widgets.chart(experiment_chart.learning_curves(curves, experiment["values"], labels),
                      chart_words.experiment_curves(curves, labels), width="stretch", key="experiment_curves")
