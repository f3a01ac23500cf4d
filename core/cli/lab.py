"""CLI commands for experiments: bench, sweep, demo."""
from __future__ import annotations

from core import jobs
from core.cli.registry import command, owner_arg, positive_int
from core.cli.train import config_args, config_from_args
from core.config import DEVICES


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


@command("sweep", "queue one run per freeze depth (0..N stages frozen)", config_args)
def sweep_cmd(args):
    result = jobs.sweep(config_from_args(args), args.owner)
    return result, f"queued freeze sweep {result['sweep']}: {len(result['runs'])} runs"


@command("demo", "the one-click demo, in this process, timed", owner_arg)
def demo_cmd(args):
    from core.jobs import demo

    result = demo.run_in_process(args.owner or "demo")
    lines = [f"demo: {result['scenario']} on {result['measured']['dataset']} in {result['seconds']} s"]
    lines += [f"  {role}: {r['status']} test acc {r['test_accuracy']} ({r['seconds']} s)" for role, r in result["runs"].items()]
    return result, "\n".join(lines)
