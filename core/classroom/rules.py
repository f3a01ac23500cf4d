"""A student's draft from the class's rules: the class preset's scenario recipe on its backbone, then
its other values (a locked batch size, epochs cut to the cap). The rules themselves are kept and
enforced at submit by `runs.admission`; this is where a new student's wizard starts from them."""
from __future__ import annotations

import dataclasses

from core import models, presets
from core.config import RunConfig
from core.runs import admission


def apply(config: RunConfig, owner: str) -> RunConfig:
    """The preset's values put into a draft (locked or not); epochs cut to the cap."""
    return apply_policy(config, admission.for_owner(owner))


def apply_policy(config: RunConfig, found: admission.Policy | None) -> RunConfig:
    """`apply` for a class's rules in hand (a class experiment's shared settings)."""
    if found is None:
        return config
    p, train = found.preset, config.train
    if "batch_size" in p:
        train = dataclasses.replace(train, batch_size=p["batch_size"])
    if "class_balance" in p:
        train = dataclasses.replace(train, class_balance=p["class_balance"])
    cap = p.get("epochs")
    if cap and config.train.total_epochs > cap:
        head = min(train.head_epochs, cap)
        train = dataclasses.replace(train, head_epochs=head, finetune_epochs=max(0, cap - head))
    return config.replace(scenario=p.get("scenario", config.scenario), backbone=p.get("backbone", config.backbone),
                          train=train)


def student_draft(token: str, draft: RunConfig) -> RunConfig:
    """A new student's draft (from `draft`, the wizard's current one): the class preset's scenario
    recipe on its backbone, then its other values."""
    rules = admission.for_owner(token)
    if rules and "scenario" in rules.preset:
        backbone = rules.preset.get("backbone", draft.backbone)
        draft = presets.preset(rules.preset["scenario"], backbone, models.stage_count(backbone), draft)
    return apply(draft, token)
