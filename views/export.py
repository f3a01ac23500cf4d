"""Step 8: take the model out. Each export is checked against the app's own predictions; the deployment
card says what an int8 model for a CPU would cost, measured on this server."""
import time

import streamlit as st

from core.config import EXPORT_FORMATS
from core.errors import UserError
from core.paths import subdir
from core.runs import queue, speeds, store
from core.serving import card, deployment, export, quantize
from ui import runs, state, words

st.title("8 · Export")
run_id = runs.pick()
if not run_id:
    st.info("No finished run yet: train one on the **Train** step.")
    st.stop()
if runs.student_of(run_id):
    st.info("Exports are the student's to make: open Evaluate or Predict to look at this run.")
    st.stop()
TITLES = {"onnx": ("ONNX (preprocessing inside the graph)", "model.onnx"),
          "torchscript": ("TorchScript", "model.torchscript.pt"),
          "safetensors": ("safetensors + RunConfig JSON + model card (zip)", "model-bundle.zip")}
FORMATS = {fmt: TITLES.get(fmt, (fmt, f"model.{fmt}")) for fmt in EXPORT_FORMATS}  # the engine's list
run = queue.run(run_id, state.token())


def deployment_table(measured: dict):
    """fp32 against int8, in words: "3.8 MB", "8.6 ms", "93.3%"."""
    rows = [{"": name, "file size": card.megabytes(measured[f"{key}size_mb"]),
             "CPU time per image": card.milliseconds(measured[f"{key}latency_ms"]),
             "agrees with the app": words.percent(measured[f"{key}agreement"]),
             "accuracy": words.percent(measured[f"{key}accuracy"])}
            for name, key in (("fp32 (as trained)", "fp32_"), ("int8", ""))]
    return words.table(rows, {k: k or "model" for k in rows[0]})


def int8_wait() -> str:
    """From this server's own int8 builds of this backbone (measured, kept per backbone)."""
    took = speeds.int8_estimate(run["backbone"])
    if took is None:
        return "the first on this server for this backbone: a minute or a few"
    return words.about(took["seconds"], took["low"], took["high"]) + ", as measured here before"


def deployment_card() -> None:
    with st.container(border=True):
        st.markdown("**Deployment card: int8 ONNX for a CPU**")
        st.caption("The ONNX model quantized to 8-bit integers, calibrated on images of the run's training list, "
                   "then both files measured here: size, CPU time for one image (the median of 30 runs), how often it "
                   "says what the app says (on the validation and test images and augmented views of training "
                   "images, at least 200), and how often it is right on the test images.")
        if st.button("Quantize and measure", key="build-int8"):
            path = subdir("exports") / run_id / "model-int8.onnx"
            # a bar from the click, moved by each step as it starts (a spinner said nothing of how far it was
            # for the minute or more this takes: issue 34)
            bar = st.progress(0.0, text=f"Exporting, quantizing and timing both models ({int8_wait()})…")
            try:
                started = time.monotonic()
                quantize.quantize(run, path, queue.lists(run_id, state.token()),
                                  said=lambda text, fraction: bar.progress(fraction, text=text))
                store.add_metric(run_id, {"event": "int8_build", "seconds": round(time.monotonic() - started, 1)})
                store.add_artifact(run_id, "onnx-int8", str(path))
            except UserError as exc:
                st.error(str(exc))
            bar.empty()
        measured = deployment.measured(run_id)
        if not measured:
            return
        st.table(deployment_table(measured).set_index("model"))
        st.caption(f"Measured on {measured['cpu']} with {measured['threads']} thread(s), one image at a time; "
                   f"agreement on {card.judged_on(measured)}.")
        if not card.recommended(measured):
            st.warning(f"{card.verdict(measured)} (int8 is offered where it says what the app says on 98% of the "
                       "images or more).")
            return
        _download(measured["path"], "Download model-int8.onnx", f"{run_id}-model-int8.onnx", "dl-int8")


def _download(path: str, label: str, name: str, key: str) -> None:
    try:
        with open(path, "rb") as fh:
            st.download_button(label, fh.read(), file_name=name, key=key)
    except FileNotFoundError:
        st.caption("The file was removed since; measure again to rebuild it.")


st.caption("Every exported model takes a batch of colour images with pixel values 0–255, at the model's input "
           "size (channels first, as PyTorch orders them), and returns class probabilities. It is verified by re-scoring the validation images.")
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
                f"{result.get('agreement_of', 'top-1')} agreement {result['agreement']:.2%} on {result['images']} "
                "validation images, "
                f"max probability difference {words.number(result['max_prob_diff'])}")
            _download(result["path"], f"Download {filename}", f"{run_id}-{filename}", f"dl-{fmt}")
deployment_card()
model_card = card.model_card(run)
with st.expander("Model card", expanded=True):
    st.markdown(model_card)
st.download_button("Download the model card", model_card, file_name=f"{run_id}-MODEL_CARD.md", key="dl-card")
