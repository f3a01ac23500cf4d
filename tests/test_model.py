"""Across a sample of the registry: the new head has the right width, frozen stages get no
gradient and keep their BatchNorm statistics, trainable ones learn."""
import pytest
import torch
from torch import nn

from core import models
from core.config import FreezePlan, HeadSpec, RunConfig, TrainSpec
from core.errors import UserError
from core.models.transfer import build_model, planned_frozen, unfreeze_due

SAMPLE = ["resnet18", "mobilenet_v3_small", "efficientnet_lite0", "squeezenet1_1", "shufflenet_v2_x0_5",
          "regnet_x_400mf", "densenet121", "timm/convnext_atto.d2_in1k", "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k",
          "timm/mobilenetv3_small_100.lamb_in1k", "mnasnet0_5", "googlenet"]


def make(name, classes=42, freeze=None, head=None, pretrained=False):
    cfg = RunConfig(backbone=name, weights="imagenet" if pretrained else "none",
                    freeze=freeze or FreezePlan(), head=head or HeadSpec(),
                    train=TrainSpec(head_epochs=0, finetune_epochs=1))
    return build_model(cfg, classes)


def batch_for(name, n=2):
    size = models.get(name).preprocess().crop
    torch.manual_seed(0)
    return torch.randn(n, 3, size, size)


@pytest.mark.parametrize("name", SAMPLE)
def test_gradients_stop_at_frozen_stages(name):
    model = make(name, freeze=FreezePlan(mode="first_k", k=2))
    frozen = set(model.frozen_stages)
    assert frozen == set(model.backbone_stages[:2])
    model.train()
    out = model(batch_for(name))
    assert out.shape == (2, 42)
    out.square().mean().backward()
    for stage in model.stage_names:
        for p in model.stage_parameters(stage):
            if stage in frozen:
                assert p.grad is None and not p.requires_grad, stage
            else:
                assert p.grad is not None, f"{stage} got no gradient"
    assert any(p.grad.abs().sum() > 0 for p in model.stage_parameters("head"))


def _norms(module):
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_lite0", "mobilenet_v3_small"])
def test_frozen_batchnorm_statistics_do_not_move(name):
    model = make(name, freeze=FreezePlan(mode="first_k", k=2))
    frozen_bn = [m for s in model.frozen_stages for m in _norms(_stage_module_owner(model, s))]
    open_bn = [m for m in _norms(model.trunk) if m not in frozen_bn]
    assert frozen_bn and open_bn
    before = [m.running_mean.clone() for m in frozen_bn + open_bn]
    model.train()
    opt = torch.optim.SGD(model.param_groups(0.1, 0.5), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        model(batch_for(name, 4) * 3 + 1).logsumexp(-1).mean().backward()
        opt.step()
    after = [m.running_mean for m in frozen_bn + open_bn]
    moved = [not torch.equal(a, b) for a, b in zip(before, after)]
    assert not any(moved[:len(frozen_bn)]), "a frozen BatchNorm updated its running mean"
    assert any(moved[len(frozen_bn):]), "trainable BatchNorm layers should update their statistics"
    assert all(not m.training for m in frozen_bn)


def _stage_module_owner(model, stage):
    """The smallest set of modules whose parameters all belong to `stage`."""
    names = set(model._stages[stage])
    holder = nn.ModuleList()
    for path, module in model.named_modules():
        own = [f"{path}.{n}" for n, _ in module.named_parameters(recurse=False)]
        if own and all(n in names for n in own):
            holder.append(module)
    return holder


def test_all_but_head_and_none_and_explicit_plans():
    stages = ["stem", "stage1", "stage2", "stage3"]
    assert planned_frozen(FreezePlan(mode="all_but_head"), stages) == stages
    assert planned_frozen(FreezePlan(mode="none"), stages) == []
    assert planned_frozen(FreezePlan(mode="explicit", stages=("stage2",)), stages) == ["stage2"]
    with pytest.raises(UserError, match="stage9"):
        planned_frozen(FreezePlan(mode="explicit", stages=("stage9",)), stages)
    with pytest.raises(UserError, match="has 4 stages"):
        planned_frozen(FreezePlan(mode="first_k", k=9), stages)


def test_head_only_phase_freezes_the_whole_trunk_in_eval_mode():
    cfg = RunConfig(backbone="resnet18", weights="none", train=TrainSpec(head_epochs=2))
    model = build_model(cfg, 5).train()
    assert model.trunk_frozen()
    assert not model.trunk.training and model.head.training
    summary = model.parameter_summary()
    assert summary["trainable"] == 512 * 5 + 5


def test_head_builder_hidden_layers_activation_dropout():
    model = make("resnet18", classes=3, head=HeadSpec(hidden=(64, 32), activation="gelu", dropout=0.3))
    kinds = [type(m).__name__ for m in model.head]
    assert kinds == ["Linear", "GELU", "Dropout", "Linear", "GELU", "Dropout", "Linear"]
    assert model.head[0].in_features == 512 and model.head[-1].out_features == 3


def test_max_pooling_head_replaces_the_average_pool():
    model = make("resnet18", head=HeadSpec(pool="max"))
    assert isinstance(model.trunk.avgpool, nn.AdaptiveMaxPool2d)


def test_discriminative_learning_rates_shrink_away_from_the_head():
    model = make("resnet18", freeze=FreezePlan(mode="none"))
    groups = {g["stage"]: g["lr"] for g in model.param_groups(1e-3, 0.5)}
    assert groups["head"] == pytest.approx(1e-3)
    assert groups["stage4"] == pytest.approx(5e-4)
    assert groups["stage3"] == pytest.approx(2.5e-4)
    assert groups["stem"] < groups["stage1"] < groups["stage2"]


def test_gradual_unfreezing_opens_a_stage_for_gradients():
    plan = FreezePlan(mode="all_but_head", unfreeze_at=(("stage4", 1), ("stage3", 2)))
    model = make("resnet18", freeze=plan)
    assert unfreeze_due(plan, 1) == ["stage4"]
    assert model.unfreeze(unfreeze_due(plan, 1)) == ["stage4"]
    model.train()
    model(batch_for("resnet18")).sum().backward()
    assert all(p.grad is not None for p in model.stage_parameters("stage4"))
    assert all(p.grad is None for p in model.stage_parameters("stage3"))
    assert model.trunk.layer4.training and not model.trunk.layer3.training


def test_original_classifier_is_removed():
    model = make("efficientnet_b0", classes=7)
    assert not any(isinstance(m, nn.Linear) and m.out_features == 1000 for m in model.modules())
    assert not any(isinstance(m, nn.Dropout) for m in model.trunk.modules())


def test_all_eval_policy_keeps_every_batchnorm_statistic():
    model = make("resnet18", freeze=FreezePlan(mode="none", bn="all_eval"))
    model.train()
    before = [m.running_mean.clone() for m in _norms(model.trunk)]
    model(batch_for("resnet18", 4) * 3 + 1).sum().backward()
    assert all(torch.equal(a, m.running_mean) for a, m in zip(before, _norms(model.trunk)))
    assert all(p.grad is not None for p in model.stage_parameters("stem"))  # still trained, only BN stats kept


@pytest.mark.parametrize("freeze, finetune", [
    (FreezePlan(mode="first_k", k=2), 0),  # issue 29: with no fine-tune epochs it said the head's count
    (FreezePlan(mode="first_k", k=2), 3),
    (FreezePlan(mode="explicit", stages=("stem", "stage3")), 2),
    (FreezePlan(mode="all_but_head", unfreeze_at=(("stage4", 1), ("stage3", 5))), 3),  # stage3 opens too late
])
def test_the_planned_phase_2_count_is_what_the_trainer_lets_learn(freeze, finetune):
    cfg = RunConfig(backbone="resnet18", weights="none", freeze=freeze,
                    train=TrainSpec(head_epochs=1, finetune_epochs=finetune))
    model = build_model(cfg, 7)
    frozen = set(planned_frozen(freeze, model.backbone_stages))
    for epoch in range(finetune):  # as the trainer's fine-tune phase sets and opens them
        frozen -= set(unfreeze_due(freeze, epoch))
    model.set_frozen(frozen)
    summary = models.plan_summary(cfg, 7)
    assert summary["trainable_phase2"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert summary["phase2_runs"] == (finetune > 0)
