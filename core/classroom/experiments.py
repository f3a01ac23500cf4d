"""A class runs one experiment together: the teacher asks one question (`questions`) with 2–6 values on a
dataset published to the class; every other run setting comes from the class rules and is shared by all
values. Each student is one cell's repeat: assigned round-robin in join order, so every value gets ⌊n/k⌋
or ⌈n/k⌉ students; a later joiner gets the value with the fewest (the first such value in the teacher's
order). Repeats of a value differ only in their seed (the n-th student of a value trains with seed n).

The experiment's runs are ordinary runs of their students, queued through the fair queue (`runs.queue`):
the teacher launches every cell at once, or a student trains their own from the wizard. A class may run
several experiments over time; the newest is the current one. The poll is in `poll`, the combined result
in `results`."""
from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections import Counter

from core import data, db, models, presets
from core.classroom import classes, questions, rules, teacher
from core.config import DataSpec, RunConfig
from core.errors import ConfigError, UserError
from core.runs import admission, queue, status, store

DEFAULT_BACKBONE = "efficientnet_lite0"  # bundled weights: works offline, as the class default does
RESTARTABLE = ("failed", "cancelled")  # a cell whose run ended so is launched again


def create(class_id: str, key: str | None, question: str, values, dataset: str, epochs: int | None = None) -> dict:
    """A new experiment (it becomes the class's current one); every member gets a cell at once."""
    classes.authorize(class_id, key)
    data.store.require_single_label(dataset, key, "a class experiment (its results compare accuracy)")
    questions.check_question(question)
    policy = admission.get(classes.audience(class_id))
    base = _base(dataset, epochs, policy)
    facts = questions.Facts(base, models.stage_count(base.backbone), _fewest_train(base, key))
    chosen = questions.parse_values(question, values, facts)
    for value in chosen:  # a value the class rules would refuse at submit is refused now, with the rule's reason
        try:
            admission.check_policy(questions.variant(base, question, value, facts.stages, 0), policy)
        except ConfigError as exc:
            raise UserError(f"--values: {value!r} breaks the class rules ({exc})") from None
    if data.find(dataset, key).owner == key:
        teacher.publish(class_id, key, dataset)  # the students train on it by its name
    experiment_id = secrets.token_hex(4)
    with db.transaction() as conn:
        conn.execute("""INSERT INTO class_experiments (id, class_id, question, choices, dataset, config, created)
                        VALUES (?, ?, ?, ?, ?, ?, ?)""", (experiment_id, class_id, question, json.dumps(chosen),
                                                          dataset, base.to_json(), time.time()))
    return summary(current(class_id))


def _base(dataset: str, epochs: int | None, policy: admission.Policy | None) -> RunConfig:
    """The settings every value shares: the class preset's scenario recipe on its backbone, its other values,
    the dataset (every run on the same split), and `epochs` (within the class's epochs cap)."""
    preset = policy.preset if policy else {}
    backbone = preset.get("backbone", DEFAULT_BACKBONE)
    recipe = presets.preset(preset.get("scenario", "S1"), backbone, models.stage_count(backbone))
    base = rules.apply_policy(recipe.replace(data=DataSpec(dataset=dataset), baselines=()), policy)
    cap = preset.get("epochs")
    if epochs is not None and cap and epochs > cap:
        raise UserError(f"--epochs {epochs}: the class rules allow at most {cap} epochs")
    return base if epochs is None else base.replace(train=with_epochs(base.train, epochs))


def with_epochs(train, total: int):
    """`total` epochs, head first as the recipe has it (at most half of them when the recipe fine-tunes)."""
    if not train.finetune_epochs:
        return dataclasses.replace(train, head_epochs=total)
    head = min(train.head_epochs, total // 2)
    return dataclasses.replace(train, head_epochs=head, finetune_epochs=total - head)


def _fewest_train(base: RunConfig, key: str) -> int:
    """The fewest training images any class of the dataset has (a data size above it is refused)."""
    splits = data.for_spec(base.data, key)
    counts = Counter(r.label for r in splits.train)
    return min(counts.get(i, 0) for i in range(len(splits.classes)))


# ---- reading ------------------------------------------------------------------------------------------
def current(class_id: str) -> dict | None:
    """The class's newest experiment with its cells (members who joined since are assigned first)."""
    with db.reading() as conn:
        row = conn.execute("SELECT * FROM class_experiments WHERE class_id = ? ORDER BY created DESC LIMIT 1",
                           (class_id,)).fetchone()
    if row is None:
        return None
    found = _decode(dict(row))
    _assign(found)
    found["cells"] = _cells(found)
    return found


def _decode(row: dict) -> dict:
    row["values"] = json.loads(row.pop("choices"))
    row["config"] = RunConfig.from_json(row["config"])
    row["stages"] = models.stage_count(row["config"].backbone)
    return row


def _assign(experiment: dict) -> None:
    """Members without a cell, in join order, each to the value with the fewest students."""
    people = classes.members(experiment["class_id"])
    with db.reading() as conn:
        have = {r["token"] for r in conn.execute("SELECT token FROM experiment_cells WHERE experiment_id = ?",
                                                  (experiment["id"],))}
    if all(p["token"] in have for p in people):
        return
    with db.transaction() as conn:
        taken = Counter(r["value"] for r in conn.execute("SELECT value FROM experiment_cells WHERE experiment_id = ?",
                                                         (experiment["id"],)))
        have = {r["token"] for r in conn.execute("SELECT token FROM experiment_cells WHERE experiment_id = ?",
                                                  (experiment["id"],))}
        for person in (p for p in people if p["token"] not in have):
            value = next_value(experiment["values"], taken)
            conn.execute("INSERT INTO experiment_cells (experiment_id, token, value, seed, assigned) VALUES (?, ?, ?, ?, ?)",
                         (experiment["id"], person["token"], value, taken[value], time.time()))
            taken[value] += 1


def next_value(values: list[str], taken: Counter) -> str:
    """The value with the fewest students, the first in the teacher's order on a tie: from empty cells this
    is round-robin in join order (student i gets value i mod k)."""
    return min(values, key=lambda v: taken[v])


def _cells(experiment: dict) -> list[dict]:
    """One row per student: token, name, value, seed, run_id, in join order."""
    names = {m["token"]: m["name"] for m in classes.members(experiment["class_id"])}
    with db.reading() as conn:
        rows = conn.execute("SELECT token, value, seed, run_id FROM experiment_cells WHERE experiment_id = ? "
                            "ORDER BY assigned, rowid", (experiment["id"],)).fetchall()
    return [{**dict(r), "student": names[r["token"]]} for r in rows if r["token"] in names]


def summary(experiment: dict) -> dict:
    """What `class experiment create --json` prints: the values and who is in each cell."""
    return {"experiment": experiment["id"], "question": experiment["question"], "values": experiment["values"],
            "dataset": experiment["dataset"], "epochs": experiment["config"].train.total_epochs,
            "cells": [{"value": v, "students": [c["student"] for c in experiment["cells"] if c["value"] == v]}
                      for v in experiment["values"]]}


def of_student(token: str) -> dict | None:
    """A student's part in their class's current experiment: the question, their value (in words too), the
    run settings it gives them, their run, and the sentence the wizard's lock shows; None when they have none."""
    member = classes.membership(token)
    experiment = current(member["class"]) if member else None
    cell = next((c for c in experiment["cells"] if c["token"] == token), None) if experiment else None
    if cell is None:
        return None
    said = questions.words(experiment["question"], cell["value"], experiment["stages"])
    return {"experiment": experiment["id"], "class": member["class"], "question": experiment["question"],
            "value": cell["value"], "words": said, "seed": cell["seed"], "run_id": cell["run_id"],
            "config": config_of(experiment, cell),
            "reason": f"the class experiment gives you {said} ({questions.TITLES[experiment['question']]}: "
                      f"each student trains one value, so the class compares them all)"}


def enforce(config: RunConfig, mine: dict | None) -> RunConfig:
    """A student's own draft with their experiment value kept in it (`mine` from `of_student`): the wizard
    shows that field locked, and whatever its widgets say, this is what is saved and submitted."""
    if mine is None:
        return config
    stages = models.stage_count(config.backbone) if mine["question"] == "freeze" else 0
    return questions.variant(config, mine["question"], mine["value"], stages, config.seed)


def config_of(experiment: dict, cell: dict) -> RunConfig:
    return questions.variant(experiment["config"], experiment["question"], cell["value"], experiment["stages"],
                             cell["seed"])


# ---- running it ---------------------------------------------------------------------------------------
def launch(class_id: str, key: str | None) -> dict:
    """Queue every cell that has no run yet (or whose run failed or was cancelled), each as its student's own
    run through the fair queue. A student the queue refuses (their limits) is reported, the others go on."""
    classes.authorize(class_id, key)
    experiment = current(class_id)
    if experiment is None:
        raise UserError(f"class {class_id} has no experiment yet: create one with `class experiment create`")
    queued, refused = 0, []
    for cell in experiment["cells"]:
        if not _needs_run(cell):
            continue
        try:
            queued += _submit(experiment, cell) is not None
        except UserError as exc:
            refused.append({"student": cell["student"], "reason": str(exc)})
    return {"queued": queued, "refused": refused, "experiment": experiment["id"]}


def _needs_run(cell: dict) -> bool:
    if cell["run_id"] is None:
        return True
    try:
        return store.run_row(cell["run_id"])["status"] in RESTARTABLE
    except UserError:  # the student deleted it
        return True


def _submit(experiment: dict, cell: dict) -> str | None:
    """The cell's run, queued and linked; None when another caller linked one first (theirs stays)."""
    submitted = queue.submit(config_of(experiment, cell), cell["token"])
    with db.transaction() as conn:
        linked = conn.execute("UPDATE experiment_cells SET run_id = ? WHERE experiment_id = ? AND token = ? "
                              "AND run_id IS ?", (submitted["run_id"], experiment["id"], cell["token"],
                                                  cell["run_id"])).rowcount
    if not linked:
        queue.cancel(submitted["run_id"], cell["token"])
        return None
    return submitted["run_id"]


def train_mine(token: str) -> dict:
    """A student's own Train: their cell's run with exactly the experiment's settings (their wizard's other
    choices stay for their own runs). Their existing run is returned when it is queued, running or done."""
    mine = of_student(token)
    if mine is None:
        raise UserError("you have no part in a class experiment")
    experiment = current(mine["class"])
    cell = next(c for c in experiment["cells"] if c["token"] == token)
    if not _needs_run(cell):
        return {"run_id": cell["run_id"], "queued": False}
    run_id = _submit(experiment, cell)
    return {"run_id": run_id or of_student(token)["run_id"], "queued": run_id is not None}


def run_rows(experiment: dict) -> dict[str, dict]:
    """The cells' runs as the store has them, by run id (a deleted run is simply absent)."""
    ids = {c["run_id"] for c in experiment["cells"] if c["run_id"]}
    owners = sorted({c["token"] for c in experiment["cells"]})
    return {r["id"]: r for r in store.runs_of(owners) if r["id"] in ids} if owners else {}


def finished(row: dict | None) -> bool:
    return bool(row) and row["status"] == status.Status.SUCCEEDED.value
