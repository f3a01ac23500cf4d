"""Held-out sets a teacher keeps from the students: every finished run trained on a dataset shared with
a class that has a holdout is scored on it by the worker, right after it succeeds (`execute.outcome`),
and runs that finished before their class had a holdout are caught up while a worker idles
(`unscored`). Students never see the holdout's images or its name; the leaderboard reads the scores."""
from __future__ import annotations

import time

import torch

from core import db
from core.data import pins, store as datasets
from core.data.cache import ImageSet
from core.data.transforms import normalize
from core.serving.predict import load_run

BATCH = 32


def set_holdout(audience: str, dataset_id: int) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT OR REPLACE INTO holdouts (audience, dataset_id) VALUES (?, ?)", (audience, dataset_id))


def holdout_of(audience: str) -> int | None:
    with db.reading() as conn:
        row = conn.execute("SELECT dataset_id FROM holdouts WHERE audience = ?", (audience,)).fetchone()
    return row["dataset_id"] if row else None


def audiences_for(run_id: str, owner: str) -> list[str]:
    """The owner's classes that have a holdout and shared the dataset this run was pinned from."""
    origin = pins.dataset_of(run_id)
    if not origin or origin["dataset_id"] is None:
        return []
    shared = datasets.shares_of(origin["dataset_id"])
    return [a for a in datasets.audiences(owner) if a in shared and holdout_of(a) is not None]


def score(run_id: str, owner: str) -> list[dict]:
    """Score a finished run on each of its classes' holdouts (images of classes it does not know are
    skipped); stored for the leaderboard."""
    out = []
    for audience in audiences_for(run_id, owner):
        try:
            accuracy, images = _accuracy(run_id, holdout_of(audience))
        except Exception:  # a run whose files are gone is recorded unscored, not retried forever
            accuracy, images = None, 0
        with db.transaction() as conn:
            conn.execute("""INSERT OR REPLACE INTO holdout_scores (run_id, audience, accuracy, images, scored)
                            VALUES (?, ?, ?, ?, ?)""", (run_id, audience, accuracy, images, time.time()))
        out.append({"audience": audience, "accuracy": accuracy, "images": images})
    return out


def _accuracy(run_id: str, dataset_id: int) -> tuple[float | None, int]:
    loaded = load_run(run_id)
    if loaded.config.task != "single_label":  # held-out sets and the leaderboard score one class per image
        return None, 0
    label = {name: i for i, name in enumerate(loaded.classes)}
    records = [r for r in datasets.records_by_id(dataset_id) if r.class_name in label]
    if not records:
        return None, 0
    images, correct = ImageSet(records, loaded.pre), 0
    with loaded.lock, torch.inference_mode():
        for start in range(0, len(records), BATCH):
            chunk = range(start, min(start + BATCH, len(records)))
            batch = normalize(torch.stack([images[i][0] for i in chunk]), loaded.pre)
            predicted = loaded.model(batch).argmax(-1).tolist()
            correct += sum(p == label[records[i].class_name] for p, i in zip(predicted, chunk))
    return round(correct / len(records), 6), len(records)


def unscored() -> list[str]:
    """Runs a holdout should score and has not: pinned from a dataset shared with a class that has a
    holdout, by a member of that class (finished or not: whoever asks keeps the succeeded ones)."""
    with db.reading() as conn:
        classes = [r[0] for r in conn.execute("SELECT audience FROM holdouts")]
    out = []
    for audience in classes:
        members, done = datasets.members(audience), scores(audience)
        for dataset_id in datasets.shared_ids(audience):
            out += [ref for ref, owner in pins.pinned_by(dataset_id).items() if owner in members and ref not in done]
    return out


def scores(audience: str) -> dict[str, dict]:
    """run id → {"accuracy", "images"} for the audience's holdout."""
    with db.reading() as conn:
        rows = conn.execute("SELECT run_id, accuracy, images FROM holdout_scores WHERE audience = ?", (audience,))
        return {r["run_id"]: {"accuracy": r["accuracy"], "images": r["images"]} for r in rows}


def keep_only(conn, audience: str) -> set[int]:
    """In a copy of the store (a class's backup): that class's held-out set and scores alone; returns the
    id of its held-out dataset (kept with the class's data)."""
    conn.execute("DELETE FROM holdouts WHERE audience != ?", (audience,))
    conn.execute("DELETE FROM holdout_scores WHERE audience != ?", (audience,))
    return {r[0] for r in conn.execute("SELECT dataset_id FROM holdouts")}
