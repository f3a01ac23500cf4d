"""What deploying a run would cost on a CPU: an int8 ONNX graph beside the fp32 one it came from, each
measured on this server (file size, latency per image at batch 1), its agreement with the app's own predictions
judged on at least 200 images (`judge_set`: validation, test and augmented training views) and its accuracy on
the run's pinned test list. Below TARGET agreement the card says "keep fp32" (`recommended` false).

Static quantization (QDQ; weights int8 per output channel, activations uint8 calibrated by min/max over
`CALIBRATION_IMAGES` images of the run's training list), not dynamic, and mixed where it must be: when the
all-int8 graph agrees with the app on fewer than TARGET of the judge set, the first convolutions
stay fp32 (8, 16, 24: the first that reaches TARGET, else the best). The table below was measured on 30 test
images, before the judge set (issue 29's note has the figures on 200 and more). Measured with `tools/quantize_bench.py`
(onnxruntime 1.30, 2 threads of an AMD EPYC with AVX-512 VNNI, load average 5 from other jobs: read the
ratios more than the milliseconds; MNIST 20 per class, 30 test images; ResNet-18 from random weights, its
ImageNet weights not being available offline, trained 2 epochs: its size, time and agreement are real, its
accuracy is chance):

| backbone | graph | size | CPU time | agreement | accuracy |
|---|---|---|---|---|---|
| EfficientNet-Lite0, linear probe, 8 epochs | fp32 | 13.1 MB | 25.3 ms | 100% | 83.3% |
| | static int8 (first 8 of 49 convolutions fp32) | 3.8 MB | 13.0 ms | 93.3% | 83.3% |
| | dynamic int8 | 3.5 MB | 232 ms | 76.7% | 73.3% |
| ResNet-18, from scratch, 2 epochs | fp32 | 42.7 MB | 91.6 ms | 100% | 10% |
| | static int8 (all 20 convolutions) | 10.8 MB | 29.0 ms | 100% | 10% |
| | dynamic int8 | 10.8 MB | 246 ms | 96.7% | 13.3% |

Dynamic quantization turns convolutions into ConvInteger, which onnxruntime runs 3-9× slower than the fp32
graph here, and it agreed less; static QDQ halves Lite0's time and divides ResNet-18's by 3. On a linear
probe of Lite0 on scikit-learn's 8×8 digits (fp32 test accuracy 70%, top-two margins of 9 points) the
all-int8 graph agreed on 85% of 100 images and keeping the first 8, 12 or 24 convolutions fp32 on 94%, 98%,
98%; the search kept 16 and agreed on 100% of the test images. Excluding single layers broke the graph
instead (16-33%: a lone excluded convolution leaves its fused ReLU6 behind), hence whole prefixes. Per-tensor
weights agreed less (83% on MNIST), int8 activations ran half as fast, reduce_range agreed less (87%);
keeping the softmax or the head in fp32, percentile or entropy calibration, or calibrating on the whole
training list changed little. `quant_pre_process` first: dynamic quantization fails without its shape
inference; static gains nothing from it but is no worse. On an AVX2 CPU without VNNI, uint8 × int8 products
can saturate; onnxruntime then advises int8 activations (slower here) or reduce_range.
"""
from __future__ import annotations

import inspect
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from core.config import MULTILABEL, RunConfig
from core.data.splits import Splits
from core.errors import UserError
from core.serving import deployment, export, judge_set
from core.serving.predict import load_run

METHODS = ("static", "dynamic")  # static is the one shipped; dynamic stays for the benchmark's comparison
CALIBRATION_IMAGES = 64  # the whole training list (140) calibrated no better, in twice the time
WARMUP, RUNS = 5, 30  # latency: the median of RUNS timed runs after WARMUP untimed ones
BATCH = 16
TARGET = 0.98  # agreement with the app (on the judge set) that ends the search for a mixed graph and recommends it
JUDGE_THREADS = 1  # onnxruntime threads when judging: answers the same on any machine (latency uses every core)
KEPT_FP32 = (0, 8, 16, 24)  # how many convolutions from the input stay fp32, tried in turn


def quantize(run: dict, out: str | Path, lists: Splits, method: str = "static", said=None) -> dict:
    """Export `run` to fp32 ONNX (verified as every export is), quantize it to int8 at `out`, measure
    both, and keep the figures with the run. The JSON contract of `export --quantize int8`. `said(text,
    fraction)` hears each step as it starts (the Export page's progress bar: a minute or more of work)."""
    if method not in METHODS:
        raise UserError(f"quantization method must be one of {', '.join(METHODS)}")
    said = said or (lambda text, fraction: None)
    if RunConfig.from_dict(run["config"]).task == MULTILABEL:
        raise UserError("the int8 deployment card measures agreement and accuracy with one class per image; for a "
                        "multi-label run export the fp32 ONNX (--format onnx without --quantize): its probabilities "
                        "and thresholds are checked against the app")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    said(f"Choosing the images to judge on (at least {judge_set.MIN_IMAGES}) and asking the app about each…", 0.02)
    loaded = load_run(run["id"])
    judged_on = judge_set.build(loaded, lists)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        said("Exporting the fp32 ONNX model and checking it against the app…", 0.15)
        verified = export.export(run, "onnx", folder / "fp32.onnx", lists, quick=True)
        prepared = _prepared(folder / "fp32.onnx", folder / "prepared.onnx")
        chosen, answers = BUILDERS[method](prepared, out, loaded, lists, folder, judged_on, said)
        said(f"Timing both models ({RUNS} runs each) and judging them on {len(judged_on)} images…", 0.85)
        judged = judge(loaded, lists, {"fp32": folder / "fp32.onnx", "int8": out}, judged_on, {"int8": answers})
    facts = {"path": str(out), "format": "onnx", "quantize": "int8", "method": method, "exporter": verified["exporter"],
             **_contract(judged), **chosen, "cpu": cpu_name(), "threads": threads(), "runs": RUNS}
    deployment.save(run["id"], facts)
    said("Done.", 1.0)
    return facts


def _contract(judged: dict) -> dict:
    fp32, int8 = judged["fp32"], judged["int8"]
    return {"size_mb": int8["size_mb"], "fp32_size_mb": fp32["size_mb"], "latency_ms": int8["latency_ms"],
            "fp32_latency_ms": fp32["latency_ms"], "agreement": int8["agreement"], "fp32_agreement": fp32["agreement"],
            "accuracy": int8["accuracy"], "fp32_accuracy": fp32["accuracy"], "images": judged["images"],
            "split": judged["split"], "accuracy_images": judged["accuracy_images"], "changed": int8["changed"],
            "judged_on": judged["judged_on"], "recommended": int8["agreement"] >= TARGET}


def _prepared(model: Path, out: Path) -> Path:
    """Shape inference and graph clean-up onnxruntime asks for before quantizing."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(model), str(out))
    return out


def _calibration(loaded, lists: Splits) -> np.ndarray:
    """Up to CALIBRATION_IMAGES training images, spread over the list (it is ordered by class)."""
    records = lists.train or lists.val
    if not records:
        raise UserError("this run has no training images to calibrate the int8 model on")
    step = max(1, len(records) // CALIBRATION_IMAGES)
    return judge_set.crops(loaded, records[::step][:CALIBRATION_IMAGES]).numpy()  # no forward pass: images only


def _tuned_static(prepared: Path, out: Path, loaded, lists: Splits, folder: Path, judged_on, said) -> tuple:
    """Every layer int8 first; while that agrees with the app on fewer than TARGET of the judge set (validation,
    test and augmented training views: `judge_set`), the first convolutions stay fp32 (KEPT_FP32, `search_order`).
    The candidate with the fewest fp32 layers reaching TARGET is kept, else the one agreeing most (the fewest
    fp32 layers on a tie). Returns its facts and its answers on the judge set (`judge` need not ask again)."""
    calibration = _calibration(loaded, lists)
    convolutions = len(_nodes_before(prepared, None))
    candidates = [k for k in KEPT_FP32 if k < convolutions]
    tried: dict[int, tuple] = {}
    order = search_order(candidates)
    kept = next(order)
    while kept is not None:
        said(f"Quantizing: {'every layer int8' if not kept else f'the first {kept} convolutions kept fp32'} "
             f"(try {len(tried) + 1}, at most {len(candidates)}, until it agrees with the app on {TARGET:.0%})…",
             0.3 + 0.55 * len(tried) / len(candidates))
        candidate = folder / f"int8-{kept}.onnx"
        _static(prepared, candidate, calibration, _nodes_before(prepared, kept), folder / "ranges.json")
        answers = _said(_session(candidate, JUDGE_THREADS), judged_on.images.numpy())
        same = answers == judged_on.reference
        tried[kept] = (round(float(same.float().mean()), 4), -kept, candidate,
                       same[:judged_on.counts["validation"]], answers)
        kept = order.send(tried[kept][0] >= TARGET)
    reaching = [t for t in tried.values() if t[0] >= TARGET]
    agreement, kept, best, on_val, answers = max(reaching, key=lambda t: t[1]) if reaching else \
        max(tried.values(), key=lambda t: t[:2])
    shutil.move(best, out)
    return {"fp32_convolutions": -kept, "convolutions": convolutions, "search_agreement": agreement,
            "tries": len(tried), "validation_agreement": round(float(on_val.float().mean()), 4) if len(on_val) else None}, \
        answers


def search_order(candidates: list[int]):
    """Which candidate to try next, told after each whether it reached TARGET (a generator: `send` the verdict;
    None ends). All-int8 first; when it falls short, the most fp32 layers next: when even that falls short,
    none between will reach TARGET (agreement grows with the layers kept fp32: 85, 94, 98, 98 % for 0, 8, 12,
    24 on the 8×8 digits probe), so the search ends after two tries instead of four, the card saying "keep
    fp32". When it reaches TARGET, the ones between are tried from the fewest, and the first that reaches it
    ends the search."""
    if not candidates:
        yield None
        return
    if (yield candidates[0]) or len(candidates) == 1:
        yield None
        return
    if not (yield candidates[-1]):
        yield None
        return
    for kept in candidates[1:-1]:
        if (yield kept):
            break
    yield None


def _nodes_before(model: Path, kept: int | None) -> list[str]:
    """The names of every node before the (kept + 1)-th convolution: the first `kept` convolutions with the
    activations and additions between them, a clean cut (excluding a lone convolution leaves its fused
    ReLU6 behind and broke the graph: 16% agreement). With `kept=None`: every convolution's name."""
    import onnx

    nodes = onnx.load(str(model), load_external_data=False).graph.node
    if kept is None:
        return [n.name for n in nodes if n.op_type == "Conv"]
    names, seen = [], 0
    for node in nodes:
        seen += node.op_type == "Conv"
        if seen > kept:
            break
        names.append(node.name)
    return names


def _static(model: Path, out: Path, calibration: np.ndarray, keep_fp32: list[str], ranges: Path) -> None:
    """One candidate graph. The activation ranges are measured once and kept in `ranges` for the next candidates
    (onnxruntime 1.30's calibration cache: the candidates differ only in the layers left fp32; calibrating each
    anew was 28 s a candidate at load 8, most of the search)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    cached = {"calibration_cache_path": str(ranges)} if "calibration_cache_path" in \
        inspect.signature(quantize_static).parameters else {}
    quantize_static(str(model), str(out), _Reader(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=keep_fp32,
                    **cached)


def _dynamic(model: Path, out: Path, _loaded, _lists, _folder, _judged_on, _said) -> tuple:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(model), str(out), weight_type=QuantType.QInt8)
    return {}, None


BUILDERS = {"static": _tuned_static, "dynamic": _dynamic}


class _Reader:
    """The calibration images in batches of BATCH, fed once (onnxruntime's CalibrationDataReader is any
    class with `get_next`: its `__subclasshook__` says so, and no onnxruntime import is needed here)."""

    def __init__(self, images: np.ndarray):
        self._batches = iter([{"image": images[i:i + BATCH]} for i in range(0, len(images), BATCH)])

    def get_next(self) -> dict | None:
        return next(self._batches, None)


# ---- measuring -----------------------------------------------------------------------------------------
def judge(loaded, lists: Splits, graphs: dict[str, Path], judged_on, known: dict | None = None) -> dict:
    """Each graph's size, latency, agreement with the app's own predictions (the PyTorch model, as predict
    serves it) on the judge set, and accuracy on the run's pinned test list (validation if it has none).
    `known`: a graph's answers on the judge set already had (on JUDGE_THREADS, as here), not asked again."""
    split = "test" if lists.test else "val"
    where = slice(len(lists.val), len(lists.val) + len(lists.test)) if lists.test else slice(0, len(lists.val))
    labels = torch.tensor([r.label for r in getattr(lists, split)], dtype=torch.long)
    out = {"split": split, "images": len(judged_on), "accuracy_images": len(labels), "judged_on": judged_on.counts}
    for name, path in graphs.items():
        out[name] = _measure(path, judged_on, where, labels, (known or {}).get(name))
    return out


def _measure(path: Path, judged_on, where: slice, labels: torch.Tensor, said: torch.Tensor | None = None) -> dict:
    said = _said(_session(path, JUDGE_THREADS), judged_on.images.numpy()) if said is None else said
    images = judged_on.images[:1].numpy()
    return {"size_mb": round(path.stat().st_size / 2 ** 20, 2), "latency_ms": round(latency_ms(_session(path), images), 2),
            "agreement": round(float((said == judged_on.reference).float().mean()), 4),
            "changed": int((said != judged_on.reference).sum()),
            "accuracy": round(float((said[where] == labels).float().mean()), 4) if len(labels) else None}


def _said(session, images: np.ndarray) -> torch.Tensor:
    """The class each image gets from an onnxruntime session."""
    probs = np.concatenate([session.run(None, {"image": images[i:i + BATCH]})[0] for i in range(0, len(images), BATCH)])
    return torch.from_numpy(probs).argmax(-1)


def _session(path: Path, count: int | None = None):
    """A session on `count` threads (default: every core this process may use, as a deployment here would)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = count or threads()  # said, not left to onnxruntime's guess: reproducible
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def latency_ms(session, image: np.ndarray) -> float:
    """Median milliseconds per run of one image (batch 1) over RUNS runs, after WARMUP untimed ones."""
    for _ in range(WARMUP):
        session.run(None, {"image": image})
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        session.run(None, {"image": image})
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def threads() -> int:
    """The cores this process may use: what a deployment on this server would have."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "an unknown CPU"
