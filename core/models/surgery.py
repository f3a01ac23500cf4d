"""Cutting a published classifier for transfer: find its ImageNet layer, swap it, count parameters,
load a checkpoint into what is left. Pure functions on `nn.Module`s."""
from __future__ import annotations

import torch
from torch import nn

from core.errors import UserError
from core.models import weights as W

IMAGENET_CLASSES = 1000


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def feature_dim(trunk: nn.Module, size: int) -> int:
    device = next(trunk.parameters()).device
    was_training = trunk.training
    with torch.no_grad():
        out = trunk.eval()(torch.zeros(1, 3, size, size, device=device))
    trunk.train(was_training)
    return int(out.shape[-1])


def final_layer(net: nn.Module) -> tuple[str, nn.Module]:
    """The layer that maps to the 1000 ImageNet classes (Linear, or SqueezeNet's 1x1 Conv)."""
    found = None
    for path, module in net.named_modules():
        if isinstance(module, nn.Linear) and module.out_features == IMAGENET_CLASSES:
            found = (path, module)
        elif isinstance(module, nn.Conv2d) and module.out_channels == IMAGENET_CLASSES:
            found = (path, module)
    if found is None:
        raise UserError("could not find the classifier layer to replace")
    return found


def set_module(root: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, leaf, new)


def drop_classifier_dropout(net: nn.Module, final_path: str) -> None:
    """The old classifier's dropout goes with it; the new head has its own."""
    parent_path = final_path.rpartition(".")[0]
    parent = net.get_submodule(parent_path) if parent_path else net
    if isinstance(parent, nn.Sequential):
        for name, child in parent.named_children():
            if isinstance(child, nn.Dropout):
                setattr(parent, name, nn.Identity())


def use_max_pool(net: nn.Module, name: str) -> None:
    pool = getattr(net, "avgpool", None)
    if not isinstance(pool, nn.AdaptiveAvgPool2d):
        raise UserError(f"{name} has no global average pool to swap for max pooling; use head pool 'auto'")
    net.avgpool = nn.AdaptiveMaxPool2d(pool.output_size)


def load_backbone_state(net: nn.Module, state: dict, source: str) -> None:
    """An imported checkpoint for the whole network; its ImageNet classifier may be missing, since
    transfer drops it anyway."""
    final_path, _ = final_layer(net)
    own = net.state_dict()
    classifier_keys = [k for k in own if k.startswith(final_path + ".")]
    if all(k not in state for k in classifier_keys):
        state = {**state, **{k: own[k] for k in classifier_keys}}
    W.load_into(net, state, source)


def remap_positional(source: dict, target: dict, label: str) -> dict:
    """Rename `source` tensors to `target`'s keys by position, checking every shape."""
    if len(source) != len(target):
        raise UserError(f"{label}: {len(source)} tensors, the network has {len(target)}")
    out = {}
    for (skey, tensor), (tkey, ref) in zip(source.items(), target.items()):
        if tensor.shape != ref.shape:
            raise UserError(f"{label}: {skey} {tuple(tensor.shape)} does not fit {tkey} {tuple(ref.shape)}")
        out[tkey] = tensor
    return out
