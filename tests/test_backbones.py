import pytest
import torch

from core import models
from core.errors import UserError, WeightsUnavailable
from core.models import surgery, weights

REQUIRED = ["resnet18", "resnet50", "vgg16", "mobilenet_v3_large", "efficientnet_b0", "vit_b_16",
            "convnext_tiny", "efficientnet_lite0"]


def test_registry_covers_torchvision_timm_and_bundled():
    infos = {b.name: b for b in models.list_backbones()}
    assert len(infos) >= 40
    assert set(REQUIRED) <= set(infos)
    assert {b.source for b in infos.values()} == {"torchvision", "timm", "bundled"}
    families = {b.family for b in infos.values() if b.source == "timm"}
    assert {"resnet", "convnext", "efficientnet", "vision_transformer", "mobilenetv3", "regnet"} <= families


def test_library_facts_come_from_the_libraries():
    from torchvision.models import ResNet50_Weights

    info = models.get("resnet50").info()
    meta = ResNet50_Weights.DEFAULT.meta
    assert info.params == meta["num_params"]
    assert info.gflops == meta["_ops"]
    assert info.top1 == meta["_metrics"]["ImageNet-1K"]["acc@1"]
    pre = models.get("resnet50").preprocess()
    assert (pre.resize, pre.crop) == (232, 224)  # from weights.transforms(), not a constant
    assert models.get("vit_h_14").preprocess().crop == 518


@pytest.mark.parametrize("name", models.names())
def test_stage_params_sum_to_the_network_total(name):
    info = models.describe(name)
    stages = info["stages"]
    assert [s["name"] for s in stages][0] == "stem" and stages[-1]["name"] == "head"
    assert len(stages) >= 4, stages
    assert sum(s["params"] for s in stages) == info["params"]
    assert all(s["params"] > 0 for s in stages)


def test_offline_weight_status_is_honest(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("TRANSFERLAB_OFFLINE", "1")
    resnet = models.get("resnet18")
    status, note = resnet.weight_status()
    assert status == weights.UNAVAILABLE
    assert "resnet18-f37072fd.pth" in note and str(tmp_path / "torch") in note
    with pytest.raises(WeightsUnavailable, match="resnet18-f37072fd.pth"):
        resnet.network(pretrained=True)
    assert models.get("efficientnet_lite0").weight_status()[0] == weights.BUNDLED
    assert models.get("timm/resnet18.a1_in1k").weight_status()[0] == weights.UNAVAILABLE
    # A file already in the torch hub cache counts as cached.
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert resnet.weight_status()[0] == weights.CACHED


def test_online_status_means_download(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("TRANSFERLAB_OFFLINE", "0")
    assert models.get("resnet18").weight_status()[0] == weights.DOWNLOAD


def test_bundled_lite0_sees_a_cat_in_chelsea(chelsea_png):
    from core.data.images import load_path
    from core.models import imagenet

    probs = imagenet.probabilities("efficientnet_lite0", [load_path(str(chelsea_png))])
    top5 = [row["index"] for row in imagenet.top_k(probs, 5)[0]]
    assert any(281 <= i <= 285 for i in top5), top5


def test_bundled_remap_checks_shapes():
    source = {"a": torch.zeros(3), "b": torch.zeros(2, 2)}
    target = {"x": torch.zeros(3), "y": torch.zeros(2, 3)}
    with pytest.raises(UserError, match="does not fit"):
        surgery.remap_positional(source, target, "lite")
    assert list(surgery.remap_positional(source, {"x": torch.zeros(3), "y": torch.zeros(2, 2)}, "l")) == ["x", "y"]
