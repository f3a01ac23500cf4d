"""CLI commands that start training: train (in this process), submit (queue for the worker)."""
from __future__ import annotations

import dataclasses
import sys

from core import models, presets
from core.cli.registry import CommandFailed, command, owner_arg, positive_int
from core.config import BASELINES, CLASS_BALANCE, DEVICES, MULTILABEL, TASKS, RunConfig
from core.data import store as data_store
from core.execute import slot
from core.runs import leases, queue, store
from core.scenarios import CODES


def config_args(p):
    p.add_argument("--config", help="a RunConfig file (.json or .yaml); flags below override it")
    p.add_argument("--dataset")
    p.add_argument("--backbone", help="default: efficientnet_lite0 (weights bundled, works offline)")
    p.add_argument("--scenario", choices=CODES, help="the scenario's preset (default S1)")
    p.add_argument("--epochs", type=positive_int, help="total epochs; with a fine-tune phase a third go to the head")
    p.add_argument("--no-pretrained", action="store_true", help="random initialisation instead of pretrained")
    p.add_argument("--seed", type=int)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--class-balance", choices=CLASS_BALANCE,
                   help="imbalanced classes: weighted_loss (rare classes' mistakes cost more) or balanced_sampler "
                        "(rare classes drawn as often as common ones); default none")
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--baselines", nargs="*", choices=BASELINES, help="companion runs")
    p.add_argument("--task", choices=TASKS, help="multilabel: one yes/no output per label, a threshold per label "
                   "chosen on the validation images (a multi-label dataset needs it); default single_label")
    owner_arg(p)


def config_from_args(args) -> RunConfig:
    base = RunConfig.load(args.config) if args.config else RunConfig()
    backbone = args.backbone or base.backbone
    if args.scenario or not args.config:
        base = presets.preset(args.scenario or base.scenario, backbone, models.stage_count(backbone), base)
    config = dataclasses.replace(base, backbone=backbone)
    if args.dataset:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, dataset=args.dataset))
    train = config.train
    if args.epochs is not None:
        head = args.epochs if not train.finetune_epochs else max(1, args.epochs // 3)
        train = dataclasses.replace(train, head_epochs=head, finetune_epochs=max(0, args.epochs - head))
    if args.batch_size:
        train = dataclasses.replace(train, batch_size=args.batch_size)
    if args.class_balance:
        train = dataclasses.replace(train, class_balance=args.class_balance)
    changes = {"train": train}
    for flag, key in (("seed", "seed"), ("device", "device"), ("baselines", "baselines"), ("task", "task")):
        if getattr(args, flag) is not None:
            changes[key] = tuple(getattr(args, flag)) if flag == "baselines" else getattr(args, flag)
    if args.no_pretrained:
        changes["weights"] = "none"
    return models.check(dataclasses.replace(config, **changes))


def echo(event: dict) -> None:
    if event["event"] == "epoch":
        val = "-" if event["val_accuracy"] is None else f"{event['val_accuracy']:.3f}"
        print(f"  {event['phase']:8s} epoch {event['epoch'] + 1:3d}  loss {event['train_loss']:.4f}  "
              f"train acc {event['train_accuracy']:.3f}  val acc {val}"
              + (f"  val mAP {event['val_map']:.3f}" if event.get("val_map") is not None else "")
              + f"  {event['seconds']:.1f}s", file=sys.stderr)
    elif event["event"] == "extract" and event["done"] == event["total"]:
        print(f"  features: {event['split']} {event['done']}/{event['total']}", file=sys.stderr)


@command("train", "train in this process (with its companions) and print the final metrics", config_args)
def train_cmd(args):
    config, owner = config_from_args(args), args.owner or queue.default_owner()
    submitted = queue.submit(config, owner, hold=True)  # held from the start: no running worker takes them
    run_here([submitted["run_id"], *submitted["companions"].values()], None if args.json else echo)
    row = store.run_row(submitted["run_id"], owner)
    result = {**_result(row, submitted["companions"]), **_task_facts(config, row, owner)}
    if result["status"] != "succeeded":
        raise CommandFailed(result, _result_text(result))
    return result, _result_text(result)


def run_here(run_ids: list[str], echo_to=None) -> None:
    """Train runs submitted with `hold=True`, one after the other, in this process."""
    for run_id in run_ids:
        slot.process(leases.claim_specific(store.latest_job(run_id)["id"]), echo=echo_to)


def _result(row: dict, companions: dict) -> dict:
    summary = row.get("summary") or {}
    return {"run_id": row["id"], "status": row["status"], "message": row["message"],
            "val_accuracy": summary.get("val_accuracy"), "test_accuracy": summary.get("test_accuracy"),
            "seconds": summary.get("seconds"), "epochs": summary.get("epochs"), "classes": summary.get("classes"),
            "companions": {role: _brief(cid) for role, cid in companions.items()}}


def _task_facts(config: RunConfig, row: dict, owner: str) -> dict:
    """A multi-label run's task, mAP, subset accuracy and thresholds; and, on one-class-per-image data, a
    note that says it was trained as multi-label because it was asked to."""
    if config.task != MULTILABEL:
        return {"task": config.task}
    evaluation = row.get("evaluation") or {}
    facts = {"task": MULTILABEL, "map": evaluation.get("map"), "subset_accuracy": evaluation.get("subset_accuracy"),
             "thresholds": [{k: t[k] for k in ("label", "threshold", "threshold_chosen", "threshold_note")}
                            for t in evaluation.get("per_label", [])]}
    if data_store.task_of(data_store.find(config.data.dataset, owner).id) != MULTILABEL:
        facts["note"] = (f"every image of {config.data.dataset!r} has exactly one class; trained as multi-label as "
                         "asked (one yes/no per label, so an image may get several labels or none)")
    return facts


def _brief(run_id: str) -> dict:
    row = store.run_row(run_id)
    summary = row.get("summary") or {}
    return {"run_id": run_id, "status": row["status"], "test_accuracy": summary.get("test_accuracy")}


def _result_text(result: dict) -> str:
    text = (f"run {result['run_id']}: {result['status']}  val acc {result['val_accuracy']}  "
            f"test acc {result['test_accuracy']}  {result['seconds']}s")
    if result.get("task") == MULTILABEL:
        text += f"\nmulti-label: test mAP {result['map']}  subset accuracy {result['subset_accuracy']}"
        text += "".join(f"\n  {t['label']}: threshold {t['threshold']:.3f} ({t['threshold_note']})"
                        for t in result["thresholds"])
    if result.get("note"):
        text += f"\n{result['note']}"
    if result["message"]:
        text += f"\n{result['message']}"
    for role, brief in result["companions"].items():
        text += f"\n  {role}: run {brief['run_id']} {brief['status']} test acc {brief['test_accuracy']}"
    return text


@command("submit", "queue a run for the worker; prints its ids", config_args)
def submit_cmd(args):
    submitted = queue.submit(config_from_args(args), args.owner)
    return submitted, f"queued run {submitted['run_id']} (job {submitted['job_id']})"
