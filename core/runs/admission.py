"""What a submit must obey: a class's rules for its members' runs, a preset (scenario, backbone, epochs
cap, batch size) and the fields the teacher locked, each with the teacher's reason. They are kept and
enforced here, where runs are admitted, so the CLI cannot go around the wizard; the teacher sets them
through `classroom.teacher`, and a student's draft starts from them (`classroom.rules`)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from core import db, models
from core.config import RunConfig
from core.data import store as datasets
from core.errors import ConfigError
from core.scenarios import CODES

FIELDS = ("scenario", "backbone", "epochs", "batch_size")  # "epochs" is a cap on head + fine-tune epochs


@dataclass(frozen=True)
class Policy:
    preset: dict = field(default_factory=dict)  # field → value
    locks: dict = field(default_factory=dict)  # field → the teacher's reason

    def to_dict(self) -> dict:
        return {"preset": self.preset, "locks": self.locks}


def set_policy(audience: str, preset: dict, locks: dict) -> Policy:
    unknown = sorted((set(preset) | set(locks)) - set(FIELDS))
    if unknown:
        raise ConfigError(unknown[0], f"not a class setting; settings are {', '.join(FIELDS)}")
    unset = sorted(set(locks) - set(preset))
    if unset:
        raise ConfigError(unset[0], "is locked but has no preset value to lock it at")
    _check_values(preset)
    with db.transaction() as conn:
        conn.execute("INSERT OR REPLACE INTO policies (audience, preset, locks) VALUES (?, ?, ?)",
                     (audience, json.dumps(preset), json.dumps(locks)))
    return Policy(preset, locks)


def _check_values(preset: dict) -> None:
    if "scenario" in preset and preset["scenario"] not in CODES:
        raise ConfigError("scenario", f"{preset['scenario']!r} is not one of {', '.join(CODES)}")
    if "backbone" in preset:
        models.get(preset["backbone"])  # unknown names fail with the closest valid ones
    for name in ("epochs", "batch_size"):
        if name in preset and (not isinstance(preset[name], int) or preset[name] < 1):
            raise ConfigError(field_path(name), f"must be a whole number of 1 or more, got {preset[name]!r}")


def get(audience: str) -> Policy | None:
    with db.reading() as conn:
        row = conn.execute("SELECT preset, locks FROM policies WHERE audience = ?", (audience,)).fetchone()
    return Policy(json.loads(row["preset"]), json.loads(row["locks"])) if row else None


def for_owner(owner: str) -> Policy | None:
    """The policy of the first class the owner belongs to that has one."""
    return next((p for p in map(get, datasets.audiences(owner)) if p), None)


def check(config: RunConfig, owner: str) -> None:
    """Refuse a config that changes a locked field or exceeds the epochs cap, naming the field and the reason."""
    found = for_owner(owner)
    if found is None:
        return
    values = {"scenario": config.scenario, "backbone": config.backbone, "batch_size": config.train.batch_size}
    for name, reason in found.locks.items():
        if name in values and values[name] != found.preset[name]:
            raise ConfigError(field_path(name), f"fixed by your teacher at {found.preset[name]!r}: {reason}")
    cap = found.preset.get("epochs")
    if cap and config.train.total_epochs > cap:
        raise ConfigError("train.head_epochs", f"at most {cap} epochs in this class (head + fine-tune): "
                                               f"{found.locks.get('epochs', 'the class epochs cap')}")


def field_path(name: str) -> str:
    """The RunConfig field a class setting fixes (an error names it)."""
    return {"batch_size": "train.batch_size", "epochs": "train.head_epochs"}.get(name, name)
