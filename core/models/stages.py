"""Cut a backbone into the ordered stages a person can freeze (stem, stage1..N).

The same grouping drives the stage map in the UI, the FreezePlan and the per-stage learning rates.
- timm models: their own `group_matcher(coarse=True)`, long runs of blocks merged into 4 stages.
- torchvision models: derived from the network itself. A shape-only forward on the meta device
  records each block's output resolution; consecutive blocks at the same resolution form a stage
  (the stem is the first resolution level). Token blocks (ViT) are cut into 4 equal stages.
"""
from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.module import (
    register_module_buffer_registration_hook,
    register_module_parameter_registration_hook,
)

TOKEN_STAGES = 4  # a transformer's blocks are cut into this many stages
MAX_TIMM_GROUPS = 8  # more coarse groups than this (ViT blocks) are merged into TOKEN_STAGES


@dataclass(frozen=True)
class Stage:
    name: str
    params: tuple[str, ...]  # parameter names in the trunk, in definition order


def param_count(module: nn.Module, names: tuple[str, ...]) -> int:
    table = dict(module.named_parameters())
    return sum(table[n].numel() for n in names)


def _is_norm_param(model: nn.Module, param_name: str) -> bool:
    owner = model.get_submodule(param_name.rpartition(".")[0]) if "." in param_name else model
    return "Norm" in type(owner).__name__


def _fold_norm_tail(model: nn.Module, groups: list[list[str]]) -> list[list[str]]:
    """A last group of only normalisation parameters (ConvNeXt/ViT final norm) is no stage of its
    own: it joins the stage before it."""
    while len(groups) > 2 and all(_is_norm_param(model, n) for n in groups[-1]):
        groups = groups[:-2] + [groups[-2] + groups[-1]]
    return groups


def name_stages(groups: list[list[str]]) -> list[Stage]:
    groups = [g for g in groups if g]
    return [Stage("stem" if i == 0 else f"stage{i}", tuple(g)) for i, g in enumerate(groups)]


# ---- timm -----------------------------------------------------------------------------------
def timm_stages(trunk: nn.Module) -> list[Stage]:
    from timm.models import group_parameters

    grouped = group_parameters(trunk, trunk.group_matcher(coarse=True))
    groups = [list(names) for _, names in sorted(grouped.items())]
    if len(groups) > MAX_TIMM_GROUPS:
        groups = [groups[0]] + _merge_into(groups[1:], TOKEN_STAGES)
    return name_stages(_fold_norm_tail(trunk, groups))


def _merge_into(groups: list[list[str]], count: int) -> list[list[str]]:
    size = math.ceil(len(groups) / count)
    return [sum(groups[i:i + size], []) for i in range(0, len(groups), size)]


# ---- torchvision ----------------------------------------------------------------------------
def torchvision_stages(trunk: nn.Module, input_size: int) -> list[Stage]:
    """`trunk`: the network with its classifier's last layer removed, built on the meta device
    (see `meta_build`); parameter names are the same as in the real network."""
    order = _trace_blocks(trunk, input_size)
    groups: list[list[str]] = []
    tokens: list[str] = []
    last_key = None
    for name, key in order:
        if key == "tokens":
            tokens.append(name)
            continue
        if key != last_key or not groups:
            groups.append([])
        groups[-1].append(name)
        last_key = key
    if tokens:  # trailing norm-only blocks (ViT's final LayerNorm) ride with the last chunk
        body = [t for t in tokens if not _is_norm_block(trunk.get_submodule(t))]
        chunks = _merge_into([[t] for t in body], TOKEN_STAGES)
        chunks[-1] += [t for t in tokens if t not in body]
        groups += chunks
    return _blocks_to_params(trunk, groups)



def _trace_blocks(trunk: nn.Module, input_size: int) -> list[tuple[str, object]]:
    """Run a shape-only forward; return (block name, resolution key) in execution order."""
    blocks = [(n, m) for n, m in _blocks(trunk) if any(True for _ in m.parameters())]
    seen: list[tuple[str, object]] = []
    hooks = [m.register_forward_hook(_recorder(n, input_size, seen)) for n, m in blocks]
    try:
        with torch.no_grad():
            trunk.eval()(torch.empty(1, 3, input_size, input_size, device="meta"))
    finally:
        for h in hooks:
            h.remove()
    once = {}
    for name, key in seen:
        once.setdefault(name, key)
    return list(once.items())


def _recorder(name: str, input_size: int, seen: list):
    def hook(_module, _inputs, output):
        seen.append((name, _resolution_key(output, input_size)))

    return hook


def _is_norm_block(module: nn.Module) -> bool:
    return "Norm" in type(module).__name__


def _resolution_key(output, input_size: int):
    if not torch.is_tensor(output):
        return None
    shape = tuple(output.shape)
    if len(shape) == 3:
        return "tokens"
    if len(shape) != 4:
        return None
    side = shape[2] if shape[2] == shape[3] else shape[1]  # NCHW, else channels-last (Swin)
    return round(math.log2(input_size / max(side, 1)))


def _blocks(module: nn.Module, prefix: str = ""):
    """Leaves of the container tree: Sequential/ModuleList/ModuleDict and plain wrappers open up."""
    for name, child in module.named_children():
        full = f"{prefix}{name}"
        if isinstance(child, (nn.Sequential, nn.ModuleList, nn.ModuleDict)) or _is_wrapper(child):
            yield from _blocks(child, full + ".")
        else:
            yield full, child


def _is_wrapper(module: nn.Module) -> bool:
    """A module that only holds a sequence of blocks plus loose parameters (ViT's Encoder)."""
    children = list(module.children())
    return any(isinstance(c, nn.Sequential) for c in children) and type(module).__name__ == "Encoder"


def _blocks_to_params(trunk: nn.Module, groups: list[list[str]]) -> list[Stage]:
    """Map block names to parameter names; loose parameters go to the stem (embeddings) or,
    when they sit in the classifier (pre-logits kept by the strip), to the last stage."""
    names = [n for n, _ in trunk.named_parameters()]
    owner: dict[str, int] = {}
    for gi, group in enumerate(groups):
        for block in group:
            for n in names:
                if n == block or n.startswith(block + "."):
                    owner[n] = gi
    for n in names:
        if n not in owner:
            owner[n] = len(groups) - 1 if n.split(".")[0] in _CLASSIFIER_ROOTS else 0
    out: list[list[str]] = [[] for _ in groups]
    for n in names:
        out[owner[n]].append(n)
    return name_stages(_fold_norm_tail(trunk, [g for g in out if g]))


_CLASSIFIER_ROOTS = {"classifier", "fc", "head", "heads", "norm"}


# ---- building on the meta device ---------------------------------------------------------------------
_local = threading.local()
_hooks_lock = threading.Lock()
_hooks: list = []
_builders = 0


def _meta_parameter(module, name, param):
    if param is not None and getattr(_local, "depth", 0) and param.device.type != "meta":
        return nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
    return None


def _meta_buffer(module, name, buffer):
    if buffer is not None and getattr(_local, "depth", 0) and buffer.device.type != "meta":
        return buffer.to("meta")
    return None


@contextmanager
def meta_build():
    """Build modules whose parameters and buffers land on the meta device: no memory, no init cost.

    Only the calling thread is affected: the registration hooks convert tensors only while *this
    thread* is inside the block, and are removed when no thread is. The Streamlit server builds stage
    maps in one session while another builds a real model; a process-wide swap of
    `register_parameter` once left real models on meta. Unlike `with torch.device("meta")`, plain
    tensors made during construction stay real: RegNet computes its widths with torch ops and
    `.tolist()`, which meta tensors cannot do.
    """
    global _builders
    with _hooks_lock:
        if _builders == 0:
            _hooks[:] = [register_module_parameter_registration_hook(_meta_parameter),
                         register_module_buffer_registration_hook(_meta_buffer)]
        _builders += 1
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1
        with _hooks_lock:
            _builders -= 1
            if _builders == 0:
                for handle in _hooks:
                    handle.remove()
                _hooks.clear()
