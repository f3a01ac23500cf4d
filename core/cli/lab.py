"""CLI commands for experiments: bench, sweep, demo."""
from __future__ import annotations

from core.cli.registry import command, owner_arg, positive_int
from core.cli.train import config_args, config_from_args, echo, run_here
from core.config import DEVICES
from core.recipes import datasize, sweeps
from core.runs import queue

SWEEPS = ("freeze", "data-size")


def _bench_args(p):
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--per-class", type=positive_int, default=30, help="MNIST images per class")
    p.add_argument("--target", type=float, default=0.7, help="validation accuracy both loops must reach")
    p.add_argument("--plain-epochs", type=positive_int, default=14, help="most epochs the plain loop gets for (a)")
    p.add_argument("--finetune-epochs", type=positive_int, default=10,
                   help="most fine-tune epochs either loop gets to reach the target")
    p.add_argument("--device", default="auto", choices=DEVICES)


@command("bench", "this engine vs a plain tutorial loop: seconds to accuracy and images/s", _bench_args)
def bench_cmd(args):
    from core.training import bench

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
    recipe = result["fine_tuning"]["engine_recipe"]
    lines.append(f"fine_tuning, the engine's recipe (head first): {recipe['seconds_to_target']}s to target "
                 f"(ratio {result['fine_tuning']['recipe_seconds_to_target_ratio']})")
    return result, "\n".join(lines)


def _sweep_args(p):
    config_args(p)
    p.add_argument("--over", choices=SWEEPS, default="freeze",
                   help="freeze: one run per frozen depth; data-size: growing training subsets, pretrained and scratch")
    p.add_argument("--sizes", default=",".join(map(str, datasize.SIZES)),
                   help="data-size: images per class, nested subsets (e.g. 5,10,25,50,all)")
    p.add_argument("--wait", action="store_true", help="train every run in this process and print the results")


@command("sweep", "queue one run per freeze depth, or per training-set size (--over data-size)", _sweep_args)
def sweep_cmd(args):
    config, owner = config_from_args(args), args.owner or queue.default_owner()
    if args.over == "data-size":
        queued = datasize.sweep(config, owner, datasize.parse_sizes(args.sizes), hold=args.wait)
        ids = [p[kind] for kind in datasize.KINDS for p in queued["runs"]]  # pretrained first: shared features
    else:
        queued = sweeps.sweep(config, owner, hold=args.wait)
        ids = queued["runs"]
    if not args.wait:
        return queued, f"queued {args.over} sweep {queued['sweep']}: {len(ids)} runs (the worker trains them)"
    run_here(ids, None if args.json else echo)
    if args.over == "data-size":
        result = datasize.results(queued["sweep"], owner)
        lines = [f"{p['per_class']:>5} per class: pretrained {p['pretrained']}  scratch {p['scratch']}"
                 for p in result["points"]]
    else:
        result = {"sweep": queued["sweep"], "results": sweeps.sweep_results(queued["sweep"], owner)}
        lines = [f"{r['frozen_stages']} frozen: {r['status']} test acc {r['test_accuracy']}" for r in result["results"]]
    return result, "\n".join([f"sweep {queued['sweep']}"] + lines)


@command("demo", "the one-click demo, in this process, timed", owner_arg)
def demo_cmd(args):
    from core.recipes import demo

    result = demo.run_in_process(args.owner or "demo")
    lines = [f"demo: {result['scenario']} on {result['measured']['dataset']} in {result['seconds']} s"]
    lines += [f"  {role}: {r['status']} test acc {r['test_accuracy']} ({r['seconds']} s)" for role, r in result["runs"].items()]
    return result, "\n".join(lines)
