"""Step 8: take the model out. Each export is checked against the app's own predictions."""
import streamlit as st

from core.config import EXPORT_FORMATS
from core.errors import UserError
from core.paths import subdir
from core.runs import queue, store
from core.serving import export
from ui import runs, state

st.title("8 · Export")
run_id = runs.pick()
if not run_id:
    st.info("No finished run yet: train one on the **Train** step.")
    st.stop()
TITLES = {"onnx": ("ONNX (preprocessing inside the graph)", "model.onnx"),
          "torchscript": ("TorchScript", "model.torchscript.pt"),
          "safetensors": ("safetensors + RunConfig JSON + model card (zip)", "model-bundle.zip")}
FORMATS = {fmt: TITLES.get(fmt, (fmt, f"model.{fmt}")) for fmt in EXPORT_FORMATS}  # the engine's list
run = queue.run(run_id, state.token())
st.caption("Every exported model takes a uint8-range image batch (N, 3, H, W, values 0–255) at the model's input "
           "size and returns class probabilities. It is verified by re-scoring the validation images.")
for fmt, (title, filename) in FORMATS.items():
    with st.container(border=True):
        st.markdown(f"**{title}**")
        key = f"export:{run_id}:{fmt}"
        if st.button("Build and verify", key=f"build-{fmt}"):
            path = subdir("exports") / run_id / filename
            try:
                with st.spinner("Exporting and re-scoring the validation split…"):
                    st.session_state[key] = export.export(run, fmt, path, queue.lists(run_id, state.token()))
                store.add_artifact(run_id, fmt, str(path))
            except UserError as exc:
                st.error(str(exc))
        result = st.session_state.get(key)
        if result:
            ok = result["agreement"] >= 0.99
            (st.success if ok else st.warning)(
                f"top-1 agreement {result['agreement']:.2%} on {result['images']} validation images, "
                f"max probability difference {result['max_prob_diff']:.1e}")
            with open(result["path"], "rb") as fh:
                st.download_button(f"Download {filename}", fh.read(), file_name=f"{run_id}-{filename}", key=f"dl-{fmt}")
card = export.model_card(run)
with st.expander("Model card", expanded=True):
    st.markdown(card)
st.download_button("Download the model card", card, file_name=f"{run_id}-MODEL_CARD.md", key="dl-card")
