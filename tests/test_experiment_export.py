"""A class experiment outlives the lesson: CSV and a self-contained HTML page, and a class's backup carries it
(and nothing of another class's experiment)."""
from __future__ import annotations

import csv
import io
import json

from core.classroom import backup, classes, experiments, poll, restore
from core.execute import slot as worker
from core.runs import leases, store
from tests.cli import cli
from tests.training import digits


def finished_experiment() -> tuple[dict, list[str]]:
    made = classes.create("History 2")
    digits("exp-data", per_class=6, owner=made["teacher_key"])
    tokens = [classes.join(made["join_code"], name)["token"] for name in ("Ada", "Bo")]
    experiments.create(made["class"], made["teacher_key"], "augment", "none,light", "exp-data", epochs=1)
    poll.pick(made["class"], "light", "more <variety> & more", owner=tokens[1])
    experiments.launch(made["class"], made["teacher_key"])
    job = store.latest_job(experiments.of_student(tokens[0])["run_id"])
    worker.process(leases.claim_specific(job["id"]))  # Ada's run finishes: the poll locks
    return made, tokens


def test_csv_and_html_export_for_the_teacher_and_a_student(tmp_path):
    made, tokens = finished_experiment()
    out = cli("class", "experiment", "export", made["class"], "--out", tmp_path / "e.csv", "--teacher-key",
              made["teacher_key"], "--json")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "e.csv").read_text())))
    assert [(r["student"], r["value"], r["status"]) for r in rows] == [("Ada", "none", "succeeded"),
                                                                        ("Bo", "light", "queued")]
    assert 0 <= float(rows[0]["accuracy"]) <= 1 and rows[1]["accuracy"] == ""
    mine = cli("class", "experiment", "export", made["class"], "--out", tmp_path / "bo.html", "--owner", tokens[1])
    assert mine.returncode == 0, mine.stderr
    page = (tmp_path / "bo.html").read_text()
    assert "<svg" in page and "<script" not in page and "http" not in page.replace('http://www.w3.org/2000/svg', "")
    assert "Ada" not in page  # a student's page names nobody else
    assert "light augmentation: more &lt;variety&gt; &amp; more" in page  # the poll's reasons, escaped
    assert "class experiment: which augmentation" in page.lower()
    bad = cli("class", "experiment", "export", made["class"], "--out", tmp_path / "e.pdf", "--owner", tokens[1])
    assert bad.returncode == 2 and "must end in .csv or .html" in bad.stderr


def test_a_class_backup_keeps_its_experiment_and_not_another_classes(tmp_path, monkeypatch):
    made, tokens = finished_experiment()
    other = classes.create("Elsewhere")
    digits("other-data", per_class=4, owner=other["teacher_key"])
    classes.join(other["join_code"], "Eve")
    experiments.create(other["class"], other["teacher_key"], "pretrained", "yes,no", "other-data")
    before = json.loads(cli("class", "experiment", "results", made["class"], "--teacher-key", made["teacher_key"],
                            "--json").stdout)
    archive = backup.backup(tmp_path / "class.tar", made["class"], made["teacher_key"])["archive"]
    monkeypatch.setenv("TRANSFERLAB_HOME", str(tmp_path / "restored"))
    restore.restore(archive)
    after = json.loads(cli("class", "experiment", "results", made["class"], "--teacher-key", made["teacher_key"],
                           "--json").stdout)
    assert after == before and after["locked"] and after["poll"] == {"none": 0, "light": 1}
    assert experiments.current(other["class"]) is None
