"""CLI commands about data: ingest, datasets, rename-dataset, delete-dataset, samples, sample, health."""
from __future__ import annotations

from core import data
from core.cli.registry import command, positive_int, table
from core.data import health, samples
from core.errors import UserError


def _report_text(report: data.IngestReport) -> str:
    lines = [f"dataset {report.dataset}: stored {report.stored} new image(s)",
             table([{"class": c, "images": n} for c, n in report.classes.items()], ["class", "images"])]
    if report.empty_classes:
        lines.append(f"classes with no valid images: {', '.join(report.empty_classes)}")
    for row in report.rejected:
        lines.append(f"rejected {row['file']}: {row['reason']}")
    for row in report.duplicates:
        lines.append(f"duplicate {row['file']}: same content as {row['duplicate_of']} ({row['class']})")
    return "\n".join(lines)


def _finish(report: data.IngestReport):
    if report.stored == 0 and not report.duplicates:
        reasons = "; ".join(f"{r['file']}: {r['reason']}" for r in report.rejected[:5])
        raise UserError(f"no valid image was stored in {report.dataset!r}" + (f" ({reasons})" if reasons else ""))
    return report.to_dict(), _report_text(report)


def _ingest_args(p):
    p.add_argument("paths", nargs="+", metavar="PATH", help="folders in CLASS/file layout, or zip archives")
    p.add_argument("--name", required=True, help="dataset name (created if new, extended if it exists)")


@command("ingest", "validate and store images from folders or zips (class = first folder level)", _ingest_args)
def ingest_cmd(args):
    entries = [entry for path in args.paths for entry in data.from_folder(path)]
    return _finish(data.ingest(args.name, entries, source="cli"))


@command("datasets", "list stored datasets")
def datasets_cmd(args):
    rows = data.list_datasets()
    return rows, table(rows, ["name", "source", "classes", "images"]) if rows else "no datasets yet"


def _rename_args(p):
    p.add_argument("old")
    p.add_argument("new")


@command("rename-dataset", "rename a dataset", _rename_args)
def rename_cmd(args):
    new = data.rename(args.old, args.new)
    return {"dataset": new}, f"renamed {args.old} → {new}"


@command("delete-dataset", "delete a dataset and its image files", lambda p: p.add_argument("name"))
def delete_cmd(args):
    removed = data.delete(args.name)
    return {"dataset": args.name, "images_removed": removed}, f"deleted {args.name} ({removed} images)"


@command("samples", "sample datasets and whether each is available now")
def samples_cmd(args):
    rows = samples.catalog()
    return rows, table(rows, ["name", "title", "classes", "images", "available", "note"])


def _sample_args(p):
    p.add_argument("sample", metavar="NAME")
    p.add_argument("--name", help="dataset name (default: the sample's name)")
    p.add_argument("--per-class", type=positive_int, help="keep only the first N images of each class")


@command("sample", "store a sample dataset as an ordinary dataset", _sample_args)
def sample_cmd(args):
    return _finish(samples.materialize(args.sample, args.name, args.per_class))


@command("health", "class balance, duplicates, leaks across splits, tiny images, colour mix",
         lambda p: p.add_argument("dataset"))
def health_cmd(args):
    info = health.check(args.dataset)
    lines = [f"{info['dataset']}: {info['images']} images, {len(info['classes'])} classes, "
             f"{info['images_per_class']} per class → {info['size_bucket']}",
             f"imbalance ratio (largest/smallest class): {info['imbalance_ratio']}",
             f"splits: {info['splits']}",
             f"exact duplicates: {len(info['duplicates'])}, near-duplicates across splits: {info['leaks']['count']}",
             f"tiny images (<{health.TINY_SIDE}px): {info['tiny']['count']}, grayscale {info['grayscale']} / "
             f"colour {info['color']}"]
    if not info["trainable"]["ok"]:
        lines.append(info["trainable"]["message"])
    return info, "\n".join(lines)
