"""The Evaluate page's cleaner: a finished run's highest-loss training and validation images, each
with relabel / delete / keep, and an undo. Changes go to the dataset (the next run uses them); the
run on screen keeps the images and labels it pinned."""
from __future__ import annotations

import streamlit as st

from core.data import cleaner, store
from core.errors import UserError
from core.serving import rescore
from ui import cached

SHOWN = 12  # images on screen at once; handled ones make room for the next


@st.cache_data(show_spinner=False, max_entries=16)
def _losses(run_id: str, _lists) -> list[dict]:
    return rescore.highest_losses(run_id, _lists, top=SHOWN * 4)


def _ranked(run_id: str, lists) -> list[dict]:
    """The ranking training kept (instant); a run trained before it was kept is scored here, once, and
    the page says so while it runs (the model over every training and validation image: a minute or more)."""
    if not rescore.needs_scoring(run_id):
        return _losses(run_id, lists)
    count = len(lists.train) + len(lists.val)
    with st.spinner(f"This run was trained before rankings were kept: the model now runs over its {count} "
                    "training and validation images, once (a minute or more on a small CPU)…"):
        return _losses(run_id, lists)


def show(run: dict, lists, owner: str) -> None:
    st.subheader("Clean the data")
    dataset = _writable(run, owner)
    if dataset is None:
        return
    st.caption(f"Label mistakes hide among the images the model finds hardest. Changes apply to dataset "
               f"**{dataset.name}**: your next run trains on them; this run keeps the images it was trained on.")
    if not st.toggle("Show the highest-loss training and validation images", key="clean_open"):
        return
    done = cleaner.handled(dataset.id)
    rows = [r for r in _ranked(run["id"], lists) if r["image_id"] not in done][:SHOWN]
    classes = store.class_names(dataset.name, owner)
    _undo_bar(dataset.name, owner)
    if not rows:
        st.success("Nothing left to look at: every hard image here has been handled.")
    for row in rows:
        _card(row, dataset.name, owner, classes)


def _writable(run: dict, owner: str):
    if run["dataset_gone"]:
        st.caption(f"Dataset **{run['dataset']}** was deleted: nothing to clean.")
        return None
    try:
        dataset = store.find(run["dataset"], owner)
    except UserError:
        return None
    if not dataset.writable:
        st.caption(f"Dataset **{dataset.name}** is shared with you read-only: its owner cleans it.")
        return None
    return dataset


def _card(row: dict, dataset: str, owner: str, classes: list[str]) -> None:
    """One hard image. The class box starts at the image's own label (a click on "Relabel" without a choice
    moved correct images when it started at the model's guess); the model's answer is a button of its own."""
    key = f"clean-{row['image_id']}"
    with st.container(border=True):
        left, mid, right = st.columns([1, 3, 3])
        left.image(cached.thumbnail(row["sha256"]), width=80, caption=f"labelled {row['label']}")
        mid.markdown(f"**labelled {row['label']}** · the model says **{row['predicted']}** "
                     f"({row['confidence']:.0%}) · {row['split']} · loss {row['loss']:.2f}")
        choices = classes if row["label"] in classes else [row["label"], *classes]
        target = mid.selectbox("Class", choices, index=choices.index(row["label"]), key=f"{key}-to",
                               help="its right class: choose one, then Relabel")
        b1, b2, b3 = right.columns(3)
        if b1.button("Relabel", key=f"{key}-relabel", disabled=target == row["label"],
                     help=f"move it to {target}" if target != row["label"] else "choose another class in the box first"):
            _apply(lambda: cleaner.relabel(dataset, row["image_id"], target, owner))
        if b2.button("Delete", key=f"{key}-delete", help="take it out of the dataset (undo puts it back)"):
            _apply(lambda: cleaner.delete(dataset, row["image_id"], owner))
        if b3.button("Keep", key=f"{key}-keep", help="it is right as it is: stop showing it"):
            _apply(lambda: cleaner.keep(dataset, row["image_id"], owner))
        if row["predicted"] != row["label"] and row["predicted"] in classes and right.button(
                f"The model says {row['predicted']}: move it there", key=f"{key}-model"):
            _apply(lambda: cleaner.relabel(dataset, row["image_id"], row["predicted"], owner))


def _undo_bar(dataset: str, owner: str) -> None:
    changes = [h for h in cleaner.history(dataset, owner) if not h["undone"]]
    if not changes:
        return
    last = changes[0]
    what = f"{last['action']} image {last['image_id']}" + (f" → {last['new_class']}" if last["new_class"] else "")
    left, right = st.columns([3, 1])
    left.caption(f"{len(changes)} change(s) to this dataset; the latest: {what}.")
    if right.button("Undo the latest", key="clean-undo"):
        _apply(lambda: cleaner.undo(dataset, owner))


def _apply(change) -> None:
    try:
        change()
    except UserError as exc:
        st.error(str(exc))
        return
    st.rerun()
