"""The teacher's page: create a class or open one with its teacher key (kept in this session only,
never in the URL), then watch the class live, act on the queue, publish datasets, set the rules,
upload a held-out set, see and limit the class's space and jobs, run one experiment with the whole class
(its chart also in a projector view), and put the join URL and QR code on the projector."""
import streamlit as st

from core.classroom import classes
from ui import classroom, experiment_teacher, usage

st.title("Teacher")
key = st.session_state.get("teacher_key")
if not key:
    classroom.sign_in()
    st.stop()
mine = classes.of_key(key)
if not mine:
    st.warning("No class opens with this key.")
    classroom.sign_out_button()
    st.stop()
if st.session_state.get(experiment_teacher.PROJECTOR):  # the chart alone: no key, no token, no sidebar
    shown = st.session_state.get("teacher_class")
    experiment_teacher.projector(shown if shown in {c["id"] for c in mine} else mine[0]["id"], key)
    st.stop()
chosen = st.selectbox("Class", [c["id"] for c in mine], key="teacher_class",
                      format_func=lambda i: next(f"{c['name']} · join code {c['join_code']}" for c in mine if c["id"] == i))
current = next(c for c in mine if c["id"] == chosen)
classroom.sign_out_button()

tab_live, tab_queue, tab_board, tab_experiment, tab_setup, tab_join = st.tabs(
    ["Students", "Queue", "Leaderboard", "Experiment", "Setup", "Join"], key="teacher_tab",
    on_change=classroom.on_tab_change)
with tab_live:
    classroom.live_students(chosen, key)
with tab_queue:
    classroom.live_queue(chosen, key)
with tab_board:
    classroom.leaderboard(chosen, key)
with tab_experiment:
    experiment_teacher.panel(chosen, key)
with tab_setup:
    classroom.setup(chosen, key)
    usage.class_panel(chosen, key)
with tab_join:
    classroom.join_panel(current)
