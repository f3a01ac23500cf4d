"""The page a share link opens (`/?share=TOKEN`), the only page it opens: try one run's model on your own
pictures. Its classes and test accuracy, a camera and an upload, the top guesses with "not sure" and
"unknown", and nothing else: no workspace is made or read, no training image, no heat map, no export.

Each new picture counts against the link's minute (`shares.LIMIT`); a picture already answered in this
browser session is shown again without asking the model (moving the slider costs nothing)."""
import hashlib

import streamlit as st

from core.runs import shares
from core.serving import predict
from ui import chart_words, picture_words, predictions, widgets, words

token = st.query_params.get("share")
try:
    link = shares.open_link(token)
except shares.LinkRefused as exc:
    st.title("Shared model")
    st.info(str(exc))
    st.stop()

classes = link["classes"]
multi = predictions.is_multilabel(link["run"])
st.title("Try this model")
if multi:  # several labels per image: each a yes or no at its own threshold
    st.markdown(f"Someone trained this model with TransferLab and shared it with you. For each of **{len(classes)} "
                f"labels** ({', '.join(classes)}) it says yes (✓) or no; a picture may get several, or none of them.")
    st.caption(f"Every label right on {words.accuracy_interval(link['test_accuracy'], link['tested'])} of the test "
               "pictures. It says \"unknown\" where it measures that a picture looks unlike all of its training pictures.")
    threshold = 0.0
else:
    st.markdown(f"Someone trained this model with TransferLab and shared it with you. It tells apart "
                f"**{len(classes)} classes**: {', '.join(classes)}.")
    st.caption(f"Test accuracy: {words.accuracy_interval(link['test_accuracy'], link['tested'])}. A picture of anything "
               "else gets one of these names too, unless the model is not sure, or it measures that the picture looks "
               "unlike all of its training pictures (\"unknown\").")
    threshold = st.slider("Say \"not sure\" below this confidence", 0.0, 1.0, predictions.suggested(link["run"]), 0.05,
                          key="shared_threshold")

tab_camera, tab_upload = st.tabs(["Camera", "Upload"])
with tab_camera:
    shot = st.camera_input("Take a picture", key="shared_cam")
with tab_upload:
    st.caption(widgets.upload_limit())
    uploads = st.file_uploader("Images", accept_multiple_files=True, key="shared_upload") or []
pictures = predictions.pictures(([shot] if shot else []) + list(uploads))
if not pictures:
    st.stop()

answered: dict[str, dict] = st.session_state.setdefault("shared_answers", {})
keys = [hashlib.sha256(raw).hexdigest() for _, _, raw in pictures]
new = [(key, picture) for key, (_, picture, _) in zip(keys, pictures) if key not in answered]
if new:
    try:
        shares.spend(token, len(new))
        rows = predict.judge(link["run"], [picture for _, picture in new], k=min(5, len(classes)))
        answered.update({key: row for (key, _), row in zip(new, rows)})
    except shares.RateLimited as exc:
        st.warning(str(exc))
    except shares.LinkRefused as exc:  # turned off while this page was open
        st.info(str(exc))
        st.stop()

for key, (name, picture, _) in zip(keys, pictures):
    if key not in answered:
        continue
    top = answered[key]["top"]
    with st.container(border=True):
        said = predictions.labels_line(answered[key]) if multi else \
            predictions.explained(top, threshold, answered[key]["unknown"])
        st.markdown(f"**{name}** → {said}")
        left, right = st.columns([1, 2])
        left.image(picture, caption=picture_words.predicted(name, top), width="stretch")
        if multi:
            right.markdown("  \n".join(f"{x['label']}: {x['probability']:.2f} (yes from {x['threshold']:.2f})"
                                       for x in answered[key]["labels"]))
        else:
            widgets.chart(predictions.top_k_figure(top, threshold), chart_words.top_k(top, threshold), right,
                          width="stretch", key=f"shared-top-{key[:16]}")
