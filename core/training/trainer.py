"""The training engine: phase 1 trains the new head on a frozen backbone, phase 2 (optional)
fine-tunes the stages the FreezePlan opens, at a lower learning rate per stage.

Speed: with a frozen backbone and no augmentation (or K cached augmented views) the backbone runs
once per image and the head trains on cached features. Otherwise a split's images are placed on the
training device once per fit and augmented there a batch at a time (`sources`, `batches`); training
batches are always full and evaluation batches padded to one size on CUDA, so each phase has one shape.
On CUDA: bf16 autocast, channels_last, the cuDNN policy of `device.configure`. A step never waits
for the device: the loss is read back only for a step event (at most every STEP_EVENT_SECONDS) and
at the end of the epoch, which is also where a non-finite loss is caught. Everything is reported
through `emit` events (see `events`); `should_stop` is polled every batch and ends the run as
cancelled.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import torch

from core.config import RunConfig
from core.data import augment
from core.data.cache import ImageSet
from core.data.splits import Splits, for_spec
from core.models import registry
from core.models.transfer import TransferModel, build_model, planned_frozen, unfreeze_due
from core.training import batches, checkpoints, feature_cache, loss_ranking, ood, schedule, tasks
from core.training.checkpoints import Progress
from core.training.device import autocast, configure, pick_device
from core.training.events import Cancelled, Emit, TrainingFailed
from core.training.sources import FeatureBatches, ImageBatches, extract_cached, extract_features

STEP_EVENT_SECONDS = 0.2
EXTRACT_BATCH_CPU = 16  # small batches stay in CPU caches: 2x the images/s of batch 64 (measured, Lite0)


class Trainer:
    def __init__(self, config: RunConfig, emit: Emit | None = None, should_stop: Callable[[], bool] | None = None,
                 run_dir: str | Path | None = None, resume: bool = False, splits: Splits | None = None):
        self.config, self.resume, self.splits = config, resume, splits
        self._emit = emit or (lambda event: None)
        self.should_stop = should_stop or (lambda: False)
        self.run_dir = Path(run_dir) if run_dir else None
        self.device = pick_device(config.device)
        self.progress = Progress()
        self.best_state: dict[str, torch.Tensor] | None = None
        self._last_step_event, self._rate_clock, self._images_since_event = 0.0, 0.0, 0
        self.first_step_at: float | None = None  # wall clock of the fit's first finished step (a slot's warm-up shows here)
        self._sources: dict[str, ImageBatches] = {}
        self._budget_spent = False
        self._hardest: list[dict] | None = None  # train and val images by loss, for the cleaner

    def emit(self, event: dict) -> None:
        self._emit({**event, "t": time.time()})

    # ---- the whole fit --------------------------------------------------------------------------
    def fit(self) -> dict:
        torch.manual_seed(self.config.seed)
        self.splits = self.splits or for_spec(self.config.data, task=self.config.task)
        self.task, self.thresholds = tasks.for_name(self.config.task), None
        labels = ImageSet(self.splits.train, None).labels()
        self.balance = self.task.balance(self.config.train.class_balance, labels, len(self.splits.classes))
        self.model = self._build()
        self.pre = registry.get(self.config.backbone).preprocess()
        if self.resume:
            self._load_checkpoint()
        sizes = {split: len(getattr(self.splits, split)) for split in ("train", "val", "test")}
        self.emit({"event": "fit_start", "classes": self.splits.classes, "device": str(self.device), "sizes": sizes,
                   "params": self.model.parameter_summary(),
                   "resumed_from": {"phase": self.progress.phase, "epoch": self.progress.epoch} if self.resume else None})
        started = self._started = time.monotonic() - self.progress.seconds
        try:
            self._phases()
        except Cancelled:
            self.progress.seconds = time.monotonic() - started
            self._sources.clear()
            self.emit({"event": "fit_end", "status": "cancelled"})
            return self._summary("cancelled", None)
        self._restore_best()
        self.progress.seconds = time.monotonic() - started
        report = self._evaluate()
        reference = self._reference()
        self._sources.clear()  # the split's images leave the device with the fit
        self._save_final(reference)
        summary = self._summary("succeeded", report)
        self.emit({"event": "fit_end", "status": "succeeded", "val_accuracy": summary["val_accuracy"],
                   "test_accuracy": summary["test_accuracy"], "seconds": summary["seconds"]})
        return summary

    def _build(self) -> TransferModel:
        model = build_model(self.config, len(self.splits.classes))
        # channels_last: measured 1.8x faster CPU inference for EfficientNet-Lite0 (oneDNN), and the
        # layout tensor cores want on CUDA.
        model = model.to(self.device, memory_format=torch.channels_last)
        configure(self.device)
        return model

    def _phases(self) -> None:
        train = self.config.train
        if train.head_epochs and self.progress.phase == "head":
            self._head_phase()
        if self.progress.phase == "head":
            self.progress.phase, self.progress.epoch = "finetune", 0
        if train.finetune_epochs and self.progress.phase == "finetune" and not self._budget_spent:
            self._finetune_phase()
        self.progress.phase = "done"

    # ---- phase 1: the head on a frozen backbone ---------------------------------------------------
    def _head_phase(self) -> None:
        self.model.set_frozen(self.model.backbone_stages)
        train_src, val_src = self._head_sources()
        groups = self.model.param_groups(self.config.train.head_lr, self.config.train.lr_factor)
        self._run_epochs("head", self.config.train.head_epochs, schedule.optimizer(groups, self.config.train),
                         train_src, val_src)

    def _head_sources(self):
        train_images, val_images = self._images("train"), self._images("val")
        views = self.config.train.cached_views
        if not augment.is_identity(self.config.augment) and views == 0:
            return self._images("train", augmented=True), val_images  # live augmentation: the backbone runs every epoch
        bs = EXTRACT_BATCH_CPU if self.device.type == "cpu" else self.config.train.batch_size * 2
        extract = lambda src, name: extract_features(self.model, src, bs, self.emit, name, self.should_stop)
        # Exact (unaugmented) views are the same in every run on this trunk: kept across runs.
        trunk = feature_cache.trunk_key(self.config, self.pre, self.device)
        exact = lambda src, name: extract_cached(src, name, trunk, extract, self.emit)
        train_views = [exact(train_images, "train")] if views == 0 else \
            [self._augmented_view(k, extract) for k in range(views)]
        return (FeatureBatches(train_views, train_images.labels),
                FeatureBatches([exact(val_images, "val")], val_images.labels))

    def _augmented_view(self, k: int, extract) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.config.seed * 1000 + k)  # each view its own, reproducible draw
        return extract(self._images("train", augmented=True, generator=generator), f"train view {k + 1}")

    def _images(self, split: str, augmented: bool = False, generator: torch.Generator | None = None) -> ImageBatches:
        """A split's images, placed on the device at most once per fit whatever the phase asks of them;
        `generator` augments in-order passes too (an extracted augmented view)."""
        if split not in self._sources:
            self._sources[split] = ImageBatches(ImageSet(getattr(self.splits, split), self.pre), self.pre, self.device)
        if not augmented:
            return self._sources[split]
        return self._sources[split].with_augment(augment.train_transform(self.config.augment, self.pre), generator)

    # ---- phase 2: fine-tuning the opened stages ---------------------------------------------------
    def _finetune_phase(self) -> None:
        plan = self.config.freeze
        frozen = set(planned_frozen(plan, self.model.backbone_stages))
        for epoch in range(self.progress.epoch + 1):  # a resumed run re-opens what was opened
            frozen -= set(unfreeze_due(plan, epoch))
        self.model.set_frozen(frozen)
        groups = self.model.param_groups(self.config.train.finetune_lr, self.config.train.lr_factor)
        self._run_epochs("finetune", self.config.train.finetune_epochs, schedule.optimizer(groups, self.config.train),
                         self._images("train", augmented=True), self._images("val"))

    def _open_scheduled(self, optimizer, epoch: int) -> None:
        newly = self.model.unfreeze(unfreeze_due(self.config.freeze, epoch))
        if not newly:
            return
        for group in self.model.param_groups(self.config.train.finetune_lr, self.config.train.lr_factor, newly):
            optimizer.add_param_group(group)
        self.emit({"event": "unfreeze", "stages": newly, "epoch": epoch})

    # ---- the epoch loop ---------------------------------------------------------------------------
    def _run_epochs(self, phase: str, epochs: int, optimizer, train_src, val_src) -> None:
        steps_per_epoch = max(1, batches.steps_per_epoch(len(train_src), self.config.train.batch_size))
        self._load_optimizer(optimizer, phase)
        train_src.sample_weights = self.balance.get("sampler")
        self.progress.bad_epochs = 0 if self.progress.epoch == 0 else self.progress.bad_epochs
        for epoch in range(self.progress.epoch, epochs):
            if self._out_of_budget(phase, epoch):
                break
            if phase == "finetune":
                self._open_scheduled(optimizer, epoch)
            started = time.monotonic()
            generator = torch.Generator().manual_seed(self.config.seed * 7919 + epoch + (0 if phase == "head" else 10_000))
            steps = (epoch * steps_per_epoch, epochs * steps_per_epoch)
            train_loss, train_acc = self._train_epoch(phase, epoch, optimizer, train_src, generator, steps)
            train_seconds = time.monotonic() - started
            val_loss, val_acc, more = self._validate(val_src)
            row = {"phase": phase, "epoch": epoch, "train_loss": _r(train_loss), "train_accuracy": _r(train_acc),
                   "val_loss": _r(val_loss), "val_accuracy": _r(val_acc), **more,
                   "seconds": round(time.monotonic() - started, 3), "train_seconds": round(train_seconds, 3),
                   "lr": optimizer.param_groups[-1]["lr"], **self._memory()}
            self.progress.history.append(row)
            self.progress.epoch = epoch + 1
            stop = self._early_stop_check(val_loss)
            self._save_checkpoint(optimizer)
            self.emit({"event": "epoch", **row})
            if stop:
                self.emit({"event": "early_stop", "phase": phase, "epoch": epoch})
                break

    def _out_of_budget(self, phase: str, epoch: int) -> bool:
        """A time budget (`train.time_budget_seconds`, a demo's from-scratch baseline) ends training: no
        epoch starts that would end past it, judged by the last epoch's length (`_budget_cut` ends one
        that is running when it is spent: one epoch took 150 s on a loaded 2-core box)."""
        budget, history = self.config.train.time_budget_seconds, self.progress.history
        if budget is None or not history:
            return False
        spent = time.monotonic() - self._started
        if not self._budget_spent and spent + history[-1]["seconds"] <= budget:
            return False
        self._budget_spent = True
        self.emit({"event": "budget", "phase": phase, "epoch": epoch, "budget_seconds": budget,
                   "seconds": round(spent, 3)})
        return True

    def _budget_cut(self) -> bool:
        """The time budget spent in the middle of an epoch: it ends after this batch (its row: images seen)."""
        budget = self.config.train.time_budget_seconds
        self._budget_spent = self._budget_spent or (budget is not None and time.monotonic() - self._started > budget)
        return self._budget_spent

    def _train_epoch(self, phase, epoch, optimizer, source, generator, steps):
        base_lr = self.config.train.head_lr if phase == "head" else self.config.train.finetune_lr
        step, total_steps = steps
        self.model.train()
        loss_sum, correct, seen = torch.zeros((), device=self.device), torch.zeros((), device=self.device), 0
        self._rate_clock, self._images_since_event = time.monotonic(), 0
        for x, y in source.iterate(self.config.train.batch_size, generator):
            if self.should_stop():
                raise Cancelled()
            schedule.apply(optimizer, base_lr, self.config.train.schedule, step / total_steps)
            loss, logits = self._step(optimizer, source, x, y)
            loss_sum += loss * len(y)  # stays on the device: no wait for the step to finish
            correct += self.task.correct(logits, y)
            seen += len(y)
            step += 1
            self._step_event(phase, epoch, step, loss, optimizer, len(y))
            if self._budget_cut():
                break
        mean_loss = _finite(loss_sum.item() / max(seen, 1), phase, epoch)
        return mean_loss, correct.item() / max(seen, 1)

    def _step(self, optimizer, source, x, y):
        with autocast(self.device):
            logits = source.forward(self.model, x)
        loss = self.task.loss(logits.float(), y, self.balance, self.config.train)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.train.grad_clip:
            params = [p for g in optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.config.train.grad_clip)
        optimizer.step()
        return loss.detach(), logits.detach()

    def _step_event(self, phase, epoch, step, loss, optimizer, images: int) -> None:
        """The fit's first step, then at most every STEP_EVENT_SECONDS: the one place a step waits for the
        device (reading the loss), so images/s is measured over the steps since the last event (or the
        epoch's start), as the device really ran them."""
        self._images_since_event += images
        if time.monotonic() - self._last_step_event < STEP_EVENT_SECONDS:
            return
        value = _finite(loss.item(), phase, epoch)
        self.first_step_at = self.first_step_at or time.time()  # the loss read back: that step has run
        now = time.monotonic()
        rate = self._images_since_event / max(now - self._rate_clock, 1e-9)
        self._last_step_event, self._rate_clock, self._images_since_event = now, now, 0
        self.emit({"event": "step", "phase": phase, "epoch": epoch, "step": step, "loss": round(value, 5),
                   "lr": optimizer.param_groups[-1]["lr"], "images_per_second": round(rate, 1)})

    def _validate(self, source) -> tuple[float | None, float | None, dict]:
        if len(source) == 0:
            return None, None, {}
        return self.task.validate(*self._predict(source))

    def _predict(self, source) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        outs, labels = [], []
        with torch.inference_mode(), autocast(self.device):
            for x, y in source.iterate(self.config.train.batch_size * 2):
                outs.append(source.forward(self.model, x)[:len(y)].float())  # padding rows cut off
                labels.append(y)
        self.model.train()
        return torch.cat(outs).cpu(), torch.cat(labels).cpu()

    def _memory(self) -> dict:
        if self.device.type != "cuda":
            return {}
        return {"gpu_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)}

    # ---- early stopping and best weights ---------------------------------------------------------
    def _early_stop_check(self, val_loss: float | None) -> bool:
        patience = self.config.train.early_stop_patience
        if val_loss is None or patience is None:
            return False
        if val_loss < self.progress.best_val_loss - 1e-6:
            self.progress.best_val_loss, self.progress.bad_epochs = val_loss, 0
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
            if self.run_dir:
                checkpoints.save_weights(self.best_state, self.run_dir / "best.safetensors")
            return False
        self.progress.bad_epochs += 1
        return self.progress.bad_epochs >= patience

    def _restore_best(self) -> None:
        if self.best_state is None and self.run_dir and (self.run_dir / "best.safetensors").exists():
            self.best_state = checkpoints.load_weights(self.run_dir / "best.safetensors")
        if self.best_state is not None and self.config.train.early_stop_patience is not None:
            self.model.load_state_dict(self.best_state)
            self.emit({"event": "restore_best", "val_loss": self.progress.best_val_loss})

    # ---- evaluation, checkpoints, summary --------------------------------------------------------
    def _evaluate(self) -> dict | None:
        split = "test" if self.splits.test else "val"
        records = getattr(self.splits, split)
        # multi-label: one threshold per label, from the validation images alone (before any test image is seen)
        val = (lambda: self._predict(self._images("val"))) if self.splits.val else None
        self.thresholds = self.task.thresholds(val, self.splits.classes)
        if not records:
            return None
        logits, labels = self._predict(self._images(split))
        report = self.task.report(logits, labels, self.splits.classes, [r.id for r in records], self.thresholds)
        report["split"] = split
        return report

    def _reference(self) -> tuple[torch.Tensor, dict] | None:
        """What "unknown" and "not sure" are measured against (`ood`) and the images by loss for the cleaner (the
        head alone runs), from the final trunk's features of train and val (cached if the trunk never moved). A
        budgeted run (a demo's baseline: compared, not served) skips it: it cost 75 s beside 52 s of training."""
        if not self.run_dir or not self.splits.train or self.config.train.time_budget_seconds is not None:
            return None
        feats = {split: self._final_features(split) for split in ("train", "val")}
        logits = self._head_logits(torch.cat([feats["train"], feats["val"]]))
        self._hardest = self.task.hardest(logits, self.splits)
        bank, unknown = ood.reference(feats["train"], feats["val"])
        val_labels = self._images("val").labels.cpu()
        return bank, {"unknown": unknown, "not_sure": self.task.not_sure(logits[len(feats["train"]):], val_labels)}

    def _head_logits(self, features: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        with torch.inference_mode():
            return self.model.head(features.to(self.device).float()).float().cpu()

    def _final_features(self, split: str) -> torch.Tensor:
        bs = EXTRACT_BATCH_CPU if self.device.type == "cpu" else self.config.train.batch_size * 2
        label = f"{split}, look-alike check"
        extract = lambda src, name: extract_features(self.model, src, bs, self.emit, name, lambda: False)
        if self.config.train.finetune_epochs:
            return extract(self._images(split), label)
        trunk = feature_cache.trunk_key(self.config, self.pre, self.device)
        return extract_cached(self._images(split), label, trunk, extract, self.emit)

    def _save_checkpoint(self, optimizer) -> None:
        if self.run_dir:
            checkpoints.save_last(self.run_dir, self.model.state_dict(), optimizer.state_dict(), self.progress)

    def _load_checkpoint(self) -> None:
        saved = checkpoints.load_progress(self.run_dir) if self.run_dir else None
        if saved is None:
            return  # nothing saved yet: start from the beginning
        self.progress = saved
        self.model.load_state_dict(checkpoints.load_weights(self.run_dir / "last.safetensors", str(self.device)))

    def _load_optimizer(self, optimizer, phase: str) -> None:
        if not (self.resume and self.run_dir and self.progress.epoch > 0):
            return
        saved = checkpoints.load_optimizer(self.run_dir, self.device)
        if saved and saved["phase"] == phase and len(saved["state"]["param_groups"]) == len(optimizer.param_groups):
            optimizer.load_state_dict(saved["state"])

    def _save_final(self, reference: tuple[torch.Tensor, dict] | None = None) -> None:
        if not self.run_dir:
            return
        meta = {"classes": self.splits.classes, "preprocess": self.pre.to_dict(), "feature_dim": self.model.feature_dim,
                "stages": self.model.backbone_stages, "task": self.task.name, "thresholds": self.thresholds}
        if self._hardest is not None:
            loss_ranking.save(self.run_dir, self._hardest)
        if reference is not None:
            ood.save_bank(self.run_dir, reference[0])
            meta.update(reference[1])
        checkpoints.save_final(self.run_dir, self.model.state_dict(), self.config.to_json(), meta, self.progress)

    def _summary(self, status: str, report: dict | None) -> dict:
        history = [h for h in self.progress.history if h["val_loss"] is not None]
        restored = self.best_state is not None and self.config.train.early_stop_patience is not None
        chosen = min(history, key=lambda h: h["val_loss"]) if restored and history else \
            (history[-1] if history else None)
        return {"status": status, "classes": self.splits.classes, "epochs": len(self.progress.history),
                "val_accuracy": chosen["val_accuracy"] if chosen else None,
                "test_accuracy": report["accuracy"] if report and report["split"] == "test" else None,
                "seconds": round(self.progress.seconds, 3), "history": self.progress.history, "evaluation": report,
                "device": str(self.device), "first_step_at": self.first_step_at}


def fit(config: RunConfig, **kwargs) -> dict:
    return Trainer(config, **kwargs).fit()


def _finite(loss: float, phase: str, epoch: int) -> float:
    if not math.isfinite(loss):
        raise TrainingFailed(f"the loss became {loss} in the {phase} phase, epoch {epoch + 1}: the learning rate "
                             "is probably too high; lower train.head_lr / train.finetune_lr and try again")
    return loss


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
