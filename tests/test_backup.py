"""Backup and restore: a consistent copy taken while a job trains restores to the same listing and the same
predictions; a damaged archive (one flipped byte) is refused naming the file, before anything is written;
a non-empty home is refused unless forced; a class's backup holds that class and nothing else."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import torch

from core import data, db, paths
from core.classroom import backup, classes, restore, teacher
from core.cli.main import main
from core.errors import UserError
from core.execute import slot
from core.runs import queue, store
from core.serving import predict
from tests.conftest import ROOT
from tests.training import digits, finetune, probe


def _home(monkeypatch, path: Path) -> None:
    monkeypatch.setenv("TRANSFERLAB_HOME", str(path))


def _listing(owner: str = "cli") -> dict:
    datasets = [{k: d[k] for k in ("name", "source", "classes", "images", "created")} for d in data.list_datasets(owner)]
    return {"datasets": datasets, "runs": {r["id"]: (r["role"], r["dataset"], r["backbone"]) for r in queue.runs(owner)}}


def _probabilities(run_id: str) -> torch.Tensor:
    predict._cache.clear()  # the per-process model cache is keyed by run id: read this home's files
    pictures = [data.decode(data.read_bytes(r.sha256)) for r in queue.lists(run_id).test[:6]]
    return predict.probabilities(run_id, pictures)


def _train_one(config) -> str:
    run_id = queue.submit(config)["run_id"]
    assert slot.Worker(poll=0.05).serve(max_jobs=1) == 1
    assert store.run_row(run_id)["status"] == "succeeded"
    return run_id


def _wait(check, seconds: float = 240, what: str = "") -> None:
    deadline = time.time() + seconds
    while not check():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_backup_taken_while_a_job_trains_restores_the_same_listing_and_predictions(tmp_path, monkeypatch):
    _home(monkeypatch, tmp_path / "a")
    dataset = digits(per_class=10)
    done = _train_one(probe(dataset, epochs=2))
    before = _probabilities(done)
    long = queue.submit(finetune(dataset, epochs=40))["run_id"]  # trains for minutes on this CPU
    worker = subprocess.Popen([sys.executable, "-m", "core", "worker", "--slots", "1"], cwd=ROOT,
                              env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: len(store.metrics(long, "epoch")) >= 1, what="the long job's first epoch")
        made = backup.backup(tmp_path / "class.tar")
        assert store.run_row(long)["status"] == "running"  # it trained on through the backup
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(120)
    listed = _listing()

    _home(monkeypatch, tmp_path / "b")
    restored = restore.restore(made["archive"])
    assert restored["counts"] == made["counts"] and made["counts"]["runs"] == 2
    assert _listing() == listed  # the same datasets (names, images, created) and runs
    assert torch.equal(_probabilities(done), before)  # a restored run predicts exactly as before
    interrupted = store.run_row(long)
    assert interrupted["status"] == "interrupted" and "backed up while this run trained" in interrupted["message"]
    assert (paths.run_dir(long) / "progress.json").exists()  # resumable from the checkpoint the backup holds
    with sqlite3.connect(db.db_path()) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _flip(archive: Path, member: str) -> None:
    with tarfile.open(archive) as tar:
        offset = tar.getmember(member).offset_data
    with open(archive, "r+b") as fh:
        fh.seek(offset + 10)
        byte = fh.read(1)
        fh.seek(offset + 10)
        fh.write(bytes([byte[0] ^ 0x01]))


def test_restore_refuses_a_flipped_byte_naming_the_file_and_writes_nothing(tmp_path, monkeypatch, capsys):
    _home(monkeypatch, tmp_path / "a")
    digits(per_class=2)
    archive = Path(backup.backup(tmp_path / "home.tar")["archive"])
    member = next(n for n in tarfile.open(archive).getnames() if n.startswith("images/"))
    _flip(archive, member)
    _home(monkeypatch, tmp_path / "b")
    assert main(["restore", str(archive), "--json"]) == 2
    message = json.loads(capsys.readouterr().out)["error"]
    assert f"{member} does not match its checksum" in message and "nothing was restored" in message
    left = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert left in ([], ["worker.lock"])  # no store, no images or runs, no staging folder (the lock: the worker probe)


def test_restore_refuses_a_home_that_holds_data_unless_forced(tmp_path, monkeypatch, capsys):
    _home(monkeypatch, tmp_path / "a")
    digits("old", per_class=2)
    archive = backup.backup(tmp_path / "a.tar")["archive"]
    _home(monkeypatch, tmp_path / "b")
    digits("mine", per_class=2)
    with pytest.raises(UserError, match="already holds datasets, runs or classes"):
        restore.restore(archive)
    assert [d["name"] for d in data.list_datasets()] == ["mine"]
    assert main(["restore", archive, "--force", "--json"]) == 0
    assert [d["name"] for d in data.list_datasets()] == ["old"]
    files = {p.name for p in (tmp_path / "b" / "images").rglob("*") if p.is_file()}
    assert files == {r.sha256 for r in data.records("old")}


def test_a_class_backup_holds_that_class_and_nothing_of_anyone_else(tmp_path, monkeypatch, capsys):
    _home(monkeypatch, tmp_path / "a")
    ours, theirs = classes.create("Ours"), classes.create("Theirs")
    digits("published", per_class=2, owner=ours["teacher_key"])
    teacher.publish(ours["class"], ours["teacher_key"], "published")
    ada = classes.join(ours["join_code"], "Ada")["token"]
    eve = classes.join(theirs["join_code"], "Eve")["token"]
    digits("ada-own", per_class=2, owner=ada)
    digits("eve-own", per_class=3, owner=eve)
    teacher.set_rules(ours["class"], ours["teacher_key"], {"max_images": 500}, {})
    out = tmp_path / "ours.tar"
    assert main(["backup", "--out", str(out), "--class", ours["class"], "--teacher-key", "wrong-key-123456",
                 "--json"]) == 2
    assert "not the teacher key" in json.loads(capsys.readouterr().out)["error"]
    assert main(["backup", "--out", str(out), "--class", ours["class"], "--teacher-key", ours["teacher_key"],
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scope"] == "class"

    _home(monkeypatch, tmp_path / "b")
    restore.restore(out)
    assert [d["name"] for d in data.list_datasets(ada)] == ["ada-own", "published"]
    assert data.list_datasets(eve) == []
    assert [c["id"] for c in classes.of_key(ours["teacher_key"])] == [ours["class"]]
    assert classes.of_key(theirs["teacher_key"]) == []
    assert teacher.usage(ours["class"], ours["teacher_key"])["limits"]["max_images"] == 500  # its limits came along
    stored = (tmp_path / "b" / "transferlab.db").read_bytes()
    assert eve.encode() not in stored and b"eve-own" not in stored  # vacuumed: no trace of the other class
    files = {p.name for p in (tmp_path / "b" / "images").rglob("*") if p.is_file()}
    assert files == {r.sha256 for name in ("ada-own", "published") for r in data.records(name, ada)}
    assert len(files) == 20  # the same 2 digits per class in both; Eve's third per class stayed behind
