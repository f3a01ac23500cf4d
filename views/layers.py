"""Step 4: what stays frozen, what new head is added, how the phases train, which augmentation."""
import dataclasses

import streamlit as st

from core import data
from core.config import (
    ACTIVATIONS,
    AUG_PRESETS,
    BN_POLICIES,
    CLASS_BALANCE,
    FREEZE_MODES,
    OPTIMIZERS,
    POOLS,
    SCHEDULES,
    AugmentSpec,
    FreezePlan,
    HeadSpec,
)
from core.errors import ConfigError, UserError
from ui import cached, chart_words, experiment, figures, lab, picture_words, state, widgets, words
from ui.widgets import apply_scenario, class_rules, initial, locked

WIDGET_PREFIXES = ("fz_", "hd_", "tr_", "au_")  # this page's settings widgets (freeze, head, training, augmentation)


def reset_to_preset(code: str) -> None:
    """A callback: the preset goes into the draft, and the page's widgets forget their values so they show
    it (a keyed widget keeps its own value over a new default: the page then saved the old plan back)."""
    apply_scenario(code)
    for key in [k for k in st.session_state if str(k).startswith(WIDGET_PREFIXES)]:
        del st.session_state[key]


st.title("4 · Layers & head")
st.write("Frozen stages keep what they learned on ImageNet (and their BatchNorm statistics); trainable ones "
         "adapt to your data. Phase 1 always trains the new head alone; phase 2 fine-tunes what you open here.")
cfg = state.config()
classes = len(data.class_names(cfg.data.dataset, state.token())) if cfg.data.dataset else 2
summary = cached.plan_summary(cfg.to_json(), classes)
stage_names = [r["name"] for r in summary["stages"] if r["name"] != "head"]

m1, m2, m3 = st.columns(3)
m1.metric("total parameters", f"{summary['total']:,}")
m2.metric("trainable in phase 1 (head)", f"{summary['trainable_phase1']:,}")
m3.metric("trainable in phase 2 (fine-tune)",
          f"{summary['trainable_phase2']:,}" if summary["phase2_runs"] else "none",
          help="what the fine-tune plan below opens, the head included")
if not summary["phase2_runs"]:
    st.caption(f"No fine-tune epochs: phase 2 does not run and only the head trains. Set fine-tune epochs below "
               f"to train the {summary['trainable_phase2']:,} parameters this plan opens.")
tab2, tab1 = st.tabs(["Phase 2 · fine-tune", "Phase 1 · head only"])
for tab, phase, key in ((tab2, "phase2", "map2"), (tab1, "phase1", "map1")):
    widgets.chart(figures.stage_map(summary["stages"], phase), chart_words.stage_map(summary["stages"], phase), tab,
                  width="stretch", key=key)

st.button(f"Reset to the {cfg.scenario} preset", key="preset", on_click=reset_to_preset, args=(cfg.scenario,))
with st.container(border=True):
    st.markdown("**What each stage sees** (input → output; 🔒 / ✏️ as the fine-tune plan above has it)")
    lab.stage_viewer(cfg, summary["stages"], keys={"mode": "fz_mode", "k": "fz_k"})

MODE_LABELS = {"all_but_head": "Freeze the whole backbone", "first_k": "Freeze the first k stages",
               "explicit": "Pick stages to freeze", "none": "Freeze nothing"}
BN_LABELS = {"frozen_stages": "frozen stages keep their statistics",
             "all_eval": "every BatchNorm keeps its statistics (small data or batches)"}
MODES = sorted(FREEZE_MODES, key=list(MODE_LABELS).index)  # the options are config's; only the order is the page's
freeze_col, head_col = st.columns(2)
with freeze_col.container(border=True):
    st.markdown("**Freezing (phase 2)**")
    freeze_fixed = experiment.locked("freeze")
    if freeze_fixed:  # the widgets show the class experiment's plan, whatever they held before
        st.session_state["fz_mode"], st.session_state["fz_k"] = cfg.freeze.mode, min(cfg.freeze.k, len(stage_names))
    mode = st.radio("Plan", MODES, index=initial("fz_mode", MODES.index(cfg.freeze.mode)), format_func=MODE_LABELS.get,
                    key="fz_mode", disabled=freeze_fixed)
    k, chosen = cfg.freeze.k, cfg.freeze.stages
    if mode == "first_k":
        k = st.slider("Stages frozen, counted from the input", 0, len(stage_names),
                      initial("fz_k", min(cfg.freeze.k, len(stage_names))), key="fz_k", disabled=freeze_fixed)
    if mode == "explicit":
        chosen = tuple(n for n in stage_names if st.toggle(n, value=n in cfg.freeze.stages, key=f"fz_{n}"))
    bn = st.radio("BatchNorm", BN_POLICIES, index=BN_POLICIES.index(cfg.freeze.bn), key="fz_bn",
                  format_func=BN_LABELS.get,
                  help="BatchNorm in train mode re-estimates its statistics from each batch; with few or unusual "
                       "images that can wreck pretrained features the moment fine-tuning starts")
with head_col.container(border=True):
    st.markdown("**New head**")
    hidden_text = st.text_input("Hidden layers (sizes, comma separated; empty = a single linear layer)",
                                ", ".join(str(h) for h in cfg.head.hidden), key="hd_hidden")
    activation = st.selectbox("Activation", ACTIVATIONS, index=ACTIVATIONS.index(cfg.head.activation), key="hd_act")
    dropout = st.slider("Dropout", 0.0, 0.8, float(cfg.head.dropout), 0.05, key="hd_dropout")
    pool = st.selectbox("Pooling", POOLS, index=POOLS.index(cfg.head.pool), key="hd_pool", help="auto: the backbone's own (average, or the class token for ViTs)")

with st.container(border=True):
    st.markdown("**Training phases**")
    t = cfg.train
    c1, c2, c3, c4 = st.columns(4)
    rules = class_rules()
    cap = (rules.preset.get("epochs") if rules else None) or 200
    head_epochs = c1.number_input("Head epochs", 0, cap, min(t.head_epochs, cap), key="tr_head")
    finetune_epochs = c2.number_input("Fine-tune epochs", 0, cap, min(t.finetune_epochs, cap), key="tr_ft")
    if cap < 200:
        st.caption(f"Your class trains at most **{cap}** epochs in all (head + fine-tune).")
    lrs = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2]  # plus the draft's own (the LR finder may suggest any)
    rate_fixed = experiment.locked("learning_rate")
    if rate_fixed:
        st.session_state["tr_hlr"], st.session_state["tr_flr"] = t.head_lr, t.finetune_lr
    head_lr = c3.select_slider("Head LR", sorted({*lrs, t.head_lr}), value=initial("tr_hlr", t.head_lr), key="tr_hlr",
                               format_func=words.rate, disabled=rate_fixed)
    finetune_lr = c4.select_slider("Fine-tune LR", sorted({*lrs, t.finetune_lr}), value=initial("tr_flr", t.finetune_lr),
                                   key="tr_flr", format_func=words.rate, disabled=rate_fixed)
    c5, c6, c7, c8 = st.columns(4)
    lr_factor = c5.slider("LR factor per stage", 0.1, 1.0, float(t.lr_factor), 0.05, key="tr_factor",
                          help="each stage further from the head learns this much slower (discriminative LRs)")
    optimizer = c6.selectbox("Optimizer", OPTIMIZERS, index=OPTIMIZERS.index(t.optimizer), key="tr_opt")
    schedule = c7.selectbox("Schedule", SCHEDULES, index=SCHEDULES.index(t.schedule), key="tr_sched")
    batch = c8.select_slider("Batch size", [8, 16, 32, 64, 128], value=min([8, 16, 32, 64, 128],
                             key=lambda v: abs(v - t.batch_size)), key="tr_bs", disabled=bool(locked("batch_size")))
    class_balance = st.selectbox("Class balance", CLASS_BALANCE, index=CLASS_BALANCE.index(t.class_balance),
                                 format_func=words.balance, key="tr_balance", disabled=bool(locked("class_balance")),
                                 help="for imbalanced classes (the Data page measures the ratio): weighted loss makes "
                                      "mistakes on rare classes cost more; the balanced sampler shows rare images "
                                      "more often. Evaluate's per-class recall shows the effect.")

with st.container(border=True):
    st.markdown("**Find a learning rate**: train briefly while the rate grows from 1e-6 to 1, and watch the loss")
    lab.lr_finder(cfg, keys={"head": "tr_hlr", "finetune": "tr_flr"})

with st.container(border=True):
    st.markdown("**Augmentation** (each training image gets its own random draw)")
    a = cfg.augment
    augment_fixed = experiment.locked("augment")
    if augment_fixed:
        st.session_state["au_preset"] = a.preset
    preset = st.segmented_control("Preset", AUG_PRESETS, default=a.preset, key="au_preset",
                                  disabled=augment_fixed) or a.preset
    custom = dict(flip=a.flip, rotation=a.rotation, random_resized_crop=a.random_resized_crop,
                  color_jitter=a.color_jitter, grayscale=a.grayscale)
    if preset == "custom":
        d1, d2, d3, d4, d5 = st.columns(5)
        custom = dict(flip=d1.toggle("Flip", a.flip, key="au_flip"),
                      random_resized_crop=d2.toggle("Random crop", a.random_resized_crop, key="au_rrc"),
                      rotation=d3.slider("Rotation °", 0, 45, int(a.rotation), key="au_rot"),
                      color_jitter=d4.slider("Colour jitter", 0.0, 0.5, float(a.color_jitter), 0.05, key="au_cj"),
                      grayscale=d5.slider("Grayscale p", 0.0, 1.0, float(a.grayscale), 0.05, key="au_gray"))
    augment_spec = AugmentSpec(preset=preset, **custom)
    views = cached.augment_preview(cfg.data.dataset, state.token(), cfg.backbone, augment_spec.__repr__(), dataclasses.asdict(augment_spec))
    st.image(views, width=110, caption=picture_words.augmented(len(views)))

try:
    hidden = tuple(int(x) for x in hidden_text.replace(" ", "").split(",") if x)
    new = cfg.replace(
        freeze=FreezePlan(mode=mode, k=k, stages=chosen, unfreeze_at=cfg.freeze.unfreeze_at, bn=bn),
        head=HeadSpec(pool=pool, hidden=hidden, activation=activation, dropout=dropout),
        train=dataclasses.replace(t, head_epochs=int(head_epochs), finetune_epochs=int(finetune_epochs),
                                  head_lr=head_lr, finetune_lr=finetune_lr, lr_factor=lr_factor,
                                  optimizer=optimizer, schedule=schedule, batch_size=batch,
                                  class_balance=class_balance),
        augment=augment_spec)
    new = experiment.enforce(new)  # a class experiment's value stays whatever the widgets say
    if new != cfg:
        state.save(new)
        st.rerun()
except ValueError:
    st.error("Hidden layers: write whole numbers separated by commas, e.g. 256, 128")
except (ConfigError, UserError) as exc:
    st.error(str(exc))

if st.button("These layers are ready", type="primary", key="use_layers"):
    state.mark_done("layers")
    st.rerun()
