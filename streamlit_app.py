"""TransferLab entry point. The full wizard (st.navigation over pages/) comes with the UI issue;
for now the app starts and shows the steps and the four scenarios that exist in `core`."""
import streamlit as st

from core import scenarios

st.set_page_config(page_title="TransferLab", page_icon="🧪", layout="wide")
st.title("TransferLab")
st.write("Transfer learning on images, step by step: pick a scenario and a pretrained backbone, "
         "bring images, choose what stays frozen and what new head is added, train, evaluate, predict.")

st.subheader("Steps")
for number, (step, state) in enumerate([
    ("Scenario", "ready in core (python -m core scenarios)"),
    ("Backbone", "ready in core (python -m core backbones / describe)"),
    ("Data", "coming next"), ("Layers & head", "ready in core (freeze plans, heads)"),
    ("Train", "coming next"), ("Evaluate", "coming next"), ("Predict", "ready for ImageNet (python -m core imagenet)"),
], start=1):
    st.markdown(f"{number}. **{step}** — {state}")

st.subheader("The four scenarios")
cols = st.columns(2)
for i, info in enumerate(scenarios.SCENARIOS.values()):
    with cols[i % 2].container(border=True):
        st.markdown(f"**{info.code} · {info.title}** — {info.strategy}")
        st.caption(info.explanation)
        st.markdown(f"*Freezing:* {info.freezing}  \n*Learning rate:* {info.learning_rate}")
