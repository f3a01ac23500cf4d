"""Step 7: the playground. Upload images, take a picture or pick a test image: top-k, a heat map of
where the model looks (Grad-CAM, Grad-CAM++ or EigenCAM), "not sure" below a confidence threshold and
"unknown" where predict says a picture is unlike the training images. The run can be shared by link.

The playground is a fragment: a picked image, a moved slider or another heat map reruns it alone, not the
run picker, the share panel and the sidebar above it; what it draws is cached by the pictures' content
(issue 34: each such click reran the whole page and drew every answer again, 4-5 s a click at load 4)."""
import pandas as pd
import streamlit as st

from core.config import CAM_METHODS
from core.runs import queue
from core.serving import predict
from ui import chart_words, picture_words, predictions, runs, share, widgets, words

CAM_NAMES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "eigencam": "EigenCAM"}
CAM_HOW = {"gradcam": "where the class score's gradient points",
           "gradcam++": "the same, fairer to several objects of one class",
           "eigencam": "no gradients: the features' main pattern, whatever the class"}


@st.fragment
def playground(run_id: str, classes: list[str], test: list) -> None:
    multi = predictions.is_multilabel(run_id)
    if multi:
        threshold = 0.0  # each label has its own, chosen on the validation images
        st.caption("Several labels per image: each label is a yes or no of its own, ✓ where its probability reaches "
                   "the label's threshold (chosen on the validation images when training ended).")
    else:
        threshold = st.slider("Say \"not sure\" below this confidence", 0.0, 1.0, predictions.suggested(run_id), 0.05,
                              key="threshold", help=predictions.suggestion_text(run_id))
    if predictions.unknown_text(run_id):
        st.caption(predictions.unknown_text(run_id))
    show_cam = st.toggle("Show where the model looks", value=True, key="cam_on")
    method = st.radio("Heat map", CAM_METHODS, horizontal=True, key="cam_method", format_func=CAM_NAMES.get,
                      disabled=not show_cam, captions=[CAM_HOW[m] for m in CAM_METHODS])
    pictures = gather(test)
    if not pictures:
        st.caption(f"Classes this model knows: {', '.join(classes)}.")
        return
    found = predictions.answers(run_id, pictures, min(5, len(classes)), method if show_cam else None)
    if len(pictures) > 1:
        st.dataframe(pd.DataFrame([{"image": name, "prediction": predictions.labels_line(row).replace("**", "") if multi
                                    else predictions.verdict(row["top"], threshold, row["unknown"]),
                                    "top-1": row["top"][0]["label"], "confidence": words.percent(row["top"][0]["prob"]),
                                    "unlike the training images": words.number(row["ood_score"])}
                                   for (name, _, _), (row, _) in zip(pictures, found)]), hide_index=True, width="stretch")
    for index, (picture, (row, cam)) in enumerate(zip(pictures, found)):
        answer(index, picture, row, cam, threshold, method if show_cam else None, run_id)


def gather(test: list) -> list[tuple[str, str, object]]:
    """(name, content key, picture) from the three tabs."""
    tab_upload, tab_camera, tab_test = st.tabs(["Upload", "Camera", "From the test split"])
    pictures = []
    with tab_upload:
        st.caption(widgets.upload_limit())
        uploads = st.file_uploader("Images", accept_multiple_files=True, key="pred_upload") or []
        pictures += [(name, predictions.digest(raw), picture) for name, picture, raw in predictions.pictures(uploads)]
    with tab_camera:
        shot = st.camera_input("Take a picture", key="pred_cam")
        pictures += [("camera", predictions.digest(raw), picture)
                     for _, picture, raw in predictions.pictures([shot] if shot else [])]
    with tab_test:
        if test:
            names = {r.id: f"{r.class_name}/{r.original.split('/')[-1]}" for r in test}
            # No "Select all": as the list's first entry, one click ran 40 images with heat maps (91 s).
            picks = set(st.multiselect("Test images", list(names), key="pred_test", format_func=names.get,
                                       select_all=False))
            pictures += [(f"test #{r.id} ({r.class_name})", r.sha256, predictions.stored_picture(r.sha256))
                         for r in test if r.id in picks]
    return pictures


def answer(index: int, picture: tuple[str, str, object], row: dict, cam: dict | str | None, threshold: float,
           method: str | None, run_id: str | None = None) -> None:
    name, key, image = picture
    with st.container(border=True):
        if isinstance(cam, dict) and "labels" in row and method != "eigencam":  # several labels: a map per label
            names = [x["label"] for x in row["labels"]]
            chosen = st.selectbox("Heat map for the label", names, index=names.index(cam["label"]),
                                  key=f"cam-label-{index}-{key[:12]}")
            if chosen != cam["label"]:
                cam = predictions.heat_map(run_id, key, method, len(names), image, names.index(chosen))
        said = predictions.labels_line(row) if "labels" in row else predictions.explained(row["top"], threshold,
                                                                                           row["unknown"])
        st.markdown(f"**{name}** → {said}")
        left, right = st.columns([1, 2])
        if isinstance(cam, dict):
            told = "strongest features (any class)" if method == "eigencam" else f"evidence for {cam['label']}"
            left.image(cam["overlay"], caption=picture_words.heat_map(CAM_NAMES[method], name, row["top"][0]["label"], told),
                       width="stretch")
        else:
            left.image(predictions.shown(key, image), caption=picture_words.predicted(name, row["top"]), width="stretch")
            if cam:
                left.caption(cam)  # why there is no heat map
        if "labels" in row:  # a multi-label answer: each label against its own threshold
            right.dataframe(pd.DataFrame([{"label": x["label"], "probability": f"{x['probability']:.2f}",
                                           "threshold": f"{x['threshold']:.2f}", "on": "✓" if x["on"] else ""}
                                          for x in row["labels"]]), hide_index=True)
            return
        widgets.chart(predictions.top_k_figure(row["top"], threshold), chart_words.top_k(row["top"], threshold), right,
                      width="stretch", key=f"topk-{index}-{key[:12]}")


st.title("7 · Predict")
chosen = runs.pick()
if not chosen:
    st.info("No finished run yet: train one on the **Train** step.")
    st.stop()
known = predict.load_run(chosen).classes  # the model loads once per server, here, before any click waits on it
share.panel(chosen)
playground(chosen, known, queue.lists(chosen, runs.owner_of(chosen)).test)  # the run's own test list
