"""TransferLab: the router. Pages live in views/ (a folder named pages/ would also be listed by
Streamlit's older automatic navigation when a page URL is opened directly), shared Streamlit pieces
in ui/, the engine in core/."""
import streamlit as st

from core.paths import resource_error
from ui import experiment, resume, sidebar, state, warm

st.set_page_config(page_title="TransferLab", page_icon=":material/science:", layout="wide")

PAGES = {
    "Start": [st.Page("views/home.py", title="Home", icon=":material/home:", default=True)],
    "Build the model": [
        st.Page("views/scenario.py", title="1 · Scenario", icon=":material/explore:"),
        st.Page("views/backbone.py", title="2 · Backbone", icon=":material/account_tree:"),
        st.Page("views/data.py", title="3 · Data", icon=":material/photo_library:"),
        st.Page("views/layers.py", title="4 · Layers & head", icon=":material/layers:"),
    ],
    "Train and use it": [
        st.Page("views/train.py", title="5 · Train", icon=":material/monitoring:"),
        st.Page("views/evaluate.py", title="6 · Evaluate", icon=":material/insights:"),
        st.Page("views/predict.py", title="7 · Predict", icon=":material/image_search:"),
        st.Page("views/export.py", title="8 · Export", icon=":material/download:"),
        st.Page("views/runs.py", title="Runs", icon=":material/history:"),
    ],
    "Class": [st.Page("views/experiment.py", title="Class experiment", icon=":material/science:"),
              st.Page("views/teacher.py", title="Teacher", icon=":material/school:")],
}


SHARED = st.Page("views/shared.py", title="Shared model", icon=":material/share:", default=True)


def main() -> None:
    if st.query_params.get("share"):  # a share link: its one page and nothing of any workspace (no token made)
        st.navigation([SHARED], position="hidden").run()
        return
    warm.start()  # once per server process, in the background: registry facts and stage maps
    resume.check()  # before the token: a bare URL in a browser that remembers a workspace is offered it back
    state.token()  # the draft/owner token, kept in the URL so a refresh finds this person's work again
    experiment.fill_draft()  # a student in a class experiment: their value filled in, once per experiment
    projector = bool(st.session_state.get("projector"))  # the Teacher page's chart alone, on a projector
    page = st.navigation(PAGES, position="hidden" if projector else "sidebar")
    if not projector:
        sidebar.render()
    resume.offer()
    page.run()


try:
    main()
except Exception as exc:  # a full disk, a read-only data home, memory: a message to act on, not a traceback
    explained = resource_error(exc)
    if explained is None:
        raise
    st.error(str(explained))
