"""Warm worker slots: a slot's second job on a backbone reads no trunk weights from disk and learns exactly
what a cold job learns; no job's trained weights or BatchNorm statistics reach the next job; a slot warms the
class preset's backbone before its first job, runs on its share of the CPU cores, and logs one line per job."""
import gc
import json
import logging
import os
import subprocess
import sys
import weakref

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from core import models
from core.config import AugmentSpec, DataSpec, FreezePlan, RunConfig, TrainSpec
from core.execute import capacity, slot
from core.execute.job_clock import JobClock
from core.models import pretrained_cache, weights as W
from core.paths import run_dir
from core.runs import admission, leases, queue, store
from core.training import trainer as trainer_module
from tests.conftest import ROOT
from tests.training import digits, mnist, probe

LITE0 = "efficientnet_lite0"


@pytest.fixture(autouse=True)
def cold_process():
    """Each test starts as a fresh slot process would: nothing kept from another test."""
    pretrained_cache.shared().clear()
    yield
    pretrained_cache.shared().clear()


def tune(dataset: str) -> RunConfig:
    """Pretrained Lite0 with its last stage open: the trunk's weights and BatchNorm statistics train."""
    return RunConfig(backbone=LITE0, augment=AugmentSpec(preset="none"), data=DataSpec(dataset=dataset),
                     freeze=FreezePlan(mode="first_k", k=models.stage_count(LITE0) - 1),
                     train=TrainSpec(head_epochs=0, finetune_epochs=1, finetune_lr=1e-2, batch_size=16))


def run_job(worker: slot.Worker, config: RunConfig) -> str:
    run_id = queue.submit(config, "alice")["run_id"]
    assert worker.serve(max_jobs=1) == 1
    assert store.run_row(run_id)["status"] == "succeeded", store.run_row(run_id)["message"]
    return run_id


def summary(run_id: str) -> dict:
    return store.run_row(run_id)["summary"]


def file_reads(monkeypatch) -> list[str]:
    """Every weights file the bundled backbones read (under the cache's own count)."""
    seen, real = [], W.read_state_dict
    monkeypatch.setattr(W, "read_state_dict", lambda path: seen.append(str(path)) or real(path))
    return seen


def starting_weights(monkeypatch) -> list[dict]:
    """Each job's model as the trainer receives it, before its first step."""
    starts, real = [], trainer_module.build_model

    def recorded(*args, **kwargs):
        model = real(*args, **kwargs)
        starts.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return model

    monkeypatch.setattr(trainer_module, "build_model", recorded)
    return starts


def test_a_warm_slots_second_job_reads_no_trunk_weights_and_learns_what_a_cold_job_learns(monkeypatch):
    config = tune(mnist(per_class=6, owner="alice"))
    files = file_reads(monkeypatch)
    worker, before = slot.Worker(poll=0.01), pretrained_cache.reads()
    cold = run_job(worker, config)
    read = pretrained_cache.reads()
    warm = run_job(worker, config)
    assert read == before + 1 and pretrained_cache.reads() == read and len(files) == 1  # the second: none from disk
    assert summary(cold)["warm"] is False and summary(warm)["warm"] is True
    assert summary(warm)["test_accuracy"] == summary(cold)["test_accuracy"]
    trained = [load_file(str(run_dir(r) / "model.safetensors")) for r in (cold, warm)]
    assert all(torch.equal(trained[0][k], trained[1][k]) for k in trained[0])  # the same seed, the same network


def test_no_job_starts_from_the_previous_jobs_trained_weights_or_batchnorm_statistics(monkeypatch):
    config = tune(mnist(per_class=6, owner="alice"))
    starts = starting_weights(monkeypatch)
    worker = slot.Worker(poll=0.01)
    first = run_job(worker, config)
    run_job(worker, config)
    published = models.get(LITE0).network(pretrained=True).state_dict()  # read from disk, past the cache
    trained = load_file(str(run_dir(first) / "model.safetensors"))
    trunk = [k for k in starts[0] if k.startswith("trunk.")]
    moved = [k for k in trunk if not torch.equal(trained[k], starts[0][k])]
    assert any(k.endswith("running_mean") for k in moved) and any(k.endswith("weight") for k in moved)
    for k in trunk:  # both jobs start from the published weights and statistics
        assert torch.equal(starts[0][k], published[k[len("trunk."):]]), k
        assert torch.equal(starts[1][k], published[k[len("trunk."):]]), k
    assert not [k for k in moved if torch.equal(starts[1][k], trained[k])]


def test_a_slot_warms_its_backbone_before_the_first_job_and_logs_one_line_per_job(caplog):
    config = tune(mnist(per_class=6, owner="alice"))
    worker, before = slot.Worker(poll=0.01), pretrained_cache.reads()
    worker.warm_up()  # no class preset: the default backbone
    assert pretrained_cache.shared().keys() == [RunConfig().backbone] and pretrained_cache.reads() == before + 1
    with caplog.at_level(logging.INFO, logger="transferlab.worker"):
        first = run_job(worker, config)
    assert pretrained_cache.reads() == before + 1
    facts = summary(first)
    assert facts["warm"] is True and 0 < facts["claim_to_first_step_s"] < facts["seconds"] + 60
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("job ")]
    assert len(lines) == 1 and f"run {first} succeeded, warm: claimed " in lines[0] and "first step " in lines[0]


def test_a_slot_warms_each_class_presets_backbone_and_batch_size():
    assert [(c.backbone, c.train.batch_size) for c in slot.warm_configs()] == [(LITE0, 32)]  # no class: the default
    admission.set_policy("class:a", {"scenario": "S1", "backbone": "efficientnet_lite1", "batch_size": 16}, {})
    admission.set_policy("class:b", {"scenario": "S2"}, {})
    assert sorted((c.backbone, c.train.batch_size) for c in slot.warm_configs()) == \
        [(LITE0, 32), ("efficientnet_lite1", 16)]


def test_each_slot_runs_on_its_share_of_the_cpu_cores():
    assert capacity.thread_share(8, cores=16) == 2 and capacity.thread_share(3, cores=2) == 1
    probe = ("import json, torch; from core.execute import slot; share = slot.share_cpu(2); "
             "print(json.dumps([share, torch.get_num_threads(), torch.get_num_interop_threads()]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": ""})
    share = max(1, len(os.sched_getaffinity(0)) // 2)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [share, share, share], out.stderr[-2000:]
    worker = subprocess.run([sys.executable, "-m", "core", "worker", "--slots", "2", "--idle-exit", "0.5"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)  # the supervisor tells each slot the count
    said = [line.split(" slot ", 1)[1] for line in worker.stderr.splitlines() if "CPU thread(s)" in line]
    assert len(said) == 2, worker.stderr[-3000:]
    cores = len(os.sched_getaffinity(0))
    assert all(f"{share} CPU thread(s): this slot's share of {cores} core(s) among 2 slot(s)" in line for line in said), said


def test_the_cache_hands_out_copies_reads_once_and_stays_within_its_bound(monkeypatch):
    cache, loads = pretrained_cache.PretrainedCache(), []

    def load():
        loads.append(1)
        return nn.Linear(256, 256)  # 257 KB

    a, b = cache.fresh("x", load), cache.fresh("x", load)
    assert len(loads) == 1 and cache.reads == 1
    assert a.weight.data_ptr() != b.weight.data_ptr() and torch.equal(a.weight, b.weight)
    with torch.no_grad():
        a.weight.add_(1)  # a job trains its copy ...
    assert torch.equal(cache.fresh("x", load).weight, b.weight)  # ... and the next copy is still the published one
    monkeypatch.setenv("TRANSFERLAB_PRETRAINED_CACHE_MB", "0.4")  # room for one
    cache.fresh("y", load)
    assert cache.keys() == ["y"] and len(loads) == 2
    monkeypatch.setenv("TRANSFERLAB_PRETRAINED_CACHE_MB", "0")
    cache.fresh("z", load)
    assert "z" not in cache.keys() and len(loads) == 3


def test_the_job_clock_reports_claim_to_first_step_and_warmth():
    clock = JobClock(ready=True, claimed=1000.0)
    assert clock.facts({"first_step_at": 1002.5}) == {"claim_to_first_step_s": 2.5, "warm": True}
    pretrained_cache.note_read()  # the job read a checkpoint from disk: cold
    assert clock.warm() is False and JobClock().warm() is False  # a slot's first, unwarmed job: cold
    assert "first step none" in JobClock().line({"id": 3, "run_id": "r"}, "failed")


def test_classroom_sim_reports_each_jobs_claim_to_first_step_and_warmth():
    from core.classroom import sim

    rows = [{"started": 10.0, "finished": 14.0, "summary": {"seconds": 3.0, "claim_to_first_step_s": 0.5, "warm": True}},
            {"started": 0.0, "finished": 6.0, "summary": {"seconds": 3.0, "claim_to_first_step_s": 2.0, "warm": False}}]
    rows.sort(key=lambda r: r["started"])
    found = sim._warmth(rows, [6.0 - 3.0, 4.0 - 3.0])
    assert found["warm_jobs"] == 1 and found["cold_jobs"] == 1
    assert found["per_job"][0] == {"claim_to_first_step_s": 2.0, "warm": False, "job_s": 6.0, "fit_s": 3.0,
                                   "outside_fit_s": 3.0}
    assert found["claim_to_first_step_seconds"]["p50"] == 1.25


def test_a_failed_attempt_lets_go_of_its_trainer_before_the_retry_at_half_batch(monkeypatch):
    """After an out-of-memory the retry needs the memory the failed attempt held (on a GPU, a batch's
    activations): the exception's frames must not keep that attempt's trainer alive through the retry."""
    attempts, real_fit = [], trainer_module.Trainer.fit

    def fit_or_oom(self):
        if not attempts:
            attempts.append(weakref.ref(self))
            self.activations = torch.zeros(1 << 20)  # what an attempt holds when it runs out of memory
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        gc.collect()
        attempts.append(attempts[0]() is None)
        return real_fit(self)

    monkeypatch.setattr(trainer_module.Trainer, "fit", fit_or_oom)
    queue.submit(probe(digits(per_class=6, owner="alice"), epochs=1), "alice")
    assert slot.process(leases.claim_next()) == "succeeded"
    assert attempts[1:] == [True]  # the first attempt's trainer was gone when the second began
