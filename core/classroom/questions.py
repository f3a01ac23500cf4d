"""The questions a class experiment can ask, one entry each: how a typed value is read (and refused, with a
reason), what it changes in the run settings every value shares, and how it reads in plain words.

A value is kept as its canonical text ("2", "yes", "0.001"), so a pick in the poll, a cell and a chart
label compare as equal strings whatever the person typed ("1e-3" and "0.001" are one value)."""
from __future__ import annotations

import dataclasses
import math

from core import models, presets
from core.config import AUG_PRESETS, AugmentSpec, FreezePlan, RunConfig
from core.errors import UserError

QUESTIONS = ("freeze", "pretrained", "data_size", "augment", "learning_rate", "backbone")
TITLES = {"freeze": "how much to freeze", "pretrained": "pretrained or from scratch",
          "data_size": "how many images per class", "augment": "which augmentation",
          "learning_rate": "which learning rate", "backbone": "which backbone"}
AUGMENTS = tuple(p for p in AUG_PRESETS if p != "custom")  # a preset name stands for a whole recipe
MIN_VALUES, MAX_VALUES = 2, 6


@dataclasses.dataclass(frozen=True)
class Facts:
    """What the values are checked against: the shared settings, the backbone's stage count, and the
    fewest training images any class of the dataset has."""

    base: RunConfig
    stages: int
    fewest_train: int


def check_question(question: str) -> str:
    if question not in QUESTIONS:
        raise UserError(f"--question {question!r}: choose one of {', '.join(QUESTIONS)}")
    return question


def parse_values(question: str, text: str | list[str], facts: Facts) -> list[str]:
    """The canonical values, in the order given; 2–6 of them, each valid for this question."""
    raw = [v.strip() for v in (text.split(",") if isinstance(text, str) else text) if v.strip()]
    if not MIN_VALUES <= len(raw) <= MAX_VALUES:
        raise UserError(f"--values: give {MIN_VALUES} to {MAX_VALUES} values separated by commas, got {len(raw)}")
    values = [canonical(question, v, facts) for v in raw]
    twice = next((v for v in values if values.count(v) > 1), None)
    if twice is not None:
        raise UserError(f"--values: {twice!r} is given twice; each value is compared once")
    return values


def canonical(question: str, value: str, facts: Facts) -> str:
    return _READERS[question](value.strip(), facts)


def _whole(value: str, what: str) -> int:
    if not value.isdigit():
        raise UserError(f"--values: {value!r} is not a whole number of {what}")
    return int(value)


def _freeze(value: str, facts: Facts) -> str:
    k = _whole(value, "frozen stages")
    if k > facts.stages:
        raise UserError(f"--values: {k} frozen stages is more than {facts.base.backbone} has ({facts.stages} stages)")
    return str(k)


def _pretrained(value: str, facts: Facts) -> str:
    if value.lower() not in ("yes", "no"):
        raise UserError(f"--values: {value!r}: pretrained takes yes,no")
    if value.lower() == "yes":
        _weights_ready(facts.base.backbone)
    return value.lower()


def _data_size(value: str, facts: Facts) -> str:
    n = _whole(value, "images per class")
    if n < 1:
        raise UserError("--values: a data size needs at least 1 image per class")
    if n > facts.fewest_train:
        raise UserError(f"--values: {n} images per class is more than {facts.base.data.dataset} holds: its smallest "
                        f"class has {facts.fewest_train} training images")
    return str(n)


def _augment(value: str, facts: Facts) -> str:
    if value not in AUGMENTS:
        raise UserError(f"--values: {value!r} is not an augmentation preset; presets are {', '.join(AUGMENTS)}")
    return value


def _learning_rate(value: str, facts: Facts) -> str:
    try:
        rate = float(value)
    except ValueError:
        raise UserError(f"--values: {value!r} is not a number (a learning rate such as 0.001)") from None
    if not (math.isfinite(rate) and 0 < rate <= 1):
        raise UserError(f"--values: a learning rate must be above 0 and at most 1, got {value}")
    return f"{rate:g}"


def _backbone(value: str, facts: Facts) -> str:
    models.get(value)  # an unknown name fails with the closest valid ones
    if facts.base.weights == "imagenet":
        _weights_ready(value)
    return value


def _weights_ready(backbone: str) -> None:
    state = models.get(backbone).weight_status()
    if state[0] not in presets.USABLE_WEIGHTS:
        raise UserError(f"--values: {backbone} has no pretrained weights on this server ({state[1]})")


_READERS = {"freeze": _freeze, "pretrained": _pretrained, "data_size": _data_size, "augment": _augment,
            "learning_rate": _learning_rate, "backbone": _backbone}


# ---- a value's run ------------------------------------------------------------------------------------
def variant(base: RunConfig, question: str, value: str, stages: int, seed: int) -> RunConfig:
    """The shared settings with this value put in, and this repeat's seed (the only thing repeats differ in)."""
    return _APPLY[question](base, value, stages).replace(seed=seed)


def _apply_freeze(base: RunConfig, value: str, stages: int) -> RunConfig:
    k, total, train = int(value), base.train.total_epochs, base.train
    if k >= stages:  # every stage frozen: the head alone learns, for the whole budget
        return base.replace(freeze=FreezePlan(mode="all_but_head"),
                            train=dataclasses.replace(train, head_epochs=total, finetune_epochs=0))
    head = min(train.head_epochs, total // 2)
    plan = FreezePlan(mode="first_k", k=k, bn=base.freeze.bn) if k else FreezePlan(mode="none", bn=base.freeze.bn)
    return base.replace(freeze=plan, train=dataclasses.replace(train, head_epochs=head, finetune_epochs=total - head))


def _apply_learning_rate(base: RunConfig, value: str, stages: int) -> RunConfig:
    """The head's rate is the value; fine-tuning keeps its ratio to it (the class preset's recipe)."""
    rate, train = float(value), base.train
    finetune = min(10.0, rate * train.finetune_lr / train.head_lr)
    return base.replace(train=dataclasses.replace(train, head_lr=rate, finetune_lr=finetune))


def _apply_backbone(base: RunConfig, value: str, stages: int) -> RunConfig:
    return presets.refit_freeze(base.replace(backbone=value), models.stage_count(value))


_APPLY = {
    "freeze": _apply_freeze,
    "pretrained": lambda base, value, stages: base.replace(weights="imagenet" if value == "yes" else "none"),
    "data_size": lambda base, value, stages: base.replace(
        data=dataclasses.replace(base.data, per_class_limit=int(value))),
    "augment": lambda base, value, stages: base.replace(augment=AugmentSpec(preset=value)),
    "learning_rate": _apply_learning_rate,
    "backbone": _apply_backbone,
}


# ---- plain words --------------------------------------------------------------------------------------
def words(question: str, value: str, stages: int) -> str:
    """A value as a person says it: "2 frozen stages", "from scratch", "20 images per class"."""
    if question == "freeze":
        k = int(value)
        if k == 0:
            return "training everything"
        return "freezing everything but the head" if k >= stages else f"{k} frozen stage{'s' if k != 1 else ''}"
    if question == "pretrained":
        return "pretrained" if value == "yes" else "from scratch"
    if question == "data_size":
        return f"{value} images per class"
    if question == "augment":
        return "no augmentation" if value == "none" else f"{value} augmentation"
    if question == "learning_rate":
        return f"learning rate {value}"
    return f"backbone {value}"  # a registry name never starts a sentence on its own
