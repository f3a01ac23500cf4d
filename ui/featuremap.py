"""The feature map on a page (Data: the backbone's features; Evaluate: also the run's own network): every image
a point, how well the features separate the classes, a clicked image's nearest neighbours, and the images
whose label a model that never saw them doubts (possibly mislabelled), each one click from the cleaner's relabel (with its undo)."""
from __future__ import annotations

import concurrent.futures
import importlib.util

import streamlit as st

from core.data import cleaner, store
from core.errors import UserError
from core.serving import featuremap
from core.training.label_issues import CUT
from ui import cached, chart_words, figures, widgets, words

SOURCES = {"run": "this run's network", "imagenet": "pretrained (ImageNet)", "none": "random initialisation"}
METHODS = {"pca": "PCA (instant)", "tsne": "t-SNE (clusters easier to see, slower)"}
if importlib.util.find_spec("umap"):  # offered only where umap-learn is installed (see core.serving.featuremap)
    METHODS["umap"] = "UMAP (its first use compiles for a minute)"
SHOWN_SUSPECTS = 12


def _drawn(dataset: str, owner: str, run_id: str | None, weights: str, method: str, backbone: str) -> dict:
    """The map, with a bar from the first second while the images go through the network (300 images took
    37-57 s at load 4-6 behind a spinner that said nothing of how far it was: issue 34); a map already made
    comes from the cache and the bar goes at once. The work runs on a thread of its own: a Streamlit element
    called from inside a cached function is replayed on every later hit (and fails), so the bar is moved
    from here, by what the extraction reported."""
    bar = st.progress(0.0, text="Looking at every image through the network…")
    heard: dict = {}
    working = _POOL.submit(_map, dataset, owner, cached.dataset_version(dataset, owner), run_id, weights, method,
                           backbone, heard.update)
    while not concurrent.futures.wait([working], timeout=0.25).done:
        if heard.get("event") == "extract" and heard.get("total"):
            bar.progress(min(heard["done"] / heard["total"], 1.0), text=f"Looking at every image through the "
                         f"network: {heard['done']} of {heard['total']}…")
    bar.empty()
    return working.result()


# Left running when the person clicks elsewhere: the map lands in the cache for their next click.
_POOL = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="feature-map")


@st.cache_data(show_spinner=False, max_entries=8)
def _map(dataset: str, owner: str, version: tuple, run_id: str | None, weights: str, method: str,
         backbone: str, _heard=None) -> dict:
    return featuremap.embed(dataset, owner, run_id, weights, method, backbone, emit=_heard)


def show(dataset: str, owner: str, backbone: str, run_id: str | None = None, editable: bool = True,
         key: str = "fmap") -> None:
    """The whole section; drawn once asked for (seconds per thousand images on a CPU), then kept."""
    sources = (["run"] if run_id else []) + ["imagenet", "none"]
    c1, c2 = st.columns(2)
    source = c1.radio("Features from", sources, format_func=SOURCES.get, horizontal=True, key=f"{key}_source")
    method = c2.radio("Flattened to 2-D with", list(METHODS), format_func=METHODS.get, horizontal=True,
                      key=f"{key}_method")
    if not st.session_state.get(f"{key}_on") and not st.button("Draw the feature map", key=f"{key}_draw"):
        st.caption("Every image as a point, placed by what the network's features say about it.")
        return
    st.session_state[f"{key}_on"] = True
    try:
        found = _drawn(dataset, owner, run_id if source == "run" else None, "imagenet" if source == "run" else source,
                       method, backbone)
    except UserError as exc:
        st.error(str(exc))
        return
    _separation(found, source, key)
    chart_key = f"{key}_chart_{source}_{method}"
    event = widgets.chart(figures.feature_map(found["points"]), chart_words.feature_map(found["points"]),
                          on_select="rerun", selection_mode="points", key=chart_key, width="stretch")
    clicked = [p["customdata"] for p in (event.selection.points if event else []) if p.get("customdata") is not None]
    if clicked:
        _neighbours(found, clicked[0])
    else:
        st.caption("Click a point to see that image and its nearest neighbours.")
    _suspects(found, dataset, owner, editable, key)


def _separation(found: dict, source: str, key: str) -> None:
    sep = found["separation"]
    seen = st.session_state.setdefault(f"{key}_separation", {})
    seen[source] = sep["knn_accuracy"]
    others = ", ".join(f"{SOURCES[s]} {words.percent(v, 0)}" for s, v in seen.items() if s != source)
    st.metric("how well these features separate your classes", words.percent(sep["knn_accuracy"], 0),
              help=f"Leave-one-out {sep['k']}-nearest-neighbour accuracy on the full features (not the flat "
                   "picture): the share of images whose nearest neighbours mostly share their class.")
    if others:
        st.caption(f"Measured on this data so far: {SOURCES[source]} {words.percent(sep['knn_accuracy'], 0)}, "
                   f"{others}.")


def _neighbours(found: dict, image_id: int) -> None:
    by_id = {p["id"]: p for p in found["points"]}
    point = by_id.get(image_id)
    if point is None:
        return
    st.markdown(f"**Image {image_id}** (class {point['class']}, {point['split']}) and its nearest neighbours")
    near = [by_id[n["id"]] for n in point["neighbours"]]
    st.image([cached.thumbnail(point["sha256"])] + [cached.thumbnail(p["sha256"]) for p in near], width=96,
             caption=[f"this image · {point['class']}"] + [f"{n['class']} · distance {words.number(n['distance'], 2)}"
                                                         for n in point["neighbours"]])


def _suspects(found: dict, dataset: str, owner: str, editable: bool, key: str) -> None:
    done = cleaner.handled(store.find(dataset, owner).id)
    open_ones = [s for s in found["suspects"] if s["id"] not in done]
    flagged = [s for s in open_ones if s["flagged"]]
    if not flagged:
        st.caption(f"No image looks mislabelled: a model trained on the other images gives each label a "
                   f"{words.percent(CUT, 0)} chance or more.")
    else:
        st.markdown(f"**Possibly mislabelled: {len(flagged)}** (a model trained on the other images gives its label "
                    f"less than a {words.percent(CUT, 0)} chance)")
    for row in flagged[:SHOWN_SUSPECTS]:
        _suspect(row, found, dataset, owner, editable, key)
    doubted = [s for s in open_ones if not s["flagged"]]
    if doubted:
        with st.expander(f"{len(doubted)} more, doubted less (their label got {words.percent(CUT, 0)} or more)"):
            for row in doubted[:SHOWN_SUSPECTS]:
                _suspect(row, found, dataset, owner, editable, key)
    if editable and open_ones and st.button("Undo the last change", key=f"{key}_undo"):
        _change(cleaner.undo, dataset, owner)
        st.rerun()


def _suspect(row: dict, found: dict, dataset: str, owner: str, editable: bool, key: str) -> None:
    """One suspect, with how sure the held-out model is: "says 4 (93% sure); 6 got under 1%"."""
    sha = next(p["sha256"] for p in found["points"] if p["id"] == row["id"])
    left, right = st.columns([1, 4])
    left.image(cached.thumbnail(sha), width=72, caption=f"image {row['id']}, labelled {row['class']}")
    right.markdown(f"image {row['id']}: labelled **{row['class']}**; a model that never saw it says "
                   f"**{row['likely_class']}** ({chance(row['likely_probability'])} sure), "
                   f"{row['class']} {chance(row['label_probability'])}")
    if editable:
        b1, b2 = right.columns(2)
        b1.button(f"Move to {row['likely_class']}", key=f"{key}_move_{row['id']}", on_click=_change,
                  args=(cleaner.relabel, dataset, row["id"], row["likely_class"], owner))
        b2.button("It is right", key=f"{key}_keep_{row['id']}", on_click=_change,
                  args=(cleaner.keep, dataset, row["id"], owner))


def chance(probability: float) -> str:
    """0.93 → "93%"; 0.003 → "under 1%" (a rounded "0%" would claim impossible)."""
    return "under 1%" if probability < 0.005 else words.percent(probability, 0)


def _change(action, *args) -> None:
    """A cleaner change (recorded with its undo, as on Evaluate's cleaner)."""
    try:
        action(*args)
    except UserError as exc:
        st.toast(str(exc))
