"""On a CUDA GPU (marker `gpu`, skipped without one): the engine learns there what it learns on the CPU,
frozen stages stay frozen, a fit gives its memory back, the data path is the CPU's (same seed, same
batches; pinned streaming equal to device-resident), a training step never waits for the device, a warm
slot returns to its memory baseline after every job and survives a real out-of-memory, and the Streamlit
side never initialises CUDA. Run: `.venv/bin/python -m pytest -m gpu tests/test_gpu.py`."""
import gc
import json
import subprocess
import sys
import textwrap

import pytest
import torch

from core.config import AugmentSpec, DataSpec, FreezePlan, RunConfig, TrainSpec
from core.data import augment
from core.execute import slot
from core.models.transfer import build_model
from core.runs import queue, store
from core.training import batches, feature_cache, trainer as trainer_module
from core.training.sources import ImageBatches
from core.training.trainer import Trainer, fit
from tests.conftest import ROOT
from tests.training import finetune, mnist, probe

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

CUDA = torch.device("cuda")


def lite0_finetune(ds: str, device: str, epochs: int = 1):
    """Pretrained Lite0, the first 3 stages frozen (BatchNorm statistics kept), light augmentation."""
    return probe(ds).replace(device=device, augment=AugmentSpec(preset="light"), freeze=FreezePlan(mode="first_k", k=3),
                             train=TrainSpec(head_epochs=1, finetune_epochs=epochs, head_lr=3e-3, finetune_lr=3e-4,
                                             batch_size=32))


def test_cuda_and_cpu_reach_the_same_test_accuracy_on_a_fixed_seed():
    ds = mnist(per_class=30)  # 40 test images
    for config, tolerance in ((probe(ds, epochs=8), 0.075), (lite0_finetune(ds, "cpu", epochs=2), 0.15)):
        feature_cache.shared().clear()
        cpu = fit(config.replace(device="cpu"))
        feature_cache.shared().clear()
        gpu = fit(config.replace(device="cuda"))
        assert gpu["device"] == "cuda" and cpu["device"] == "cpu"
        assert abs(gpu["test_accuracy"] - cpu["test_accuracy"]) <= tolerance, (cpu["test_accuracy"], gpu["test_accuracy"])
        assert gpu["test_accuracy"] >= 0.5  # chance is 0.1


def test_frozen_stages_get_no_gradient_and_keep_batchnorm_statistics_on_cuda():
    ds = mnist(per_class=10)
    config = lite0_finetune(ds, "cuda")
    torch.manual_seed(config.seed)
    before = build_model(config, 10).state_dict()  # the seeded initialisation the fit starts from
    trainer = Trainer(config)
    trainer.fit()
    model = trainer.model
    frozen = model.backbone_stages[:3]
    after = model.state_dict()
    for stage in model.backbone_stages:
        owners = {p.rsplit(".", 1)[0] for p in model._stages[stage]}
        keys = [k for k in after if k in model._stages[stage] or
                (k.rsplit(".", 1)[0] in owners and "num_batches" not in k)]
        changed = [k for k in keys if not torch.equal(after[k].cpu(), before[k])]
        if stage in frozen:
            assert not changed, f"{stage} is frozen but changed: {changed[:5]}"
        elif keys:
            assert changed, f"{stage} is open but nothing in it trained"
    model.set_frozen(frozen)
    model.train()
    x = torch.randn(4, 3, 224, 224, device=CUDA).contiguous(memory_format=torch.channels_last)
    model(x).sum().backward()
    for stage in model.backbone_stages:
        grads = [p.grad for p in model.stage_parameters(stage)]
        assert all(g is None for g in grads) == (stage in frozen), stage


def test_memory_allocated_returns_to_its_baseline_after_a_fit():
    ds = mnist(per_class=10)
    config = lite0_finetune(ds, "cuda")
    fit(config)  # first fit: cuBLAS/cuDNN workspaces, kept per process, become part of the baseline
    gc.collect()
    torch.cuda.synchronize()
    baseline = torch.cuda.memory_allocated()
    trainer = Trainer(config)
    trainer.fit()
    assert torch.cuda.max_memory_allocated() > baseline  # the fit did use the device
    del trainer
    gc.collect()
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() <= baseline + 2**20, (baseline, torch.cuda.memory_allocated())


def settled_memory() -> int:
    gc.collect()
    torch.cuda.synchronize()
    return torch.cuda.memory_allocated()


def serve_one(worker: slot.Worker, config) -> str:
    run_id = queue.submit(config, "alice")["run_id"]
    assert worker.serve(max_jobs=1) == 1
    return run_id


def test_a_warm_slot_returns_to_its_memory_baseline_after_each_job():
    ds = mnist(per_class=10, owner="alice")
    worker = slot.Worker(poll=0.01)
    worker.warm_up()  # Lite0 read, one training step and one evaluation pass made: the slot's baseline
    warmed = settled_memory()
    jobs = [probe(ds, epochs=2).replace(device="cuda"), lite0_finetune(ds, "cuda"), lite0_finetune(ds, "cuda"),
            probe(ds, epochs=2).replace(device="cuda")]
    levels = []
    for config in jobs:
        run_id = serve_one(worker, config)
        row = store.run_row(run_id)
        assert row["status"] == "succeeded" and row["summary"]["warm"] is True, row["message"]
        levels.append(settled_memory())
    assert levels[0] <= warmed + 64 * 2**20, (warmed, levels)  # at most a workspace the warm-up did not need
    assert max(levels) <= levels[0] + 2**20, (warmed, levels)  # and nothing a job left behind adds up


def test_a_real_cuda_out_of_memory_is_retried_at_half_batch_and_the_next_job_runs():
    """EfficientNet-B7 at 600 px keeps 3.8 GB of activations per image for its backward pass (measured,
    fp32): fine-tuned at batch 256, and again at 128, it needs more memory than any GPU has."""
    ds = mnist(per_class=40, owner="alice")  # 280 training images: batches really are 256, then 128
    absurd = RunConfig(backbone="efficientnet_b7", weights="none", augment=AugmentSpec(preset="none"),
                       freeze=FreezePlan(mode="none"), data=DataSpec(dataset=ds), device="cuda",
                       train=TrainSpec(head_epochs=0, finetune_epochs=1, batch_size=256))
    worker = slot.Worker(poll=0.01)
    worker.warm_up()
    warmed = settled_memory()
    bad = serve_one(worker, absurd)
    retries = [m for m in store.metrics(bad, "retry")]
    assert [m["batch_size"] for m in retries] == [128]
    row = store.run_row(bad)
    assert row["status"] == "failed" and "memory" in row["message"].lower(), row["message"]
    assert settled_memory() <= warmed + 64 * 2**20  # the failed attempts' activations are gone
    good = serve_one(worker, probe(ds, epochs=2).replace(device="cuda"))
    assert store.run_row(good)["status"] == "succeeded" and store.run_row(good)["summary"]["test_accuracy"] >= 0.5


def test_batched_augmentation_on_cuda_is_the_cpus_for_the_same_seed():
    from core import models
    from tests.test_augment_batch import copies

    pre = models.get("efficientnet_lite0").preprocess()
    for preset in ("light", "strong"):
        transform = augment.train_transform(AugmentSpec(preset=preset), pre)
        cpu = transform(copies(8), torch.Generator().manual_seed(0))
        gpu = transform(copies(8).to(CUDA), torch.Generator().manual_seed(0))
        assert gpu.device.type == "cuda"
        assert torch.allclose(gpu.cpu(), cpu, atol=1e-3), preset


def test_pinned_streaming_gives_the_device_resident_batches(monkeypatch):
    from core import models
    from tests.test_batches import image_set

    pre = models.get("mobilenet_v3_small").preprocess()
    aug = augment.train_transform(AugmentSpec(preset="light"), pre)
    resident = ImageBatches(image_set(40, pre, aug), pre, CUDA)
    assert isinstance(resident.placed(), batches.Resident) and resident.placed().squares.is_cuda
    monkeypatch.setenv("TRANSFERLAB_DEVICE_IMAGES_MB", "0.1")
    streamed = ImageBatches(image_set(40, pre, aug), pre, CUDA)
    assert isinstance(streamed.placed(), batches.Streamed)
    for (xa, ya), (xb, yb) in zip(resident.iterate(8, torch.Generator().manual_seed(1)),
                                  streamed.iterate(8, torch.Generator().manual_seed(1)), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert resident.pad_eval and {len(x) for x, _ in resident.iterate(16)} == {16}  # 40 = 16 + 16 + 8 padded


def test_a_training_step_never_waits_for_the_device(monkeypatch):
    """Batches are gathered, augmented and trained on without a host-device synchronisation: the
    loss is read back only at step events and at the epoch's end (CUDA's sync debug mode raises on any
    synchronising call while a batch is made or a step runs)."""
    monkeypatch.setattr(trainer_module, "STEP_EVENT_SECONDS", 1e9)
    step, make = Trainer._step, ImageBatches._train_batches

    def strict_step(self, *args):
        torch.cuda.set_sync_debug_mode("error")
        try:
            return step(self, *args)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    def strict_batches(self, *args):
        self.placed()  # placing a split on the device (once per fit) gathers from the host: not a step
        it = make(self, *args)
        while True:
            torch.cuda.set_sync_debug_mode("error")
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                torch.cuda.set_sync_debug_mode("default")
            yield item
    monkeypatch.setattr(Trainer, "_step", strict_step)
    monkeypatch.setattr(ImageBatches, "_train_batches", strict_batches)
    summary = fit(finetune(mnist(per_class=6)).replace(device="cuda"))
    assert summary["status"] == "succeeded" and summary["epochs"] == 2


SERVER_PAGES = """
import json, sys
sys.path.insert(0, {root!r})
from streamlit.testing.v1 import AppTest
from core.config import DataSpec, RunConfig
from core.data import samples
from core.runs import drafts
token = drafts.new()
samples.materialize("digits", "dg", per_class=8, owner=token)
drafts.save(token, RunConfig(data=DataSpec(dataset="dg")), {{}})
at = AppTest.from_file({app!r}, default_timeout=240)
at.query_params["s"] = token
at.run()
for page in ("views/scenario.py", "views/backbone.py", "views/data.py", "views/layers.py", "views/train.py",
             "views/evaluate.py", "views/predict.py", "views/export.py", "views/runs.py", "views/teacher.py"):
    at.switch_page(page).run()
import time; time.sleep(5)  # the server's background warm-up, too
import torch
print(json.dumps({{"cuda_initialized": torch.cuda.is_initialized(), "errors": [str(e.value) for e in at.exception]}}))
"""


def test_the_streamlit_side_never_initialises_cuda(tmp_path):
    """Every wizard page (the augmentation preview included) in a fresh process, as the server runs them."""
    script = SERVER_PAGES.format(root=str(ROOT), app=str(ROOT / "streamlit_app.py"))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, cwd=ROOT,
                         timeout=900, env={**__import__("os").environ, "TRANSFERLAB_HOME": str(tmp_path / "home")})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["cuda_initialized"] is False, result
