"""Step 2: pick a pretrained backbone from the registry (or one of your own finished runs)."""
import streamlit as st

from core import data, models, presets
from core.runs import queue
from ui import cached, chart_words, experiment, figures, state, widgets, words
from ui.widgets import locked, weights_ready

st.title("2 · Backbone")
st.write("The backbone is the pretrained network whose knowledge you reuse. Bigger ones know more but train "
         "slower and overfit small datasets more easily. ★ marks this scenario's recommendations; "
         "**weights** says whether pretrained weights are usable right now.")
cfg = state.config()
rows = cached.backbone_rows()
own = [b.to_dict() for b in queue.own_backbones(state.token())]
recommended = presets.recommend(cfg.scenario, [models.BackboneInfo(**r) for r in rows])
LIBRARY = [s for s in models.SOURCES if s != "run"]
# The weights' state in words (a cached or bundled file's path is the server's business, not the reader's)
WEIGHTS = {"bundled": "bundled with the app", "cached": "downloaded earlier, kept on this server",
           "download": "downloaded on first use", "trained": "trained here", "unavailable": "not available here"}

with st.expander("Filters", expanded=True):
    c1, c2, c3, c4 = st.columns([2, 2, 2, 3])
    sources = c1.multiselect("Source", LIBRARY, default=LIBRARY, key="bb_sources")
    ready_only = c2.toggle("Weights available now", value=False, key="bb_ready")
    max_params = c3.select_slider("At most (parameters)", options=[5e6, 10e6, 30e6, 100e6, 1e9], value=1e9,
                                  format_func=figures.human, key="bb_params")
    search = c4.text_input("Name contains", key="bb_search")

shown = [{**r, "star": "★" if r["name"] in recommended else "", "millions": r["params"] and r["params"] / 1e6,
          "top1": r["top1"] and r["top1"] / 100, "weights": WEIGHTS.get(r["weights"], r["weights"])} for r in rows
         if r["source"] in sources and (not ready_only or r["weights"] in presets.USABLE_WEIGHTS)
         and (r["params"] or 0) <= max_params and search.lower() in r["name"].lower()]
table = words.table(shown, {"star": "★", "name": "name", "source": "source", "family": "family",
                            "millions": "parameters (millions)", "gflops": "GFLOPs", "top1": "ImageNet top-1",
                            "input_size": "input (px)", "weights": "weights"},
                    {"millions": words.number, "gflops": words.number, "top1": words.percent, "family": words.family})
st.dataframe(table, hide_index=True, width="stretch", height=320, key="bb_table")
st.caption(f"{len(table)} of {len(rows)} backbones. Recommended for {cfg.scenario}: {', '.join(recommended)}.")

if own:
    st.subheader("Your own trained runs (the develop-model approach)")
    st.caption("A run you trained can be the starting point of a new one: its network without its head, same stages.")
    st.dataframe(words.table(own, {"name": "name", "family": "based on", "weights_note": "note"}, {"family": words.family}),
                 hide_index=True, width="stretch")

names = [r["name"] for r in rows] + [r["name"] for r in own]
experiment_backbone = experiment.locked("backbone")
fixed = locked("backbone") or (cfg.backbone if experiment_backbone else None)
if experiment_backbone and fixed in names:
    st.session_state["bb_choice"] = fixed
current = fixed if fixed in names else cfg.backbone if cfg.backbone in names else names[0]
choice = st.selectbox("Backbone", names, index=names.index(current), key="bb_choice", disabled=bool(fixed),
                      format_func=lambda n: f"★ {n}" if n in recommended else n)
detail = cached.describe(choice)
st.subheader(choice)
left, right = st.columns([3, 2])
with left:
    widgets.chart(figures.stage_params(detail["stages"]), chart_words.stage_params(detail["stages"]), width="stretch",
                  key="bb_stages")
    st.caption("Stages from input (stem) to output. The ImageNet head is replaced by your new head.")
with right:
    st.markdown(f"**Family** {words.family(detail['family'])} · **source** {detail['source']}  \n"
                f"**Parameters** {figures.human(detail['params'])} · **GFLOPs** {words.number(detail['gflops'])} · "
                f"**ImageNet top-1** {words.percent(detail['top1'] and detail['top1'] / 100)}  \n"
                f"**Input** {detail['preprocess']['crop']} px (resize {detail['preprocess']['resize']}, "
                f"{detail['preprocess']['interpolation']}), mean {detail['preprocess']['mean']}")
    if weights_ready(choice):
        told = f": {detail['weights_note']}" if detail["weights"] == "trained" else ""
        st.success(f"Pretrained weights: {WEIGHTS.get(detail['weights'], detail['weights'])}{told}.")
    else:
        st.warning("Pretrained weights are not available here (this server is offline and has not downloaded "
                   "them). You can still train it from random initialisation (a fair from-scratch comparison), "
                   "or pick a ★ backbone.")
    images = data.split_counts(cfg.data.dataset, state.token())["train"] if cfg.data.dataset else 1000
    frozen = cached.epoch_estimate(choice, images, True)
    tuned = cached.epoch_estimate(choice, images, False)
    if frozen["seconds"] is not None:
        st.metric(f"Estimated time on this server, {images} images ({frozen['device']})",
                  f"{words.about(tuned['seconds'], tuned['low'], tuned['high'])} per fine-tune epoch",
                  f"{words.about(frozen['seconds'], frozen['low'], frozen['high'])} of feature extraction, once",
                  delta_color="off", help=f"Fine-tuning: {tuned['basis']}. Feature extraction: {frozen['basis']}.")

ready = weights_ready(choice)
weights_fixed = experiment.locked("pretrained")
if weights_fixed:
    st.session_state[f"bb_pretrained:{choice}"] = ready and cfg.weights != "none"
pretrained = ready and st.toggle("Start from pretrained weights", value=ready and cfg.weights != "none",
                                 disabled=not ready or weights_fixed, key=f"bb_pretrained:{choice}",
                                 help="off: random initialisation, i.e. training from scratch")
if st.button("Use this backbone", type="primary", key="use_backbone"):
    keep_file = cfg.weights.startswith("file:") and cfg.backbone == choice
    weights = cfg.weights if keep_file else ("imagenet" if pretrained else "none")
    updated = cfg.replace(backbone=choice, weights=weights)
    state.save(experiment.enforce(presets.refit_freeze(updated, len(detail["stages"]) - 1)))  # minus the ImageNet head
    state.mark_done("backbone")
    st.rerun()
if cfg.backbone == choice and state.done("backbone"):
    st.caption(f"Using **{choice}**, starting from {words.weights(cfg.weights)}.")
