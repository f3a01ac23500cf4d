"""The prediction poll of a class experiment ("predict, then run"): before any run of the experiment
finishes, each student and the teacher pick the value they expect to win, with an optional one-line
reason, and may change their pick. The poll locks when the first run finishes or when the teacher locks
it; after that a pick is refused, saying why. Until the lock nobody sees others' picks (the teacher
neither): only how many have picked, and one's own pick.

The lock is noticed when the poll is next read or written (a finished run is a fact in the store, so the
first reader after it records the lock); the teacher's pick is kept under "teacher", never under the key."""
from __future__ import annotations

import time

from core import db
from core.classroom import classes, experiments, questions
from core.errors import UserError

TEACHER = "teacher"
MAX_REASON = 200
FIRST_RUN = "the first run of the experiment finished"
BY_TEACHER = "the teacher locked it"


def voter(class_id: str, owner: str | None = None, key: str | None = None) -> tuple[str, str]:
    """(who the pick is kept under, their name): the teacher with the key, or a member with their token."""
    if key:
        classes.authorize(class_id, key)
        return TEACHER, "the teacher"
    member = classes.membership(owner) if owner else None
    if member is None or member["class"] != class_id:
        raise UserError(f"this token is not a student of class {class_id}: give --owner with the token you got "
                        "when you joined, or --teacher-key")
    return owner, member["name"]


def _experiment(class_id: str) -> dict:
    found = experiments.current(class_id)
    if found is None:
        raise UserError(f"class {class_id} has no experiment yet")
    return found


def pick(class_id: str, choice: str, reason: str = "", owner: str | None = None, key: str | None = None) -> dict:
    """Record (or change) a pick; refused once the poll is locked, with the reason it locked."""
    who, _ = voter(class_id, owner, key)
    experiment = _experiment(class_id)
    value = _value(experiment, choice)
    locked, why = lock_state(experiment)
    if locked:
        raise UserError(f"the poll is closed: {why}; picks are no longer taken")
    line = " ".join((reason or "").split())[:MAX_REASON]
    with db.transaction() as conn:
        conn.execute("INSERT OR REPLACE INTO experiment_picks (experiment_id, voter, choice, reason, picked) "
                     "VALUES (?, ?, ?, ?, ?)", (experiment["id"], who, value, line, time.time()))
    return {"choice": value, "reason": line, "locked": False}


def _value(experiment: dict, choice: str) -> str:
    """The pick as one of the experiment's values (typed as the teacher typed them, or canonically)."""
    text = (choice or "").strip()
    if text in experiment["values"]:
        return text
    if experiment["question"] in ("freeze", "data_size", "learning_rate", "pretrained"):
        try:
            facts = questions.Facts(experiment["config"], experiment["stages"], 10**9)
            found = questions.canonical(experiment["question"], text, facts)
        except UserError:
            found = None
        if found in experiment["values"]:
            return found
    raise UserError(f"--choice {choice!r} is not one of this experiment's values: {', '.join(experiment['values'])}")


def lock_state(experiment: dict) -> tuple[bool, str | None]:
    """(locked, why). A finished run locks it now, and the lock is recorded (it never unlocks)."""
    if experiment["locked"]:
        return True, experiment["lock_reason"]
    rows = experiments.run_rows(experiment)
    if any(experiments.finished(row) for row in rows.values()):
        first = min(row["finished"] for row in rows.values() if experiments.finished(row))
        _record_lock(experiment, first, FIRST_RUN)
        return True, experiment["lock_reason"]
    return False, None


def lock(class_id: str, key: str | None) -> dict:
    """The teacher closes the poll (before any run finished, or to make it explicit)."""
    classes.authorize(class_id, key)
    experiment = _experiment(class_id)
    if not lock_state(experiment)[0]:
        _record_lock(experiment, time.time(), BY_TEACHER)
    return {"locked": True, "reason": experiment["lock_reason"]}


def _record_lock(experiment: dict, when: float, why: str) -> None:
    with db.transaction() as conn:
        conn.execute("UPDATE class_experiments SET locked = ?, lock_reason = ? WHERE id = ? AND locked IS NULL",
                     (when, why, experiment["id"]))
        row = conn.execute("SELECT locked, lock_reason FROM class_experiments WHERE id = ?",
                           (experiment["id"],)).fetchone()
    experiment["locked"], experiment["lock_reason"] = row["locked"], row["lock_reason"]


def picks(experiment: dict) -> list[dict]:
    with db.reading() as conn:
        rows = conn.execute("SELECT voter, choice, reason, picked FROM experiment_picks WHERE experiment_id = ? "
                            "ORDER BY picked", (experiment["id"],))
        return [dict(r) for r in rows]


def distribution(experiment: dict) -> dict[str, int]:
    """How many picked each value (every value listed, 0 included): only meant to be shown once locked."""
    counts = {v: 0 for v in experiment["values"]}
    for row in picks(experiment):
        counts[row["choice"]] = counts.get(row["choice"], 0) + 1
    return counts


def view(experiment: dict, who: str | None) -> dict:
    """What a viewer may see of the poll: the count of picks and their own pick; the distribution and the
    reasons only once locked."""
    locked, why = lock_state(experiment)
    rows = picks(experiment)
    own = next((r for r in rows if r["voter"] == who), None)
    seen = {"locked": locked, "lock_reason": why, "picks": len(rows),
            "mine": {"choice": own["choice"], "reason": own["reason"]} if own else None}
    if locked:
        seen["distribution"] = distribution(experiment)
        seen["reasons"] = [{"choice": r["choice"], "reason": r["reason"]} for r in rows if r["reason"]]
    return seen
