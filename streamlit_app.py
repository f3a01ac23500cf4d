"""TransferLab: the router. Pages live in pages/, shared Streamlit pieces in ui/, the engine in core/."""
import streamlit as st

from ui import sidebar, state, warm

st.set_page_config(page_title="TransferLab", page_icon=":material/science:", layout="wide")
warm.start()  # once per server process, in the background: registry facts and stage maps
state.token()  # the draft/owner token, kept in the URL so a refresh finds this person's work again

PAGES = {
    "Start": [st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)],
    "Build the model": [
        st.Page("pages/scenario.py", title="1 · Scenario", icon=":material/explore:"),
        st.Page("pages/backbone.py", title="2 · Backbone", icon=":material/account_tree:"),
        st.Page("pages/data.py", title="3 · Data", icon=":material/photo_library:"),
        st.Page("pages/layers.py", title="4 · Layers & head", icon=":material/layers:"),
    ],
    "Train and use it": [
        st.Page("pages/train.py", title="5 · Train", icon=":material/monitoring:"),
        st.Page("pages/evaluate.py", title="6 · Evaluate", icon=":material/insights:"),
        st.Page("pages/predict.py", title="7 · Predict", icon=":material/image_search:"),
        st.Page("pages/export.py", title="8 · Export", icon=":material/download:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
    ],
    "Class": [st.Page("pages/teacher.py", title="Teacher", icon=":material/school:")],
}
page = st.navigation(PAGES)
sidebar.render()
page.run()
