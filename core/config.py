"""RunConfig: one typed, frozen, serialisable description of a whole run.

It travels from the wizard pages to the job queue, the worker and the checkpoint, so a run can be
rebuilt from its files alone. Validation errors name the field (dotted path) and the fix.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

import yaml

from core.errors import ConfigError
from core.scenarios import CODES as SCENARIO_CODES

# Every option list lives here, once: validation, pages and CLI `choices=` all read these.
WEIGHTS = ("imagenet", "none")  # or "file:PATH" (an imported checkpoint); "imagenet" means the
# backbone's pretrained weights, which for a "run:ID" backbone are that run's trained weights
FREEZE_MODES = ("none", "all_but_head", "first_k", "explicit")
BN_POLICIES = ("frozen_stages", "all_eval")
POOLS = ("auto", "avg", "max")
ACTIVATIONS = ("relu", "gelu", "silu", "tanh")
AUG_PRESETS = ("none", "light", "strong", "custom")
OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("onecycle", "cosine", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")
BASELINES = ("scratch", "linear_probe")
EXPORT_FORMATS = ("onnx", "torchscript", "safetensors")
QUANTIZE_MODES = ("int8",)  # export --quantize: core.serving.quantize (onnx only)
CAM_METHODS = ("gradcam", "gradcam++", "eigencam")  # class activation maps: core.serving.explain
CLASS_BALANCE = ("none", "weighted_loss", "balanced_sampler")  # imbalanced classes: core.training.balance
EMBED_METHODS = ("pca", "tsne", "umap")  # the feature map's projection: core.serving.featuremap
# One class per image (softmax), or several labels per image, or none (one sigmoid per label): a dataset's
# and a run's task; core.training.tasks holds what follows from it (loss, metrics, thresholds).
SINGLE_LABEL, MULTILABEL = "single_label", "multilabel"
TASKS = (SINGLE_LABEL, MULTILABEL)


@dataclass(frozen=True)
class FreezePlan:
    """What stays frozen while fine-tuning (phase 2). Phase 1 always trains the head alone.

    mode: none (train everything) / all_but_head / first_k (stem + the first k-1 stages, counted
    from the input) / explicit (the stage names in `stages`). `unfreeze_at` gives gradual
    unfreezing: ((stage, epoch), ...) unfreezes that stage when that fine-tune epoch starts.
    """

    mode: str = "all_but_head"
    k: int = 0
    stages: tuple[str, ...] = ()
    unfreeze_at: tuple[tuple[str, int], ...] = ()
    bn: str = "frozen_stages"

    def __post_init__(self):
        _choice("freeze.mode", self.mode, FREEZE_MODES)
        _choice("freeze.bn", self.bn, BN_POLICIES)
        if self.k < 0:
            raise ConfigError("freeze.k", "must be 0 or more (number of stages frozen from the input)")
        if self.mode == "explicit" and not self.stages:
            raise ConfigError("freeze.stages", "mode 'explicit' needs the stage names to freeze")
        for i, pair in enumerate(self.unfreeze_at):
            if len(pair) != 2 or not isinstance(pair[0], str) or int(pair[1]) < 0:
                raise ConfigError(f"freeze.unfreeze_at[{i}]", "expected [stage_name, epoch >= 0]")


@dataclass(frozen=True)
class HeadSpec:
    """The new head: pooling + optional hidden layers + a linear layer to the classes."""

    pool: str = "auto"
    hidden: tuple[int, ...] = ()
    activation: str = "relu"
    dropout: float = 0.0

    def __post_init__(self):
        _choice("head.pool", self.pool, POOLS)
        _choice("head.activation", self.activation, ACTIVATIONS)
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("head.dropout", "must be in [0, 1), e.g. 0.2")
        for i, width in enumerate(self.hidden):
            if not 1 <= width <= 65536:
                raise ConfigError(f"head.hidden[{i}]", "layer sizes must be between 1 and 65536")


@dataclass(frozen=True)
class DataSpec:
    dataset: str | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    split_seed: int = 0
    per_class_limit: int | None = None

    def __post_init__(self):
        for name in ("val_fraction", "test_fraction"):
            if not 0.0 <= getattr(self, name) < 0.9:
                raise ConfigError(f"data.{name}", "must be in [0, 0.9), e.g. 0.15")
        if self.val_fraction + self.test_fraction >= 0.95:
            raise ConfigError("data.val_fraction", "val + test leave no training images; lower them")
        if self.per_class_limit is not None and self.per_class_limit < 1:
            raise ConfigError("data.per_class_limit", "must be 1 or more, or null for all images")


@dataclass(frozen=True)
class AugmentSpec:
    """A preset, or 'custom' with the individual toggles."""

    preset: str = "light"
    flip: bool = True
    rotation: float = 0.0
    random_resized_crop: bool = False
    color_jitter: float = 0.0
    grayscale: float = 0.0

    def __post_init__(self):
        _choice("augment.preset", self.preset, AUG_PRESETS)
        if not 0.0 <= self.rotation <= 180.0:
            raise ConfigError("augment.rotation", "degrees must be in [0, 180]")
        for name in ("color_jitter", "grayscale"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"augment.{name}", "must be in [0, 1]")


@dataclass(frozen=True)
class TrainSpec:
    """Phases: head-only epochs, then optional fine-tune epochs at a lower, per-stage LR."""

    head_epochs: int = 5
    finetune_epochs: int = 0
    head_lr: float = 1e-3
    finetune_lr: float = 1e-4
    lr_factor: float = 0.3
    optimizer: str = "adamw"
    schedule: str = "onecycle"
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    grad_clip: float | None = 1.0
    early_stop_patience: int | None = None
    time_budget_seconds: float | None = None  # training stops once this much is spent (a demo's baseline)
    batch_size: int = 32
    cached_views: int = 0  # frozen backbone + augmentation: cache this many augmented views (0: augment live)
    class_balance: str = "none"  # weighted_loss: rare classes weigh more; balanced_sampler: drawn as often as others

    @property
    def total_epochs(self) -> int:
        """Head epochs and fine-tune epochs together: a run's whole budget (a class caps it)."""
        return self.head_epochs + self.finetune_epochs

    def __post_init__(self):
        _choice("train.optimizer", self.optimizer, OPTIMIZERS)
        _choice("train.schedule", self.schedule, SCHEDULES)
        _choice("train.class_balance", self.class_balance, CLASS_BALANCE)
        for name in ("head_epochs", "finetune_epochs"):
            if not 0 <= getattr(self, name) <= 1000:
                raise ConfigError(f"train.{name}", "must be between 0 and 1000")
        if self.total_epochs == 0:
            raise ConfigError("train.head_epochs", "no epochs at all: set head_epochs or finetune_epochs > 0")
        for name in ("head_lr", "finetune_lr"):
            if not 0.0 < getattr(self, name) <= 10.0:
                raise ConfigError(f"train.{name}", "learning rate must be in (0, 10], e.g. 1e-3")
        if not 0.0 < self.lr_factor <= 1.0:
            raise ConfigError("train.lr_factor", "must be in (0, 1]: each stage further from the head gets LR x factor")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError("train.label_smoothing", "must be in [0, 1), e.g. 0.1")
        if not 1 <= self.batch_size <= 4096:
            raise ConfigError("train.batch_size", "must be between 1 and 4096")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError("train.grad_clip", "must be > 0, or null for no clipping")
        if not 0 <= self.cached_views <= 16:
            raise ConfigError("train.cached_views", "must be between 0 and 16")
        if self.early_stop_patience is not None and self.early_stop_patience < 1:
            raise ConfigError("train.early_stop_patience", "must be 1 or more, or null to train all epochs")
        if self.time_budget_seconds is not None and not 1 <= self.time_budget_seconds <= 86_400:
            raise ConfigError("train.time_budget_seconds", "must be between 1 s and a day (86400), or null for none")


@dataclass(frozen=True)
class RunConfig:
    scenario: str = "S1"
    backbone: str = "efficientnet_lite0"
    weights: str = "imagenet"
    freeze: FreezePlan = field(default_factory=FreezePlan)
    head: HeadSpec = field(default_factory=HeadSpec)
    data: DataSpec = field(default_factory=DataSpec)
    augment: AugmentSpec = field(default_factory=AugmentSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    seed: int = 0
    device: str = "auto"
    baselines: tuple[str, ...] = ()  # companion runs on the same split, for comparison
    task: str = SINGLE_LABEL  # multilabel: one yes/no output per label (core.training.tasks)

    def __post_init__(self):
        _choice("scenario", self.scenario, SCENARIO_CODES)
        _choice("device", self.device, DEVICES)
        _choice("task", self.task, TASKS)
        if self.task == MULTILABEL:
            _multilabel_fits(self)
        for i, name in enumerate(self.baselines):
            _choice(f"baselines[{i}]", name, BASELINES)
        if self.weights not in WEIGHTS and not self.weights.startswith("file:"):
            raise ConfigError("weights", "use 'imagenet' (pretrained), 'none' (random init) or 'file:PATH'")

    # --- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        return _build(cls, data, "")

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError("<json>", f"not valid JSON ({exc})") from None
        return cls.from_dict(data)

    @classmethod
    def from_yaml(cls, text: str) -> "RunConfig":
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError("<yaml>", f"not valid YAML ({exc})") from None
        return cls.from_dict(data or {})

    @classmethod
    def load(cls, path: str) -> "RunConfig":
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        return cls.from_yaml(text) if path.endswith((".yaml", ".yml")) else cls.from_json(text)

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def with_task(self, task: str) -> "RunConfig":
        """This config for `task` (a dataset's: the Data page follows the dataset chosen). A multi-label run
        drops what only means something with one class per image: the balanced sampler, label smoothing and
        the per-class limit go back to their defaults."""
        if task != MULTILABEL:
            return dataclasses.replace(self, task=task)
        balance = "none" if self.train.class_balance == "balanced_sampler" else self.train.class_balance
        return dataclasses.replace(self, task=task, data=dataclasses.replace(self.data, per_class_limit=None),
                                   train=dataclasses.replace(self.train, class_balance=balance, label_smoothing=0.0))


def _multilabel_fits(config: "RunConfig") -> None:
    """Options that only mean something with one class per image, refused by name for a multi-label run."""
    if config.train.class_balance == "balanced_sampler":
        raise ConfigError("train.class_balance", "balanced_sampler draws each class equally often, which needs one "
                          "class per image; for rare labels use weighted_loss (per-label positive weights)")
    if config.train.label_smoothing:
        raise ConfigError("train.label_smoothing", "label smoothing spreads one class's probability over the others; "
                          "a multi-label run has no such sum: set it to 0")
    if config.data.per_class_limit is not None:
        raise ConfigError("data.per_class_limit", "counts images per class; an image of a multi-label set can carry "
                          "several labels or none: use null (all images)")


def _choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        close = difflib.get_close_matches(str(value), options, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(name, f"'{value}' is not one of {', '.join(options)}.{hint}")


def _plain(value: Any) -> Any:
    """Tuples become lists so JSON and YAML round-trip to the same dict."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(prefix or "<root>", f"expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else f" Known fields: {', '.join(sorted(known))}."
            raise ConfigError(f"{prefix}{key}", f"unknown field.{hint}")
    kwargs = {key: _coerce(hints[key], value, f"{prefix}{key}") for key, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # e.g. comparing a str with an int inside validation
        raise ConfigError(prefix.rstrip(".") or "<root>", str(exc)) from None


def _coerce(hint: Any, value: Any, name: str) -> Any:
    if is_dataclass(hint):
        return _build(hint, value, f"{name}.")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        return _coerce(hint, value, name)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(name, f"expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{name}[{i}]") for i, v in enumerate(value))
        return tuple(_coerce(a, v, f"{name}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    return _scalar(hint, value, name)


def _scalar(hint: Any, value: Any, name: str) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(name, f"expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(name, f"expected a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(name, f"expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(name, f"expected text, got {value!r}")
        return value
    return value
