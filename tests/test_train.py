"""The engine on real data (scikit-learn digits), on the CPU, in seconds."""

import dataclasses

import pytest
import torch
from safetensors.torch import load_file

from core import data
from core.config import AugmentSpec, FreezePlan
from core.models.transfer import build_model
from core.paths import run_dir
from core.training import ood, trainer as train
from core.training.schedule import lr_multiplier
from core.training.trainer import Trainer, fit
from tests.training import digits, finetune, mnist, probe


def test_pretrained_probe_learns_digits_well_above_chance_and_beats_random_init():
    ds = mnist()
    events = []
    pretrained = fit(probe(ds), emit=events.append)
    random_init = fit(probe(ds, weights="none"))
    assert pretrained["status"] == "succeeded"
    assert pretrained["test_accuracy"] >= 0.5  # chance is 0.1
    assert pretrained["test_accuracy"] > random_init["test_accuracy"] + 0.2
    kinds = [e["event"] for e in events]
    assert kinds[0] == "fit_start" and kinds[-1] == "fit_end"
    assert "extract" in kinds  # frozen backbone, no augmentation: features computed once
    assert kinds.count("epoch") == 12


def test_evaluation_is_complete_and_consistent():
    ds = digits()
    summary = fit(probe(ds, epochs=4))
    report = summary["evaluation"]
    assert report["split"] == "test" and report["images"] == sum(map(sum, report["confusion"]))
    assert len(report["per_class"]) == 10 and {"precision", "recall", "f1"} <= set(report["per_class"][0])
    correct = sum(report["confusion"][i][i] for i in range(10))
    assert correct / report["images"] == pytest.approx(report["accuracy"], abs=1e-6)
    losses = [row["loss"] for row in report["top_losses"]]
    assert losses == sorted(losses, reverse=True)
    bins = report["calibration"]["bins"]
    assert len(bins) == 10 and sum(b["fraction"] for b in bins) == pytest.approx(1.0, abs=1e-3)
    assert 0.0 <= report["calibration"]["ece"] <= 1.0


def test_seeded_runs_are_reproducible_on_cpu():
    ds = digits()
    a = fit(finetune(ds, epochs=1))
    b = fit(finetune(ds, epochs=1))
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]


def test_frozen_stages_receive_no_updates(tmp_path):
    ds = digits()
    config = finetune(ds, epochs=1)
    torch.manual_seed(config.seed)
    before = build_model(config, 10).state_dict()  # the same seeded initialisation the run starts from
    fit(config, run_dir=tmp_path)
    after = load_file(str(tmp_path / "model.safetensors"))
    model = build_model(config, 10)
    frozen = {n for s in model.backbone_stages[:2] for n in model._stages[s]}
    frozen_modules = {n.rsplit(".", 1)[0] for n in frozen}
    for key, value in after.items():
        owner = key.rsplit(".", 1)[0]
        if key in frozen or (owner in frozen_modules and "running" in key):
            assert torch.equal(value, before[key]), f"{key} changed although its stage is frozen"
    opened = [k for k in model._stages["stage4"]]
    assert any(not torch.equal(after[k], before[k]) for k in opened)


def test_feature_cache_only_when_the_backbone_is_frozen_and_unaugmented():
    ds = digits(per_class=6)
    live, cached = [], []
    fit(probe(ds, epochs=1).replace(augment=AugmentSpec(preset="light")), emit=live.append)
    fit(probe(ds, epochs=2, cached_views=2).replace(augment=AugmentSpec(preset="light")), emit=cached.append)
    assert not any(e["event"] == "extract" for e in live)
    splits = {e["split"] for e in cached if e["event"] == "extract"}
    assert splits == {"train view 1", "train view 2", "val"}


def test_cancel_flag_ends_the_run_as_cancelled():
    ds = digits()
    calls = {"n": 0}

    def stop_soon():
        calls["n"] += 1
        return calls["n"] > 3

    summary = fit(finetune(ds, epochs=3), should_stop=stop_soon)
    assert summary["status"] == "cancelled" and summary["evaluation"] is None


def test_a_time_budget_starts_no_epoch_that_would_end_past_it(monkeypatch):
    """The demo's baseline gets seconds, not epochs. A clock that moves 10 s per finished epoch (and not
    during one): after two epochs 20 s are spent, past the 15 s budget, so the third never starts."""
    clock = type("Clock", (), {"now": 0.0, "monotonic": lambda self: self.now, "time": lambda self: 0.0})()
    monkeypatch.setattr(train, "time", clock)
    events = []

    def emit(event):
        events.append(event)
        clock.now += 10.0 if event["event"] == "epoch" else 0.0

    config = finetune(digits(per_class=6), epochs=3, time_budget_seconds=15)
    summary = fit(config, emit=emit)
    assert summary["status"] == "succeeded" and summary["epochs"] == 2
    [spent] = [e for e in events if e["event"] == "budget"]
    assert spent["epoch"] == 2 and spent["budget_seconds"] == 15

    def slow_step(event):  # 100 s pass during the first batch: the epoch ends after it, and training there
        events.append(event)
        clock.now += 100.0 if event["event"] == "step" else 0.0

    events.clear()
    summary = fit(config, emit=slow_step)
    assert summary["status"] == "succeeded" and summary["epochs"] == 1
    assert len([e for e in events if e["event"] == "step"]) == 1 and [e["event"] for e in events].count("budget") == 1


def test_a_run_under_a_time_budget_ends_without_the_look_alike_pass(tmp_path):
    """The demo's baseline spent longer on the end-of-training feature pass than on its training."""
    config = finetune(digits(per_class=6), epochs=1)
    for budget, folder in ((None, tmp_path / "plain"), (600, tmp_path / "budget")):
        events = []
        fit(config.replace(train=dataclasses.replace(config.train, time_budget_seconds=budget)), emit=events.append,
            run_dir=folder)
        looked = [e for e in events if "look-alike" in str(e.get("split", ""))]
        assert bool(looked) == (budget is None) and (folder / ood.BANK_FILE).exists() == (budget is None)


def test_nan_loss_is_a_clear_failure(monkeypatch):
    ds = digits(per_class=6)
    monkeypatch.setattr(train.tasks.F, "cross_entropy", lambda *a, **k: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(train.TrainingFailed, match="loss became nan.*learning rate"):
        fit(probe(ds, epochs=1))


def test_early_stopping_restores_the_best_weights(tmp_path):
    ds = digits()
    config = probe(ds, epochs=25, early_stop_patience=2).replace(
        train=probe(ds).train.__class__(head_epochs=25, head_lr=0.5, batch_size=8, early_stop_patience=2,
                                        optimizer="sgd", schedule="constant"))
    events = []
    summary = fit(config, emit=events.append, run_dir=tmp_path)
    history = summary["history"]
    best = min(history, key=lambda h: h["val_loss"])
    assert summary["val_accuracy"] == best["val_accuracy"]
    assert any(e["event"] == "restore_best" for e in events)
    final, kept = load_file(str(tmp_path / "model.safetensors")), load_file(str(tmp_path / "best.safetensors"))
    assert all(torch.equal(final[k], kept[k]) for k in final)


def test_schedules_shape_and_respect_per_stage_scales():
    assert lr_multiplier("constant", 0.7) == 1.0
    assert lr_multiplier("cosine", 0.0) == pytest.approx(1.0) and lr_multiplier("cosine", 1.0) < 0.02
    warm = [lr_multiplier("onecycle", f) for f in (0.0, 0.15, 0.3, 0.65, 1.0)]
    assert warm[0] < warm[1] < warm[2] == pytest.approx(1.0) and warm[3] < warm[2] and warm[4] < 0.01
    ds = digits(per_class=6)
    config = finetune(ds, epochs=1).replace(freeze=FreezePlan(mode="none"))
    trainer = Trainer(config)
    trainer.splits = data.for_spec(config.data)
    trainer.model = trainer._build()
    groups = trainer.model.param_groups(1e-3, 0.5)
    by_stage = {g["stage"]: g["lr"] for g in groups}
    assert by_stage["head"] / by_stage["stem"] == pytest.approx(1 / 0.5 ** len(trainer.model.backbone_stages))


def test_gradual_unfreezing_opens_stages_on_schedule():
    ds = digits(per_class=6)
    plan = FreezePlan(mode="all_but_head", unfreeze_at=(("stage4", 1),))
    events = []
    fit(finetune(ds, epochs=2).replace(freeze=plan), emit=events.append)
    [opened] = [e for e in events if e["event"] == "unfreeze"]
    assert opened["stages"] == ["stage4"] and opened["epoch"] == 1


def test_develop_model_approach_reuses_a_finished_runs_trunk(tmp_path, monkeypatch):
    from core.execute import slot as worker
    from core.runs import leases, queue as jobs

    ds = digits(per_class=6, owner="alice")  # the source's accuracy is not the point: its trunk is
    source = jobs.submit(finetune(ds, epochs=1).replace(freeze=FreezePlan(mode="none")), "alice")
    worker.process(leases.claim_specific(source["job_id"]))
    listed = [b.name for b in jobs.own_backbones("alice")]
    assert listed == [f"run:{source['run_id']}"]
    reused = build_model(probe(ds).replace(backbone=f"run:{source['run_id']}"), 3)
    trained = load_file(str(run_dir(source["run_id"]) / "model.safetensors"))
    for name, value in reused.trunk.state_dict().items():
        assert torch.equal(value, trained[f"trunk.{name}"])
    assert reused.head[-1].out_features == 3  # a new head for the new task
