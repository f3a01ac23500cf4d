"""The teacher's page: create a class or open one with its teacher key (kept in this session only,
never in the URL), then watch the class live, act on the queue, publish datasets, set the rules,
upload a held-out set, see and limit the class's space and jobs, and put the join URL and QR code on the
projector."""
import streamlit as st

from core.classroom import classes
from ui import classroom, usage

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
chosen = st.selectbox("Class", [c["id"] for c in mine], key="teacher_class",
                      format_func=lambda i: next(f"{c['name']} · join code {c['join_code']}" for c in mine if c["id"] == i))
current = next(c for c in mine if c["id"] == chosen)
classroom.sign_out_button()

tab_live, tab_queue, tab_board, tab_setup, tab_join = st.tabs(["Students", "Queue", "Leaderboard", "Setup", "Join"],
                                                              key="teacher_tab", on_change=classroom.on_tab_change)
with tab_live:
    classroom.live_students(chosen, key)
with tab_queue:
    classroom.live_queue(chosen, key)
with tab_board:
    classroom.leaderboard(chosen, key)
with tab_setup:
    classroom.setup(chosen, key)
    usage.class_panel(chosen, key)
with tab_join:
    classroom.join_panel(current)
