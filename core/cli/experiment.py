"""`python -m core class experiment ...`: a class runs one experiment together (`classroom.experiments`).

    create CLASS --question Q --values A,B[,...] --dataset NAME [--epochs N] --teacher-key K
    poll CLASS --choice VALUE [--reason TEXT] --owner STUDENT_TOKEN   (or --teacher-key: the teacher's pick)
    lock CLASS --teacher-key K                                         (closes the poll)
    launch CLASS --teacher-key K                                       (queues every assigned run)
    results CLASS [--teacher-key K | --owner TOKEN]
    export CLASS --out FILE.csv|FILE.html [--teacher-key K | --owner TOKEN]

Teacher actions take --teacher-key or $TRANSFERLAB_TEACHER_KEY; a student's --owner defaults to
$TRANSFERLAB_OWNER. A pick after the poll locked exits 2 with the reason."""
from __future__ import annotations

import argparse
import os

from core.classroom import experiments, poll, questions, results
from core.cli.registry import positive_int, table, token_arg
from core.errors import UserError


def add(sub) -> None:
    """The `experiment` action of `class`, with its own actions."""
    parent = sub.add_parser("experiment", help="one experiment for the whole class: create, poll, launch, results")
    actions = parent.add_subparsers(dest="experiment_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="the question, its values and the dataset; assigns every student")
    create.add_argument("--question", required=True, choices=questions.QUESTIONS)
    create.add_argument("--values", required=True, help="2 to 6 values, separated by commas")
    create.add_argument("--dataset", required=True, help="the teacher's dataset (published to the class)")
    create.add_argument("--epochs", type=positive_int, help="epochs per run (default: the class recipe's)")
    pick = actions.add_parser("poll", help="pick the value you expect to win (before the first run finishes)")
    pick.add_argument("--choice", required=True)
    pick.add_argument("--reason", default="", help="optional: why, in one line")
    actions.add_parser("lock", help="close the prediction poll")
    actions.add_parser("launch", help="queue every assigned run that has none yet")
    actions.add_parser("results", help="each value's runs, mean and 95%% interval, the poll, the verdict")
    export = actions.add_parser("export", help="the results as CSV or as one self-contained HTML page")
    export.add_argument("--out", required=True, help="FILE.csv or FILE.html")
    for name, action in actions.choices.items():
        action.add_argument("class_id", metavar="CLASS")
        action.add_argument("--json", action="store_true", help="print machine-readable JSON")
        token_arg(action, "--teacher-key", help="the class's teacher key (default $TRANSFERLAB_TEACHER_KEY)")
        if name in ("poll", "results", "export"):
            token_arg(action, "--owner", help="a student's token (default $TRANSFERLAB_OWNER)")


def handle(args: argparse.Namespace):
    return HANDLERS[args.experiment_action](args)


def _key(args) -> str | None:
    return args.teacher_key or os.environ.get("TRANSFERLAB_TEACHER_KEY")


def _who(args) -> dict:
    """A student's token when given (flag or $TRANSFERLAB_OWNER), else the teacher's key."""
    if args.owner:
        return {"owner": args.owner}
    if _key(args):
        return {"key": _key(args)}
    if os.environ.get("TRANSFERLAB_OWNER"):
        return {"owner": os.environ["TRANSFERLAB_OWNER"]}
    raise UserError("who is asking? give --owner with a student's token, or --teacher-key")


def _create(args):
    made = experiments.create(args.class_id, _key(args), args.question, args.values, args.dataset, args.epochs)
    lines = [f"experiment {made['experiment']} ({questions.TITLES[made['question']]}) on {made['dataset']}, "
             f"{made['epochs']} epochs per run"]
    lines += [f"  {c['value']}: {', '.join(c['students']) or 'nobody yet'}" for c in made["cells"]]
    return made, "\n".join(lines)


def _poll(args):
    picked = poll.pick(args.class_id, args.choice, args.reason, **_who(args))
    return picked, f"your pick: {picked['choice']} (others' picks show once the poll locks)"


def _lock(args):
    locked = poll.lock(args.class_id, _key(args))
    return locked, f"the poll is closed: {locked['reason']}"


def _launch(args):
    launched = experiments.launch(args.class_id, _key(args))
    text = f"queued {launched['queued']} run{'s' if launched['queued'] != 1 else ''} of the class experiment"
    text += "".join(f"\n  not queued for {r['student']}: {r['reason']}" for r in launched["refused"])
    return launched, text


def _results(args):
    found = results.results(args.class_id, **_who(args))
    return found, text_of(found)


def text_of(found: dict) -> str:
    rows = [{"value": c["value"], "runs": c["n"], "finished": c["finished"], "mean": c["mean"], "low": c["low"],
             "high": c["high"]} for c in found["cells"]]
    poll_line = (f"poll: {', '.join(f'{v} {n}' for v, n in found['poll'].items())}" if found["locked"]
                 else f"poll: open, {found['picks']} pick{'s' if found['picks'] != 1 else ''} so far (hidden until it locks)")
    return "\n".join([f"{found['title']} ({found['metric'].replace('_', ' ')}, 95% intervals)",
                      table(rows, list(rows[0])), poll_line, found["verdict"]])


def _export(args):
    from core.classroom import experiment_report

    written = experiment_report.export(args.class_id, args.out, **_who(args))
    return written, f"wrote {written['path']} ({written['bytes']} bytes)"


HANDLERS = {"create": _create, "poll": _poll, "lock": _lock, "launch": _launch, "results": _results, "export": _export}
