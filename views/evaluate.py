"""Step 6: how the model does on held-out images. Click a confusion-matrix cell to see those images."""
import pandas as pd
import streamlit as st

from core.runs import queue, store
from core.training import curves
from ui import cached, cleaner, figures, runs, state

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
classes = run["summary"]["classes"]
by_id = {r.id: r for r in lists.train + lists.val + lists.test}  # the run's own lists, as pinned at submit

m1, m2, m3, m4 = st.columns(4)
m1.metric(f"{report['split']} accuracy", f"{report['accuracy']:.1%}")
m2.metric("images", report["images"])
m3.metric("calibration error (ECE)", f"{report['calibration']['ece']:.3f}", help="0 = confidences match accuracy")
m4.metric("chance level", f"{1 / len(classes):.1%}")

st.subheader("Confusion matrix")
st.caption("Rows: the true class; columns: what the model said. Click a cell (or pick below) to see those images.")
event = st.plotly_chart(figures.confusion(report["confusion"], classes), on_select="rerun", selection_mode="points",
                        key="cm", width="stretch")
clicked = [p["customdata"] for p in (event.selection.points if event else []) if p.get("customdata")]
c1, c2 = st.columns(2)
true_pick = c1.selectbox("True class", ["any"] + classes, key="cm_true")
pred_pick = c2.selectbox("Predicted class", ["any"] + classes, key="cm_pred")
if clicked:
    true_pick, pred_pick = classes[clicked[0][0]], classes[clicked[0][1]]
selected = [p for p in report["predictions"]
            if (true_pick == "any" or classes[p["true"]] == true_pick)
            and (pred_pick == "any" or classes[p["pred"]] == pred_pick)
            and (true_pick != "any" or pred_pick != "any" or p["true"] != p["pred"])]
label = "misclassified images" if true_pick == pred_pick == "any" else f"true {true_pick}, predicted {pred_pick}"
st.markdown(f"**{len(selected)} {label}**")
shown = [p for p in selected if p["image_id"] in by_id][:24]
if shown:
    st.image([cached.thumbnail(by_id[p["image_id"]].sha256) for p in shown], width=80,
             caption=[f"{classes[p['pred']]} {p['prob']:.0%}" for p in shown])

left, right = st.columns(2)
with left:
    st.subheader("Per class")
    st.dataframe(pd.DataFrame(report["per_class"]), hide_index=True, width="stretch")
with right:
    st.subheader("Reliability")
    st.plotly_chart(figures.reliability(report["calibration"]["bins"]), width="stretch", key="rel")

st.subheader("Top losses")
st.caption("The images the model was most confidently wrong about: label errors and hard cases live here.")
losses = [t for t in report["top_losses"] if t["image_id"] in by_id][:16]
if losses:
    st.image([cached.thumbnail(by_id[t["image_id"]].sha256) for t in losses], width=80,
             caption=[f"{t['true']}→{t['pred']} {t['prob']:.0%}" for t in losses])

if owner == state.token():  # a teacher's view of a student's run is read-only
    cleaner.show(run, lists, owner)

st.subheader("Compare with other runs")
others = [r for r in queue.runs(owner) if r["status"] == "succeeded" and r["id"] != run_id]
chosen = st.multiselect("Runs", [r["id"] for r in others], key="compare",
                        format_func=lambda i: next(f"{r['id']} · {r['backbone']} · {r['role']}" for r in others if r["id"] == i))
if chosen:
    rows = [r for r in queue.runs(owner) if r["id"] in [run_id, *chosen]]
    tests = {r["id"]: {x.sha256 for x in queue.lists(r["id"], owner).test} for r in rows}
    for r in rows:
        r["same test images"] = "yes" if tests[r["id"]] == tests[run_id] else f"no ({len(tests[r['id']])} images)"
    if any(r["same test images"] != "yes" for r in rows):
        st.warning("Some of these runs were tested on different images (another dataset, split or version of it): "
                   "their accuracies are not directly comparable.")
    st.dataframe(pd.DataFrame(rows)[["id", "role", "backbone", "scenario", "dataset", "val_accuracy", "test_accuracy",
                                     "same test images", "seconds"]],
                 hide_index=True, width="stretch")
    series = {i: curves.epoch_series(store.metrics(i, "epoch")) for i in [run_id, *chosen]}
    st.plotly_chart(figures.curves(series, "accuracy", None, "validation accuracy per epoch"), width="stretch",
                    key="compare_curves")
