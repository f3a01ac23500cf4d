"""`python -m core class experiment ...`: the contract's command names, flags and JSON keys."""
from __future__ import annotations

import json

from core.runs import store
from tests.cli import cli
from tests.training import digits


def setup_class(students: int = 3) -> tuple[dict, list[str]]:
    made = json.loads(cli("class", "create", "Chemistry 1", "--json").stdout)
    digits("exp-data", per_class=6, owner=made["teacher_key"])
    tokens = [json.loads(cli("class", "join", made["join_code"], "--name", f"kid{i}", "--json").stdout)["token"]
              for i in range(students)]
    return made, tokens


def ok(*args) -> dict:
    out = cli(*args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_create_poll_launch_results_follow_the_contract(monkeypatch):
    made, tokens = setup_class()
    monkeypatch.setenv("TRANSFERLAB_TEACHER_KEY", made["teacher_key"])  # teacher actions without --teacher-key
    created = ok("class", "experiment", "create", made["class"], "--question", "augment", "--values", "none,light",
                 "--dataset", "exp-data", "--epochs", "1")
    assert {"experiment", "question", "values", "cells"} <= set(created)
    assert created["question"] == "augment" and created["values"] == ["none", "light"]
    assert created["cells"] == [{"value": "none", "students": ["kid0", "kid2"]}, {"value": "light", "students": ["kid1"]}]
    picked = ok("class", "experiment", "poll", made["class"], "--choice", "light", "--reason", "more variety",
                "--owner", tokens[0])
    assert picked["choice"] == "light" and picked["locked"] is False
    seen = ok("class", "experiment", "results", made["class"], "--owner", tokens[1])
    assert {"question", "metric", "locked", "cells", "verdict"} <= set(seen) and "poll" not in seen
    assert seen["metric"] == "test_accuracy" and seen["locked"] is False
    cell = seen["cells"][0]
    assert {"value", "n", "finished", "mean", "low", "high", "runs"} <= set(cell)
    assert {"student", "run_id", "status", "accuracy"} <= set(cell["runs"][0])
    assert ok("class", "experiment", "launch", made["class"])["queued"] == 3
    assert ok("class", "experiment", "launch", made["class"])["queued"] == 0  # each cell has its run
    runs = ok("class", "experiment", "results", made["class"])["cells"]  # the teacher, by $TRANSFERLAB_TEACHER_KEY
    assert [r["student"] for c in runs for r in c["runs"]] == ["kid0", "kid2", "kid1"]
    assert all(store.run_row(r["run_id"])["status"] == "queued" for c in runs for r in c["runs"])


def test_picks_stay_hidden_until_the_lock_and_a_pick_after_it_exits_2():
    made, tokens = setup_class(2)
    key = ("--teacher-key", made["teacher_key"])
    ok("class", "experiment", "create", made["class"], "--question", "learning_rate", "--values", "0.01,0.001",
       "--dataset", "exp-data", *key)
    ok("class", "experiment", "poll", made["class"], "--choice", "0.01", "--owner", tokens[0])
    ok("class", "experiment", "poll", made["class"], "--choice", "0.001", *key)  # the teacher picks too
    before = cli("class", "experiment", "results", made["class"], "--owner", tokens[1])
    assert "poll: open, 2 picks so far (hidden until it locks)" in before.stdout
    assert "0.01 1" not in before.stdout
    ok("class", "experiment", "lock", made["class"], *key)
    refused = cli("class", "experiment", "poll", made["class"], "--choice", "0.01", "--owner", tokens[1], "--json")
    assert refused.returncode == 2
    assert json.loads(refused.stdout)["error"] == "the poll is closed: the teacher locked it; picks are no longer taken"
    after = ok("class", "experiment", "results", made["class"], "--owner", tokens[1])
    assert after["locked"] is True and after["poll"] == {"0.01": 1, "0.001": 1}


def test_bad_values_keys_and_strangers_exit_2_with_a_reason(monkeypatch):
    made, tokens = setup_class(1)
    monkeypatch.delenv("TRANSFERLAB_TEACHER_KEY", raising=False)
    base = ("class", "experiment", "create", made["class"], "--dataset", "exp-data")
    freeze = cli(*base, "--question", "freeze", "--values", "1,40", "--teacher-key", made["teacher_key"])
    assert freeze.returncode == 2 and "40 frozen stages is more than efficientnet_lite0 has" in freeze.stderr
    student_key = cli(*base, "--question", "augment", "--values", "none,light", "--teacher-key", tokens[0])
    assert student_key.returncode == 2 and "not the teacher key" in student_key.stderr
    unknown = cli(*base, "--question", "depth", "--values", "1,2", "--teacher-key", made["teacher_key"])
    assert unknown.returncode == 2 and "invalid choice: 'depth'" in unknown.stderr
    nothing = cli("class", "experiment", "results", made["class"], "--owner", tokens[0])
    assert nothing.returncode == 2 and "has no experiment yet" in nothing.stderr
    ok(*base, "--question", "augment", "--values", "none,light", "--teacher-key", made["teacher_key"])
    stranger = cli("class", "experiment", "results", made["class"], "--owner", "not-a-member-token-at-all")
    assert stranger.returncode == 2 and "not a student of class" in stranger.stderr
    launch = cli("class", "experiment", "launch", made["class"], "--teacher-key", tokens[0])
    assert launch.returncode == 2
