"""`python -m core bench`: this engine against a plain PyTorch-tutorial loop, same data, backbone,
optimizer and target accuracy, measured in the same process.

The plain loop decodes every image every epoch (DataLoader over files, PIL, the weights'
transforms), runs the full backbone forward each epoch in fp32, and keeps the tutorial's
`model.train()`. Reported: seconds to reach the target validation accuracy, and images/s.
(a) feature extraction (frozen backbone, new head); (b) fine-tuning (everything trainable).
"""
from __future__ import annotations

import dataclasses
import io
import time

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from core.config import AugmentSpec, DataSpec, FreezePlan, RunConfig, TrainSpec
from core.data import samples, splits, store
from core.data.transforms import model_input
from core.models import registry, surgery
from core.training.device import pick_device
from core.training.trainer import Trainer


@dataclasses.dataclass
class BenchSettings:
    backbone: str = "efficientnet_lite0"
    per_class: int = 30
    target: float = 0.7
    head_epochs: int = 30
    plain_epochs: int = 14
    finetune_epochs: int = 2
    lr: float = 3e-3
    batch_size: int = 32
    device: str = "auto"


def run(settings: BenchSettings) -> dict:
    dataset = _dataset(settings.per_class)
    device = pick_device(settings.device)
    head_cfg = _config(settings, dataset, finetune=False)
    tune_cfg = _config(settings, dataset, finetune=True)
    extraction = {"engine": _engine(head_cfg, settings.target),
                  "plain": _plain(head_cfg, settings, settings.plain_epochs, freeze=True, device=device)}
    finetuning = {"engine": _engine(tune_cfg, settings.target),
                  "plain": _plain(tune_cfg, settings, settings.finetune_epochs, freeze=False, device=device)}
    return {"device": str(device), "backbone": settings.backbone, "dataset": dataset,
            "target_val_accuracy": settings.target, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "feature_extraction": _compare(extraction), "fine_tuning": _compare(finetuning)}


def _dataset(per_class: int) -> str:
    name = f"bench-mnist-{per_class}"
    if name not in [d["name"] for d in store.list_datasets()]:
        samples.materialize("mnist", name, per_class=per_class)
    return name


def _config(s: BenchSettings, dataset: str, finetune: bool) -> RunConfig:
    train = TrainSpec(head_epochs=0 if finetune else s.head_epochs, finetune_epochs=s.finetune_epochs if finetune else 0,
                      head_lr=s.lr, finetune_lr=s.lr / 10, schedule="constant", batch_size=s.batch_size,
                      grad_clip=None, weight_decay=0.0, lr_factor=1.0)  # one LR for all, like the plain loop
    return RunConfig(backbone=s.backbone, augment=AugmentSpec(preset="none"), data=DataSpec(dataset=dataset),
                     freeze=FreezePlan(mode="none" if finetune else "all_but_head"), train=train, device=s.device)


def _compare(pair: dict) -> dict:
    engine, plain = pair["engine"], pair["plain"]
    ratio = None
    if engine["seconds_to_target"] and plain["seconds_to_target"]:
        ratio = round(plain["seconds_to_target"] / engine["seconds_to_target"], 2)
    elif engine["seconds_to_target"]:  # the plain loop never got there: a lower bound
        ratio = f">{round(plain['seconds'] / engine['seconds_to_target'], 2)}"
    speed = round(engine["train_images_per_second"] / plain["train_images_per_second"], 2) \
        if plain["train_images_per_second"] else None
    return {"engine": engine, "plain": plain, "seconds_to_target_ratio": ratio, "images_per_second_ratio": speed}


# ---- this engine ---------------------------------------------------------------------------------
def _engine(config: RunConfig, target: float) -> dict:
    events: list[dict] = []
    started = time.time()
    summary = Trainer(config, emit=events.append).fit()
    epochs = [e for e in events if e["event"] == "epoch"]
    reached = next((e["t"] - started for e in epochs if (e["val_accuracy"] or 0) >= target), None)
    images = len(splits.for_spec(config.data).train) * len(epochs)
    train_seconds = sum(e["train_seconds"] for e in epochs)
    return {"seconds": round(time.time() - started, 2), "seconds_to_target": _round(reached),
            "epochs": len(epochs), "best_val_accuracy": max((e["val_accuracy"] or 0) for e in epochs),
            "test_accuracy": summary["test_accuracy"],
            "train_images_per_second": round(images / train_seconds, 1) if train_seconds else None}


# ---- the plain tutorial loop ---------------------------------------------------------------------
class _Files(Dataset):
    """Like torchvision's ImageFolder: open and decode the file on every access."""

    def __init__(self, records, transform):
        self.records, self.transform = records, transform

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        record = self.records[i]
        picture = Image.open(io.BytesIO(store.read_bytes(record.sha256))).convert("RGB")
        return self.transform(picture), record.label


def _plain(config: RunConfig, s: BenchSettings, epochs: int, freeze: bool, device) -> dict:
    started = time.time()
    lists = splits.for_spec(config.data)
    entry = registry.get(config.backbone)
    pre = entry.preprocess()
    transform = lambda picture: model_input([picture], pre)[0]  # noqa: E731  (the weights' transforms, per file)
    model = _plain_model(entry, len(lists.classes), freeze).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=s.lr if freeze else s.lr / 10, weight_decay=0.0)
    train = DataLoader(_Files(lists.train, transform), batch_size=s.batch_size, shuffle=True)
    val = DataLoader(_Files(lists.val, transform), batch_size=s.batch_size * 2)
    reached, best, train_seconds, seen = None, 0.0, 0.0, 0
    done = 0
    for done in range(1, epochs + 1):
        t0 = time.time()
        seen += _plain_epoch(model, train, optimizer, device)
        train_seconds += time.time() - t0
        accuracy = _plain_accuracy(model, val, device)
        best = max(best, accuracy)
        if accuracy >= s.target:  # the time to target is all we need from it
            reached = time.time() - started
            break
    return {"seconds": round(time.time() - started, 2), "seconds_to_target": _round(reached), "epochs": done,
            "best_val_accuracy": round(best, 4), "train_images_per_second": round(seen / train_seconds, 1)}


def _plain_model(entry, classes: int, freeze: bool):
    net = entry.network(pretrained=True)
    path, layer = surgery.final_layer(net)
    if freeze:
        for p in net.parameters():
            p.requires_grad = False
    surgery.set_module(net, path, torch.nn.Linear(layer.in_features, classes))
    return net


def _plain_epoch(model, loader, optimizer, device) -> int:
    model.train()  # as in the tutorial
    seen = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        seen += len(y)
    return seen


def _plain_accuracy(model, loader, device) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x.to(device)).argmax(-1) == y.to(device)).sum())
            total += len(y)
    return correct / max(total, 1)


def _round(value):
    return None if value is None else round(value, 2)
