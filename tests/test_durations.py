"""The suite's own record of where its time goes (tests/artifacts/durations.json, issue 30)."""
from __future__ import annotations

import json
from types import SimpleNamespace

from tests import durations


def report(test: str, when: str, seconds: float, outcome: str = "passed") -> SimpleNamespace:
    return SimpleNamespace(nodeid=test, when=when, duration=seconds, outcome=outcome)


def test_each_test_adds_setup_call_and_teardown_and_the_slowest_come_first(tmp_path, monkeypatch):
    monkeypatch.setattr(durations, "PATH", tmp_path / "durations.json")
    monkeypatch.setattr(durations.os, "getloadavg", lambda: (3.25, 2.0, 1.0))
    record = durations.Durations()
    for test, when, seconds, outcome in (("a", "setup", 1.0, "passed"), ("a", "call", 0.5, "passed"),
                                         ("a", "teardown", 0.25, "passed"), ("b", "setup", 0.1, "passed"),
                                         ("b", "call", 4.0, "failed"), ("b", "teardown", 0.0, "passed")):
        record.pytest_runtest_logreport(report(test, when, seconds, outcome))
    record.pytest_sessionfinish(None)
    written = json.loads((tmp_path / "durations.json").read_text())
    assert written["load_average"] == 3.25 and written["total_seconds"] >= 0
    assert written["tests"] == [{"test": "b", "seconds": 4.1, "outcome": "failed"},
                                {"test": "a", "seconds": 1.75, "outcome": "passed"}]
    assert len((tmp_path / "durations.json").read_text().splitlines()) == 4  # one line per test: diffs read well


def test_a_run_that_ran_nothing_leaves_the_last_record_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(durations, "PATH", tmp_path / "durations.json")
    durations.Durations().pytest_sessionfinish(None)
    assert not (tmp_path / "durations.json").exists()


def test_a_test_run_by_an_xdist_worker_is_named_without_its_group(tmp_path, monkeypatch):
    """`make test` runs pytest-xdist's loadgroup, which appends "@group" to every id the controller hears."""
    monkeypatch.setattr(durations, "PATH", tmp_path / "durations.json")
    record = durations.Durations()
    for when in ("setup", "call", "teardown"):
        record.pytest_runtest_logreport(report("tests/e2e/test_x.py::test_y[chromium]@browser", when, 1.0))
    record.pytest_sessionfinish(None)
    written = json.loads((tmp_path / "durations.json").read_text())
    assert written["tests"] == [{"test": "tests/e2e/test_x.py::test_y[chromium]", "seconds": 3.0, "outcome": "passed"}]
