"""CLI commands that show why transfer works: lr-find (a learning-rate sweep), activations (what each
stage of a backbone sees, and how generic it is for a dataset's classes)."""
from __future__ import annotations

from core.cli.registry import command, owner_arg, positive_int, read_images
from core.cli.train import config_args, config_from_args
from core.errors import UserError
from core.models.run_source import PREFIX as RUN_PREFIX
from core.runs import queue
from core.training.lr_find import PHASES


def _own_run_backbone(backbone: str, owner: str) -> None:
    """`run:ID` backbones are runs: only their owner may look inside (the queue's rule, applied here
    because serving and training never import the job store)."""
    if backbone.startswith(RUN_PREFIX):
        queue.run(backbone[len(RUN_PREFIX):], owner, epochs=False)


def _lr_find_args(p):
    config_args(p)
    p.add_argument("--phase", choices=PHASES, default="head",
                   help="head: the new head on the frozen backbone; finetune: the stages the freeze plan opens")
    p.add_argument("--steps", type=positive_int, help="batches in the sweep (default 100 head, 50 finetune)")


@command("lr-find", "sweep the learning rate from 1e-6 to 1 and suggest one for a phase", _lr_find_args)
def lr_find_cmd(args):
    from core.training import lr_find

    if not args.dataset:
        raise UserError("--dataset: which dataset? (see `python -m core datasets`)")
    config, owner = config_from_args(args), args.owner or queue.default_owner()
    _own_run_backbone(config.backbone, owner)
    result = lr_find.find(config, owner, args.phase, config.device, args.steps)
    text = (f"{args.phase}: suggested learning rate {result['suggested']:.2e} ({result['rule']}: {result['why']}); "
            f"{len(result['lrs'])} steps on {result['images']} training images, stopped: {result['stopped']}")
    return result, text


def _activations_args(p):
    p.add_argument("backbone", help="a backbone name or run:ID")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--dataset", help="also probe each stage on this dataset's training images")
    p.add_argument("--weights", choices=("imagenet", "none"), default="imagenet",
                   help="imagenet: pretrained (a run's own weights for run:ID); none: random")
    p.add_argument("--top", type=positive_int, default=6, help="strongest channels per stage")
    p.add_argument("--pixels", action="store_true", help="include each map's uint8 grid in the JSON")
    owner_arg(p)


@command("activations", "what each stage of a backbone sees in an image (and, with --dataset, how generic it is)",
         _activations_args)
def activations_cmd(args):
    from core.serving import activations

    owner = args.owner or queue.default_owner()
    _own_run_backbone(args.backbone, owner)
    picture = read_images([args.image])[0]
    result = activations.what_stages_see(args.backbone, picture, args.dataset, owner, args.weights, args.top)
    for stage in result["stages"]:
        for fmap in stage["maps"]:
            grid = fmap.pop("grid")
            if args.pixels:
                fmap["grid"] = grid.tolist()
    return result, _activations_text(result)


def _activations_text(result: dict) -> str:
    lines = [f"{result['backbone']}: what each stage sees (input → output)"]
    for s in result["stages"]:
        probe = f"  probe {s['probe_accuracy']:4.0%}" if "probe_accuracy" in s else ""
        strongest = ", ".join(str(m["channel"]) for m in s["maps"])
        lines.append(f"  {s['name']:8s} {s['height']:4d}×{s['width']:<4d} {s['channels']:5d} channels{probe}  "
                     f"strongest: {strongest}")
    if "recommendation" in result:
        lines.append(f"freeze: {result['recommendation']['reason']}")
    return "\n".join(lines)
