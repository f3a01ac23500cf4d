"""CLI commands about data: ingest, datasets, images, rename-dataset, delete-dataset, remove-class,
samples, sample, health. Datasets follow `--owner` / $TRANSFERLAB_OWNER like runs."""
from __future__ import annotations

from core import data, words
from core.cli.registry import command, owner_arg, positive_int, table
from core.config import MULTILABEL, TASKS
from core.data import health, label_csv, samples, splits
from core.errors import LimitReached, UserError
from core.paths import env_owner
from core.runs import admission, queue


def _report_text(report: data.IngestReport) -> str:
    kind = "label" if report.task == MULTILABEL else "class"
    lines = [f"dataset {report.dataset}: stored {report.stored} new image(s)"
             + (" (several labels per image)" if report.task == MULTILABEL else ""),
             table([{kind: c, "images": n} for c, n in report.classes.items()], [kind, "images"])]
    if report.empty_classes:
        lines.append(f"classes with no valid images: {', '.join(report.empty_classes)}")
    for row in report.rejected:
        lines.append(f"rejected {row['file']}: {row['reason']}")
    for row in report.duplicates:
        lines.append(f"duplicate {row['file']}: same content as {row['duplicate_of']} ({row['class']})")
    return "\n".join(lines)


def _finish(report: data.IngestReport):
    if report.limit:  # exit 2; the images stored before the limit stay
        raise LimitReached(f"{report.limit} ({report.stored} image(s) stored before it in {report.dataset!r})")
    if report.stored == 0 and not report.duplicates:
        reasons = "; ".join(f"{r['file']}: {r['reason']}" for r in report.rejected[:5])
        raise UserError(f"no valid image was stored in {report.dataset!r}" + (f" ({reasons})" if reasons else ""))
    return report.to_dict(), _report_text(report)


def _ingest_args(p):
    p.add_argument("paths", nargs="+", metavar="PATH", help="folders in CLASS/file layout, or zip archives")
    p.add_argument("--name", required=True, help="dataset name (created if new, extended if it exists)")
    p.add_argument("--labels", metavar="CSV", help="several labels per image: a CSV with the header file,labels "
                   "(file relative to the folder or zip root, labels separated by ';', empty = none of them), on "
                   "disk or inside each PATH; makes a multi-label dataset")
    p.add_argument("--task", choices=TASKS, help="a new dataset's task (default single_label; --labels: multilabel); "
                   "multilabel with CLASS/file folders: the same picture in several folders gets all their labels")
    owner_arg(p)


@command("ingest", "validate and store images from folders or zips (class = first folder level, or a labels CSV)",
         _ingest_args)
def ingest_cmd(args):
    if args.labels and args.task and args.task != MULTILABEL:
        raise UserError(f"--labels makes a multi-label dataset; it cannot be --task {args.task}")
    read = (lambda path: label_csv.from_labelled(path, args.labels)) if args.labels else data.from_folder
    entries = [entry for path in args.paths for entry in read(path)]
    task = MULTILABEL if args.labels else args.task
    return _finish(data.ingest(args.name, entries, source="cli", owner=_owner(args), task=task))


def _owner(args) -> str:
    return args.owner or env_owner()


@command("usage", "this owner's stored MB, images and queued or running jobs against their limits", owner_arg)
def usage_cmd(args):
    found = admission.room(_owner(args))
    lines = [f"you: {found['you']['words']}"]
    lines += [f"{audience}: {room['words']} (the class together)" for audience, room in found["classes"].items()]
    lines.append(f"the server's disk: {words.size(found['free_bytes'])} free (new uploads and jobs stop below "
                 f"{words.size(found['min_free_bytes'])})")
    return found, "\n".join(lines)


@command("datasets", "this owner's datasets (and those shared with them, read-only)", owner_arg)
def datasets_cmd(args):
    rows = data.list_datasets(_owner(args))
    return rows, table(rows, ["name", "source", "classes", "images", "writable"]) if rows else "no datasets yet"


def _dataset_args(p):
    p.add_argument("dataset", metavar="DATASET")
    owner_arg(p)


@command("images", "one row per stored image: hash, class, split (default fractions and seed), file",
         _dataset_args)
def images_cmd(args):
    owner = _owner(args)
    split_of = splits.assign(data.find(args.dataset, owner).id)
    rows = [{"sha256": r.sha256, "class": r.class_name, "split": split_of.get(r.id), "file": r.original}
            for r in data.records(args.dataset, owner)]
    return rows, table(rows, ["sha256", "class", "split", "file"]) if rows else f"{args.dataset}: no images"


def _rename_args(p):
    p.add_argument("old")
    p.add_argument("new")
    owner_arg(p)


@command("rename-dataset", "rename a dataset", _rename_args)
def rename_cmd(args):
    new = data.rename(args.old, args.new, _owner(args))
    return {"dataset": new}, f"renamed {args.old} → {new}"


def _delete_args(p):
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="delete even if runs use it (they keep their images)")
    owner_arg(p)


@command("delete-dataset", "delete a dataset and the image files nothing else uses", _delete_args)
def delete_cmd(args):
    result = queue.delete_dataset(args.name, _owner(args), args.force)
    out = {"dataset": result["dataset"], "images_removed": result["images"], "files_removed": result["files_removed"],
           "runs_kept": result["runs_kept"]}
    kept = f"; {len(out['runs_kept'])} run(s) keep their images" if out["runs_kept"] else ""
    return out, f"deleted {out['dataset']} ({out['images_removed']} images){kept}"


def _class_args(p):
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("class_name", metavar="CLASS")
    owner_arg(p)


@command("remove-class", "remove a class that has no images left", _class_args)
def remove_class_cmd(args):
    data.remove_class(args.dataset, args.class_name, _owner(args))
    return {"dataset": args.dataset, "removed": args.class_name}, f"{args.dataset}: removed {args.class_name}"


@command("samples", "sample datasets and whether each is available now")
def samples_cmd(args):
    rows = samples.catalog()
    return rows, table(rows, ["name", "title", "classes", "images", "available", "note"])


def _sample_args(p):
    p.add_argument("sample", metavar="NAME")
    p.add_argument("--name", help="dataset name (default: the sample's name)")
    p.add_argument("--per-class", type=positive_int, help="keep only the first N images of each class")
    owner_arg(p)


@command("sample", "store a sample dataset as an ordinary dataset", _sample_args)
def sample_cmd(args):
    return _finish(samples.materialize(args.sample, args.name, args.per_class, owner=_owner(args)))


@command("health", "class balance, duplicates, leaks across splits, tiny images, colour mix", _dataset_args)
def health_cmd(args):
    info = health.check(args.dataset, _owner(args))
    lines = [f"{info['dataset']}: {info['images']} images, {len(info['classes'])} classes, "
             f"{info['images_per_class']} per class → {info['size_bucket']}",
             f"imbalance ratio (largest/smallest class): {info['imbalance_ratio']}",
             f"splits: {info['splits']}",
             f"exact duplicates: {len(info['duplicates'])}, near-duplicates across splits: {info['leaks']['count']}",
             f"tiny images (<{health.TINY_SIDE}px): {info['tiny']['count']}, grayscale {info['grayscale']} / "
             f"colour {info['color']}"]
    if info["task"] == MULTILABEL:
        lines.append(f"several labels per image: {info['no_label']} image(s) with none of the labels; labels "
                     "together most often: " + (", ".join(f"{'+'.join(p['labels'])} ({p['images']})"
                                                          for p in info["co_occurrence"][:5]) or "never"))
    if not info["trainable"]["ok"]:
        lines.append(info["trainable"]["message"])
    return info, "\n".join(lines)
