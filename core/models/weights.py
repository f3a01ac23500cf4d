"""Where pretrained weights come from, decided without downloading anything.

Order: bundled in a package → local caches (TORCH_HOME, the Hugging Face cache) → download, only
when the network is reachable. User checkpoints are read as safetensors or with
`torch.load(weights_only=True)`: a pickle that would run code is refused, never executed.
"""
from __future__ import annotations

import os
import pickle
import re
import urllib.parse
from pathlib import Path

import torch

from core.errors import UserError

BUNDLED, CACHED, DOWNLOAD, UNAVAILABLE = "bundled", "cached", "download", "unavailable"


def torch_hub_file(url: str) -> Path:
    """Where torch.hub caches a checkpoint downloaded from `url` ($TORCH_HOME/hub/checkpoints)."""
    name = os.path.basename(urllib.parse.urlparse(url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def hf_cached_file(repo_id: str) -> Path | None:
    """A weights file of `repo_id` already in the Hugging Face cache, if any."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
        found = try_to_load_from_cache(repo_id, filename)
        if isinstance(found, str) and os.path.exists(found):
            return Path(found)
    return None


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors from a checkpoint file, without ever running code stored in it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for code-carrying pickles, others for junk
        raise UserError(
            f"{path.name}: refused. It is not a plain-tensor checkpoint ({_refusal(exc)}). Only "
            "weights are accepted: save with torch.save(model.state_dict(), ...) or as .safetensors."
        ) from None
    return _unwrap(data, path.name)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:
        raise UserError(f"{path.name}: not a readable safetensors file ({_first_line(exc)})") from None


def _unwrap(data, filename: str) -> dict[str, torch.Tensor]:
    """Accept {"state_dict": ...} / {"model": ...} wrappers and DataParallel "module." prefixes."""
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not data or not all(torch.is_tensor(v) for v in data.values()):
        raise UserError(f"{filename}: expected a state dict (names → tensors), found {type(data).__name__}")
    return {k.removeprefix("module."): v for k, v in data.items()}


def _refusal(exc: Exception) -> str:
    """Why torch refused, without torch's own advice to retry with weights_only=False (that would
    run whatever code the file carries)."""
    text = str(exc)
    found = re.search(r"unsupported (GLOBAL|global|operand)[:\s]+([\w.]+)", text, re.IGNORECASE)
    if found:
        return f"it holds Python objects, not only tensors: it names {found.group(2)}"
    if isinstance(exc, pickle.UnpicklingError) or "weights_only" in text:
        return "it holds Python objects, not only tensors"
    return _first_line(exc)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Strict load with a message that names what does not fit (missing, extra, wrong shape)."""
    own = model.state_dict()
    wrong = [f"{k} {tuple(v.shape)}≠{tuple(own[k].shape)}" for k, v in state.items()
             if k in own and own[k].shape != v.shape]
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if wrong or missing or extra:
        parts = [f"{label}: {', '.join(items[:4])}{' …' if len(items) > 4 else ''}"
                 for label, items in (("wrong shape", wrong), ("missing", missing), ("unexpected", extra))
                 if items]
        raise UserError(f"{source} does not fit this network ({'; '.join(parts)})")
    model.load_state_dict(state, strict=True)
