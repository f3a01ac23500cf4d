"""CLI commands about training: train, submit, runs, run, cancel, resume, predict, worker, bench."""
from __future__ import annotations

import dataclasses
import sys

from core import backbones, jobs, scenarios, store
from core.cli import command, read_images, table
from core.config import RunConfig


def _config_args(p):
    p.add_argument("--config", help="a RunConfig file (.json or .yaml); flags below override it")
    p.add_argument("--dataset")
    p.add_argument("--backbone", help="default: efficientnet_lite0 (weights bundled, works offline)")
    p.add_argument("--scenario", choices=list(scenarios.SCENARIOS), help="the scenario's preset (default S1)")
    p.add_argument("--epochs", type=int, help="total epochs; with a fine-tune phase a third go to the head")
    p.add_argument("--no-pretrained", action="store_true", help="random initialisation instead of pretrained")
    p.add_argument("--seed", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--baselines", nargs="*", choices=["scratch", "linear_probe"], help="companion runs")
    p.add_argument("--owner", help="owner token (default $TRANSFERLAB_OWNER or 'cli')")


def config_from_args(args) -> RunConfig:
    base = RunConfig.load(args.config) if args.config else RunConfig()
    backbone = args.backbone or base.backbone
    if args.scenario or not args.config:
        stages = len(backbones.get(backbone).stage_list())
        base = scenarios.preset(args.scenario or base.scenario, backbone, stages, base)
    config = dataclasses.replace(base, backbone=backbone)
    if args.dataset:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, dataset=args.dataset))
    train = config.train
    if args.epochs is not None:
        head = args.epochs if not train.finetune_epochs else max(1, args.epochs // 3)
        train = dataclasses.replace(train, head_epochs=head, finetune_epochs=max(0, args.epochs - head))
    if args.batch_size:
        train = dataclasses.replace(train, batch_size=args.batch_size)
    changes = {"train": train}
    for flag, key in (("seed", "seed"), ("device", "device"), ("baselines", "baselines")):
        if getattr(args, flag) is not None:
            changes[key] = tuple(getattr(args, flag)) if flag == "baselines" else getattr(args, flag)
    if args.no_pretrained:
        changes["weights"] = "none"
    return dataclasses.replace(config, **changes).check_backbone()


def _echo(event: dict) -> None:
    if event["event"] == "epoch":
        val = "-" if event["val_accuracy"] is None else f"{event['val_accuracy']:.3f}"
        print(f"  {event['phase']:8s} epoch {event['epoch'] + 1:3d}  loss {event['train_loss']:.4f}  "
              f"train acc {event['train_accuracy']:.3f}  val acc {val}  {event['seconds']:.1f}s", file=sys.stderr)
    elif event["event"] == "extract" and event["done"] == event["total"]:
        print(f"  features: {event['split']} {event['done']}/{event['total']}", file=sys.stderr)


@command("train", "train in this process and print the final metrics", _config_args)
def train_cmd(args):
    from core import worker

    config, owner = config_from_args(args), args.owner or jobs.default_owner()
    submitted = jobs.submit(config, owner)
    for run_id in [submitted["run_id"], *submitted["companions"].values()]:
        job = store.latest_job(run_id)
        claimed = worker.claim_specific(job["id"])
        worker.process(claimed, echo=None if args.json else _echo)
    row = store.run_row(submitted["run_id"], owner)
    result = _result(row, submitted["companions"])
    return result, _result_text(result)


def _result(row: dict, companions: dict) -> dict:
    summary = row.get("summary") or {}
    return {"run_id": row["id"], "status": row["status"], "message": row["message"],
            "val_accuracy": summary.get("val_accuracy"), "test_accuracy": summary.get("test_accuracy"),
            "seconds": summary.get("seconds"), "epochs": summary.get("epochs"), "classes": summary.get("classes"),
            "companions": {role: _brief(cid) for role, cid in companions.items()}}


def _brief(run_id: str) -> dict:
    row = store.run_row(run_id)
    summary = row.get("summary") or {}
    return {"run_id": run_id, "status": row["status"], "test_accuracy": summary.get("test_accuracy")}


def _result_text(result: dict) -> str:
    text = (f"run {result['run_id']}: {result['status']}  val acc {result['val_accuracy']}  "
            f"test acc {result['test_accuracy']}  {result['seconds']}s")
    if result["message"]:
        text += f"\n{result['message']}"
    for role, brief in result["companions"].items():
        text += f"\n  {role}: run {brief['run_id']} {brief['status']} test acc {brief['test_accuracy']}"
    return text


@command("submit", "queue a run for the worker; prints its ids", _config_args)
def submit_cmd(args):
    submitted = jobs.submit(config_from_args(args), args.owner)
    return submitted, f"queued run {submitted['run_id']} (job {submitted['job_id']})"


def _owner_arg(p):
    p.add_argument("--owner")


@command("runs", "this owner's runs", _owner_arg)
def runs_cmd(args):
    rows = jobs.runs(args.owner)
    cols = ["id", "role", "status", "backbone", "scenario", "dataset", "val_accuracy", "test_accuracy", "seconds"]
    return rows, table(rows, cols) if rows else "no runs yet"


def _run_args(p):
    p.add_argument("run_id", metavar="ID")
    _owner_arg(p)


@command("run", "one run: status, per-epoch metrics, evaluation", _run_args)
def run_cmd(args):
    row = jobs.run(args.run_id, args.owner)
    lines = [f"run {row['id']} ({row['role']}): {row['status']} {row['message']}".rstrip()]
    if row["queue_position"]:
        lines.append(f"queue position: {row['queue_position']}")
    lines += [f"  {e['phase']} epoch {e['epoch'] + 1}: val acc {e['val_accuracy']}" for e in row["epochs"]]
    if row.get("evaluation"):
        lines.append(f"test accuracy {row['evaluation']['accuracy']}, ECE {row['evaluation']['calibration']['ece']}")
    return row, "\n".join(lines)


@command("cancel", "cancel a queued or running run", _run_args)
def cancel_cmd(args):
    state = jobs.cancel(args.run_id, args.owner)
    return {"run_id": args.run_id, "state": state}, f"run {args.run_id}: {state}"


@command("resume", "queue an interrupted/failed/cancelled run to continue from its last checkpoint", _run_args)
def resume_cmd(args):
    job = jobs.resume(args.run_id, args.owner)
    return {"run_id": args.run_id, "job_id": job}, f"run {args.run_id} queued to resume (job {job})"


def _predict_args(p):
    p.add_argument("--run", required=True)
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top", type=int, default=5)
    _owner_arg(p)


@command("predict", "a trained run's top-k classes for each image", _predict_args)
def predict_cmd(args):
    from core import predict

    store.run_row(args.run, args.owner or jobs.default_owner())
    tops = predict.top_k(args.run, read_images(args.images), max(1, args.top))
    rows = [{"image": path, "top": top} for path, top in zip(args.images, tops)]
    text = "\n".join(f"{r['image']}: " + ", ".join(f"{t['label']} {t['prob']:.3f}" for t in r["top"]) for r in rows)
    return rows, text


def _worker_args(p):
    p.add_argument("--concurrency", type=int, default=1, help="jobs at a time (separate processes)")
    p.add_argument("--max-jobs", type=int, help="exit after this many jobs")
    p.add_argument("--idle-exit", type=float, help="exit after this many idle seconds")


@command("worker", "run queued jobs (owns the GPU); one at a time by default", _worker_args)
def worker_cmd(args):
    from core import worker

    done = worker.main(max(1, args.concurrency), args.max_jobs, args.idle_exit)
    return {"jobs": done}, f"worker stopped after {done} job(s)"


def _bench_args(p):
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--per-class", type=int, default=30, help="MNIST images per class")
    p.add_argument("--target", type=float, default=0.7, help="validation accuracy both loops must reach")
    p.add_argument("--plain-epochs", type=int, default=14, help="most epochs the plain loop gets for (a)")
    p.add_argument("--finetune-epochs", type=int, default=2)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])


@command("bench", "this engine vs a plain tutorial loop: seconds to accuracy and images/s", _bench_args)
def bench_cmd(args):
    from core import bench

    settings = bench.BenchSettings(backbone=args.backbone, per_class=args.per_class, target=args.target,
                                   plain_epochs=args.plain_epochs, finetune_epochs=args.finetune_epochs,
                                   device=args.device)
    result = bench.run(settings)
    lines = [f"device {result['device']}, {result['backbone']}, {result['dataset']}, target val acc "
             f"{result['target_val_accuracy']}"]
    for key in ("feature_extraction", "fine_tuning"):
        part = result[key]
        lines.append(f"{key}: engine {part['engine']['seconds_to_target']}s vs plain {part['plain']['seconds_to_target']}s "
                     f"to target (ratio {part['seconds_to_target_ratio']}); images/s ratio {part['images_per_second_ratio']}")
    return result, "\n".join(lines)


def _export_args(p):
    p.add_argument("--run", required=True)
    p.add_argument("--format", required=True, choices=["onnx", "torchscript", "safetensors"])
    p.add_argument("--out", required=True, help="output file (safetensors: a zip with weights, config and card)")
    _owner_arg(p)


@command("export", "export a run and verify it against the app's own predictions", _export_args)
def export_cmd(args):
    from core import export

    store.run_row(args.run, args.owner or jobs.default_owner())
    result = export.export(args.run, args.format, args.out)
    return result, (f"{result['format']} → {result['path']}: top-1 agreement {result['agreement']:.4f} on "
                    f"{result['images']} validation images, max probability difference {result['max_prob_diff']:.2e}")


def _sweep_args(p):
    _config_args(p)


@command("sweep", "queue one run per freeze depth (0..N stages frozen)", _sweep_args)
def sweep_cmd(args):
    result = jobs.sweep(config_from_args(args), args.owner)
    return result, f"queued freeze sweep {result['sweep']}: {len(result['runs'])} runs"


@command("demo", "the one-click demo, in this process, timed", _owner_arg)
def demo_cmd(args):
    from core import demo

    result = demo.run_in_process(args.owner or "demo")
    lines = [f"demo: {result['scenario']} on {result['measured']['dataset']} in {result['seconds']} s"]
    lines += [f"  {role}: {r['status']} test acc {r['test_accuracy']} ({r['seconds']} s)" for role, r in result["runs"].items()]
    return result, "\n".join(lines)
