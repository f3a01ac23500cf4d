"""Cut a backbone into the ordered stages a person can freeze (stem, stage1..N).

The same grouping drives the stage map in the UI, the FreezePlan and the per-stage learning rates.
- timm models: their own `group_matcher(coarse=True)`, long runs of blocks merged into 4 stages.
- torchvision models: derived from the network itself. A shape-only forward on the meta device
  records each block's output resolution; consecutive blocks at the same resolution form a stage
  (the stem is the first resolution level). Token blocks (ViT) are cut into 4 equal stages.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

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


class meta_build:
    """Build modules with parameters and buffers on the meta device: no memory, no init cost.

    Unlike `with torch.device("meta")`, plain tensors made during construction (RegNet computes
    its widths with torch ops) stay real.
    """

    def __enter__(self):
        self._param, self._buffer = nn.Module.register_parameter, nn.Module.register_buffer

        def register_parameter(module, name, param):
            if param is not None:
                param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
            self._param(module, name, param)

        def register_buffer(module, name, tensor, persistent=True):
            self._buffer(module, name, None if tensor is None else tensor.to("meta"), persistent)

        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer
        return self

    def __exit__(self, *exc):
        nn.Module.register_parameter, nn.Module.register_buffer = self._param, self._buffer
        return False
