"""`python -m core clean ...`: a finished run's highest-loss training and validation images, and
relabel / delete / keep with an undo. Changes apply to the dataset (the next run uses them); finished
runs keep the images and labels they pinned."""
from __future__ import annotations

import argparse

from core.cli.registry import command, owner_arg, positive_int, table
from core.data import cleaner
from core.errors import UserError
from core.runs import queue


def _clean_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    losses = sub.add_parser("losses", help="a finished run's highest-loss training and validation images")
    losses.add_argument("--run", dest="run_id", metavar="ID", required=True)
    losses.add_argument("--top", type=positive_int, default=24)
    relabel = sub.add_parser("relabel", help="move one image to another class")
    delete = sub.add_parser("delete", help="take one image out of the dataset (undo puts it back)")
    keep = sub.add_parser("keep", help="the image is right as it is: stop offering it")
    for action in (relabel, delete, keep):
        action.add_argument("--dataset", required=True)
        action.add_argument("--image", type=positive_int, required=True, help="the image id (see `losses`)")
    relabel.add_argument("--to", required=True, metavar="CLASS", help="the right class (made if new)")
    undo = sub.add_parser("undo", help="reverse the latest change (or --edit N)")
    undo.add_argument("--dataset", required=True)
    undo.add_argument("--edit", type=positive_int)
    history = sub.add_parser("history", help="every change to a dataset, newest first")
    history.add_argument("--dataset", required=True)
    for action in sub.choices.values():
        action.add_argument("--json", action="store_true", help="print machine-readable JSON")
        owner_arg(action)


@command("clean", "the cleaner: highest-loss images of a run; relabel, delete, keep, undo", _clean_args)
def clean_cmd(args):
    return ACTIONS[args.action](args)


def _losses(args):
    from core.serving import rescore

    run = queue.run(args.run_id, args.owner, epochs=False)
    if run["config"].get("task") == "multilabel":
        raise UserError(f"run {run['id']} is multi-label; the cleaner ranks images by the loss of their one class, so "
                        "it works on one-class-per-image runs only")
    rows = rescore.highest_losses(run["id"], queue.lists(run["id"], args.owner), args.top)
    result = {"run_id": run["id"], "dataset": run["dataset"], "images": rows}
    cols = ["image_id", "split", "label", "predicted", "confidence", "loss"]
    return result, table(rows, cols) if rows else "no training or validation images"


def _change(args):
    if args.action == "relabel":
        done = cleaner.relabel(args.dataset, args.image, args.to, args.owner)
    else:
        done = getattr(cleaner, args.action)(args.dataset, args.image, args.owner)
    return done, f"edit {done['edit']}: {done['action']} image {done['image_id']} ({done['original']})" + \
        (f" {done['old_class']} → {done['new_class']}" if done["new_class"] else "")


def _undo(args):
    done = cleaner.undo(args.dataset, args.owner, args.edit)
    return done, f"undid edit {done['edit']} ({done['action']} image {done['image_id']})"


def _history(args):
    rows = cleaner.history(args.dataset, args.owner)
    return rows, table(rows, ["edit", "action", "image_id", "old_class", "new_class", "undone"]) if rows else "no changes"


ACTIONS = {"losses": _losses, "relabel": _change, "delete": _change, "keep": _change, "undo": _undo,
           "history": _history}
