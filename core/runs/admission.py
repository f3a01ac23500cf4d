"""What a submit must obey: room on the server (the free-space floor, each person's and each class's
limits of queued and running jobs and of stored MB: `check_room`), and a class's rules for its members'
runs, a preset (scenario, backbone, epochs cap, batch size) and the fields the teacher locked, each with
the teacher's reason. They are kept and enforced here, where runs are admitted, so the CLI cannot go
around the wizard; the teacher sets them through `classroom.teacher`, and a student's draft starts from
them (`classroom.rules`)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from core import db, models
from core.config import CLASS_BALANCE, RunConfig
from core.data import quotas, store as datasets
from core.errors import ConfigError, LimitReached
from core.paths import data_home, free_bytes
from core.runs import store
from core.scenarios import CODES

FIELDS = ("scenario", "backbone", "epochs", "batch_size", "class_balance")  # "epochs" caps head + fine-tune epochs


@dataclass(frozen=True)
class Policy:
    preset: dict = field(default_factory=dict)  # field → value
    locks: dict = field(default_factory=dict)  # field → the teacher's reason
    limits: dict = field(default_factory=dict)  # the class's limits for all its students (`quotas.FIELDS`)

    def to_dict(self) -> dict:
        return {"preset": self.preset, "locks": self.locks, "limits": self.limits}


def set_policy(audience: str, preset: dict, locks: dict) -> Policy:
    """The class's preset and locks (replaced), and its limits (`max_mb`, `max_images`, `max_jobs`: those
    given are set, None removes one, the others stay). Rules that set only limits keep the preset and locks."""
    limits = {k: v for k, v in preset.items() if k in quotas.FIELDS}
    preset = {k: v for k, v in preset.items() if k not in quotas.FIELDS}
    unknown = sorted((set(preset) | set(locks)) - set(FIELDS))
    if unknown:
        raise ConfigError(unknown[0], f"not a class setting; settings are {', '.join(FIELDS + quotas.FIELDS)}"
                          + (" (a limit applies to everyone: it has nothing to lock)" if unknown[0] in quotas.FIELDS
                             else ""))
    unset = sorted(set(locks) - set(preset))
    if unset:
        raise ConfigError(unset[0], "is locked but has no preset value to lock it at")
    _check_values(preset)
    saved = quotas.set_class_limits(audience, limits) if limits else quotas.class_limits(audience)
    if limits and not preset and not locks:
        kept = get(audience) or Policy()
        return Policy(kept.preset, kept.locks, saved.to_dict())
    with db.transaction() as conn:
        conn.execute("INSERT OR REPLACE INTO policies (audience, preset, locks) VALUES (?, ?, ?)",
                     (audience, json.dumps(preset), json.dumps(locks)))
    return Policy(preset, locks, saved.to_dict())


def _check_values(preset: dict) -> None:
    if "scenario" in preset and preset["scenario"] not in CODES:
        raise ConfigError("scenario", f"{preset['scenario']!r} is not one of {', '.join(CODES)}")
    if "backbone" in preset:
        models.get(preset["backbone"])  # unknown names fail with the closest valid ones
    if "class_balance" in preset and preset["class_balance"] not in CLASS_BALANCE:
        raise ConfigError(field_path("class_balance"), f"{preset['class_balance']!r} is not one of {', '.join(CLASS_BALANCE)}")
    for name in ("epochs", "batch_size"):
        if name in preset and (not isinstance(preset[name], int) or preset[name] < 1):
            raise ConfigError(field_path(name), f"must be a whole number of 1 or more, got {preset[name]!r}")


def get(audience: str) -> Policy | None:
    """The class's preset and locks (None when it has none), with its limits."""
    with db.reading() as conn:
        row = conn.execute("SELECT preset, locks FROM policies WHERE audience = ?", (audience,)).fetchone()
    if row is None:
        return None
    return Policy(json.loads(row["preset"]), json.loads(row["locks"]), quotas.class_limits(audience).to_dict())


def for_owner(owner: str) -> Policy | None:
    """The policy of the first class the owner belongs to that has one."""
    return next((p for p in map(get, datasets.audiences(owner)) if p), None)


def presets() -> list[dict]:
    """Every class's preset (a worker slot warms their backbones before its first job)."""
    with db.reading() as conn:
        return [json.loads(r["preset"]) for r in conn.execute("SELECT preset FROM policies")]


def check(config: RunConfig, owner: str) -> None:
    """Refuse a config that changes a locked field or exceeds the epochs cap, naming the field and the reason."""
    check_policy(config, for_owner(owner))


def check_policy(config: RunConfig, found: Policy | None) -> None:
    if found is None:
        return
    values = {"scenario": config.scenario, "backbone": config.backbone, "batch_size": config.train.batch_size,
              "class_balance": config.train.class_balance}
    for name, reason in found.locks.items():
        if name in values and values[name] != found.preset[name]:
            raise ConfigError(field_path(name), f"fixed by your teacher at {found.preset[name]!r}: {reason}")
    cap = found.preset.get("epochs")
    if cap and config.train.total_epochs > cap:
        raise ConfigError("train.head_epochs", f"at most {cap} epochs in this class (head + fine-tune): "
                                               f"{found.locks.get('epochs', 'the class epochs cap')}")


def field_path(name: str) -> str:
    """The RunConfig field a class setting fixes (an error names it)."""
    return {"batch_size": "train.batch_size", "epochs": "train.head_epochs",
            "class_balance": "train.class_balance"}.get(name, name)


# ---- room for more jobs ----------------------------------------------------------------------------------
def check_room(owner: str, jobs: int = 1) -> None:
    """Refuse `jobs` new jobs below the free-space floor, beyond the owner's or their class's limit of queued
    and running jobs, or when their stored bytes already reached a limit (a run writes files). Reaching a
    jobs limit exactly is allowed."""
    quotas.check_free(0, "Queuing a job")
    adding = quotas.Usage(bytes=1, jobs=jobs)  # any new file would go over a limit already reached
    crossed = quotas.over(quotas.owner_limits(), _used([owner]), adding)
    if crossed:
        raise LimitReached(f"Not queued: you have {crossed} (the limit per person) and this needs {jobs} more "
                           f"job{'s' if jobs != 1 else ''}. {FREE_UP} (TRANSFERLAB_OWNER_MAX_JOBS, "
                           "TRANSFERLAB_OWNER_MAX_MB).")
    for audience, limits in quotas.limited_classes(owner).items():
        crossed = quotas.over(limits, _used(datasets.members(audience)), adding)
        if crossed:
            raise LimitReached(f"Not queued: your class has {crossed} (its limit for all students together, set "
                               f"by your teacher). {FREE_UP}")


FREE_UP = "Wait for a job to finish, cancel one you do not need, or delete runs and datasets you no longer use"


def _used(owners) -> quotas.Usage:
    found = quotas.usage(owners)
    found.jobs = store.active_jobs(sorted(owners))
    return found


def room(owner: str) -> dict:
    """What the Data and Train pages show a person: their usage against their limits, each limited class's
    usage against its limits, and the disk's free space against the floor."""
    return {"you": _room_of([owner], quotas.owner_limits()),
            "classes": {a: _room_of(datasets.members(a), limits) for a, limits in quotas.limited_classes(owner).items()},
            "free_bytes": free_bytes(data_home()), "min_free_bytes": quotas.min_free_bytes()}


def class_room(audience: str) -> dict:
    """A class's usage (all its students together) against its limits (what the Teacher page shows)."""
    return _room_of(datasets.members(audience), quotas.class_limits(audience))


def _room_of(owners, limits: quotas.Limits) -> dict:
    used = _used(owners)
    return {"used": used.to_dict(), "limits": limits.to_dict(), "words": quotas.in_words(used, limits)}


def keep_only(conn, audience: str) -> None:
    """In a copy of the store (a class's backup): that class's rules alone."""
    conn.execute("DELETE FROM policies WHERE audience != ?", (audience,))
