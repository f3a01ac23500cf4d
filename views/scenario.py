"""Step 1: where the data sits on the size × similarity grid, and what that means."""
import streamlit as st

from core import data, scenarios
from ui import cached, chart_words, figures, state, widgets
from ui.widgets import apply_scenario, locked, weights_ready

st.title("1 · Scenario")
st.write("Two questions decide how to transfer: **how many images per class** you have, and **how much they "
         "look like ImageNet photos** (the data the backbone learned from). Click a quadrant or choose below.")


def _grid_clicked(key: str, fixed: str | None) -> None:
    points = st.session_state[key]["selection"]["points"]
    codes = [p["customdata"] for p in points if p.get("customdata") in scenarios.SCENARIOS]
    if codes and not fixed and codes[0] != state.config().scenario:
        apply_scenario(codes[0])


def _radio_changed(fixed: str | None) -> None:
    if not fixed:
        apply_scenario(st.session_state["scenario_choice"])


cfg = state.config()
measured = state.wizard_state().get("measured")

left, right = st.columns([3, 2])
fixed = locked("scenario")
if fixed and fixed != cfg.scenario:  # the class fixed it: the draft follows (with the scenario's preset)
    apply_scenario(fixed)
    cfg = state.config()
# One state: the draft's scenario. The grid and the radio only change it, in their callbacks (before the
# script runs), and both show it. The grid gets a fresh key per scenario, so a selection never outlives
# the click that made it (a kept selection against the radio's other value flipped the page for ever).
grid_key = f"grid-{cfg.scenario}"
with left:
    fig = figures.scenario_grid(scenarios.SCENARIOS, cfg.scenario, scenarios.SMALL_PER_CLASS,
                                scenarios.SIMILAR_CONFIDENCE, measured)
    widgets.chart(fig, chart_words.scenario_grid(scenarios.SCENARIOS, cfg.scenario, measured),
                  on_select=lambda: _grid_clicked(grid_key, fixed), selection_mode="points", key=grid_key, width="stretch")
with right:
    codes = list(scenarios.SCENARIOS)
    st.session_state["scenario_choice"] = fixed or cfg.scenario
    st.radio("Scenario", codes, horizontal=True, key="scenario_choice", disabled=bool(fixed),
             format_func=lambda c: f"{c} · {scenarios.SCENARIOS[c].strategy}",
             on_change=lambda: _radio_changed(fixed))
    info = scenarios.SCENARIOS[fixed or cfg.scenario]
    with st.container(border=True):
        st.markdown(f"#### {info.code} · {info.title}")
        st.write(info.explanation)
        st.markdown(f"**Freezing:** {info.freezing}  \n**Learning rate:** {info.learning_rate}")
    if st.button("Use this scenario", type="primary", key="use_scenario"):
        apply_scenario(info.code)
        state.mark_done("scenario")
        st.rerun()

st.subheader("Measure my data")
if not cfg.data.dataset:
    st.info("Choose or upload a dataset on the **Data** step, then come back to measure where it lands.")
    st.stop()
owner = state.token()
counts = data.class_counts(cfg.data.dataset, owner)
probe = cfg.backbone if weights_ready(cfg.backbone) else "efficientnet_lite0"
st.caption(f"Dataset **{cfg.data.dataset}**: {sum(counts.values())} images in {len(counts)} classes. "
           f"Similarity is measured with **{probe}**'s own ImageNet predictions on a sample.")
if st.button("Measure my data", key="measure"):
    state.save(measured=cached.measure(cfg.data.dataset, owner, probe, cached.dataset_version(cfg.data.dataset, owner)))
    st.rerun()
if measured and measured.get("dataset") == cfg.data.dataset:
    a, b, c = st.columns(3)
    a.metric("images per class", f"{measured['per_class']:.0f}", help=f"small below {scenarios.SMALL_PER_CLASS}")
    b.metric("mean ImageNet top-1 confidence", f"{measured['similarity']:.2f}",
             help=f"similar at {scenarios.SIMILAR_CONFIDENCE} or more")
    c.metric("lands in", measured["scenario"])
    if measured["scenario"] != cfg.scenario and not fixed and \
            st.button(f"Use {measured['scenario']} and its preset", key="use_measured"):
        apply_scenario(measured["scenario"])
        state.mark_done("scenario")
        st.rerun()
