"""CLI commands that use finished runs: predict, export."""
from __future__ import annotations

from core import jobs
from core.cli.registry import command, owner_arg, positive_int, read_images, required_run, run_arg, the_run
from core.config import EXPORT_FORMATS
from core.jobs import store


def _predict_args(p):
    required_run(p)
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top", type=positive_int, default=5)
    owner_arg(p)


@command("predict", "a trained run's top-k classes for each image", _predict_args)
def predict_cmd(args):
    from core.serving import predict

    run_id = args.run_id
    jobs.run(run_id, args.owner)
    tops = predict.top_k(run_id, read_images(args.images), args.top)
    rows = [{"image": path, "top": top} for path, top in zip(args.images, tops)]
    text = "\n".join(f"{r['image']}: " + ", ".join(f"{t['label']} {t['prob']:.3f}" for t in r["top"]) for r in rows)
    return rows, text


def _export_args(p):
    required_run(p)
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("--out", required=True, help="output file (safetensors: a zip with weights, config and card)")
    owner_arg(p)


@command("export", "export a run and verify it against the app's own predictions", _export_args)
def export_cmd(args):
    from core.serving import export

    run = jobs.run(args.run_id, args.owner)
    result = export.export(run, args.format, args.out, jobs.lists(run["id"], args.owner))
    store.add_artifact(run["id"], args.format, result["path"])
    return result, (f"{result['format']} → {result['path']}: top-1 agreement {result['agreement']:.4f} on "
                    f"{result['images']} validation images, max probability difference {result['max_prob_diff']:.2e}")


def _evaluate_args(p):
    run_arg(p)
    owner_arg(p)


@command("evaluate", "judge a finished run again on its own pinned test list", _evaluate_args)
def evaluate_cmd(args):
    from core.serving import rescore

    run_id = the_run(args)
    jobs.run(run_id, args.owner, epochs=False)
    result = rescore.evaluate_run(run_id, jobs.lists(run_id, args.owner))
    return result, (f"run {run_id}: {result['split']} accuracy {result['accuracy']:.4f} on {result['images']} images "
                    f"(ECE {result['calibration']['ece']})")
