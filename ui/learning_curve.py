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
from ui import figures, state

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
    st.plotly_chart(figures.data_size(points), width="stretch", key="lab_chart")
    _verdict(points)
    sizes = [p["per_class"] for p in points if all(s == "succeeded" for s in p["status"].values())]
    if sizes:
        size = st.selectbox("Learning curves at", sizes, key="lab_size", format_func=lambda n: f"{n} images per class")
        _one_size(next(p for p in points if p["per_class"] == size))


def _verdict(points: list[dict]) -> None:
    gaps = [(p["per_class"], p["pretrained"] - p["scratch"]) for p in points
            if p["pretrained"] is not None and p["scratch"] is not None]
    if len(gaps) >= 2:
        (small, first), (large, last) = gaps[0], gaps[-1]
        trend = "shrinks" if last < first else "does not shrink"
        st.caption(f"Pretraining's lead is **{first:+.2f}** at {small} images per class and **{last:+.2f}** at "
                   f"{large}: here it {trend} as data grows.")


def _one_size(point: dict) -> None:
    shapes = datasize.shapes(point)
    if not shapes:
        return
    st.plotly_chart(figures.curves(shapes["series"], "accuracy", None, f"{point['per_class']} images per class: accuracy per "
                                   "epoch"), width="stretch", key="lab_curves")
    result = shapes["compare"]
    if result:
        st.caption("Pretrained against from scratch: " + ", ".join(result["verdict"]) +
                   f" (start {result['start']:+.2f}, slope {result['slope']:+.3f}/epoch, end {result['end']:+.2f})")
