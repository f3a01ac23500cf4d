"""`train.class_balance`: weighted loss and the balanced sampler each raise the rare classes' recall on a
constructed imbalanced set (MNIST, 6 classes: 20 training images in three, 2 in the other three; a balanced
test list of 5 per class; fixed seed), and a class may lock the option."""
import pytest
import torch

from core.classroom import classes as class_rooms, rules, teacher
from core.config import RunConfig, TrainSpec
from core.data import samples, store
from core.data.splits import Splits
from core.errors import ConfigError
from core.runs import admission
from core.training import balance, batches
from core.training.trainer import fit
from tests.training import probe

COMMON, RARE, TESTED, CLASSES = 20, 2, 5, 6


def imbalanced() -> tuple[Splits, list[str]]:
    samples.materialize("mnist", "imb", per_class=COMMON + TESTED)
    records = [r for r in store.records("imb") if r.label < CLASSES]
    names = store.class_names("imb")[:CLASSES]
    rare = names[CLASSES // 2:]
    by = {c: [r for r in records if r.class_name == c] for c in names}
    train = [r for c in names for r in by[c][:RARE if c in rare else COMMON]]
    test = [r for c in names for r in by[c][-TESTED:]]
    return Splits(names, train, [], test), rare


def rare_recall(summary: dict, rare: list[str]) -> float:
    return sum(p["recall"] for p in summary["evaluation"]["per_class"] if p["class"] in rare) / len(rare)


@pytest.mark.slow  # one feature extraction and three short fits, each evaluated: 19 s at load average 4-6
def test_weighted_loss_and_balanced_sampler_each_raise_the_rare_classes_recall():
    splits, rare = imbalanced()
    found = {option: fit(probe("imb", epochs=6, class_balance=option), splits=splits)
             for option in ("none", "weighted_loss", "balanced_sampler")}
    recall = {option: rare_recall(summary, rare) for option, summary in found.items()}
    # measured with this seed: none 0.0, weighted_loss 0.2, balanced_sampler 0.27
    assert recall["weighted_loss"] >= recall["none"] + 0.1 and recall["balanced_sampler"] >= recall["none"] + 0.1
    balanced = {option: summary["evaluation"]["balanced_accuracy"] for option, summary in found.items()}
    assert balanced["weighted_loss"] > balanced["none"] and balanced["balanced_sampler"] > balanced["none"]


def test_the_balanced_sampler_draws_each_class_about_equally_often():
    labels = torch.tensor([0] * 90 + [1] * 10)
    plan = batches.train_plan(100, 10, torch.Generator().manual_seed(0), balance.sample_weights(labels, 2))
    drawn = torch.bincount(labels[plan.flatten()], minlength=2)
    assert plan.shape == (10, 10) and 35 <= int(drawn[1]) <= 65  # 10 of 100 without it
    weights = balance.loss_weights(labels, 3)
    assert weights[2] == 0 and torch.isclose(weights[1] / weights[0], torch.tensor(9.0))


def test_class_balance_is_validated_and_a_class_can_lock_it():
    with pytest.raises(ConfigError, match="train.class_balance"):
        TrainSpec(class_balance="oversample")
    made = class_rooms.create("Balance class")
    teacher.set_rules(made["class"], made["teacher_key"], {"class_balance": "weighted_loss"},
                      {"class_balance": "we compare the same remedy"})
    student = class_rooms.join(made["join_code"], "ana")["token"]
    draft = rules.apply(RunConfig(), student)
    assert draft.train.class_balance == "weighted_loss"
    with pytest.raises(ConfigError, match="we compare the same remedy"):
        admission.check(draft.replace(train=draft.train.__class__(class_balance="none")), student)


def test_per_class_recall_changes_against_runs_on_the_same_images():
    from core.training import evaluate

    mine = {"per_class": [{"class": "a", "recall": 0.5}, {"class": "b", "recall": 1.0}]}
    other = {"per_class": [{"class": "a", "recall": 0.75}, {"class": "b", "recall": 0.5}]}
    assert evaluate.recall_changes(mine, {"r2": other, "r3": None}) == [
        {"class": "a", "recall": 0.5, "r2": 0.25, "r3": None}, {"class": "b", "recall": 1.0, "r2": -0.5, "r3": None}]
