"""Every torchvision classifier as a backbone: facts from `weights.meta`, preprocessing from
`weights.transforms()`, stages traced from the network itself."""
from __future__ import annotations

from torch import nn

from core.data.transforms import Preprocess
from core.errors import UserError, WeightsUnavailable
from core.models import registry, stages, surgery, weights as W
from core.paths import online


class TorchvisionEntry(registry.Entry):
    source = "torchvision"

    def __init__(self, name: str):
        from torchvision.models import get_model_builder, get_model_weights

        self.name = name
        self.family = get_model_builder(name).__module__.rsplit(".", 1)[-1]
        self._weights = get_model_weights(name).DEFAULT

    def library_facts(self):
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
        if online():
            return W.DOWNLOAD, f"downloads {self._weights.url} on first use"
        return W.UNAVAILABLE, (f"offline and not cached: place {path.name} (from {self._weights.url}) "
                               f"in {path.parent}/ or pick a backbone whose weights are bundled")

    def build(self, pretrained: bool) -> nn.Module:
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

    def strip(self, net: nn.Module, pool: str) -> int:
        path, layer = surgery.final_layer(net)
        surgery.set_module(net, path, nn.Identity())
        surgery.drop_classifier_dropout(net, path)
        if pool == "max":
            surgery.use_max_pool(net, self.name)
        elif pool == "avg" and not isinstance(getattr(net, "avgpool", None), nn.AdaptiveAvgPool2d):
            if self.family == "vision_transformer":
                raise UserError(f"{self.name} pools with its class token; use head pool 'auto'")
        return layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels

    def cut_stages(self, meta_trunk):
        return stages.torchvision_stages(meta_trunk, self.preprocess().crop)


def entries() -> list[registry.Entry]:
    import torchvision.models as tvm
    from torchvision.models import list_models

    return [TorchvisionEntry(n) for n in list_models(module=tvm)]


registry.register_source(entries, order=1)
