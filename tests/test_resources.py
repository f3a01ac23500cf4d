"""A full disk, a read-only data home, a locked store, memory: each becomes one message a person can act on
(what, where, how much is free, what to do), exit 2, never "internal error" with a traceback; reads keep
working while writes are refused, and nothing is left half-written."""
from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from core import data, db, paths
from core.cli.main import main
from core.data import content, samples
from core.errors import LimitReached, ResourceError
from core.execute import outcome
from core.execute.outcome import Fail, Retry, decide
from tests.conftest import ROOT

DISK_MB = 40


# ---- a real small filesystem --------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 40 MB tmpfs the test mounts (as root; skipped where mounting is not allowed), unmounted after."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'not allowed'}): the injected "
                    "ENOSPC tests below cover the messages")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> Path:
    """Write until the disk refuses: what is left is 0 bytes."""
    filler = disk / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * (1 << 16))
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _cli(*args, home: Path, **env) -> subprocess.CompletedProcess:
    """A fresh process: the way a person meets the disk (no connection of this test's process helps it)."""
    environ = {**os.environ, "TRANSFERLAB_HOME": str(home), **env}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=300)


def _integrity(home: Path) -> str:
    with sqlite3.connect(home / "transferlab.db") as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def _image_files(home: Path) -> list[Path]:
    return [p for p in (home / "images").rglob("*") if p.is_file()]


@pytest.mark.slow
def test_a_full_disk_keeps_reads_working_and_refuses_writes_with_what_where_and_what_to_do(small_disk, monkeypatch):
    home = small_disk / "home"
    monkeypatch.setenv("TRANSFERLAB_HOME", str(home))
    monkeypatch.setenv("TRANSFERLAB_MIN_FREE_MB", "0")  # the floor off: the disk itself refuses
    samples.materialize("digits", "before", per_class=5, owner="cli")
    filler = _fill(small_disk)
    db._ready.clear()  # as a new process would

    listed = _cli("datasets", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    assert [d["name"] for d in json.loads(listed.stdout)] == ["before"]  # no write on connect: reads work
    assert [d["name"] for d in data.list_datasets("cli")] == ["before"]

    refused = _cli("sample", "digits", "--name", "more", "--per-class", "30", "--json", home=home)
    assert refused.returncode == 2, refused.stderr
    message = json.loads(refused.stdout)["error"]
    assert f"The disk holding {home}" in message and "is full: 0 bytes free of 40 MB" in message
    assert "Free some space" in message and "internal error" not in message
    assert "Traceback" not in refused.stderr

    filler.unlink()  # space again: nothing was half-written
    db._ready.clear()
    assert _integrity(home) == "ok"
    assert [d["name"] for d in data.list_datasets("cli")] == ["before"]  # no partial dataset
    files = _image_files(home)
    assert not [p for p in files if p.name.endswith(".part")]
    assert {p.name for p in files} == {r.sha256 for r in data.records("before", "cli")}


@pytest.fixture
def disk_60mb(tmp_path):
    """The issue's disk: a 60 MB tmpfs (as root; skipped where mounting is not allowed), unmounted after."""
    mount = tmp_path / "disk60"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=60m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'not allowed'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_reads_work_on_a_full_disk_after_every_connection_closed(disk_60mb, monkeypatch):
    """Issue 29, the exact sequence: create, close everything, fill, read (the CLI in a new process, and the pages).
    A WAL file whose last connection closed has no -shm, and making one needs space: the read must not need it."""
    from streamlit.testing.v1 import AppTest

    from core.config import DataSpec, RunConfig
    from core.runs import drafts

    home = disk_60mb / "home"
    monkeypatch.setenv("TRANSFERLAB_HOME", str(home))
    monkeypatch.setenv("TRANSFERLAB_MIN_FREE_MB", "0")
    token = drafts.new(RunConfig(data=DataSpec(dataset="digits")))
    samples.materialize("digits", "digits", per_class=5, owner=token)
    assert not [p.name for p in home.iterdir() if p.name.endswith(("-shm", "-wal"))]  # every connection closed
    _fill(disk_60mb)
    monkeypatch.delenv("TRANSFERLAB_MIN_FREE_MB")
    db._ready.clear()  # as a new process would
    listed = _cli("datasets", "--owner", token, "--json", home=home)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert [d["name"] for d in json.loads(listed.stdout)] == ["digits"]
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.query_params["s"] = token
    at.run()
    at.switch_page("views/data.py").run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert any(m.value == "**0** · 5 image(s)" for m in at.markdown)  # the stored dataset, read on the full disk


@pytest.mark.slow
def test_a_read_only_data_home_still_reads_and_says_why_it_cannot_write(small_disk, monkeypatch):
    home = small_disk / "home"
    monkeypatch.setenv("TRANSFERLAB_HOME", str(home))
    monkeypatch.setenv("TRANSFERLAB_MIN_FREE_MB", "0")
    samples.materialize("digits", "kept", per_class=3, owner="cli")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    listed = _cli("datasets", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    assert [d["name"] for d in json.loads(listed.stdout)] == ["kept"]
    refused = _cli("sample", "digits", "--name", "more", "--per-class", "3", "--json", home=home)
    assert refused.returncode == 2, refused.stderr
    message = json.loads(refused.stdout)["error"]
    assert "cannot be written" in message and "Reading still works" in message, message
    assert "Traceback" not in refused.stderr


# ---- an injected ENOSPC: runs everywhere --------------------------------------------------------------
def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", str(paths.data_home() / "images"))


def test_an_upload_that_meets_a_full_disk_exits_2_with_the_message_and_leaves_no_dataset(monkeypatch, capsys):
    monkeypatch.setattr(content, "write", _no_space)
    code = main(["sample", "digits", "--name", "full", "--per-class", "2", "--json"])
    out = capsys.readouterr()
    assert code == 2
    message = json.loads(out.out)["error"]
    assert "is full" in message and "free of" in message and "Free some space" in message
    assert "internal error" not in out.err and "Traceback" not in out.err
    assert data.list_datasets("cli") == []  # a new dataset with nothing stored does not stay


def test_a_failed_write_leaves_no_partial_file_in_the_content_store(monkeypatch):
    real = Path.write_bytes

    def half_then_full(self, payload):
        real(self, payload[: len(payload) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    with pytest.raises(OSError):
        content.write("ab" * 32, b"x" * 1000)
    monkeypatch.setattr(Path, "write_bytes", real)
    assert _image_files(paths.data_home()) == []


def test_resource_trouble_is_said_in_words_and_a_persons_own_file_is_not_the_servers_problem(tmp_path):
    home = paths.data_home()
    full = paths.resource_error(OSError(errno.ENOSPC, "No space left on device", str(home / "runs" / "x")))
    assert isinstance(full, ResourceError) and "is full" in str(full) and "free of" in str(full)
    safetensors = paths.resource_error(RuntimeError("Error while serializing: IoError(No space left on device "
                                                    "(os error 28))"))
    assert "is full" in str(safetensors)
    assert "cannot be written" in str(paths.resource_error(OSError(errno.EROFS, "Read-only file system", str(home))))
    assert "busy" in str(paths.resource_error(sqlite3.OperationalError("database is locked")))
    assert "cannot be opened" in str(paths.resource_error(sqlite3.OperationalError("unable to open database file")))
    assert "out of memory" in str(paths.resource_error(MemoryError()))
    assert paths.resource_error(PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "mine.png"))) is None
    assert paths.resource_error(ValueError("not a resource")) is None


def test_a_job_that_fills_the_disk_fails_with_the_message_instead_of_retrying_at_half_the_batch():
    job = {"id": 1, "run_id": "abcdefabcdef", "kind": "train", "attempts": 0, "batch_size": None}
    error = RuntimeError("Error while serializing: IoError(No space left on device (os error 28))")
    verdict = decide(error, job, 32)
    assert isinstance(verdict, Fail) and not isinstance(verdict, Retry) and not verdict.internal
    assert "is full" in verdict.message and not verdict.message.startswith("internal error")


@pytest.mark.slow
def test_a_worker_fails_the_full_disk_job_removes_its_partial_checkpoint_and_runs_the_next(monkeypatch):
    from core.execute import slot
    from core.runs import queue, store
    from core.training import checkpoints
    from tests.training import digits, probe

    dataset = digits(per_class=6)
    first = queue.submit(probe(dataset, epochs=2))["run_id"]
    second = queue.submit(probe(dataset, epochs=2))["run_id"]
    real = checkpoints.save_last

    def full_for_the_first(folder, *args):
        if folder.name == first:
            (folder / f".last.safetensors.{os.getpid()}.tmp").write_bytes(b"half a checkpoint")
            raise RuntimeError("Error while serializing: IoError(No space left on device (os error 28))")
        return real(folder, *args)

    monkeypatch.setattr(checkpoints, "save_last", full_for_the_first)
    worker = slot.Worker(poll=0.05)
    assert worker.serve(max_jobs=2) == 2
    failed, done = store.run_row(first), store.run_row(second)
    assert failed["status"] == "failed" and "is full" in failed["message"], failed["message"]
    assert store.latest_job(first)["attempts"] == 0  # no half-batch retry
    assert done["status"] == "succeeded"  # the slot went on with the next job
    assert not list(paths.run_dir(first).glob(".*.tmp"))


def test_an_ending_refused_by_a_full_disk_is_tried_again(monkeypatch):
    monkeypatch.setattr(outcome.time, "sleep", lambda s: None)
    tries = []

    def write():
        tries.append(1)
        if len(tries) < 3:
            raise sqlite3.OperationalError("database or disk is full")

    outcome.persist(write)
    assert len(tries) == 3
    with pytest.raises(sqlite3.OperationalError):
        outcome.persist(lambda: (_ for _ in ()).throw(sqlite3.OperationalError("database or disk is full")),
                        waits=(0, 0))
    with pytest.raises(KeyError):  # not resource trouble: raised at once
        outcome.persist(lambda: {}["x"])


def test_the_pages_show_a_full_disk_as_a_message_not_an_exception(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.runs import drafts

    token = drafts.new()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.query_params["s"] = token
    at.run()
    monkeypatch.setattr(data, "list_datasets", _no_space)  # the Data page's first read meets the disk
    at.switch_page("views/data.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("is full" in e.value and "Free some space" in e.value for e in at.error)


def test_the_free_space_floor_refuses_uploads_and_jobs_with_the_reason_while_reads_work(monkeypatch, capsys):
    from tests.training import digits

    dataset = digits(per_class=3)
    floor = paths.free_bytes(paths.data_home()) + 10 * 2 ** 30  # 10 GB more than there is
    monkeypatch.setenv("TRANSFERLAB_MIN_FREE_MB", str(floor // 2 ** 20))
    with pytest.raises(LimitReached, match="keeps at least .* free on its disk"):
        samples.materialize("digits", "more", per_class=2)
    assert main(["submit", "--dataset", dataset, "--epochs", "1", "--json"]) == 2
    assert "Queuing a job is refused: the server keeps at least" in json.loads(capsys.readouterr().out)["error"]
    assert [d["name"] for d in data.list_datasets("cli")] == [dataset]  # reads keep working
    below = paths.free_bytes(paths.data_home()) - 2 ** 30  # a floor 1 GB under what is free: not refused
    monkeypatch.setenv("TRANSFERLAB_MIN_FREE_MB", str(below // 2 ** 20))
    assert samples.materialize("digits", f"more-{uuid.uuid4().hex[:4]}", per_class=2).stored == 20


@pytest.mark.slow
def test_an_epoch_whose_row_a_full_disk_refused_is_written_from_its_checkpoint(monkeypatch):
    """The trainer checkpoints an epoch, then writes its row: a full disk (or a kill) between the two used
    to leave a finished epoch without its row for good (a resume starts after it)."""
    from core.execute import slot
    from core.runs import queue, store
    from tests.training import digits, probe

    run_id = queue.submit(probe(digits(per_class=6), epochs=2))["run_id"]
    real = store.add_metric

    def full_once(rid, event):
        if event.get("event") == "epoch" and not event.get("backfilled") and event["epoch"] == 1:
            raise sqlite3.OperationalError("database or disk is full")
        return real(rid, event)

    monkeypatch.setattr(store, "add_metric", full_once)
    slot.Worker(poll=0.05).serve(max_jobs=1)
    failed = store.run_row(run_id)
    assert failed["status"] == "failed" and "is full" in failed["message"]
    epochs = store.metrics(run_id, "epoch")
    assert [(e["epoch"], bool(e.get("backfilled"))) for e in epochs] == [(0, False), (1, True)]
