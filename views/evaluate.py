"""Step 6: how the model does on held-out images. Click a confusion-matrix cell to see those images. The
report (one HTML file to leave behind) is built here too."""
import streamlit as st

from core.errors import UserError
from core.paths import subdir
from core.runs import queue, store
from core.serving import report as reports
from core.training import curves, evaluate
from ui import cached, chart_words, cleaner, featuremap, figures, multilabel, picture_words, runs, state, widgets, words

SPLIT_NAMES = {"test": "test", "val": "validation"}


def cell_picks(cell: list | None, classes: list[str]) -> None:
    """A clicked cell sets the True/Predicted pickers (they said "any" beside a cell's images); a cell applies
    once, so a later change of a picker stands while the chart keeps its selection."""
    if cell and st.session_state.get("cm_cell") != list(cell):
        st.session_state["cm_true"], st.session_state["cm_pred"] = classes[cell[0]], classes[cell[1]]
    st.session_state["cm_cell"] = list(cell) if cell else None


st.title("6 · Evaluate")
run_id = runs.pick()
if not run_id:
    st.info("No finished run yet: train one on the **Train** step.")
    st.stop()
owner = runs.owner_of(run_id)  # the browser's own, or a student's (teacher view, read-only)
run = queue.run(run_id, owner)
lists = queue.lists(run_id, owner)
if run["dataset_gone"]:
    st.info(f"Dataset **{run['dataset']}** was deleted since this run; it keeps its own images, shown here.")
report = run.get("evaluation")
if not report:
    st.warning("This run has no evaluation (its dataset had no test or validation images).")
    st.stop()
if report.get("task") == "multilabel":
    multilabel.evaluation(report, run_id, {r.id: r for r in lists.train + lists.val + lists.test})
    st.stop()
classes = run["summary"]["classes"]
by_id = {r.id: r for r in lists.train + lists.val + lists.test}  # the run's own lists, as pinned at submit

m1, m2, m3, m4 = st.columns(4)
m1.metric(f"{SPLIT_NAMES.get(report['split'], report['split'])} accuracy", words.percent(report["accuracy"]))
m2.metric("images", report["images"])
m3.metric("calibration error (ECE)", words.number(report["calibration"]["ece"]), help="0 = confidences match accuracy")
m4.metric("chance level", words.percent(1 / len(classes)))
low, high = words.wilson(round(report["accuracy"] * report["images"]), report["images"])
st.caption(words.interval_sentence(report["images"], low, high))
if report.get("balanced_accuracy") is not None:
    st.caption(f"Balanced accuracy (every class counts the same, however many images it has): "
               f"**{words.percent(report['balanced_accuracy'])}**. "
               + words.balanced_sentence(report["accuracy"], report["balanced_accuracy"]))


def report_button() -> None:
    """Build the report on demand (Grad-CAM and charts take seconds), then offer it as a download."""
    key = f"report:{run_id}"
    left, right = st.columns([1, 3])
    if left.button("Build the report", key="report-build", icon=":material/description:"):
        try:
            with st.spinner("Writing the report: evaluation, charts and heat maps…"):
                companions = [queue.run(c, owner) for c in run["companions"]]
                built = reports.build(run, companions, lists, subdir("reports") / run_id / "report.html")
            with open(built["path"], "rb") as fh:
                st.session_state[key] = (fh.read(), built)
        except UserError as exc:
            st.error(str(exc))
    if key in st.session_state:
        content, built = st.session_state[key]
        left.download_button("Download report.html", content, file_name=f"{run_id}-report.html", mime="text/html",
                             key="report-download", icon=":material/download:")
        right.caption(f"One file of {words.number(built['size_kb'])} KB that opens offline and prints: the scenario, the "
                      "data, the model, training curves, results, calibration, heat maps, deployment figures and limits.")
    else:
        right.caption("A file to leave behind: the model card's long form, with charts and examples, in one HTML page.")


report_button()

st.subheader("Confusion matrix")
st.caption("Rows: the true class; columns: what the model said. Click a cell (or pick below) to see those images.")
event = widgets.chart(figures.confusion(report["confusion"], classes),
                      chart_words.confusion(report["confusion"], classes), on_select="rerun", selection_mode="points",
                      key="cm", width="stretch")
clicked = [p["customdata"] for p in (event.selection.points if event else []) if p.get("customdata")]
cell_picks(clicked[0] if clicked else None, classes)
c1, c2 = st.columns(2)
true_pick = c1.selectbox("True class", ["any"] + classes, key="cm_true")
pred_pick = c2.selectbox("Predicted class", ["any"] + classes, key="cm_pred")
selected = [p for p in report["predictions"]
            if (true_pick == "any" or classes[p["true"]] == true_pick)
            and (pred_pick == "any" or classes[p["pred"]] == pred_pick)
            and (true_pick != "any" or pred_pick != "any" or p["true"] != p["pred"])]
label = "misclassified images" if true_pick == pred_pick == "any" else f"true {true_pick}, predicted {pred_pick}"
st.markdown(f"**{len(selected)} {label}**")
shown = [p for p in selected if p["image_id"] in by_id][:24]
if shown:
    st.image([cached.thumbnail(by_id[p["image_id"]].sha256) for p in shown], width=96,
             caption=[picture_words.judged(classes[p["true"]], classes[p["pred"]], p["prob"],
                                           by_id[p["image_id"]].original) for p in shown])

left, right = st.columns(2)
with left:
    st.subheader("Per class")
    st.dataframe(words.table(report["per_class"], {"class": "class", "precision": "precision", "recall": "recall",
                                                   "f1": "F1", "support": "images"},
                             {f: words.percent for f in ("precision", "recall", "f1")}), hide_index=True, width="stretch")
with right:
    st.subheader("Reliability")
    bins = report["calibration"]["bins"]
    widgets.chart(figures.reliability(bins), chart_words.reliability(bins), width="stretch", key="rel")

st.subheader("Top losses")
st.caption("The images with the highest loss: wrong answers, and right answers the model was unsure about. Each "
           "card says the true class → what the model said (✓ right, ✗ wrong) and how sure it was. Label errors "
           "and hard cases live here.")
losses = [t for t in report["top_losses"] if t["image_id"] in by_id][:16]
if losses:
    st.image([cached.thumbnail(by_id[t["image_id"]].sha256) for t in losses], width=96,
             caption=[picture_words.judged(t["true"], t["pred"], t["prob"], by_id[t["image_id"]].original)
                      for t in losses])

if owner == state.token():  # a teacher's view of a student's run is read-only
    cleaner.show(run, lists, owner)

def unique_labels(rows: list[dict]) -> dict[str, str]:
    """Column headings for runs: two runs of the same minute and kind get "(2)", so neither column is lost."""
    out: dict[str, str] = {}
    for r in rows:
        label, n = words.run_label(r), 1
        while label in out.values():
            n += 1
            label = f"{words.run_label(r)} ({n})"
        out[r["id"]] = label
    return out


st.subheader("Compare with other runs")
others = [r for r in queue.runs(owner) if r["status"] == "succeeded" and r["id"] != run_id]
named = {r["id"]: words.run_label(r) for r in others}
chosen = st.multiselect("Runs", list(named), key="compare", format_func=named.get)
if chosen:
    rows = [r for r in queue.runs(owner) if r["id"] in [run_id, *chosen]]
    tests = {r["id"]: {x.sha256 for x in queue.lists(r["id"], owner).test} for r in rows}
    for r in rows:
        r["same test images"] = "yes" if tests[r["id"]] == tests[run_id] else f"no ({len(tests[r['id']])} images)"
        r["tested"] = words.accuracy_interval(r["test_accuracy"], len(tests[r["id"]]))
    if any(r["same test images"] != "yes" for r in rows):
        st.warning("Some of these runs were tested on different images (another dataset, split or version of it): "
                   "their accuracies are not directly comparable.")
    st.dataframe(words.table(rows, {"created": "submitted", "role": "role", "backbone": "backbone", "scenario": "scenario",
                                    "dataset": "dataset", "val_accuracy": "validation accuracy",
                                    "tested": "test accuracy", "same test images": "same test images",
                                    "seconds": "training time"},
                             {"created": words.started, "role": words.role, "val_accuracy": words.percent, "seconds": words.duration}),
                 hide_index=True, width="stretch")
    legend = {r["id"]: f"{words.started(r['created'])}, {words.role(r['role'])}" for r in rows}
    series = {legend[i]: curves.epoch_series(store.metrics(i, "epoch")) for i in [run_id, *chosen] if i in legend}
    widgets.chart(figures.curves(series, "accuracy", None, "validation accuracy per epoch"),
                  chart_words.curves(series, "accuracy"), width="stretch",
                    key="compare_curves")
    same = [r for r in rows if r["id"] != run_id and r["same test images"] == "yes"]
    if same:
        st.markdown("**Recall per class: the other runs against this one** (the same test images)")
        columns = {"class": "class", "recall": "recall here", **unique_labels(same)}
        changes = evaluate.recall_changes(report, {r["id"]: queue.run(r["id"], owner).get("evaluation") for r in same})
        points = {r["id"]: lambda d: f"{d * 100:+.1f} points" for r in same}
        st.dataframe(words.table(changes, columns, {"recall": words.percent, **points}), hide_index=True, width="stretch")

if not run["dataset_gone"]:
    st.subheader("Feature map")
    st.caption("The test, validation and training images through this run's fine-tuned network, or the pretrained or "
               "random one for contrast: fine-tuning that helped pulls each class together.")
    featuremap.show(run["dataset"], owner, run["config"]["backbone"], run_id=run_id,
                    editable=owner == state.token(), key="eval_fmap")
