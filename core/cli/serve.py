"""CLI commands that use finished runs: predict, explain, export (and its int8 deployment card), evaluate,
report."""
from __future__ import annotations

from pathlib import Path

from core.cli.registry import command, owner_arg, positive_int, read_images, required_run, run_arg, the_run
from core.config import CAM_METHODS, EXPORT_FORMATS, QUANTIZE_MODES
from core.errors import UserError
from core.runs import queue, store


def _predict_args(p):
    required_run(p)
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top", type=positive_int, default=5)
    owner_arg(p)


@command("predict", "a trained run's top-k classes for each image, and whether it looks like none of them",
         _predict_args)
def predict_cmd(args):
    from core.serving import predict

    run_id = args.run_id
    queue.run(run_id, args.owner)
    judged = predict.judge(run_id, read_images(args.images), args.top)
    rows = [{"image": path, **row} for path, row in zip(args.images, judged)]
    text = "\n".join(f"{r['image']}: " + (_labels_text(r) if "labels" in r else
                                          ", ".join(f"{t['label']} {t['prob']:.3f}" for t in r["top"]))
                     + (" (unknown: doesn't look like any of the classes)" if r["unknown"] else "") for r in rows)
    return rows, text


def _labels_text(row: dict) -> str:
    """bottle ✓ 0.91 · can ✓ 0.64 · box 0.08 (a multi-label run: each label against its own threshold)."""
    shown = " · ".join(f"{x['label']}{' ✓' if x['on'] else ''} {x['probability']:.2f}" for x in row["labels"])
    return shown + (" (none of the labels)" if row["none"] else "")


def _explain_args(p):
    required_run(p)
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--method", choices=CAM_METHODS, default="gradcam",
                   help="gradcam: gradients of the class score; gradcam++: weighs each location's gradient, "
                        "better for several objects; eigencam: no gradients, the same map for every class")
    p.add_argument("--class", dest="label", metavar="LABEL", help="explain this class (default: the top one)")
    p.add_argument("--out", metavar="DIR", help="write each picture with its heat map over it as PNG here")
    owner_arg(p)


@command("explain", "where in each image a trained run finds its evidence (a class activation map)", _explain_args)
def explain_cmd(args):
    from core.serving import predict

    queue.run(args.run_id, args.owner)
    classes = predict.load_run(args.run_id).classes
    if args.label is not None and args.label not in classes:
        raise UserError(f"--class {args.label!r} is not one of this run's classes: {', '.join(classes)}")
    index = None if args.label is None else classes.index(args.label)
    names = _overlay_names(args.images, args.method)
    rows = [_explained(args, path, name, predict.explain(args.run_id, picture, index, args.method))
            for path, name, picture in zip(args.images, names, read_images(args.images))]
    text = "\n".join(f"{r['image']}: {r['label']} {r['prob']:.3f}, peak at row {r['peak']['row']:.2f} "
                     f"col {r['peak']['col']:.2f}, {r['hot_fraction']:.0%} hot" for r in rows)
    return rows, text


def _overlay_names(paths: list[str], method: str) -> list[str]:
    """`<stem>-<method>.png`, numbered when two images share a stem (a/x.jpg and b/x.png)."""
    stems = [Path(p).stem for p in paths]
    return [f"{stem}-{method}.png" if stems.count(stem) == 1 else f"{stem}-{i}-{method}.png"
            for i, stem in enumerate(stems)]


def _explained(args, path: str, name: str, cam: dict) -> dict:
    from PIL import Image

    from core.serving import explain

    written = None
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        written = str(Path(args.out) / name)
        Image.fromarray(cam["overlay"]).save(written)
    return {"image": path, "method": args.method, "label": cam["label"], "class_index": cam["index"],
            "prob": round(cam["prob"], 6), **explain.summary(cam["heat"]), "overlay": written}


def _export_args(p):
    required_run(p)
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("--out", required=True, help="output file (safetensors: a zip with weights, config and card)")
    p.add_argument("--quantize", choices=QUANTIZE_MODES,
                   help="onnx only: an int8 graph, measured against the fp32 one (size, CPU time per image, "
                        "agreement and accuracy on the run's test images); the figures are kept with the run")
    owner_arg(p)


@command("export", "export a run and verify it against the app's own predictions", _export_args)
def export_cmd(args):
    from core.serving import export

    if args.quantize and args.format != "onnx":
        raise UserError(f"--quantize {args.quantize} needs --format onnx (got {args.format})")
    run = queue.run(args.run_id, args.owner)
    if args.quantize:
        return _quantized(args, run)
    result = export.export(run, args.format, args.out, queue.lists(run["id"], args.owner))
    store.add_artifact(run["id"], args.format, result["path"])
    return result, (f"{result['format']} → {result['path']}: {result['agreement_of']} agreement {result['agreement']:.4f} on "
                    f"{result['images']} validation images, max probability difference {result['max_prob_diff']:.2e}")


def _quantized(args, run: dict):
    from core.serving import card, quantize

    result = quantize.quantize(run, args.out, queue.lists(run["id"], args.owner))
    store.add_artifact(run["id"], f"onnx-{args.quantize}", result["path"])
    lines = [line.replace("**", "") for line in card.deployment_lines(result)]  # the card's bold is markdown
    return result, f"{args.quantize} ONNX → {result['path']}\n" + "\n".join(lines)


def _report_args(p):
    required_run(p)
    p.add_argument("--out", required=True, help="the HTML file to write (self-contained: it opens offline, prints)")
    owner_arg(p)


@command("report", "one self-contained HTML report of a finished run: the model card's long form", _report_args)
def report_cmd(args):
    from core.serving import report

    run = queue.run(args.run_id, args.owner)
    companions = [queue.run(c, args.owner) for c in run["companions"]]
    result = report.build(run, companions, queue.lists(run["id"], args.owner), args.out)
    store.add_artifact(run["id"], "report", result["path"])
    return result, f"report → {result['path']} ({result['size_kb']} KB): {', '.join(result['sections'])}"


def _evaluate_args(p):
    run_arg(p)
    owner_arg(p)


@command("evaluate", "judge a finished run again on its own pinned test list", _evaluate_args)
def evaluate_cmd(args):
    from core.serving import rescore

    run_id = the_run(args)
    queue.run(run_id, args.owner, epochs=False)
    result = rescore.evaluate_run(run_id, queue.lists(run_id, args.owner))
    if result.get("task") == "multilabel":
        lines = [f"run {run_id}: {result['split']} mAP {result['map']}, subset accuracy {result['subset_accuracy']:.4f} "
                 f"(every label right) on {result['images']} images"]
        lines += [f"  {x['label']}: AP {x['ap']}  P {x['precision']:.3f}  R {x['recall']:.3f}  F1 {x['f1']:.3f}  at "
                  f"{x['threshold']:.3f}  ({x['support']} images carry it)" for x in result["per_label"]]
        return result, "\n".join(lines)
    return result, (f"run {run_id}: {result['split']} accuracy {result['accuracy']:.4f} on {result['images']} images "
                    f"(ECE {result['calibration']['ece']})")
