"""`python -m core backup` and `restore`: the data home (or one class) in one archive with a manifest and
checksums, taken while the server runs, and unpacked into an empty data home elsewhere."""
from __future__ import annotations

import os

from core import words
from core.classroom import backup, restore
from core.cli.registry import command, token_arg
from core.errors import UserError


def _backup_args(p):
    p.add_argument("--out", required=True, metavar="FILE", help="the archive to write (a tar)")
    p.add_argument("--class", dest="class_id", metavar="CLASS", help="only this class: its students' data and runs, "
                                                                       "the datasets published to it, its held-out set")
    token_arg(p, "--teacher-key", help="the class's teacher key (default $TRANSFERLAB_TEACHER_KEY)")


@command("backup", "a consistent copy of the data home (or of one class) in one archive, while the server runs",
         _backup_args)
def backup_cmd(args):
    key = args.teacher_key or os.environ.get("TRANSFERLAB_TEACHER_KEY")
    if key and not args.class_id:
        raise UserError("--teacher-key goes with --class CLASS (a whole data home's backup needs no key)")
    made = backup.backup(args.out, args.class_id, key)
    counts = made["counts"]
    text = (f"{made['archive']}: {words.size(made['bytes'])} in {words.duration(made['seconds'])}; "
            f"{counts['datasets']} datasets, {counts['images']} images, {counts['runs']} runs, {made['members']} files")
    if made["missing"]:
        text += f"\nmissing (gone while the backup ran): {', '.join(made['missing'][:10])}"
    return made, text


def _restore_args(p):
    p.add_argument("archive", metavar="FILE", help="a backup made by `python -m core backup`")
    p.add_argument("--force", action="store_true", help="replace the datasets, runs and classes this data home has")


@command("restore", "unpack a backup into this (empty) data home, every file checked against the manifest first",
         _restore_args)
def restore_cmd(args):
    done = restore.restore(args.archive, args.force)
    counts = done["counts"]
    return done, (f"restored {done['archive']} (made {done['created']}) into {done['home']}: {counts['datasets']} "
                  f"datasets, {counts['images']} images, {counts['runs']} runs")
