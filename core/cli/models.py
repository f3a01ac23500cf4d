"""CLI commands about backbones: backbones, describe, imagenet, scenarios."""
from __future__ import annotations

from core import models, scenarios
from core.cli.registry import command, positive_int, read_images, table
from core.models import imagenet
from core.runs import queue


def _backbones_args(p):
    p.add_argument("--source", choices=models.SOURCES, help="only this source")
    p.add_argument("--owner", help="also list this owner's finished runs (the develop-model approach)")


@command("backbones", "list every backbone with its facts and whether its weights are here now", _backbones_args)
def backbones_cmd(args):
    found = models.list_backbones() + (queue.own_backbones(args.owner) if args.owner else [])
    rows = [b.to_dict() for b in found if not args.source or b.source == args.source]
    cols = ["name", "source", "family", "params", "gflops", "top1", "input_size", "weights"]
    return rows, table(rows, cols)


def _describe_args(p):
    p.add_argument("backbone")


@command("describe", "stages (with parameters) a person can freeze, and the preprocessing", _describe_args)
def describe_cmd(args):
    info = models.describe(args.backbone)
    lines = [f"{info['name']} ({info['source']}, {info['family']}): {info['params']:,} parameters, "
             f"weights {info['weights']}", table(info["stages"], ["name", "params"]),
             f"preprocess: {info['preprocess']}"]
    return info, "\n".join(lines)


def _imagenet_args(p):
    p.add_argument("backbone")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top", type=positive_int, default=5)


@command("imagenet", "the pretrained network's own ImageNet top-k for each image", _imagenet_args)
def imagenet_cmd(args):
    models.get(args.backbone)  # unknown names fail before images are read
    tops = imagenet.top_k(imagenet.probabilities(args.backbone, read_images(args.images)), args.top)
    rows = [{"image": path, "top": top} for path, top in zip(args.images, tops)]
    text = "\n".join(f"{r['image']}:\n" + "\n".join(f"  {t['prob']:.3f}  {t['index']:4d}  {t['label']}"
                                                    for t in r["top"]) for r in rows)
    return rows, text


@command("scenarios", "the four scenarios and what each means for freezing and learning rate")
def scenarios_cmd(args):
    rows = scenarios.describe_all()
    return rows, "\n\n".join(f"{r['code']} {r['title']}: {r['strategy']}\n  {r['freezing']}\n  {r['learning_rate']}"
                             for r in rows)
