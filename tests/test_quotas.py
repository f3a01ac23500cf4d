"""Limits per person (environment) and per class (the teacher's rules): stored MB, images, queued and
running jobs. Each refuses at the limit and not before, with a reason that names the file or the job;
an upload keeps what was valid before the file that crossed."""
from __future__ import annotations

import json

import pytest

from core import data
from core.classroom import classes, teacher
from core.cli.main import main
from core.data import quotas, samples
from core.data.uploads import Item
from core.errors import LimitReached
from core.runs import admission, queue
from tests.training import digits, probe


def _items(count: int, start: int = 0) -> list[Item]:
    """Real, distinct small images (scikit-learn digits), named img000.png, img001.png, …"""
    found = list(samples.items("digits", per_class=10))[start:start + count]
    return [Item(f"img{i:03d}.png", item.class_name, item.data) for i, item in enumerate(found, start)]


def test_an_owner_may_store_up_to_the_image_limit_and_the_next_file_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_OWNER_MAX_IMAGES", "10")
    report = data.ingest("mine", _items(10))
    assert report.stored == 10 and report.limit is None  # at the limit: allowed
    refused = data.ingest("mine", _items(3, start=10))
    assert refused.stored == 0
    assert refused.rejected[0]["file"] == "img010.png"
    assert "not stored: you have 10 of 10 images (the limit per person)" in refused.rejected[0]["reason"]
    assert [r["reason"] for r in refused.rejected[1:]] == ["not stored: a limit was reached before it"] * 2
    assert sum(data.class_counts("mine").values()) == 10


def test_an_upload_that_crosses_keeps_what_was_valid_before_it(monkeypatch, capsys):
    monkeypatch.setenv("TRANSFERLAB_OWNER_MAX_IMAGES", "4")
    report = data.ingest("part", _items(6))
    assert report.stored == 4 and "img004.png: not stored" in report.limit
    assert sum(data.class_counts("part").values()) == 4


def test_the_stored_mb_limit_refuses_at_the_limit_and_not_before(monkeypatch):
    items = _items(5)
    exactly = sum(len(i.data) for i in items[:4]) / quotas.MB  # the first four fill it to the byte
    monkeypatch.setenv("TRANSFERLAB_OWNER_MAX_MB", repr(exactly))
    report = data.ingest("sized", items)
    assert report.stored == 4
    assert report.rejected[0]["file"] == "img004.png" and "stored (the limit per person)" in report.rejected[0]["reason"]
    assert admission.room("cli")["you"]["used"] == {"bytes": round(exactly * quotas.MB), "images": 4, "jobs": 0}


def test_the_cli_exits_2_naming_the_file_and_keeps_the_images_before_it(monkeypatch, capsys):
    monkeypatch.setenv("TRANSFERLAB_OWNER_MAX_IMAGES", "15")
    assert main(["sample", "digits", "--name", "d", "--per-class", "2", "--json"]) == 2
    message = json.loads(capsys.readouterr().out)["error"]
    assert "not stored: you have 15 of 15 images" in message and "15 image(s) stored before it in 'd'" in message
    assert sum(data.class_counts("d").values()) == 15


def test_queued_and_running_jobs_are_limited_per_person(monkeypatch, capsys):
    dataset = digits(per_class=4)
    monkeypatch.setenv("TRANSFERLAB_OWNER_MAX_JOBS", "3")
    queue.submit(probe(dataset, epochs=1))
    queue.submit(probe(dataset, epochs=1).replace(baselines=("scratch",)))  # two jobs: 3 of 3, allowed
    with pytest.raises(LimitReached, match=r"Not queued: you have 3 of 3 queued or running jobs .* needs 1 more job"):
        queue.submit(probe(dataset, epochs=1))
    assert main(["submit", "--dataset", dataset, "--epochs", "1", "--json"]) == 2
    assert "Not queued" in json.loads(capsys.readouterr().out)["error"]
    first = queue.runs()[-1]["id"]
    queue.cancel(first)
    queue.submit(probe(dataset, epochs=1))  # a cancelled job frees its place
    assert admission.room("cli")["you"]["used"]["jobs"] == 3


def test_a_class_limit_holds_all_students_together_and_leaves_its_preset_alone(capsys):
    made = classes.create("Bio")
    key = made["teacher_key"]
    teacher.set_rules(made["class"], key, {"scenario": "S1", "epochs": 3}, {"epochs": "today"})
    assert main(["class", "rules", made["class"], "--set", "max_images=15", "--teacher-key", key, "--json"]) == 0
    saved = json.loads(capsys.readouterr().out)
    assert saved["limits"] == {"max_mb": None, "max_images": 15, "max_jobs": None}
    assert saved["preset"] == {"scenario": "S1", "epochs": 3} and saved["locks"] == {"epochs": "today"}
    ada, bo = (classes.join(made["join_code"], name)["token"] for name in ("Ada", "Bo"))
    assert data.ingest("a", _items(8), owner=ada).stored == 8
    second = data.ingest("b", _items(8, start=8), owner=bo)
    assert second.stored == 7 and "your class has 15 of 15 images" in second.limit
    used = teacher.usage(made["class"], key)
    assert used["used"]["images"] == 15 and used["limits"]["max_images"] == 15
    assert {s["student"]: s["used"]["images"] for s in used["students"]} == {"Ada": 8, "Bo": 7}
    assert main(["class", "rules", made["class"], "--set", "max_images=none", "--teacher-key", key, "--json"]) == 0
    assert data.ingest("b", _items(1, start=16), owner=bo).stored == 1  # the class limit is gone


def test_a_limit_cannot_be_locked_and_a_bad_value_is_refused(capsys):
    made = classes.create("Chem")
    key = made["teacher_key"]
    assert main(["class", "rules", made["class"], "--set", "max_jobs=0", "--teacher-key", key]) == 2
    assert main(["class", "rules", made["class"], "--set", "max_jobs=4", "--lock", "max_jobs=why",
                 "--teacher-key", key]) == 2
    assert "nothing to lock" in capsys.readouterr().err


def test_a_bad_limit_in_the_environment_says_which_and_its_default(monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_OWNER_MAX_MB", "lots")
    with pytest.raises(Exception, match=r"TRANSFERLAB_OWNER_MAX_MB='lots' is not a number \(default 2048\)"):
        samples.materialize("digits", "x", per_class=1)


def test_the_data_train_and_teacher_pages_show_usage_against_the_limits(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.config import DataSpec, RunConfig
    from core.runs import drafts
    from tests.conftest import ROOT

    monkeypatch.setenv("TRANSFERLAB_OWNER_MAX_IMAGES", "500")
    token = drafts.new()
    samples.materialize("digits", "dg", per_class=3, owner=token)
    drafts.save(token, RunConfig(data=DataSpec(dataset="dg")), {})
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.query_params["s"] = token
    at.run()
    for page in ("views/data.py", "views/train.py"):
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        said = " ".join(c.value for c in at.caption)
        assert "Your space:" in said and "30 of 500 images" in said and "0 of 20 queued or running jobs" in said

    made = classes.create("Bio")
    classes.join(made["join_code"], "Ada")
    teacher.set_rules(made["class"], made["teacher_key"], {"max_jobs": 12}, {})
    at.session_state["teacher_key"] = made["teacher_key"]
    at.switch_page("views/teacher.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("The class:" in c.value and "0 of 12 queued or running jobs" in c.value for c in at.caption)
    assert [n.value for n in at.number_input if n.key == "limit_max_jobs"] == [12]
