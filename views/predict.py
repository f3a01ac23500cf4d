"""Step 7: the playground. Upload images, take a picture or pick a test image: top-k, a heat map of
where the model looks (Grad-CAM, Grad-CAM++ or EigenCAM), "not sure" below a confidence threshold and
"unknown" where predict says a picture is unlike the training images. The run can be shared by link."""
import pandas as pd
import streamlit as st

from core import data
from core.config import CAM_METHODS
from core.data import decode
from core.errors import UserError
from core.runs import queue
from core.serving import predict
from ui import figures, predictions, runs, share, widgets, words

CAM_NAMES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "eigencam": "EigenCAM"}
CAM_HOW = {"gradcam": "where the class score's gradient points",
           "gradcam++": "the same, fairer to several objects of one class",
           "eigencam": "no gradients: the features' main pattern, whatever the class"}

st.title("7 · Predict")
run_id = runs.pick()
if not run_id:
    st.info("No finished run yet: train one on the **Train** step.")
    st.stop()
loaded = predict.load_run(run_id)
share.panel(run_id)
test = queue.lists(run_id, runs.owner_of(run_id)).test  # the run's own test list, fixed when it was submitted
threshold = st.slider("Say \"not sure\" below this confidence", 0.0, 1.0, predictions.suggested(run_id), 0.05,
                      key="threshold", help=predictions.suggestion_text(run_id))
if predictions.unknown_text(run_id):
    st.caption(predictions.unknown_text(run_id))
show_cam = st.toggle("Show where the model looks", value=True, key="cam_on")
method = st.radio("Heat map", CAM_METHODS, horizontal=True, key="cam_method", format_func=CAM_NAMES.get,
                  disabled=not show_cam, captions=[CAM_HOW[m] for m in CAM_METHODS])

tab_upload, tab_camera, tab_test = st.tabs(["Upload", "Camera", "From the test split"])
pictures: list[tuple[str, object]] = []
with tab_upload:
    st.caption(widgets.upload_limit())
    uploads = st.file_uploader("Images", accept_multiple_files=True, key="pred_upload") or []
    pictures += [(name, picture) for name, picture, _ in predictions.pictures(uploads)]
with tab_camera:
    shot = st.camera_input("Take a picture", key="pred_cam")
    pictures += [("camera", picture) for _, picture, _ in predictions.pictures([shot] if shot else [])]
with tab_test:
    if test:
        picks = st.multiselect("Test images", [r.id for r in test], key="pred_test",
                               format_func=lambda i: next(f"{r.class_name}/{r.original.split('/')[-1]}" for r in test if r.id == i))
        pictures += [(f"test #{r.id} ({r.class_name})", decode(data.read_bytes(r.sha256))) for r in test if r.id in picks]

if not pictures:
    st.caption(f"Classes this model knows: {', '.join(loaded.classes)}.")
    st.stop()
judged = predict.judge(run_id, [p for _, p in pictures], k=min(5, len(loaded.classes)))
tops = [row["top"] for row in judged]
if len(pictures) > 1:
    st.dataframe(pd.DataFrame([{"image": name, "prediction": predictions.verdict(row["top"], threshold, row["unknown"]),
                                "top-1": row["top"][0]["label"], "confidence": words.percent(row["top"][0]["prob"]),
                                "unlike the training images": words.number(row["ood_score"])}
                               for (name, _), row in zip(pictures, judged)]), hide_index=True, width="stretch")
for (name, picture), top, row in zip(pictures, tops, judged):
    with st.container(border=True):
        st.markdown(f"**{name}** → {predictions.explained(top, threshold, row['unknown'])}")
        left, right = st.columns([1, 2])
        if show_cam:
            try:
                cam = predictions.heat_map(run_id, picture, method)
                told = "strongest features (any class)" if method == "eigencam" else f"evidence for {cam['label']}"
                left.image(cam["overlay"], caption=f"{CAM_NAMES[method]}: {told}", width="stretch")
            except UserError as exc:
                left.image(picture, width="stretch")
                left.caption(str(exc))
        else:
            left.image(picture, width="stretch")
        right.plotly_chart(figures.top_k(top, threshold), width="stretch", key=f"topk-{name}")
