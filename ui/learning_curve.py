"""The Train page's learning-curve lab: start a data-size sweep, then watch two curves grow, test
accuracy against images per class for pretrained and from-scratch, and one size's learning curves
overlaid with "higher start / slope / asymptote" measured."""
from __future__ import annotations

import streamlit as st

from core.config import RunConfig
from core.errors import UserError
from core.execute import service
from core.recipes import datasize
from core.runs import status
from core.training import curves
from ui import chart_words, figures, state, widgets, words

SIZE_CHOICES = ("5", "10", "25", "50", "all")


def start(cfg: RunConfig, owner: str) -> None:
    with st.expander("Learning-curve lab: does pretraining help more when images are few?"):
        st.caption("The same settings and split, trained on growing nested subsets of your training images, each "
                   "once pretrained and once from scratch; all judged on the same test images. With a frozen "
                   "backbone the pretrained runs share one feature extraction.")
        sizes = st.pills("Training images per class", SIZE_CHOICES, selection_mode="multi",
                         default=["5", "10", "25", "50"], key="lab_sizes")
        if st.button("Run the learning-curve lab", key="lab_start", disabled=not sizes):
            try:
                result = datasize.sweep(cfg, owner, datasize.parse_sizes(",".join(sizes)))
                service.ensure_worker()
                state.save(datasize=result["sweep"])
                st.rerun()
            except UserError as exc:
                st.error(str(exc))


def results(group: str | None, owner: str) -> dict | None:
    if not group:
        return None
    try:
        return datasize.results(group, owner)
    except UserError:
        return None


def run_ids(result: dict | None) -> list[str]:
    return [rid for p in (result or {}).get("points", []) for rid in p["runs"].values()]


def show(result: dict) -> None:
    st.subheader("Learning-curve lab")
    points = result["points"]
    finished = sum(status.is_final(s) for p in points for s in p["status"].values())
    if not datasize.done(result):
        st.progress(finished / max(1, 2 * len(points)), text=f"{finished} of {2 * len(points)} runs finished "
                    "(pretrained runs first: they share one feature extraction)")
    widgets.chart(figures.data_size(points), chart_words.data_size(points), width="stretch", key="lab_chart")
    _verdict(points, result.get("tested", 0))
    sizes = [p["per_class"] for p in points if all(s == "succeeded" for s in p["status"].values())]
    if sizes:
        size = st.selectbox("Learning curves at", sizes, key="lab_size", format_func=lambda n: f"{n} images per class")
        _one_size(next(p for p in points if p["per_class"] == size))


def _verdict(points: list[dict], tested: int) -> None:
    gaps = [(p["per_class"], p["pretrained"] - p["scratch"]) for p in points
            if p["pretrained"] is not None and p["scratch"] is not None]
    if len(gaps) >= 2:
        (small, first), (large, last) = gaps[0], gaps[-1]
        trend = "shrinks" if last < first else "does not shrink"
        st.caption(f"Pretraining's lead is **{first * 100:+.0f} points** at {small} images per class and "
                   f"**{last * 100:+.0f} points** at {large}: here it {trend} as data grows. {_uncertainty(tested)}")


def _uncertainty(tested: int) -> str:
    """Every run of the lab is scored on the same test images; with few of them, a few points are chance."""
    if not tested:
        return ""
    margin = words.chance_margin(tested) * 100
    return (f"Every accuracy here comes from the same {tested} test images, so each is known only to about "
            f"±{margin:.0f} points (95%): a lead or a change smaller than that may be chance.")


def _one_size(point: dict) -> None:
    shapes = datasize.shapes(point)
    if not shapes:
        return
    widgets.chart(figures.curves(shapes["series"], "accuracy", None, f"{point['per_class']} images per class: accuracy per "
                                 "epoch"), chart_words.curves(shapes["series"], "accuracy"), width="stretch", key="lab_curves")
    told = compare_caption("from scratch", shapes["series"]["pretrained"], shapes["series"]["scratch"])
    if told:
        st.caption("Pretrained " + told[0].lower() + told[1:])


def compare_caption(name: str, main: list[dict], theirs: list[dict]) -> str | None:
    """Like with like: both validation curves over the epochs both have. When one has more epochs than
    the other, the last shared epoch is no asymptote, and the caption says so."""
    shared = min(len(main), len(theirs))
    result = curves.compare(main[:shared], theirs[:shared])
    if not result:
        return None
    said = result["verdict"]
    slope = (f"slope {result['slope'] * 100:+.1f} points per epoch, " if result["slope"] is not None else "")
    numbers = f"start {result['start'] * 100:+.0f} points, {slope}epoch {shared} {result['end'] * 100:+.0f} points"
    if len(main) == len(theirs):
        return f"Against {name}, over the same {shared} epochs: {', '.join(said)} ({numbers})."
    said = [*said[:2], said[2].replace("asymptote", f"at epoch {shared}")]
    return (f"Against {name}, over the {shared} epoch(s) both have: {', '.join(said)} ({numbers}). The asymptotes "
            f"are not comparable: this run has {len(main)} epoch(s), {name} {len(theirs)}.")
