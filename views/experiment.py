"""The class experiment, as a student sees it: their value, the prediction poll (before any run finishes),
their run, and the combined chart of the whole class with their own dot marked."""
import streamlit as st

from core.classroom import classes
from ui import experiment, state

st.title("Class experiment")
member = classes.membership(state.token())
mine = experiment.mine()
if not member or not mine:
    st.info("No class experiment for you yet: when your teacher starts one, your part in it shows here.")
    st.stop()
st.markdown(f"Class **{member['class_name']}** compares **{mine['words']}** against the other values; you train "
            f"**{mine['words']}** (the others train the rest, and repeats differ only in their random seed).")
experiment.poll_form(member["class"], owner=state.token())
experiment.train_box()
experiment.live_results(member["class"], owner=state.token())
