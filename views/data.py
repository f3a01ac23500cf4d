"""Step 3: bring images. Per-class uploads, a folder, a zip, camera snapshots or a sample dataset;
every file is checked, rejections are listed with their reason, the health check is drawn."""
import pandas as pd
import streamlit as st

from core import data
from core.data import images, label_csv, samples
from core.errors import UserError
from core.training import balance
from ui import cached, chart_words, experiment, featuremap, figures, picture_words, state, usage, widgets, words

st.title("3 · Data")
experiment.locked("data_size")
cfg = state.config()
owner = state.token()
usage.caption(owner)


def ingest(pairs, class_name=None, label="files", entries=None):
    """Validate and store, with a progress bar; remember rejections and duplicates to show them. `entries`:
    already read (a zip with a labels CSV)."""
    entries = data.from_uploads(pairs, class_name) if entries is None else entries
    bar = st.progress(0.0, text=f"Checking {label}…")
    try:
        report = data.ingest(cfg.data.dataset, entries, owner=owner, progress=lambda done, total: bar.progress(
            done / total, text=f"Checking {label}: {done}/{total}"))
    except UserError as exc:  # the server's free-space floor: nothing was stored
        bar.empty()
        st.error(str(exc))
        return
    bar.empty()
    log = st.session_state.setdefault("ingest_log", [])
    log[:0] = [{"file": r["file"], "problem": r["reason"]} for r in report.rejected] + \
              [{"file": d["file"], "problem": f"same picture as {d['duplicate_of']}: one image, now labelled "
                                              f"{', '.join(d['labels'])}" if "labels" in d else
                f"duplicate of {d['duplicate_of']} ({d['class']}): stored once"} for d in report.duplicates]
    st.session_state["last_ingest"] = {"stored": report.stored, "rejected": len(report.rejected),
                                       "duplicates": len(report.duplicates), "label": label, "limit": report.limit}
    cached.health_report.clear()
    state.set_dataset(cfg.data.dataset)  # the draft follows the dataset's task (its first images set it)


DUPLICATE_COLUMNS = {"file": "file", "class_name": "given as", "duplicate_of": "same picture as"}
LEAK_COLUMNS = {"a": "one image", "a_split": "in split", "b": "near-identical image", "b_split": "in split ",
                "distance": "fingerprint bits that differ (of 63)"}  # the second "in split" differs by a space: unique headings


def new_uploads(files, key: str) -> list:
    """Only files this uploader has not already stored (reruns hand the same files again)."""
    seen = st.session_state.setdefault(f"seen:{key}", set())
    fresh = [f for f in (files or []) if f.file_id not in seen]
    seen.update(f.file_id for f in fresh)
    return fresh


def follow_draft(existing: list[str]) -> None:
    """The box shows the draft's dataset whenever the draft changes it (a loaded sample, a created name): a
    keyed selectbox keeps its last value and ignores `index`, so it showed the previous dataset under a
    heading naming the new one. A pick not yet used stays until the draft itself moves."""
    current = cfg.data.dataset
    if st.session_state.get("ds_followed") != current and current in existing:
        st.session_state["ds_pick"] = current
        st.session_state["ds_followed"] = current


# ---- choose the dataset -----------------------------------------------------------------------
listed = data.list_datasets(owner)
existing = [d["name"] for d in listed]
read_only = {d["name"] for d in listed if not d["writable"]}
left, right = st.columns(2)
with left.container(border=True):
    st.markdown("**Your datasets**")
    if existing:
        follow_draft(existing)
        picked = st.selectbox("Dataset", existing, key="ds_pick",
                              format_func=lambda n: f"{n} (shared, read-only)" if n in read_only else n)
        if picked != cfg.data.dataset and st.button("Use this dataset", key="ds_use"):
            state.set_dataset(picked)
            st.rerun()
    typed = widgets.text_form("ds_create_form", "Create", button_key="ds_create", clear=True, fields={
        "name": dict(label="New dataset name", key="ds_new_name", placeholder="e.g. my-plants")})
    if typed:
        try:
            data.create(typed["name"], owner, exist_ok=False)
            state.set_dataset(data.clean_dataset_name(typed["name"]))
            st.rerun()
        except UserError as exc:
            st.error(str(exc))
with right.container(border=True):
    st.markdown("**Or a sample dataset**")
    catalog = {s["name"]: s for s in samples.catalog()}
    sample = st.selectbox("Sample", list(catalog), key="sample_pick",
                          format_func=lambda n: f"{catalog[n]['title']}{'' if catalog[n]['available'] else ' (offline)'}")
    st.caption(catalog[sample]["description"] + " " + catalog[sample]["note"])
    per_class = st.slider("Images per class", 5, 500, 30, step=5, key="sample_per_class")
    if st.button("Load sample", key="sample_load", disabled=not catalog[sample]["available"]):
        target = f"{sample}-{per_class}"
        try:
            with st.spinner("Loading the sample…"):
                report = samples.materialize(sample, target, per_class=per_class, owner=owner)
            if report.limit:  # shown after the rerun, with what was stored before it
                st.session_state["last_ingest"] = {"stored": report.stored, "rejected": len(report.rejected),
                                                   "duplicates": len(report.duplicates), "label": "The sample",
                                                   "limit": report.limit}
            state.set_dataset(report.dataset)
            st.rerun()
        except UserError as exc:  # a limit or the free-space floor
            st.error(str(exc))

if not cfg.data.dataset:
    st.info("Create a dataset or load a sample to start adding images.")
    st.stop()

dataset = cfg.data.dataset
if dataset not in existing:  # deleted, renamed, or someone else's name in an old draft
    st.warning(f"Dataset {dataset!r} is not one of yours any more: pick or create another.")
    st.stop()
st.subheader(f"Dataset: {dataset}")
if dataset in read_only:
    st.info("This dataset is shared with you read-only: train on it as it is, or create your own to add images.")
if dataset not in read_only:
    st.caption(f"Images in {', '.join(images.FORMATS)}. {widgets.upload_limit()}")
tabs = [] if dataset in read_only else st.tabs(["Per class", "Folder", "Zip", "Camera"])


def per_class_tab() -> None:
    typed = widgets.text_form("class_add_form", "Add class", button_key="class_add", widths=[3, 1], clear=True, fields={
        "name": dict(label="Add a class", key="class_name", placeholder="e.g. daisy")})
    if typed:
        try:
            data.add_class(dataset, typed["name"], owner)
            st.rerun()
        except UserError as exc:
            st.error(str(exc))
    for class_name, count in data.class_counts(dataset, owner).items():
        files = st.file_uploader(f"Images for **{class_name}**", accept_multiple_files=True, key=f"up:{class_name}")
        fresh = new_uploads(files, f"up:{class_name}")
        if fresh:
            ingest([(f.name, f.getvalue()) for f in fresh], class_name=class_name, label=f"{class_name} images")
            count = data.class_counts(dataset, owner).get(class_name, 0)  # this run's count, not the one before
        if not count and st.button(f"Remove the empty class {class_name}", key=f"rm:{class_name}"):
            data.remove_class(dataset, class_name, owner)
            st.rerun()


def upload_tabs() -> None:
    with tabs[0]:
        per_class_tab()
    with tabs[1]:
        folder_tab()
    with tabs[2]:
        zip_tab()
    with tabs[3]:
        camera_tab()


def folder_tab() -> None:
    st.caption("A folder with one sub-folder per class (cats/…, dogs/…).")
    files = st.file_uploader("Folder", accept_multiple_files="directory", key="up:folder")
    fresh = new_uploads(files, "up:folder")
    if fresh:
        ingest([(f.name, f.getvalue()) for f in fresh], label="the folder")


def zip_tab() -> None:
    st.caption("A zip in class-folder layout, or with several labels per image: a labels.csv inside it (header "
               "file,labels; labels separated by ';'; an empty field for none of the labels). It is read in memory and "
               "checked member by member.")
    archive = st.file_uploader("Zip archive", type=["zip"], key="up:zip")
    fresh = new_uploads([archive] if archive else [], "up:zip")
    if fresh:
        name, raw = fresh[0].name, fresh[0].getvalue()
        try:
            labelled = label_csv.from_labelled_zip(name, raw) if label_csv.has_labels(name, raw) else None
        except UserError as exc:  # a labels CSV that cannot be read at all (its header): nothing stored
            st.error(str(exc))
            return
        ingest([(name, raw)], label=name, entries=labelled)


def camera_tab() -> None:
    classes = list(data.class_counts(dataset, owner))
    if not classes:
        st.info("Add a class first; snapshots go into a class.")
    else:
        target = st.selectbox("Class for the snapshot", classes, key="cam_class")
        shot = st.camera_input("Take a picture", key="cam")
        fresh = new_uploads([shot] if shot else [], "cam")
        if fresh:
            ingest([(f"camera-{fresh[0].file_id}.jpg", fresh[0].getvalue())], class_name=target, label="the snapshot")


if tabs:
    upload_tabs()

last = st.session_state.get("last_ingest")
if last:
    st.success(f"{last['label']}: stored {last['stored']} image(s), rejected {last['rejected']}, "
               f"duplicates {last['duplicates']}.")
    if last.get("limit"):
        st.error(f"Storing stopped: {last['limit']}")
if st.session_state.get("ingest_log"):
    st.markdown("**Rejected files and duplicates**")
    st.table(pd.DataFrame(st.session_state["ingest_log"][:200]))  # plain HTML: readable and searchable



def next_move(counts: dict[str, int], message: str) -> None:
    """What is still missing before training, said as the next thing to do: an empty new dataset is where
    everyone starts, not an error."""
    empty = [c for c, n in counts.items() if not n]
    if not counts:
        st.info("**Next:** add a class on the **Per class** tab (e.g. *daisy*) and upload its images, or bring a "
                "folder or a zip with one sub-folder per class. Training needs at least two classes with images.")
    elif empty:
        st.info(f"**Next:** upload images for **{', '.join(empty)}** (or remove {'it' if len(empty) == 1 else 'them'}"
                "). Every class needs images before training.")
    elif len(counts) < 2:
        st.info("**Next:** add a second class: training learns to tell classes apart, so it needs at least two.")
    else:
        st.info(f"**Before training:** {message}")


# ---- gallery and health -----------------------------------------------------------------------
version = cached.dataset_version(dataset, owner)
report = cached.health_report(dataset, owner, version)
if not report["trainable"]["ok"]:
    next_move(report["classes"], report["trainable"]["message"])
if not report["images"]:
    st.stop()  # nothing to show in a gallery or a health check yet
st.subheader("Gallery")
by_class: dict[str, list] = {}
labelled = [c for c, n in report["classes"].items() if n]  # a multi-label record's 0/1s follow these labels
for record in data.records(dataset, owner):
    for name in ([c for c, on in zip(labelled, record.labels) if on] if record.labels is not None
                 else [record.class_name]):  # a multi-label image shows under each of its labels
        by_class.setdefault(name, []).append(record)
for class_name, count in report["classes"].items():
    shown = by_class.get(class_name, [])[:10]
    st.markdown(f"**{class_name}** · {count} image(s)")
    if shown:
        st.image([cached.thumbnail(r.sha256) for r in shown], width=88,
                 caption=[picture_words.picture(class_name, r.original, 12) for r in shown])
    else:
        st.caption("no images yet")

st.subheader("Health check")
m1, m2, m3, m4 = st.columns(4)
m1.metric("images", report["images"])
m2.metric("imbalance (largest / smallest)", words.number(report["imbalance_ratio"]) if report["imbalance_ratio"] else "–")
m3.metric("images per class", report["images_per_class"], help=f"size bucket: {report['size_bucket']}")
m4.metric("leaks across splits", report["leaks"]["count"])
g1, g2 = st.columns(2)
widgets.chart(figures.class_counts(report["classes"]), chart_words.class_counts(report["classes"]), g1,
              width="stretch", key="health_counts")
widgets.chart(figures.split_sizes(report["splits_by_class"]), chart_words.split_sizes(report["splits_by_class"]), g2,
              width="stretch", key="health_splits")
if report.get("task") == "multilabel":  # several labels per image: images with none, labels seen together
    st.caption(f"Several labels per image: {report['no_label']} image(s) carry none of the labels."
               + ("" if report["co_occurrence"] else " No two labels share an image."))
    if report["co_occurrence"]:
        st.dataframe(pd.DataFrame([{"labels together": " + ".join(p["labels"]), "images": p["images"]}
                                   for p in report["co_occurrence"][:50]]), hide_index=True, key="co_occurrence")
if report["tiny"]["count"]:
    st.warning(f"{report['tiny']['count']} image(s) are smaller than 32 px; they will be upscaled a lot.")
if report["mixed_color"]:
    st.info(f"Mix of grayscale ({report['grayscale']}) and colour ({report['color']}) images: if colour carries no "
            "meaning for your classes, grayscale augmentation helps.")
if report["leaks"]["pairs"]:
    st.warning("Near-identical images sit in different splits: the test score would flatter the model.")
    st.dataframe(words.table(report["leaks"]["pairs"], LEAK_COLUMNS, {"a_split": figures.SPLIT_WORDS.get,
                                                                     "b_split": figures.SPLIT_WORDS.get}),
                 hide_index=True, width="stretch", key="leaks")
if report["duplicates"]:
    st.dataframe(words.table(report["duplicates"], DUPLICATE_COLUMNS), hide_index=True, width="stretch", key="dups")
if (report["imbalance_ratio"] or 0) >= 3:
    remedy = balance.propose(report["imbalance_ratio"])
    st.warning(f"The largest class has {words.number(report['imbalance_ratio'])}× the images of the smallest: a model "
               f"learns to favour the large classes. Proposed: **{words.balance(remedy)}**.")
    if cfg.train.class_balance != remedy:
        st.button(f"Train with {words.balance(remedy).split(' (')[0]}", key="use_balance", on_click=widgets.set_balance,
                  args=(remedy,), disabled=bool(widgets.locked("class_balance")))
    else:
        st.caption(f"Your draft already trains with {words.balance(remedy)} (Layers & head changes it).")
if report["trainable"]["ok"]:
    st.subheader("Feature map")
    st.caption("Your images through the network's eyes: images the features place close together look alike to it. "
               "Pretrained features that already keep your classes apart mean a frozen backbone will do (S1); "
               "random ones show what the pretraining adds.")
    featuremap.show(dataset, owner, cfg.backbone, editable=dataset not in read_only, key="data_fmap")
if report["trainable"]["ok"] and st.button("Use this data", type="primary", key="use_data"):
    state.mark_done("data")
    st.rerun()
