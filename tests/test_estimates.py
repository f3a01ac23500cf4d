"""Time estimates from this server's own measured speed (issue 29 item 6): kept per backbone and device by
every run, said as "about" with a range, and within 2x of what the next run then takes on this box."""
from __future__ import annotations

from core import words
from core.config import AugmentSpec, DataSpec, FreezePlan, RunConfig, TrainSpec
from core.data import splits
from core.execute import slot
from core.models import estimate, registry
from core.runs import leases, queue, speeds, store
from tests.training import digits, mnist

BACKBONE = "mobilenet_v3_small"


def _run(dataset: str) -> str:
    """Head on extracted features (one extraction), then one epoch with everything trainable."""
    config = RunConfig(backbone=BACKBONE, weights="none", augment=AugmentSpec(preset="none"),
                       freeze=FreezePlan(mode="none"), data=DataSpec(dataset=dataset),
                       train=TrainSpec(head_epochs=1, finetune_epochs=1, batch_size=16))
    submitted = queue.submit(config)
    slot.process(leases.claim_specific(submitted["job_id"]))
    return submitted["run_id"]


def _measured(run_id: str) -> tuple[int, float, float]:
    """Training images, the fine-tune epoch's training seconds, the seconds until the training features were
    extracted."""
    events = store.metrics(run_id)
    start = next(e for e in events if e["event"] == "fit_start")
    tuned = next(e for e in events if e["event"] == "epoch" and e["phase"] == "finetune")
    extracted = next(e for e in events if e["event"] == "extract" and e["split"] == "train" and e["done"] == e["total"])
    return start["sizes"]["train"], tuned["train_seconds"], extracted["t"] - start["t"]


def test_an_estimate_comes_from_this_servers_runs_and_is_within_twice_the_next_runs_time():
    cold = speeds.epoch_estimate(BACKBONE, 100, False, device="cpu")
    assert not cold["measured"] and "not run here yet" in cold["basis"]  # a guess, and it says so
    _run(digits(per_class=6))  # the server measures itself by running
    later = mnist(per_class=10)  # other images: nothing comes from the feature cache

    images = len(splits.for_spec(DataSpec(dataset=later)).train)
    tuned = speeds.epoch_estimate(BACKBONE, images, False, device="cpu")
    extract = speeds.epoch_estimate(BACKBONE, images, True, device="cpu")
    assert tuned["measured"] and extract["measured"] and "measured on this server" in tuned["basis"]
    assert tuned["low"] <= tuned["seconds"] <= tuned["high"]
    trained, tuned_took, extract_took = _measured(_run(later))
    assert trained == images
    assert 0.5 <= tuned["seconds"] / tuned_took <= 2, (tuned, tuned_took)
    assert 0.5 <= extract["seconds"] / extract_took <= 2, (extract, extract_took)
    assert speeds.epoch_estimate(BACKBONE, images, False, device="cpu")["basis"].startswith(
        "measured on this server: 2 recent run(s)")  # the new run counts too


def test_an_estimate_is_said_as_about_with_its_range():
    assert words.about(40, 30, 60) == "about 40 s (30 s to 1 min)"
    assert words.about(40, 40.2, 39.8) == "about 40 s"  # a range that says nothing more is left out
    assert words.about(None) == words.MISSING


def test_a_backbone_not_run_here_is_timed_itself_and_scaled_by_what_the_others_measured(monkeypatch):
    """ResNet-18 has 4.7 times Lite0's GFLOPs and ran as fast here: a GFLOPs estimate said 5.9 times its
    measured extraction. The figure now comes from timing that backbone, scaled by measured over timed for
    the backbones this server has run, and says a third to three times around it (before their own
    runs, three backbones here took 0.64 to 2.1 times that middle figure)."""
    timed = {("efficientnet_lite0", True): 0.05, ("resnet18", True): 0.04}
    monkeypatch.setattr(estimate, "seconds_per_image", lambda name, frozen: timed[(name, frozen)])
    monkeypatch.setattr(speeds, "_measured_backbones", lambda excluded: ["efficientnet_lite0"])
    measured = {"efficientnet_lite0": {"extract": [0.04, 0.03, 0.05], "train": []}, "resnet18": {"extract": [], "train": []}}
    monkeypatch.setattr(speeds, "per_image", lambda name, device: measured[name])

    said = speeds.epoch_estimate("resnet18", 500, True, device="cpu")
    assert not said["measured"] and "scaled by what 1 other backbone(s) measured" in said["basis"]
    assert said["seconds"] == round(500 * 0.04 * (0.04 / 0.05), 1)  # its own timing × Lite0's measured over timed
    assert speeds.UNMEASURED_SPREAD == 3
    assert (said["low"], said["high"]) == (round(said["seconds"] / 3, 1), round(said["seconds"] * 3, 1))


def test_only_a_heavy_backbone_is_scaled_from_lite0s_timing_by_its_gflops(monkeypatch):
    estimate.seconds_per_image.cache_clear()
    timed = []
    monkeypatch.setattr(estimate, "_timed", lambda name, frozen: timed.append(name) or 0.8)
    light = estimate.seconds_per_image("resnet18", True)
    heavy = estimate.seconds_per_image("vit_l_16", True)
    estimate.seconds_per_image.cache_clear()  # the fake figures leave with this test
    assert timed == ["resnet18", "efficientnet_lite0"]  # the heavy one itself is never run
    assert light == 0.8 / estimate.PROBE_BATCH
    gflops = {name: registry.get(name).info().gflops for name in ("vit_l_16", "efficientnet_lite0")}
    assert gflops["vit_l_16"] > estimate.HEAVY_GFLOPS
    assert heavy == 0.8 / estimate.PROBE_BATCH * gflops["vit_l_16"] / gflops["efficientnet_lite0"]
    assert "a short timing of it" in speeds._scale("resnet18", "cpu", "extract", True)[1]
    assert "its GFLOPs" in speeds._scale("vit_l_16", "cpu", "extract", True)[1]  # it says it was not timed
