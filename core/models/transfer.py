"""The transfer model: a pretrained trunk (its classifier removed) + a new head for N classes.

Freezing follows the Lightning `BaseFinetuning` habit: frozen stages get `requires_grad=False`
*and* stay in eval mode, because `requires_grad=False` alone does not stop BatchNorm from updating
its running statistics. The optimizer is built only from parameters that require grad, one group
per stage, with learning rates that shrink by `lr_factor` per stage away from the head.
"""
from __future__ import annotations

import os

import torch
from torch import nn

from core.config import FreezePlan, HeadSpec, RunConfig
from core.errors import UserError
from core.models import pretrained_cache, registry
from core.models.stages import Stage
from core.models.weights import read_state_dict

HEAD = "head"
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}


def build_head(spec: HeadSpec, in_dim: int, num_classes: int) -> nn.Sequential:
    """Optional hidden layers (Linear → activation → dropout), then a Linear to the classes.
    Pooling happens in the trunk (the backbone's own global pool, or max when asked)."""
    layers: list[nn.Module] = []
    width = in_dim
    for hidden in spec.hidden:
        layers += [nn.Linear(width, hidden), ACTIVATIONS[spec.activation]()]
        if spec.dropout:
            layers.append(nn.Dropout(spec.dropout))
        width = hidden
    if spec.dropout and not spec.hidden:
        layers.append(nn.Dropout(spec.dropout))
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


class TransferModel(nn.Module):
    def __init__(self, trunk: nn.Module, feature_dim: int, stages: list[Stage], head: nn.Module,
                 bn_policy: str = "frozen_stages"):
        super().__init__()
        self.trunk, self.head, self.feature_dim, self.bn_policy = trunk, head, feature_dim, bn_policy
        self._stages = {s.name: tuple(f"trunk.{p}" for p in s.params) for s in stages}
        self._stages[HEAD] = tuple(f"head.{n}" for n, _ in head.named_parameters())
        self._frozen: set[str] = set()
        self._eval_modules: list[nn.Module] = []

    # ---- forward ------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))

    # ---- stages -------------------------------------------------------------------------------
    @property
    def stage_names(self) -> list[str]:
        return list(self._stages)

    @property
    def backbone_stages(self) -> list[str]:
        return [n for n in self._stages if n != HEAD]

    @property
    def frozen_stages(self) -> list[str]:
        return [n for n in self._stages if n in self._frozen]

    def stage_parameters(self, name: str) -> list[nn.Parameter]:
        table = dict(self.named_parameters())
        return [table[p] for p in self._stages[name]]

    def trunk_frozen(self) -> bool:
        return all(name in self._frozen for name in self.backbone_stages)

    # ---- freezing -----------------------------------------------------------------------------
    def set_frozen(self, names: list[str] | set[str]) -> None:
        unknown = [n for n in names if n not in self._stages]
        if unknown:
            raise UserError(f"unknown stage {unknown[0]!r}; stages are {', '.join(self._stages)}")
        self._frozen = set(names)
        for name in self._stages:
            for p in self.stage_parameters(name):
                p.requires_grad_(name not in self._frozen)
        self._eval_modules = _fully_frozen_modules(self)
        self.train(self.training)

    def unfreeze(self, names: list[str]) -> list[str]:
        """Unfreeze stages (gradual unfreezing); returns those that were frozen before."""
        newly = [n for n in names if n in self._frozen]
        self.set_frozen(self._frozen - set(newly))
        return newly

    def train(self, mode: bool = True) -> "TransferModel":
        super().train(mode)
        if mode:
            for module in self._eval_modules:
                module.eval()
            if self.bn_policy == "all_eval":
                for module in self.modules():
                    if isinstance(module, nn.modules.batchnorm._BatchNorm):
                        module.eval()
        return self

    # ---- optimisation -------------------------------------------------------------------------
    def lr_scale(self, name: str, factor: float) -> float:
        """1 for the head, `factor` for the last backbone stage, factor² for the one before, …"""
        if name == HEAD:
            return 1.0
        order = self.backbone_stages
        return factor ** (len(order) - order.index(name))

    def param_groups(self, base_lr: float, factor: float, names: list[str] | None = None) -> list[dict]:
        """One optimizer group per trainable stage; `lr_scale` kept for schedulers."""
        groups = []
        for name in self.stage_names if names is None else names:
            params = [p for p in self.stage_parameters(name) if p.requires_grad]
            if params:
                scale = self.lr_scale(name, factor)
                groups.append({"params": params, "lr": base_lr * scale, "lr_scale": scale, "stage": name})
        return groups

    def parameter_summary(self) -> dict:
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return {"total": total, "trainable": trainable, "frozen": total - trainable}


def _fully_frozen_modules(model: TransferModel) -> list[nn.Module]:
    """Outermost trunk modules whose parameters are all frozen: they are kept in eval mode."""
    found: list[nn.Module] = []
    covered: set[int] = set()
    for _, module in model.trunk.named_modules():
        if id(module) in covered:
            continue
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            found.append(module)
            covered.update(id(m) for m in module.modules())
    return found


# ---- freeze plans --------------------------------------------------------------------------------
def planned_frozen(plan: FreezePlan, backbone_stages: list[str]) -> list[str]:
    """The stages a FreezePlan keeps frozen during fine-tuning."""
    if plan.mode == "none":
        return []
    if plan.mode == "all_but_head":
        return list(backbone_stages)
    if plan.mode == "first_k":
        if plan.k > len(backbone_stages):
            raise UserError(f"freeze.k={plan.k}, but this backbone has {len(backbone_stages)} stages "
                            f"({', '.join(backbone_stages)})")
        return list(backbone_stages[:plan.k])
    unknown = [s for s in plan.stages if s not in backbone_stages]
    if unknown:
        raise UserError(f"freeze.stages: unknown stage {unknown[0]!r}; this backbone has "
                        f"{', '.join(backbone_stages)}")
    return list(plan.stages)


def unfreeze_due(plan: FreezePlan, epoch: int) -> list[str]:
    """Stages the gradual-unfreezing schedule opens at the start of fine-tune epoch `epoch`."""
    return [stage for stage, at in plan.unfreeze_at if int(at) == epoch]


def build_model(config: RunConfig, num_classes: int, state: dict | None = None) -> TransferModel:
    """Backbone + new head for `num_classes`, frozen for phase 1 (head only)."""
    if num_classes < 2:
        raise UserError(f"a classifier needs at least 2 classes, got {num_classes}")
    entry = registry.get(config.backbone)
    source = "checkpoint"
    if state is None and config.weights.startswith("file:"):
        state, source = read_state_dict(config.weights[5:]), os.path.basename(config.weights[5:])
        pretrained_cache.note_read()
    anatomy = entry.anatomy(config.weights == "imagenet", config.head.pool, state=state, source=source)
    head = build_head(config.head, anatomy.feature_dim, num_classes)
    model = TransferModel(anatomy.trunk, anatomy.feature_dim, anatomy.stages, head, config.freeze.bn)
    model.set_frozen(model.backbone_stages if config.train.head_epochs else
                     planned_frozen(config.freeze, model.backbone_stages))
    return model


def plan_summary(config: RunConfig, num_classes: int) -> dict:
    """Parameters per stage and which are trained in each phase, without building the weights:
    stage sizes come from the registry (meta device), the head's from its layer shapes."""
    info = registry.describe(config.backbone)
    stages = [s for s in info["stages"] if s["name"] != HEAD]
    names = [s["name"] for s in stages]
    frozen2 = phase2_frozen(config, names)
    head = sum(p.numel() for p in build_head(config.head, info["feature_dim"], max(num_classes, 2)).parameters())
    rows = [{"name": s["name"], "params": s["params"], "phase1": "frozen" if config.train.head_epochs else
             ("frozen" if s["name"] in frozen2 else "trainable"),
             "phase2": "frozen" if s["name"] in frozen2 else "trainable"} for s in stages]
    rows.append({"name": HEAD, "params": head, "phase1": "trainable", "phase2": "trainable"})
    total = sum(r["params"] for r in rows)
    trainable = {phase: sum(r["params"] for r in rows if r[phase] == "trainable") for phase in ("phase1", "phase2")}
    # Phase 2's count is its plan's, as the stage map draws it: with no fine-tune epochs it was phase 1's
    # (the head's 12,810 beside stages 4-7 drawn trainable); `phase2_runs` says whether phase 2 runs at all.
    return {"stages": rows, "total": total, "trainable_phase1": trainable["phase1"],
            "trainable_phase2": trainable["phase2"], "phase2_runs": config.train.finetune_epochs > 0,
            "feature_dim": info["feature_dim"]}


def phase2_frozen(config: RunConfig, stages: list[str]) -> set[str]:
    """Stages phase 2 never trains: the plan's frozen ones less those its schedule opens before its last
    epoch (the trainer opens a stage at the start of fine-tune epoch `at`, counted from 0)."""
    opened = {stage for stage, at in config.freeze.unfreeze_at if int(at) < config.train.finetune_epochs}
    return set(planned_frozen(config.freeze, stages)) - opened
