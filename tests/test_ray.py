"""The Ray executor (TRANSFERLAB_EXECUTOR=ray): the same queue, runs on a Ray cluster, the app's SQLite
stays the record. Real Ray on this machine: a local Ray the dispatcher starts itself, and a two-node
cluster on loopback (one CPU each, told apart by a custom resource). Every Ray process a test starts
is stopped by its own pid."""
from __future__ import annotations

import io
import json
import os
import pickle
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

ray = pytest.importorskip("ray")  # first: the imports below load Ray (an optional extra)

from core.data import content, splits
from core.errors import ConfigError, UserError
from core.execute import service as workers, slot as worker
from core.execute.ray import cluster as ray_cluster, dispatch as ray_dispatch, task as ray_task
from core.paths import run_dir
from core.runs import leases, queue as jobs, store
from core.serving import predict
from tests.cli import cli
from tests.conftest import ROOT
from tests.test_jobs import stop_worker, wait_for
from tests.training import digits, finetune, probe

pytestmark = pytest.mark.slow
FINAL = ("succeeded", "failed", "cancelled", "interrupted")
RAY = str(Path(sys.executable).with_name("ray"))


# ---- a two-node cluster on this machine, shared by the module ----------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_start(env: dict, *args: str) -> subprocess.Popen:
    """`ray start --block`: the command stays the parent of its node's processes, and SIGTERM to it
    (by pid) drains and stops exactly that node."""
    ports = [f"--dashboard-agent-listen-port={_free_port()}"]  # two nodes on one machine: not both on 52365
    return subprocess.Popen([RAY, "start", "--block", "--num-cpus=1", "--disable-usage-stats", *ports, *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


NODES = """import json, logging, sys, ray
ray.init(address=sys.argv[1], logging_level=logging.ERROR)
alive = [n for n in ray.nodes() if n["Alive"]]
print(json.dumps({n["NodeID"]: [r for r in n["Resources"] if r.startswith("node_")] for n in alive}))
"""


def _names(address: str, env: dict) -> dict[str, str]:
    """Alive node id → its custom resource, asked by a driver of its own (this process never joins Ray)."""
    out = subprocess.run([sys.executable, "-c", NODES, address], env=env, capture_output=True, text=True, timeout=60)
    return {node: found[0] for node, found in json.loads(out.stdout or "{}").items() if found}


@pytest.fixture(scope="module")
def cluster():
    temp = tempfile.mkdtemp(prefix="tl-ray-", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    port = _free_port()
    # The cluster's own token: every node and driver of it (the dispatchers too) carries it, as on a real LAN.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    env = {**os.environ, **auth}
    nodes = [_ray_start(env, "--head", f"--port={port}", f"--temp-dir={temp}", "--include-dashboard=false",
                        f"--dashboard-port={_free_port()}", '--resources={"node_a": 1}')]
    try:
        address = f"127.0.0.1:{port}"
        wait_for(lambda: Path(temp, "ray_current_cluster").exists(), timeout=60)
        nodes.append(_ray_start(env, f"--address={address}", '--resources={"node_b": 1}'))
        names = wait_for(lambda: (lambda found: found if len(found) == 2 else None)(_names(address, env)), timeout=60)
        yield SimpleNamespace(address=address, auth=auth, names=names)
    finally:
        for node in reversed(nodes):
            node.send_signal(signal.SIGTERM)
            node.wait(60)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def dispatcher(cluster, monkeypatch):
    """The data home's worker, as `workers.ensure_worker()` starts it, dispatching to the cluster."""
    monkeypatch.setenv("TRANSFERLAB_EXECUTOR", "ray")
    monkeypatch.setenv("TRANSFERLAB_RAY_ADDRESS", cluster.address)
    for key, value in cluster.auth.items():
        monkeypatch.setenv(key, value)
    pid = workers.ensure_worker()
    yield pid
    stop_worker(pid)


def _until_final(run_id: str, timeout: float = 180) -> dict:
    wait_for(lambda: store.run_row(run_id)["status"] in FINAL, timeout=timeout, every=0.2)
    return store.run_row(run_id)


def _descendants(pid: int) -> set[int]:
    children = {pid}
    for _ in range(4):  # the dispatcher → gcs_server, raylet, … → Ray's worker processes
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) in children:
                    children.add(int(entry.name))
            except (OSError, IndexError):
                continue
    return children - {pid}


# ---- end to end --------------------------------------------------------------------------------------------
def test_a_ray_job_streams_epochs_while_it_runs_and_predicts_like_a_local_run(monkeypatch):
    """No address: the dispatcher starts a Ray of its own, and stops it when it stops."""
    monkeypatch.setenv("TRANSFERLAB_EXECUTOR", "ray")
    monkeypatch.delenv("TRANSFERLAB_RAY_ADDRESS", raising=False)
    ds = digits(per_class=12, owner="alice")
    config = finetune(ds, epochs=3)
    remote = jobs.submit(config, "alice")["run_id"]
    pid = workers.ensure_worker()
    try:
        wait_for(lambda: store.metrics(remote, "epoch"), timeout=180, every=0.05)
        assert store.run_row(remote)["status"] == "running"  # the first epoch's row is in the store mid-run
        row = _until_final(remote)
        started_ray = _descendants(pid)
        assert started_ray  # the local Ray (GCS, raylet, workers) runs under the dispatcher
    finally:
        stop_worker(pid)
    wait_for(lambda: not any(workers.pid_alive(p) for p in started_ray), timeout=60)
    assert row["status"] == "succeeded", row["message"]
    shown = json.loads(cli("run", "--run", remote, "--owner", "alice", "--json").stdout)
    assert shown["summary"]["executor"] == "ray" and len(shown["summary"]["node"]) == 56  # a Ray node id
    assert [e["epoch"] for e in shown["epochs"]] == [0, 1, 2]
    assert {"model.safetensors", "config.json", "meta.json", "progress.json", "last.safetensors"} <= \
        {p.name for p in run_dir(remote).iterdir()}

    local = jobs.submit(config, "alice")["run_id"]  # the same config and seed, in this process
    assert worker.process(leases.claim_next()) == "succeeded"
    assert store.run_row(local)["summary"]["executor"] == "local" == store.run_row(local)["summary"]["node"]
    images = [Image.open(io.BytesIO(content.read_bytes(r.sha256))) for r in jobs.lists(remote, "alice").test[:8]]
    torch.testing.assert_close(predict.probabilities(remote, images), predict.probabilities(local, images),
                               atol=1e-4, rtol=0)


def test_cancel_reaches_the_ray_task_within_a_batch(dispatcher):
    ds = digits(owner="alice")
    run_id = jobs.submit(finetune(ds, epochs=20), "alice")["run_id"]
    wait_for(lambda: store.metrics(run_id, "step"), timeout=180, every=0.1)
    assert jobs.cancel(run_id, "alice") == "cancelling"
    row = _until_final(run_id, timeout=60)
    assert row["status"] == "cancelled" and row["summary"]["status"] == "cancelled"
    assert row["summary"]["epochs"] < 20 and row["summary"]["executor"] == "ray"


def test_a_killed_task_leaves_the_run_interrupted_and_resume_continues_it(dispatcher):
    ds = digits(per_class=12, owner="alice")
    run_id = jobs.submit(finetune(ds, epochs=5), "alice")["run_id"]
    wait_for(lambda: len(store.metrics(run_id, "epoch")) >= 2, timeout=240, every=0.1)
    [placed] = store.metrics(run_id, "placed")
    os.kill(placed["pid"], signal.SIGKILL)  # the Ray worker process running the job (started by this test's cluster)
    row = _until_final(run_id, timeout=60)
    assert row["status"] == "interrupted" and "went away" in row["message"]
    assert workers.pid_alive(dispatcher)  # the dispatcher noticed; it did not die with the task
    done_before = [m["epoch"] for m in store.metrics(run_id, "epoch")]
    assert list(ray_task.SCRATCH.glob(f"{placed['pid']}-*"))  # left behind: a killed process cleans nothing
    assert cli("resume", "--run", run_id, "--owner", "alice").returncode == 0
    row = _until_final(run_id, timeout=240)
    assert row["status"] == "succeeded", row["message"]
    epochs = [m["epoch"] for m in store.metrics(run_id, "epoch")]
    assert epochs[len(done_before):] == list(range(done_before[-1] + 1, 5))  # continued, not restarted
    assert len(store.metrics(run_id, "placed")) == 2 and row["summary"]["epochs"] == 5
    assert not list(ray_task.SCRATCH.glob(f"{placed['pid']}-*"))  # the killed task's folder: swept by the next


def test_two_nodes_both_receive_jobs(cluster, dispatcher):
    ds = digits(per_class=8, owner="alice")
    digits(per_class=8, owner="bob")
    runs = [jobs.submit(probe(ds, epochs=3), owner)["run_id"] for owner in ("alice", "bob")]  # two people: both at once
    rows = [_until_final(run_id) for run_id in runs]
    assert [r["status"] for r in rows] == ["succeeded", "succeeded"]
    assert sorted(cluster.names[r["summary"]["node"]] for r in rows) == ["node_a", "node_b"]


# ---- how a task's end is written, without a cluster ----------------------------------------------------------
class _Failing:
    """A task stream that fails the way Ray reports it."""

    def __init__(self, error: Exception):
        self.error = error

    def __iter__(self):
        return self

    def __next__(self):
        raise self.error


def _follow(job: dict, error: Exception, relaunched: list) -> None:
    host = SimpleNamespace(closed=False, finished=lambda *_: None, launch=lambda j: relaunched.append(j) or "running")
    ray_dispatch.Follower(host, job, store.job_config(job), _Failing(error)).run()


def test_task_errors_end_jobs_as_a_local_slot_would():
    ds = digits(per_class=6, owner="alice")
    oom = ray.exceptions.RayTaskError("run_job", "remote traceback", torch.cuda.OutOfMemoryError("CUDA out of memory"))
    first = jobs.submit(probe(ds, epochs=1), "alice")
    relaunched: list = []
    _follow(leases.claim_next(), oom, relaunched)
    assert [(j["attempts"], j["batch_size"]) for j in relaunched] == [(1, 16)]  # once more, at half the batch
    assert store.job_row(first["job_id"])["batch_size"] == 16
    assert any(m["event"] == "retry" for m in store.metrics(first["run_id"]))
    _follow(relaunched[0], oom, relaunched)  # out of memory again: failed, with the reason
    assert len(relaunched) == 1 and "out of GPU memory" in store.run_row(first["run_id"])["message"]

    lost = jobs.submit(probe(ds, epochs=1), "alice")["run_id"]
    _follow(leases.claim_next(), ray.exceptions.WorkerCrashedError(), relaunched)
    assert store.run_row(lost)["status"] == "interrupted" and "WorkerCrashedError" in store.run_row(lost)["message"]

    failed = jobs.submit(probe(ds, epochs=1), "alice")["run_id"]
    crash = ray.exceptions.RayTaskError("run_job", "Traceback: boom", ValueError("boom"))
    _follow(leases.claim_next(), crash, relaunched)
    assert store.run_row(failed)["message"] == "internal error: ValueError: boom"
    assert "Traceback: boom" in (run_dir(failed) / "worker.log").read_text()
    assert jobs.resume(lost, "alice")  # the interrupted one is resumable like any other


def test_the_ray_executor_without_ray_exits_2_with_the_fix(tmp_path):
    shadow = tmp_path / "no-ray" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    env = {**os.environ, "PYTHONPATH": str(shadow.parent), "TRANSFERLAB_EXECUTOR": "ray"}
    out = subprocess.run([sys.executable, "-m", "core", "worker", "--json"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "requirements-ray.txt" in json.loads(out.stdout)["error"]
    out = subprocess.run([sys.executable, "-m", "core", "worker", "--json"], cwd=ROOT, capture_output=True, text=True,
                         env={**env, "TRANSFERLAB_EXECUTOR": "slurm"}, timeout=120)
    assert out.returncode == 2 and "local, ray" in json.loads(out.stdout)["error"]
    local = subprocess.run([sys.executable, "-c", "import core.cli.main, core.execute.supervisor, core.execute.slot"],
                           cwd=ROOT, env={**env, "TRANSFERLAB_EXECUTOR": "local"}, capture_output=True, text=True)
    assert local.returncode == 0, local.stderr  # the local executor needs no Ray


def test_a_config_error_in_a_task_reaches_the_dispatcher_as_a_failure_not_a_lost_node():
    """An error Ray cannot rebuild from its pickled args would arrive as an UnserializableException (a
    RayError, read as "interrupted"). ConfigError rebuilds itself now; anything else that cannot cross is
    sent as its text."""
    crossed = ray_task.portable(ConfigError("backbone", "run abc has no trained model"))
    assert isinstance(crossed, UserError) and str(crossed) == "backbone: run abc has no trained model"
    assert str(pickle.loads(pickle.dumps(crossed))) == str(crossed)

    class Stubborn(UserError):
        def __init__(self, a, b):
            super().__init__(f"{a} {b}")

    sent = ray_task.portable(Stubborn("x", "y"))
    assert type(sent) is UserError and str(sent) == "x y"
    value = ValueError("boom")
    assert ray_task.portable(value) is value  # picklable ones cross unchanged

    ds = digits(per_class=6, owner="alice")
    run_id = jobs.submit(probe(ds, epochs=1), "alice")["run_id"]
    error = ray.exceptions.RayTaskError("run_job", "Traceback: …", crossed)
    _follow(leases.claim_next(), error, [])
    assert store.run_row(run_id)["status"] == "failed"
    assert store.run_row(run_id)["message"] == "backbone: run abc has no trained model"


def test_images_are_shelved_once_per_set_and_read_back_by_hash(monkeypatch):
    """One object-store copy per set of images, whoever trains on it; evicted least recently used past
    the byte budget. (ray.put is recorded here: the real one runs in the end-to-end tests.)"""
    put: list[dict] = []
    monkeypatch.setattr(ray_cluster.ray, "put", lambda value: put.append(value) or f"ref{len(put)}")
    alice, bob = digits(per_class=6, owner="alice"), digits("other", per_class=6, owner="bob")
    lists_a, lists_b = (splits.for_spec(probe(d).data, owner) for d, owner in ((alice, "alice"), (bob, "bob")))
    shelf = ray_cluster.ImageShelf(max_bytes=10 * 2**20)
    assert shelf.ref(lists_a) == shelf.ref(lists_b) == "ref1" and len(put) == 1  # the same images: shipped once
    read = ray_task.image_reader(put[0])
    for record in lists_a.train[:5] + lists_a.test[:5]:
        assert read(record.sha256) == content.read_bytes(record.sha256)
    smaller = splits.Splits(lists_a.classes, lists_a.train[:3], lists_a.val[:1], lists_a.test[:1])
    tight = ray_cluster.ImageShelf(max_bytes=1)  # over budget: only the newest set stays on the shelf
    tight.ref(lists_a), tight.ref(smaller)
    assert len(put) == 3 and len(tight.sets) == 1 and tight.bytes == sum(
        len(content.read_bytes(sha)) for sha in {r.sha256 for r in smaller.train + smaller.val + smaller.test})


def test_each_job_asks_a_share_of_a_gpu_and_of_its_node_cpus(monkeypatch):
    """What a task asks for, from the nodes Ray reports (no GPU here: the GPU nodes are described)."""
    def cluster_of(*resources):
        monkeypatch.setattr(ray_cluster.ray, "nodes", lambda: [{"Alive": True, "NodeID": str(i), "Resources": r}
                                                               for i, r in enumerate(resources)])

    cluster_of({"CPU": 0.0}, {"CPU": 16.0, "GPU": 1.0}, {"CPU": 32.0, "GPU": 2.0})  # a head that trains nothing
    assert ray_cluster.shape(4, None) == ray_cluster.Shape(num_cpus=4, num_gpus=0.25, capacity=12)
    assert ray_cluster.shape(None, None) == ray_cluster.Shape(num_cpus=16, num_gpus=1.0, capacity=3)
    cluster_of({"CPU": 2.0}, {"CPU": 1.0})  # CPU only: a job takes the smallest node's CPUs (or 1/slots of them)
    assert ray_cluster.shape(None, None) == ray_cluster.Shape(num_cpus=1, num_gpus=0, capacity=3)
    cluster_of({"CPU": 4.0})
    assert ray_cluster.shape(None, None).capacity == 1 and ray_cluster.shape(2, None) == ray_cluster.Shape(2, 0, 2)
    cluster_of({"CPU": 0.0})  # nobody can train yet: jobs wait in the queue, not as Ray tasks
    assert ray_cluster.shape(None, None).capacity == 0
