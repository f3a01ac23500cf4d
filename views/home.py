import concurrent.futures
import os

import streamlit as st

from core import scenarios
from core.classroom import classes
from core.execute import service
from core.recipes import demo
from ui import classroom, experiment, state, words

st.title("TransferLab")
member = classes.membership(state.token())
if member:
    st.success(f"You are **{member['name']}** in class **{member['class_name']}**: your work is private to you "
               "(your teacher sees your runs' results).")
    part = experiment.mine()
    if part:
        st.page_link("views/experiment.py", label=f"Your class runs an experiment and you train {part['words']}: "
                     "predict the winner, then see the results", icon=":material/science:",
                     query_params={"s": state.token()})
elif st.query_params.get("join") or st.toggle(classroom.JOIN_TOGGLE, key="join_toggle"):
    classroom.join_form()
st.write("Transfer learning on images, step by step. A network pretrained on millions of photos already "
         "knows edges, textures and object parts; you remove its last layer, keep what should stay frozen, "
         "add a new head for **your** classes and train only what your data can support.")
cols = st.columns(4)
for col, (step, text) in zip(cols, [
        ("1 · Scenario", "How much data, and how much like everyday photos? That decides what to freeze."),
        ("2 · Backbone", "Pick a pretrained network; see its stages, size and speed here."),
        ("3 · Data", "Upload images per class, a folder, a zip, camera shots, or pick a sample."),
        ("4 · Layers & head", "Freeze stages, design the new head, choose augmentation.")]):
    with col.container(border=True):
        st.markdown(f"**{step}**")
        st.caption(text)
upcoming = state.next_step() or "layers"
st.page_link(f"views/{upcoming}.py", label=f"Start with: {state.TITLES[upcoming]}", icon=":material/arrow_forward:",
             query_params={"s": state.token()})
with st.expander("The four scenarios in one table"):
    st.table([{"scenario": s.code, "data": f"{s.size}, {s.similarity}", "strategy": s.strategy,
               "freezing": s.freezing} for s in scenarios.SCENARIOS.values()])

st.divider()
st.subheader("In a hurry? Run the demo")
shape = demo.shape()
st.caption(f"Loads {shape['images']} offline MNIST digits ({shape['train_per_class']} per class to train on, "
           f"{shape['test']} to test on), measures where they land on "
           "the scenario grid, picks the recommended backbone and preset and trains its new head on the frozen "
           f"backbone: {demo.promise(os.getloadavg()[0], os.cpu_count() or 1)}. Then the whole network "
           f"trains from scratch on the same images for {words.duration(demo.SCRATCH_SECONDS)}, for comparison "
           f"(done about {words.duration(demo.PROMISED_BASELINE_SECONDS)} later); you move on whenever you like.")
if st.button("Run the demo", type="primary", key="demo"):
    # Progress first: starting the worker waited for its imports, 7 s of nothing on the page (issue 29).
    with st.status("Preparing the demo…", expanded=True) as progress:
        bar = st.progress(0.0, text="Starting the trainer and storing the sample…")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            worker = pool.submit(service.ensure_worker)  # its imports overlap with the preparation below
            config, measured = demo.prepare(state.token(), said=lambda text, done: bar.progress(done, text=text))
            bar.progress(0.95, text=f"Your data lands in {config.scenario}; using {config.backbone}. Queuing…")
            worker.result()  # its error, if it could not start, is the page's
        submitted = demo.submit(config, state.token())
        progress.update(label="Demo queued", state="complete")
    state.save(config, run=submitted["run_id"], demo=submitted["run_id"], measured=measured,
               scenario=True, backbone=True, data=True, layers=True)
    st.switch_page("views/train.py", query_params={"s": state.token(), "run": submitted["run_id"]})
