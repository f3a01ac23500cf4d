"""`python -m core class ...`: create a class, join it, publish datasets, the class's runs, the
held-out set and the leaderboard. Teacher commands take `--teacher-key` (or $TRANSFERLAB_TEACHER_KEY);
a wrong or missing key, or a student's token in its place, exits 2."""
from __future__ import annotations

import argparse
import os

from core import data
from core.classroom import classes, questions, teacher
from core.cli import experiment
from core.cli.registry import command, positive_int, table, token_arg
from core.data import quotas
from core.errors import UserError


def _key_arg(p):
    token_arg(p, "--teacher-key", help="the class's teacher key (default $TRANSFERLAB_TEACHER_KEY)")


def _key(args) -> str | None:
    return args.teacher_key or os.environ.get("TRANSFERLAB_TEACHER_KEY")


def _class_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="a new class: prints its id, join code and teacher key")
    create.add_argument("name")
    join = sub.add_parser("join", help="join with the code: prints the student's owner token")
    join.add_argument("code")
    join.add_argument("--name", required=True, help="the student's display name")
    publish = sub.add_parser("publish", help="share the teacher's dataset with the class, read-only")
    publish.add_argument("class_id", metavar="CLASS")
    publish.add_argument("--dataset", required=True)
    for name, text in (("runs", "one row per run of the class"), ("students", "one row per student"),
                       ("usage", "stored MB, images and jobs of the class and of each student, against the limits"),
                       ("leaderboard", "each student's best held-out accuracy, best first")):
        sub.add_parser(name, help=text).add_argument("class_id", metavar="CLASS")
    rules = sub.add_parser("rules", help="the class preset and locks (the wizard shows locked fields fixed)")
    rules.add_argument("class_id", metavar="CLASS")
    rules.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                       help="scenario, backbone, epochs (a cap), batch_size or class_balance (together: they replace the preset); "
                            "max_mb, max_images or max_jobs: the class's limit for all students together "
                            "(kept until changed; =none removes it)")
    rules.add_argument("--lock", action="append", default=[], metavar="FIELD=REASON", help="fix FIELD, saying why")
    holdout = sub.add_parser("holdout", help="the held-out set (CLASS/file folders or zips), never shown to students")
    holdout.add_argument("class_id", metavar="CLASS")
    holdout.add_argument("paths", nargs="+", metavar="PATH")
    experiment.add(sub)  # its actions carry their own flags
    for action in (a for name, a in sub.choices.items() if name != "experiment"):
        action.add_argument("--json", action="store_true", help="print machine-readable JSON")
        if action.prog.split()[-1] not in ("create", "join"):
            _key_arg(action)
    token_arg(create, "--teacher-key", help="choose the key (default $TRANSFERLAB_TEACHER_KEY or a new one)")


@command("class", "a classroom: create, join, publish, runs, students, holdout, leaderboard, experiment", _class_args)
def class_cmd(args):
    return ACTIONS[args.action](args)


def _create(args):
    made = classes.create(args.name, args.teacher_key)
    return ({k: made[k] for k in ("class", "join_code", "teacher_key")},
            f"class {made['name']} ({made['class']}): join code {made['join_code']}\n"
            f"teacher key (keep it secret; shown once): {made['teacher_key']}")


def _join(args):
    joined = classes.join(args.code, args.name)
    return {"class": joined["class"], "token": joined["token"]}, f"joined class {joined['class']} as {joined['name']}"


def _publish(args):
    result = teacher.publish(args.class_id, _key(args), args.dataset)
    return result, f"{args.dataset} is published to class {args.class_id} (read-only for students)"


def _runs(args):
    rows = teacher.runs(args.class_id, _key(args))
    cols = ["student", "run_id", "status", "backbone", "scenario", "val_accuracy", "test_accuracy", "holdout_accuracy"]
    return rows, table(rows, cols) if rows else "no runs yet"


def _students(args):
    rows = teacher.students(args.class_id, _key(args))
    cols = ["student", "step", "status", "backbone", "scenario", "frozen_stages", "queue_position", "test_accuracy"]
    return rows, table(rows, cols) if rows else "nobody has joined yet"


def _holdout(args):
    entries = [e for path in args.paths for e in data.from_folder(path)]
    report = teacher.set_holdout(args.class_id, _key(args), entries)
    if not report.stored and not report.duplicates:
        raise UserError(f"no valid image in the held-out set ({len(report.rejected)} rejected)")
    return report.to_dict(), f"held-out set of class {args.class_id}: {sum(report.classes.values())} images"


def _leaderboard(args):
    rows = teacher.leaderboard(args.class_id, _key(args))
    return rows, table(rows, ["student", "run_id", "holdout_accuracy"]) if rows else "no scored runs yet"


def _rules(args):
    preset = {k: _value(k, v) for k, v in (_pair(text) for text in args.set)}
    locks = dict(_pair(text) for text in args.lock)
    saved = teacher.set_rules(args.class_id, _key(args), preset, locks)
    limits = ", ".join(f"{k} {v:g}" for k, v in saved.limits.items() if v is not None) or "none"
    return saved.to_dict(), (f"class {args.class_id}: preset {saved.preset}, locked {sorted(saved.locks)}, "
                             f"limits {limits}")


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise UserError(f"{text!r}: expected FIELD=VALUE")
    return name.strip(), value.strip()


def _value(name: str, value: str):
    if name in quotas.FIELDS and value.lower() in ("none", ""):
        return None  # the class limit goes; each student's own limit still applies
    if name in ("epochs", "batch_size") + quotas.FIELDS:
        if not value.isdigit() or int(value) < 1:
            raise UserError(f"{name} must be a whole number of 1 or more, got {value!r}")
        return int(value)
    return value


def _usage(args):
    found = teacher.usage(args.class_id, _key(args))
    lines = [f"class {args.class_id}: {found['words']}"] + [f"  {s['student']}: {s['words']}" for s in found["students"]]
    return found, "\n".join(lines)


ACTIONS = {"usage": _usage, "create": _create, "join": _join, "publish": _publish, "runs": _runs, "students": _students,
           "rules": _rules, "holdout": _holdout, "leaderboard": _leaderboard, "experiment": experiment.handle}


def _sim_args(p):
    p.add_argument("--students", type=positive_int, default=30)
    p.add_argument("--slots", type=positive_int, help="worker slots (default: automatic)")
    p.add_argument("--per-class", type=positive_int, default=10, help="images per class of the shared sample")
    p.add_argument("--sample", default="digits", help="the sample the teacher publishes")
    p.add_argument("--executor", choices=("local", "ray"), default="local")
    p.add_argument("--experiment", choices=questions.QUESTIONS, metavar="QUESTION",
                   help="instead: the whole class runs one experiment (with --values), launched at once")
    p.add_argument("--values", help="the experiment's values, e.g. 0,2,4 (with --experiment)")
    p.add_argument("--epochs", type=positive_int, default=2, help="epochs per experiment run (with --experiment)")


@command("classroom-sim", "benchmark: a class of students submitting at once, in a fresh data home", _sim_args)
def sim_cmd(args):
    if args.experiment:
        return _experiment_sim(args)
    from core.classroom import sim

    result = sim.simulate(args.students, args.slots, args.per_class, args.executor, args.sample)
    waits = result["first_job_wait_seconds"]
    return result, (f"{result['students']} students, {result['jobs']} jobs on {result['executor']} "
                    f"({result['slots']} slots): makespan {result['makespan_seconds']} s; first-job wait p50 "
                    f"{waits['p50']} s, p95 {waits['p95']} s, max {waits['max']} s (max/median "
                    f"{result['max_over_median']}); first jobs behind the greedy student's second: "
                    f"{result['first_jobs_behind_greedy_second_job']}" + _costs_line(result))


def _experiment_sim(args):
    from core.classroom import experiment_sim

    if not args.values:
        raise UserError("--experiment needs --values, e.g. --experiment freeze --values 0,2,4")
    result = experiment_sim.simulate(args.experiment, args.values, args.students, args.per_class, args.epochs,
                                     args.slots, args.sample)
    return result, (f"{result['students']} students, {result['question']} {','.join(result['values'])}, "
                    f"{result['epochs']} epochs per run: launch to combined chart complete in "
                    f"{result['launch_to_chart_complete_seconds']} s ({result['seconds_per_run']} s per run); "
                    f"poll {result['poll']}; verdict: {result['verdict']}")


def _costs_line(result: dict) -> str:
    if "job_seconds" not in result:
        return ""
    return (f"; per job {result['job_seconds']['mean']} s from claim to finished, of which "
            f"{result['outside_fit_seconds_per_job']['mean']} s outside the fit (mean); worker ready after "
            f"{result['worker_ready_seconds']} s, then {result['seconds_per_job_once_ready']} s per job")
