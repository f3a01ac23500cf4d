"""The Layers page's two looks inside the network: what each stage sees (with how generic each stage
is for the person's classes) and a learning-rate finder. Both run in the Streamlit process: CPU only,
fresh models per call (nothing shared to lock), small capped image sets, results cached."""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from core import data
from core.config import FreezePlan, RunConfig
from core.data import samples
from core.errors import UserError
from core.serving import activations
from core.training import lr_find
from ui import cached, chart_words, figures, gate, picture_words, state, widgets, words

SAMPLE = "a sample photo (a cat)"
MAP_PX = 64  # each feature map is shown this many pixels wide, nearest-neighbour: blocks stay visible
CHOICES = 12  # images offered from the dataset: one or two per class is plenty
LOW, MID, HIGH = np.array([30, 35, 80]), np.array([40, 150, 140]), np.array([250, 230, 60])


# ---- cached calls into core ------------------------------------------------------------------------
@st.cache_data(show_spinner="Looking inside each stage…", max_entries=32)
def _views(backbone: str, weights: str, image_key: str, _raw: bytes) -> list[dict]:
    """`image_key` (content hash) stands for the image bytes in the cache key."""
    return activations.stage_views(backbone, data.decode(_raw), weights)


@st.cache_data(show_spinner="Probing each stage on your classes (a few seconds, after any other person's "
                             "lab computation already under way on this server)…", max_entries=16)
def _probe(dataset: str, owner: str, backbone: str, weights: str, version: tuple) -> list[dict]:
    """`version` changes with the dataset's content: new images are probed again."""
    with gate.LAB.turn():
        return activations.probe_stages(backbone, dataset, owner, weights)


@st.cache_data(show_spinner="Sweeping the learning rate from 1e-6 to 1 (seconds for the head; fine-tuning runs "
                             "the opened stages backwards, up to a minute; other people's sweeps already under "
                             "way on this server go first)…", max_entries=16)
def _sweep(config_json: str, owner: str, phase: str, version: tuple) -> dict:
    with gate.LAB.turn():
        return lr_find.find(RunConfig.from_json(config_json), owner, phase, device="cpu")


# ---- what each stage sees -------------------------------------------------------------------------
def stage_viewer(cfg: RunConfig, plan_rows: list[dict], keys: dict[str, str]) -> None:
    """Each stage's strongest feature maps (stem → last), its resolution and channels, and whether
    the current plan freezes it; with a dataset, a probe of how generic each stage is on demand.
    `keys`: the page's freeze widgets ("mode", "k"), set when the recommendation is applied."""
    owner, weights = state.token(), _viewable(cfg.weights)
    raw, label = _pick_image(cfg.data.dataset, owner)
    try:
        views = _views(cfg.backbone, weights, hashlib.sha256(raw).hexdigest(), raw)
    except UserError as exc:
        st.warning(f"Cannot look inside {cfg.backbone}: {exc}")
        return
    probes = _probe_results(cfg, owner, weights)
    phase2 = {r["name"]: r["phase2"] for r in plan_rows}
    left, right = st.columns([1, 4])
    left.image(data.decode(raw), caption=label, width="stretch")
    with right:
        for view in views:
            _stage_row(view, phase2.get(view["name"], "?"), probes)
    st.caption(_story(views, weights, probes))
    _probe_section(cfg, owner, weights, probes, keys)


def _viewable(weights: str) -> str:
    """The viewer builds 'imagenet' (a run's own weights for run:ID) or random trunks; an imported
    checkpoint is shown as the pretrained network it came from."""
    return "none" if weights == "none" else "imagenet"


def _pick_image(dataset: str | None, owner: str) -> tuple[bytes, str]:
    records = data.records(dataset, owner) if dataset else []
    spread = _one_per_class(records)[:CHOICES]
    options = [SAMPLE] + [f"{r.class_name} · {r.original}" for r in spread]
    choice = st.selectbox("Image to look at", options, index=1 if spread else 0, key="sv_image")
    if choice == SAMPLE:
        return samples.photo(), "sample photo"
    record = spread[options.index(choice) - 1]
    return data.read_bytes(record.sha256), f"class {record.class_name}"


def _one_per_class(records: list) -> list:
    seen, out = set(), []
    for r in records:
        if r.class_name not in seen:
            seen.add(r.class_name)
            out.append(r)
    return out


def _stage_row(view: dict, phase2: str, probes: dict | None) -> None:
    text, strip = st.columns([2, 5])
    probe = f" · probe **{probes[view['name']]:.0%}**" if probes and view["name"] in probes else ""
    text.markdown(f"**{view['name']}** · {view['height']}×{view['width']} · {view['channels']:,} channels"
                  f"{probe}  \n{'🔒 frozen' if phase2 == 'frozen' else '✏️ trainable'} in phase 2")
    strip.image(_strip(view["maps"]), width="content",
                caption=picture_words.feature_maps(view["name"], len(view["maps"])))


def _strip(maps: list[dict]) -> np.ndarray:
    """The stage's strongest maps side by side, coloured dark (weak) to yellow (strong)."""
    tiles = [np.asarray(Image.fromarray(_colour(m["grid"])).resize((MAP_PX, MAP_PX), Image.Resampling.NEAREST))
             for m in maps]
    gap = np.full((MAP_PX, 4, 3), 255, dtype=np.uint8)
    return np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)


def _colour(grid: np.ndarray) -> np.ndarray:
    t = (grid.astype(np.float32) / 255)[..., None]
    rgb = np.where(t < 0.5, LOW + (MID - LOW) * (t * 2), MID + (HIGH - MID) * (t * 2 - 1))
    return rgb.astype(np.uint8)


def _story(views: list[dict], weights: str, probes: dict | None) -> str:
    """A caption tied to the numbers: the grid shrinks, the channels grow, and (once measured) how
    well each stage's features separate the person's classes."""
    first, last = views[0], views[-1]
    cells = (first["height"] * first["width"]) / max(last["height"] * last["width"], 1)
    shape = (f"The {first['name']} looks at a {first['height']}×{first['width']} grid with {first['channels']} "
             f"channels; by {last['name']} the grid is {last['height']}×{last['width']} ({cells:.0f}× fewer "
             f"positions) with {last['channels']:,} channels.")
    if weights != "imagenet":
        return (f"Each tile is one channel's response, bright where it fires. {shape} These are random weights: "
                "no stage has learnt anything yet, so the tiles show what random filters make of the image.")
    return (f"Each tile is one channel's response (pretrained weights), bright where it fires. {shape} Early "
            "stages respond to local edges, colours and textures, useful for almost any image; late ones to "
            f"fewer, larger patterns tuned to the classes the network was trained on. {_probe_story(views, probes)}")


def _probe_story(views: list[dict], probes: dict | None) -> str:
    """The caption's last sentence. Its verdict is the freeze recommendation's own (one rule for the caption
    and the advice box below it: they once disagreed)."""
    if not probes:
        return "That is why early stages transfer as they are; measure how each stage does on your classes below."
    names = [v["name"] for v in views if v["name"] in probes]
    best = max(names, key=probes.get)
    told = ", ".join(f"{n} {probes[n]:.0%}" for n in dict.fromkeys([names[0], best, names[-1]]))
    advice = activations.recommend([{"name": n, "probe_accuracy": probes[n]} for n in names])
    return f"On your classes a linear probe on each stage's features scores {told}: {advice['verdict']}."


def _probe_results(cfg: RunConfig, owner: str, weights: str) -> dict | None:
    dataset = cfg.data.dataset
    if not dataset or not st.session_state.get(_probe_flag(cfg, weights)):
        return None
    try:
        rows = _probe(dataset, owner, cfg.backbone, weights, cached.dataset_version(dataset, owner))
    except UserError as exc:
        st.warning(str(exc))
        return None
    return {r["name"]: r["probe_accuracy"] for r in rows}


def _probe_flag(cfg: RunConfig, weights: str) -> str:
    return f"probe:{cfg.data.dataset}:{cfg.backbone}:{weights}"


def _probe_section(cfg: RunConfig, owner: str, weights: str, probes: dict | None, keys: dict[str, str]) -> None:
    if not cfg.data.dataset:
        st.caption("Pick a dataset on the **Data** step to measure how generic each stage is for your classes.")
        return
    if probes is None:
        if st.button("Measure how generic each stage is for my classes", key="sv_probe",
                     help="a linear probe on each stage's pooled features, on up to "
                          f"{activations.PROBE_PER_CLASS} training images per class (seconds)"):
            st.session_state[_probe_flag(cfg, weights)] = True
            st.rerun()
        return
    rows = [{"name": name, "probe_accuracy": acc} for name, acc in probes.items()]
    advice = activations.recommend(rows)
    widgets.chart(probe_figure(rows, advice["stage"]), chart_words.probe(rows, advice["stage"]), width="stretch",
                  key="sv_probe_chart")
    st.info(f"**Freeze recommendation:** {advice['reason']}.")
    plan = FreezePlan(mode=advice["mode"], k=advice["k"] if advice["mode"] == "first_k" else 0, bn=cfg.freeze.bn)
    applied = cfg.freeze.mode == plan.mode and (plan.mode != "first_k" or cfg.freeze.k == plan.k)
    st.button("Use this freeze plan", key="sv_use_plan", on_click=_use_plan, args=(plan, keys), disabled=applied)


def _use_plan(plan: FreezePlan, keys: dict[str, str]) -> None:
    """A callback: it runs before the rerun, so the page's freeze widgets can still be set."""
    cfg = state.config()
    state.save(cfg.replace(freeze=dataclasses.replace(plan, unfreeze_at=cfg.freeze.unfreeze_at)))
    _set_widgets({keys["mode"]: plan.mode, **({keys["k"]: plan.k} if plan.mode == "first_k" else {})})


def probe_figure(rows: list[dict], chosen: str) -> go.Figure:
    names = [r["name"] for r in rows]
    fig = go.Figure(go.Scatter(x=names, y=[r["probe_accuracy"] for r in rows], mode="lines+markers",
                               marker=dict(size=[16 if n == chosen else 8 for n in names], color=figures.TRAINABLE),
                               hovertemplate="%{x}: %{y:.0%}<extra></extra>"))
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", title="linear probe accuracy")
    fig.update_xaxes(title="input → output")
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10), showlegend=False)
    return fig


# ---- the learning-rate finder ---------------------------------------------------------------------
def lr_finder(cfg: RunConfig, keys: dict[str, str]) -> None:
    """A sweep on demand, its curve, and one click to use the suggestion. `keys`: the page's LR
    widgets per phase ("head", "finetune"), set when the suggestion is applied."""
    dataset, owner = cfg.data.dataset, state.token()
    if not dataset:
        st.caption("Pick a dataset on the **Data** step to find a learning rate for it.")
        return
    phases = ["head", "finetune"] if cfg.train.finetune_epochs else ["head"]
    phase = st.radio("Phase", phases, horizontal=True, key="lr_phase",
                     format_func={"head": "phase 1 · head", "finetune": "phase 2 · fine-tune"}.get)
    slot = f"lr_find:{dataset}:{cfg.backbone}:{cfg.weights}:{phase}" + (f":{cfg.freeze}" if phase == "finetune" else "")
    if st.button("Find a learning rate", key="lr_find"):
        try:
            st.session_state[slot] = _sweep(cfg.to_json(), owner, phase, cached.dataset_version(dataset, owner))
        except UserError as exc:
            st.error(str(exc))
    result = st.session_state.get(slot)
    if result:
        _show_sweep(cfg, phase, result, keys)


def _show_sweep(cfg: RunConfig, phase: str, result: dict, keys: dict[str, str]) -> None:
    lr = float(f"{result['suggested']:.2g}")  # two digits: a value a person can read and type
    st.plotly_chart(lr_figure(result), width="stretch", key="lr_chart")
    current = cfg.train.head_lr if phase == "head" else cfg.train.finetune_lr
    st.caption(f"Suggested **{words.rate(lr)}** by the **{result['rule']}** rule: {result['why']}. "
               f"{len(result['lrs'])} steps on {result['images']} training images; the sweep "
               f"{'stopped when the loss blew up' if result['stopped'] == 'diverged' else 'ran to the end'}. "
               f"Now: {words.rate(current)}.")
    st.button("Use this learning rate", key="lr_use", on_click=_use_lr, args=(phase, lr, keys),
              disabled=current == lr)


def _use_lr(phase: str, lr: float, keys: dict[str, str]) -> None:
    """A callback (before the rerun), so the page's LR slider can still be set to the new value."""
    cfg = state.config()
    field = "head_lr" if phase == "head" else "finetune_lr"
    state.save(cfg.replace(train=dataclasses.replace(cfg.train, **{field: lr})))
    _set_widgets({keys[phase]: lr})


def _set_widgets(values: dict) -> None:
    """Set the page's widgets to what was just saved. Setting their state is what makes the browser
    show the new values: dropping it instead leaves the browser's old values, which the next rerun
    sends back and the page saves over the draft (seen in the browser test). Streamlit logs once per
    The page gives these widgets no default while their key holds a value (ui.widgets.initial), so
    Streamlit has no default-and-state pair to warn about in the server log."""
    for key, value in values.items():
        st.session_state[key] = value


def lr_figure(result: dict) -> go.Figure:
    """Loss against LR (log x): the raw loss faint, the smoothed one solid, the suggestion marked."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=result["lrs"], y=result["raw_losses"], mode="lines", name="loss per batch",
                             line=dict(color=figures.GREYS[2], width=1)))
    fig.add_trace(go.Scatter(x=result["lrs"], y=result["losses"], mode="lines", name="smoothed loss",
                             line=dict(color=figures.TRAINABLE, width=3)))
    index = result["lrs"].index(result["suggested"])
    fig.add_trace(go.Scatter(x=[result["suggested"]], y=[result["losses"][index]], mode="markers+text",
                             marker=dict(size=14, color=figures.OKABE_ITO["vermillion"], symbol="star"), name="suggested",
                             text=[f"{words.rate(result['suggested'])} ({result['rule']})"], textposition="top right"))
    fig.update_xaxes(type="log", title="learning rate (log)", dtick=1, exponentformat="power")
    fig.update_yaxes(title="training loss")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h"))
    return fig
