"""Queue, worker and store: owners, cancel, crash and resume, OOM retry, live metric rows."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from core.errors import UserError
from core.execute import service as workers, slot as worker
from core.recipes import sweeps
from core.runs import leases, queue as jobs, store
from core.training import trainer as train
from tests.conftest import ROOT
from tests.training import digits, finetune, probe


def wait_for(predicate, timeout=120.0, every=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def test_owners_see_and_cancel_only_their_own_runs():
    ds = digits(per_class=6, owner="alice")
    digits(per_class=6, owner="bob")  # the same name in another workspace
    mine = jobs.submit(probe(ds, epochs=1), "alice")
    jobs.submit(probe(ds, epochs=1), "bob")
    assert [r["id"] for r in jobs.runs("alice")] == [mine["run_id"]]
    with pytest.raises(UserError, match="no run"):
        jobs.run(mine["run_id"], "bob")
    with pytest.raises(UserError, match="no run"):
        jobs.cancel(mine["run_id"], "bob")
    assert jobs.run(mine["run_id"], "alice")["queue_position"] == 1


def test_queued_run_cancels_at_once_and_is_skipped_by_the_worker():
    ds = digits(per_class=6, owner="alice")
    first = jobs.submit(probe(ds, epochs=1), "alice")
    second = jobs.submit(probe(ds, epochs=1), "alice")
    assert jobs.cancel(first["run_id"], "alice") == "cancelled"
    claimed = leases.claim_next()
    assert claimed["run_id"] == second["run_id"]


def test_running_run_stops_within_a_batch_when_cancelled():
    ds = digits(owner="alice")
    submitted = jobs.submit(finetune(ds, epochs=20), "alice")
    job = leases.claim_next()
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("status", worker.process(job)))
    thread.start()
    wait_for(lambda: store.metrics(submitted["run_id"], "step"))  # metric rows appear while training
    assert store.run_row(submitted["run_id"])["status"] == "running"
    assert jobs.cancel(submitted["run_id"], "alice") == "cancelling"
    thread.join(60)
    assert outcome["status"] == "cancelled"
    assert store.run_row(submitted["run_id"])["status"] == "cancelled"


def test_out_of_memory_retries_once_at_half_batch(monkeypatch):
    ds = digits(per_class=6, owner="alice")
    sizes = []
    real_fit = train.Trainer.fit

    def fit_or_oom(self):
        sizes.append(self.config.train.batch_size)
        if self.config.train.batch_size > 16:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_fit(self)

    monkeypatch.setattr(train.Trainer, "fit", fit_or_oom)
    ok = jobs.submit(probe(ds, epochs=1), "alice")
    assert worker.process(leases.claim_next()) == "succeeded"
    assert sizes == [32, 16]
    assert store.job_row(ok["job_id"])["attempts"] == 1
    assert any(m["event"] == "retry" for m in store.metrics(ok["run_id"]))
    sizes.clear()
    monkeypatch.setattr(train.Trainer, "fit", lambda self: (_ for _ in ()).throw(
        torch.cuda.OutOfMemoryError("CUDA out of memory")))
    bad = jobs.submit(probe(ds, epochs=1), "alice")
    assert worker.process(leases.claim_next()) == "failed"
    assert "out of GPU memory" in store.run_row(bad["run_id"])["message"]


def test_worker_survives_a_failing_job_and_runs_the_next(monkeypatch):
    ds = digits(per_class=6, owner="alice")
    bad = jobs.submit(probe(ds, epochs=1), "alice")
    w = worker.Worker(poll=0.05)
    w.start()
    with monkeypatch.context() as patch:
        patch.setattr(train.tasks.F, "cross_entropy", lambda *a, **k: torch.tensor(float("nan"), requires_grad=True))
        assert w.serve(max_jobs=1) == 1
    good = jobs.submit(probe(ds, epochs=1), "alice")
    assert w.serve(max_jobs=1) == 1
    w.stop()
    assert store.run_row(bad["run_id"])["status"] == "failed"
    assert "loss became nan" in store.run_row(bad["run_id"])["message"]
    assert store.run_row(good["run_id"])["status"] == "succeeded"


def _start_worker(env):
    return subprocess.Popen([sys.executable, "-m", "core", "worker", "--max-jobs", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_killed_worker_leaves_the_run_interrupted_and_resume_completes_it():
    ds = digits(per_class=12, owner="alice")
    submitted = jobs.submit(finetune(ds, epochs=4), "alice")  # killed after 2: the resume has 2 left to prove it
    run_id = submitted["run_id"]
    env = os.environ.copy()
    first = _start_worker(env)
    wait_for(lambda: workers.alive_workers())
    wait_for(lambda: len(store.metrics(run_id, "epoch")) >= 2, timeout=300)
    first.send_signal(signal.SIGKILL)  # the supervisor; its slot goes with it (parent-death signal)
    first.wait(30)
    assert store.run_row(run_id)["status"] == "running"  # nobody has noticed yet
    wait_for(lambda: leases.recover_interrupted() == 1, timeout=30)  # the holder (the slot) is gone
    assert store.run_row(run_id)["status"] == "interrupted"
    done_before = len(store.metrics(run_id, "epoch"))
    jobs.resume(run_id, "alice")
    second = _start_worker(env)
    second.wait(300)
    row = store.run_row(run_id)
    assert row["status"] == "succeeded", row["message"]
    epochs = [m["epoch"] for m in store.metrics(run_id, "epoch")]
    assert epochs[done_before:] == list(range(epochs[done_before - 1] + 1, 4))  # continued, not restarted
    assert row["summary"]["epochs"] == 4 and row["evaluation"]["images"] > 0


def test_ensure_worker_starts_one_when_none_is_alive():
    assert workers.alive_workers() == [] and workers.serving_pid() is None
    pid = workers.ensure_worker()
    try:
        assert workers.pid_alive(pid) and workers.serving_pid() == pid
        wait_for(lambda: len(workers.alive_workers()) == 1, timeout=60)  # its one CPU slot heartbeats
        assert workers.ensure_worker() == pid  # a live one is reused
    finally:
        stop_worker(pid)


def stop_worker(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not workers.pid_alive(pid), timeout=60)


def test_cli_train_json_and_run_predict(chelsea_png):
    from tests.cli import cli

    digits(per_class=8)
    out = cli("train", "--dataset", "dg", "--epochs", "3", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "succeeded"
    assert {"run_id", "status", "val_accuracy", "test_accuracy", "seconds"} <= set(result)
    run = json.loads(cli("run", result["run_id"], "--json").stdout)
    assert len(run["epochs"]) == 3 and run["evaluation"]["accuracy"] == result["test_accuracy"]
    [pred] = json.loads(cli("predict", "--run", result["run_id"], str(chelsea_png), "--top", "3", "--json").stdout)
    assert len(pred["top"]) == 3 and pred["top"][0]["label"] in [str(d) for d in range(10)]
    assert cli("cancel", result["run_id"]).returncode == 2  # finished runs cannot be cancelled


def test_freeze_sweep_runs_one_depth_each_on_the_same_split():
    from core.training.curves import compare, epoch_series

    ds = digits(per_class=6, owner="alice")
    result = sweeps.sweep(finetune(ds, epochs=1).replace(freeze=finetune(ds).freeze), "alice")
    assert len(result["runs"]) == 7  # mobilenet_v3_small: stem + 5 stages → depths 0..6
    w = worker.Worker(poll=0.01)
    w.start()
    assert w.serve(max_jobs=7) == 7
    w.stop()
    rows = sweeps.sweep_results(result["sweep"], "alice")
    assert [r["frozen_stages"] for r in rows] == list(range(7))
    assert all(r["status"] == "succeeded" and r["test_accuracy"] is not None for r in rows)
    configs = [store.run_row(r["run_id"])["config"] for r in rows]
    assert [c["freeze"]["k"] for c in configs] == list(range(7))
    assert len({json.dumps(c["data"]) for c in configs}) == 1 and len({c["seed"] for c in configs}) == 1
    a, b = (epoch_series(store.metrics(rows[i]["run_id"], "epoch")) for i in (0, 6))
    assert compare(a, b)["verdict"][0].endswith("start")
