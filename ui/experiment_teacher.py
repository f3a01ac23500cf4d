"""The Teacher page's Experiment tab: design the class experiment (a question, its values, the dataset), see
who trains what, the poll (locked by the first finished run, or here), launch every run at once, and the
combined chart, also in projector mode (large, no sidebar, no key and no token on screen or in the URL)."""
from __future__ import annotations

import streamlit as st

from core import data
from core.classroom import classes, experiment_report, experiments, poll, questions
from core.data import store as datasets
from core.errors import UserError
from core.execute import service
from ui import experiment

PROJECTOR = "projector"
EXAMPLES = {"freeze": "0,2,4", "pretrained": "yes,no", "data_size": "5,10,20", "augment": "none,light,strong",
            "learning_rate": "0.01,0.001,0.0001", "backbone": "efficientnet_lite0,mobilenet_v3_small"}


def panel(class_id: str, key: str) -> None:
    current = experiments.current(class_id)
    if current:
        overview(class_id, key, current)
    with st.expander("Start a new experiment" if current else "Design the class experiment", expanded=not current):
        design(class_id, key)


def design(class_id: str, key: str) -> None:
    c1, c2 = st.columns(2)
    question = c1.selectbox("Question", questions.QUESTIONS, format_func=lambda q: questions.TITLES[q].capitalize(),
                            key="exp_question")
    values = c2.text_input("Values to compare (2 to 6, separated by commas)", EXAMPLES[question],
                           key=f"exp_values:{question}")
    names = _datasets(class_id, key)
    c3, c4 = st.columns(2)
    dataset = c3.selectbox("Dataset (published to the class)", names, key="exp_dataset") if names else None
    epochs = c4.number_input("Epochs per run", 1, 200, 3, key="exp_epochs")
    if not names:
        st.info("Publish a dataset on the **Setup** tab first: every run of the experiment trains on it.")
    if st.button("Create the experiment", type="primary", key="exp_create", disabled=not names):
        try:
            experiments.create(class_id, key, question, values, dataset, int(epochs))
            st.rerun()
        except UserError as exc:
            st.error(str(exc))


def _datasets(class_id: str, key: str) -> list[str]:
    published = datasets.shared_with(classes.audience(class_id))
    own = [d["name"] for d in data.list_datasets(key) if d["writable"] and not d["name"].startswith("holdout-")]
    return list(dict.fromkeys(published + own))


def overview(class_id: str, key: str, current: dict) -> None:
    said = {v: questions.words(current["question"], v, current["stages"]) for v in current["values"]}
    st.markdown(f"**{questions.TITLES[current['question']].capitalize()}** on **{current['dataset']}**, "
                f"{current['config'].train.total_epochs} epochs per run")
    cells = experiments.summary(current)["cells"]
    st.dataframe([{"value": said[c["value"]], "students": ", ".join(c["students"]) or "nobody yet",
                   "runs": len(c["students"])} for c in cells], hide_index=True, width="stretch", key="exp_cells")
    left, middle, right = st.columns(3)
    if left.button("Launch every run", type="primary", key="exp_launch"):
        try:
            launched = experiments.launch(class_id, key)
            service.ensure_worker()
            st.toast(f"queued {launched['queued']} runs")
            for refused in launched["refused"]:
                st.warning(f"not queued for {refused['student']}: {refused['reason']}")
        except UserError as exc:
            st.error(str(exc))
    if not poll.lock_state(current)[0] and middle.button("Close the poll", key="exp_lock"):
        poll.lock(class_id, key)
        st.rerun()
    right.button("Projector view", key="exp_projector", on_click=_projector, args=(True,))
    experiment.poll_form(class_id, key=key)
    experiment.live_results(class_id, key=key)
    exports(class_id, key)


def exports(class_id: str, key: str) -> None:
    c1, c2 = st.columns(2)
    c1.download_button("Download the results (CSV)", experiment_report.csv_text(class_id, key=key),
                       file_name=f"experiment-{class_id}.csv", key="exp_csv")
    c2.download_button("Download the report (HTML)", experiment_report.html_page(class_id, key=key),
                       file_name=f"experiment-{class_id}.html", key="exp_html")


def _projector(on: bool) -> None:
    """A callback: into projector mode (the URL loses its token) or back out of it."""
    st.session_state[PROJECTOR] = on
    if on:
        st.query_params.pop("s", None)


def projector(class_id: str, key: str) -> None:
    """The chart alone, large: nothing else of the page, the sidebar or the URL shows."""
    st.markdown("<style>[data-testid='stSidebar'], [data-testid='stSidebarCollapsedControl'] {display: none}</style>",
                unsafe_allow_html=True)
    experiment.live_results(class_id, key=key, large=True)
    st.button("Leave the projector view", key="exp_projector_off", on_click=_projector, args=(False,))
