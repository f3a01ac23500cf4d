"""One server, many people: each reproduction of a multi-user bug, as a test that failed before its
fix. Real threads for the Streamlit server's shared state, real processes for the worker."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from core import data, models
from core.config import RunConfig, TrainSpec
from core.errors import ConfigError, UserError
from core.execute import service as workers, slot as worker
from core.models import stages
from core.models.transfer import build_model
from core.runs import leases, queue as jobs, store
from core.serving import predict
from tests import corpus
from tests.cli import cli
from tests.conftest import ROOT
from tests.test_jobs import stop_worker, wait_for
from tests.training import digits, mnist, probe

ORIGINAL_REGISTER = nn.Module.register_parameter


def _on_meta(model: nn.Module) -> list[str]:
    return [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.device.type == "meta"]


def test_stage_maps_built_in_threads_never_put_real_models_on_meta():
    names = ["mobilenet_v3_small", "resnet18", "regnet_y_400mf", "efficientnet_lite0", "timm/convnext_atto.d2_in1k"]
    errors, real = [], []

    def stage_maps():
        try:
            for name in names * 2:
                entry = models.get(name)
                entry.cut_stages(entry.meta_trunk())
        except Exception as exc:  # a failure in a thread must reach the assertion
            errors.append(exc)

    def real_builds():
        try:
            for name in ("mobilenet_v3_small", "resnet18"):
                model = build_model(RunConfig(backbone=name, weights="none"), 3)
                real.append((name, _on_meta(model)))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=stage_maps) for _ in range(4)] + \
              [threading.Thread(target=real_builds) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert len(real) == 8 and all(not meta for _, meta in real), [r for r in real if r[1]]
    assert nn.Module.register_parameter is ORIGINAL_REGISTER  # nothing patched, nothing left behind
    assert nn.Linear(2, 2).weight.device.type == "cpu"
    from torch.nn.modules import module as torch_module

    assert not torch_module._global_parameter_registration_hooks and not torch_module._global_buffer_registration_hooks
    assert stages._builders == 0


def test_grad_cam_under_load_equals_a_single_threaded_call():
    run_id = _trained("cli")
    a, b = data.decode(corpus.png(1, (64, 64))), data.decode(corpus.png(2, (64, 64)))
    reference_cam, reference_probs = predict.explain(run_id, a)["heat"], predict.probabilities(run_id, [b])
    cams, probs, errors = [], [], []

    def explain():
        try:
            for _ in range(6):
                cams.append(predict.explain(run_id, a)["heat"])
        except Exception as exc:
            errors.append(exc)

    def forward():
        try:
            for _ in range(12):
                probs.append(predict.probabilities(run_id, [b]))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=explain) for _ in range(3)] + [threading.Thread(target=forward) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert len(cams) == 18 and all(np.allclose(c, reference_cam, atol=1e-6) for c in cams)
    assert len(probs) == 36 and all(torch.allclose(p, reference_probs, atol=1e-6) for p in probs)


def _trained(owner: str, dataset: str = "dg", epochs: int = 2) -> str:
    submitted = jobs.submit(probe(digits(dataset, per_class=8, owner=owner), epochs=epochs), owner, hold=True)
    worker.process(leases.claim_specific(submitted["job_id"]))
    return submitted["run_id"]


# ---- one worker per data home ---------------------------------------------------------------------------
ENSURE = "import json, sys, time; from core.execute import service as workers; time.sleep(max(0, float(sys.argv[1]) - time.time())); " \
         "print(json.dumps(workers.ensure_worker()))"


def test_five_processes_pressing_start_at_once_get_one_worker(data_home):
    at = time.time() + 6  # every process imports, then all call ensure_worker in the same instant
    callers = [subprocess.Popen([sys.executable, "-c", ENSURE, str(at)], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(5)]
    pids = [json.loads(c.communicate(timeout=120)[0]) for c in callers]
    try:
        assert len(set(pids)) == 1 and workers.serving_pid() == pids[0]
        time.sleep(2)  # a second supervisor, had one been started, would have logged its refusal by now
        assert "already serves" not in (data_home / "worker.log").read_text()
    finally:
        stop_worker(pids[0])


def test_a_second_worker_for_the_same_data_home_exits_2_and_leaves_the_first_alone():
    first = workers.ensure_worker()
    try:
        second = subprocess.run([sys.executable, "-m", "core", "worker", "--json"], cwd=ROOT, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 2 and "already serves" in json.loads(second.stdout)["error"]
        assert workers.pid_alive(first) and workers.serving_pid() == first
    finally:
        stop_worker(first)


def test_in_process_training_is_not_stolen_by_a_running_worker():
    digits(per_class=8)
    serving = workers.ensure_worker()
    try:
        wait_for(lambda: workers.alive_workers(), timeout=60)  # a slot is polling the queue
        # a small random network: who holds the two jobs is the point, not what they learn
        trainer = subprocess.Popen([sys.executable, "-m", "core", "train", "--dataset", "dg", "--epochs", "2",
                                    "--backbone", "mobilenet_v3_small", "--no-pretrained", "--baselines", "scratch",
                                    "--json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = trainer.communicate(timeout=600)
        assert trainer.returncode == 0, err
        result = json.loads(out)
        runs = [result["run_id"], result["companions"]["scratch"]["run_id"]]
        holders = [store.latest_job(r)["holder"] for r in runs]
        assert all(h.startswith(f"{trainer.pid}:") for h in holders), holders  # trained by the CLI itself
        assert all(store.run_row(r)["status"] == "succeeded" for r in runs)
    finally:
        stop_worker(serving)


def test_a_dead_in_process_trainer_hands_its_queued_jobs_to_the_workers():
    digits(per_class=6)
    submitted = jobs.submit(probe("dg", epochs=1), "cli", hold=True)
    with store_holder(submitted["job_id"], "999999:1"):  # a process that no longer exists
        assert leases.claim_next() is None  # held: no worker may take it
        leases.recover_interrupted()
        assert leases.claim_next()["id"] == submitted["job_id"]


class store_holder:
    def __init__(self, job_id: int, holder: str):
        self.job_id, self.holder = job_id, holder

    def __enter__(self):
        from core import db

        with db.transaction() as conn:
            conn.execute("UPDATE jobs SET holder = ? WHERE id = ?", (self.holder, self.job_id))

    def __exit__(self, *exc):
        return False


# ---- datasets belong to people ---------------------------------------------------------------------------
def test_another_persons_dataset_is_invisible_and_untouchable():
    digits("alices", per_class=4, owner="alice")
    assert [d["name"] for d in data.list_datasets("bob")] == []
    for attempt in (lambda: data.class_counts("alices", "bob"), lambda: data.records("alices", "bob"),
                    lambda: data.rename("alices", "mine", "bob"), lambda: data.add_class("alices", "x", "bob"),
                    lambda: jobs.delete_dataset("alices", "bob", force=True),
                    lambda: jobs.submit(probe("alices"), "bob")):
        with pytest.raises(UserError, match="no dataset named 'alices'"):
            attempt()
    data.ingest("alices", data.from_uploads([("cats/a.png", corpus.png(1)), ("dogs/b.png", corpus.png(2))]),
                owner="bob")  # bob gets his own dataset of that name; alice's is untouched
    assert sum(data.class_counts("alices", "alice").values()) == 40
    assert data.class_counts("alices", "bob") == {"cats": 1, "dogs": 1}
    listed = json.loads(cli("datasets", "--owner", "bob", "--json").stdout)
    assert [(d["name"], d["images"]) for d in listed] == [("alices", 2)]
    out = cli("images", "alices", "--owner", "carol", "--json")
    assert out.returncode == 2 and "no dataset named 'alices'" in out.stderr


def test_run_backbones_resolve_only_to_your_own_runs_by_a_checked_id(tmp_path):
    alices = _trained("alice", epochs=1)
    digits(per_class=4, owner="bob")
    outside = tmp_path / "run"
    outside.mkdir()
    for name in (f"run:{outside}", "run:../../etc", "run:../runs/" + alices):
        with pytest.raises(ConfigError, match="not a run id"):
            jobs.submit(probe("dg").replace(backbone=name), "bob")
    with pytest.raises(UserError, match=f"no run '{alices}'"):
        jobs.submit(probe("dg").replace(backbone=f"run:{alices}"), "bob")
    assert jobs.submit(probe(digits(per_class=4, owner="alice")).replace(backbone=f"run:{alices}"), "alice")


# ---- finished runs keep their own images ------------------------------------------------------------------
def test_finished_runs_keep_their_lists_when_the_dataset_grows_and_survive_its_deletion(chelsea_png):
    mnist(per_class=10)
    out = cli("train", "--dataset", "mn", "--epochs", "3", "--json")
    assert out.returncode == 0, out.stderr
    run_id = json.loads(out.stdout)["run_id"]
    before = json.loads(cli("run", "--run", run_id, "--json").stdout)
    images_before = {r["sha256"]: r["split"] for r in json.loads(cli("images", "mn", "--json").stdout)}
    assert cli("sample", "mnist", "--name", "mn", "--per-class", "20", "--json").returncode == 0  # the dataset grows
    after = json.loads(cli("run", "--run", run_id, "--json").stdout)
    assert after["images"] == before["images"] and len(before["images"]["test"]) >= 10
    images_after = {r["sha256"]: r["split"] for r in json.loads(cli("images", "mn", "--json").stdout)}
    assert len(images_after) == 2 * len(images_before)
    assert {sha: images_after[sha] for sha in images_before} == images_before  # no old image moved
    evaluated = json.loads(cli("evaluate", "--run", run_id, "--json").stdout)
    assert evaluated["images"] == len(before["images"]["test"])
    assert evaluated["accuracy"] == pytest.approx(before["evaluation"]["accuracy"], abs=1e-6)

    refused = cli("delete-dataset", "mn", "--json")
    assert refused.returncode == 2 and run_id in json.loads(refused.stdout)["error"]
    forced = json.loads(cli("delete-dataset", "mn", "--force", "--json").stdout)
    assert forced["runs_kept"] == [run_id] and forced["files_removed"] == len(images_after) - len(
        {sha for shas in before["images"].values() for sha in shas})  # only what no run needs
    gone = json.loads(cli("run", "--run", run_id, "--json").stdout)
    assert gone["dataset_gone"] and gone["images"] == before["images"]
    again = json.loads(cli("evaluate", "--run", run_id, "--json").stdout)
    assert again["accuracy"] == evaluated["accuracy"]
    assert cli("predict", "--run", run_id, str(chelsea_png), "--json").returncode == 0


def test_train_exits_non_zero_when_its_run_fails(tmp_path):
    from safetensors.torch import save_file

    digits(per_class=6)
    save_file({"not.this.network": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    config = tmp_path / "config.json"
    config.write_text(RunConfig(weights=f"file:{tmp_path / 'other.safetensors'}", train=TrainSpec(head_epochs=1)).to_json())
    out = cli("train", "--config", str(config), "--dataset", "dg", "--json")
    result = json.loads(out.stdout)
    assert out.returncode == 1 and result["status"] == "failed" and "does not fit this network" in result["message"]
