"""What the teacher key opens: the class's students and runs (live), the queue and the worker slots,
cancel and requeue of any student's job, datasets published read-only to the class, the class
preset and locks, the held-out set and its leaderboard. Every call checks the key first."""
from __future__ import annotations

from core import data
from core.classroom import classes
from core.data import intake
from core.data.uploads import Entry
from core.errors import UserError
from core.execute import service
from core.runs import admission, drafts, fairness, queue, store
from core.serving import holdouts


def publish(class_id: str, key: str, dataset: str) -> dict:
    """Class members can train on the teacher's dataset by its name, but not change or delete it."""
    classes.authorize(class_id, key)
    data.share(dataset, classes.audience(class_id), owner=key)
    return {"class": class_id, "dataset": dataset, "published": True}


def set_holdout(class_id: str, key: str, entries: list[Entry]) -> intake.IngestReport:
    """The teacher's held-out images (never shared): each finished run of a class dataset is scored on them."""
    classes.authorize(class_id, key)
    report = intake.ingest(f"holdout-{class_id}", entries, source="holdout", owner=key)
    if report.stored or report.duplicates:
        holdouts.set_holdout(classes.audience(class_id), data.find(report.dataset, key).id)
    return report


def set_rules(class_id: str, key: str, preset: dict, locks: dict) -> admission.Policy:
    classes.authorize(class_id, key)
    return admission.set_policy(classes.audience(class_id), preset, locks)


def rules(class_id: str) -> admission.Policy | None:
    return admission.get(classes.audience(class_id))


def usage(class_id: str, key: str) -> dict:
    """The class's stored MB, images and queued or running jobs (all students together) against its limits,
    and each student's own usage against the limits per person."""
    classes.authorize(class_id, key)
    students = [{"student": m["name"], **admission.room(m["token"])["you"]} for m in classes.members(class_id)]
    return {"class": class_id, **admission.class_room(classes.audience(class_id)), "students": students}


# ---- the class, read --------------------------------------------------------------------------------
def runs(class_id: str, key: str) -> list[dict]:
    """One row per run of the class's students, newest first."""
    classes.authorize(class_id, key)
    names = {m["token"]: m["name"] for m in classes.members(class_id)}
    if not names:
        return []
    scored = holdouts.scores(classes.audience(class_id))
    forecast = fairness.forecast(max(1, len(service.alive_workers())))
    return [_run_row(row, names, scored, forecast) for row in store.runs_of(list(names))]


def _run_row(row: dict, names: dict, scored: dict, forecast: dict) -> dict:
    config, summary = row["config"], row["summary"] or {}
    waiting = forecast.get(row["job_id"]) or {}
    return {"student": names[row["owner"]], "run_id": row["id"], "role": row["role"], "status": row["status"],
            "dataset": row["dataset"], "backbone": row["backbone"], "scenario": row["scenario"],
            "frozen_stages": frozen_text(config), "val_accuracy": summary.get("val_accuracy"),
            "test_accuracy": summary.get("test_accuracy"), "seconds": summary.get("seconds"),
            "holdout_accuracy": (scored.get(row["id"]) or {}).get("accuracy"),
            "queue_position": waiting.get("position"), "eta_seconds": waiting.get("eta_seconds"),
            "message": row["message"]}


def frozen_text(config: dict) -> str:
    plan, train = config["freeze"], config["train"]
    fine = {"none": "none", "all_but_head": "all", "first_k": f"first {plan['k']}",
            "explicit": ", ".join(plan["stages"])}[plan["mode"]]
    return fine if train["finetune_epochs"] else "all (head only)"


def students(class_id: str, key: str) -> list[dict]:
    """One row per student: name, the wizard step reached, and their latest main run (or nothing yet)."""
    all_runs = runs(class_id, key)
    out = []
    for member in classes.members(class_id):
        latest = next((r for r in all_runs if r["student"] == member["name"] and r["role"] == "main"), None)
        out.append({"student": member["name"], "step": _step(member["token"], latest), **_latest(latest)})
    return out


def _step(token: str, latest: dict | None = None) -> str:
    """How far a student got, in words: a student who trained (the demo, the command line) skipped no
    step that matters, though the wizard marks none done ("wizard step 0/4" said they had not started)."""
    if latest:
        return "has a run" if latest["status"] != "succeeded" else "trained a model"
    loaded = drafts.load(token)
    done = [s for s in drafts.STEPS if loaded and loaded[1].get(s)]
    if not done:
        return "joined, no step done yet"
    return f"{len(done)} of {len(drafts.STEPS)} steps done (last: {done[-1]})"


def _latest(run: dict | None) -> dict:
    keys = ("run_id", "backbone", "scenario", "frozen_stages", "status", "queue_position", "eta_seconds",
            "val_accuracy", "test_accuracy", "holdout_accuracy", "seconds")
    return {k: (run or {}).get(k) for k in keys}


def leaderboard(class_id: str, key: str) -> list[dict]:
    """Each student's best run on the held-out set, best first."""
    best: dict[str, dict] = {}
    for row in runs(class_id, key):
        if row["holdout_accuracy"] is None:
            continue
        if row["student"] not in best or row["holdout_accuracy"] > best[row["student"]]["holdout_accuracy"]:
            best[row["student"]] = {k: row[k] for k in ("student", "run_id", "holdout_accuracy", "backbone",
                                                         "scenario", "frozen_stages")}
    return sorted(best.values(), key=lambda r: -r["holdout_accuracy"])


def slots() -> list[dict]:
    """What each worker slot is running now."""
    rows = []
    for w in service.alive_workers():
        job = store.job_row(w["job_id"]) if w["job_id"] else None
        rows.append({"slot_pid": w["pid"], "job_id": w["job_id"], "run_id": job["run_id"] if job else None,
                     "since": job["started"] if job else None})
    return rows


# ---- acting on a student's run ----------------------------------------------------------------------
def student_of(class_id: str, key: str, run_id: str) -> str:
    """The owner token of a run of this class (the key decides, never the run's owner)."""
    classes.authorize(class_id, key)
    owner = store.run_row(run_id)["owner"]
    if owner not in {m["token"] for m in classes.members(class_id)}:
        raise UserError(f"run {run_id} is not a run of this class")
    return owner


def cancel(class_id: str, key: str, run_id: str) -> str:
    return queue.cancel(run_id, student_of(class_id, key, run_id))


def requeue(class_id: str, key: str, run_id: str) -> int:
    return queue.resume(run_id, student_of(class_id, key, run_id))


def viewable_owner(key: str | None, run_id: str) -> str | None:
    """For the teacher opening a student's run read-only: the run's owner when one of this key's
    classes has them as a member, else None."""
    for found in classes.of_key(key):
        try:
            return student_of(found["id"], key, run_id)
        except UserError:
            continue
    return None
