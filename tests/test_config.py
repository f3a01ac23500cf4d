import dataclasses

import pytest

from core import models
from core.config import FreezePlan, HeadSpec, RunConfig, TrainSpec
from core.errors import ConfigError


def full_config() -> RunConfig:
    return RunConfig(
        scenario="S2", backbone="resnet18", weights="none",
        freeze=FreezePlan(mode="first_k", k=2, unfreeze_at=(("stage3", 2),)),
        head=HeadSpec(hidden=(128, 64), dropout=0.2, activation="gelu"),
        train=TrainSpec(head_epochs=2, finetune_epochs=3, grad_clip=None), baselines=("scratch",))


def test_json_and_yaml_round_trip_to_the_same_config():
    cfg = full_config()
    assert RunConfig.from_json(cfg.to_json()) == cfg
    assert RunConfig.from_yaml(cfg.to_yaml()) == cfg
    assert RunConfig.from_dict(cfg.to_dict()).head.hidden == (128, 64)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunConfig().seed = 3


@pytest.mark.parametrize("data, field, words", [
    ({"train": {"head_lr": -1}}, "train.head_lr", "learning rate"),
    ({"head": {"dropout": 1.5}}, "head.dropout", "[0, 1)"),
    ({"freeze": {"mode": "first_kk"}}, "freeze.mode", "first_k"),
    ({"train": {"batch_size": "big"}}, "train.batch_size", "whole number"),
    ({"trian": {}}, "trian", "Did you mean 'train'"),
    ({"data": {"val_fraction": 0.5, "test_fraction": 0.5}}, "data.val_fraction", "no training images"),
    ({"train": {"head_epochs": 0, "finetune_epochs": 0}}, "train.head_epochs", "no epochs"),
])
def test_validation_names_the_field_and_the_fix(data, field, words):
    with pytest.raises(ConfigError) as err:
        RunConfig.from_dict(data)
    assert err.value.field == field
    assert words in str(err.value)


def test_unknown_backbone_lists_close_names():
    with pytest.raises(ConfigError) as err:
        models.check(RunConfig(backbone="resnet5"))
    assert err.value.field == "backbone"
    assert "resnet50" in str(err.value)


def test_invalid_json_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid JSON"):
        RunConfig.from_json("{nope")
