"""A run's files: the last checkpoint (weights, optimizer, progress) to resume from, the best
weights for early stopping, and the final model with its config and meta. Every file is written to
a temporary name and renamed into place, so a kill mid-write never leaves a run that cannot resume."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


@dataclass
class Progress:
    """What a resumed run needs to continue where the last checkpoint left off."""

    phase: str = "head"
    epoch: int = 0
    best_val_loss: float = math.inf
    bad_epochs: int = 0
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> str:
        values = {**self.__dict__, "best_val_loss": None if math.isinf(self.best_val_loss) else self.best_val_loss}
        return json.dumps(values)

    @classmethod
    def from_json(cls, text: str) -> "Progress":
        saved = json.loads(text)
        saved["best_val_loss"] = math.inf if saved["best_val_loss"] is None else saved["best_val_loss"]
        return cls(**saved)


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def save_weights(state: dict, path: Path) -> None:
    _atomic(path, lambda tmp: save_file(contiguous(state), str(tmp)))


def write_text(path: Path, text: str) -> None:
    _atomic(path, lambda tmp: tmp.write_text(text))


def save_last(folder: Path, state: dict, optimizer_state: dict, progress: Progress) -> None:
    """Weights and optimizer first, progress last: progress.json names a complete checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(state, folder / "last.safetensors")
    _atomic(folder / "last_optimizer.pt", lambda tmp: torch.save(
        {"phase": progress.phase, "state": optimizer_state}, tmp))
    write_text(folder / "progress.json", progress.to_json())


def load_progress(folder: Path) -> Progress | None:
    path = folder / "progress.json"
    return Progress.from_json(path.read_text()) if path.exists() else None


def load_weights(path: Path, device: str = "cpu") -> dict:
    return load_file(str(path), device=device)


def load_optimizer(folder: Path, device) -> dict | None:
    path = folder / "last_optimizer.pt"
    return torch.load(path, map_location=device, weights_only=True) if path.exists() else None


def save_final(folder: Path, state: dict, config_json: str, meta: dict, progress: Progress) -> None:
    save_weights(state, folder / "model.safetensors")
    write_text(folder / "config.json", config_json)
    write_text(folder / "meta.json", json.dumps(meta, indent=2))
    write_text(folder / "progress.json", progress.to_json())


def contiguous(state: dict) -> dict:
    """safetensors refuses tensors that share memory: such aliases are saved as copies."""
    seen: set[int] = set()
    out = {}
    for key, value in state.items():
        value = value.detach()
        pointer = value.data_ptr()
        out[key] = value.clone().contiguous() if pointer in seen and value.numel() else value.contiguous()
        seen.add(pointer)
    return out
