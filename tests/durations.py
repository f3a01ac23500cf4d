"""Where the suite's time goes, kept by every run: tests/artifacts/durations.json.

`{"total_seconds", "load_average", "tests": [{"test", "seconds"}]}`, slowest first; a test's seconds are its
setup, call and teardown together (a session fixture's cost lands on the first test that asks for it). The
load average is the one-minute figure as the run started: a slow run on a busy box reads as such. The file
is committed from a full quiet run, so a change that makes the suite slower shows in its diff.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

PATH = Path(__file__).resolve().parent / "artifacts" / "durations.json"


class Durations:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.load = os.getloadavg()[0]
        self.seconds: dict[str, float] = defaultdict(float)
        self.outcomes: dict[str, str] = {}

    def pytest_runtest_logreport(self, report) -> None:
        test = report.nodeid.split("@", 1)[0]  # under pytest-xdist's loadgroup the id ends in "@" and its group
        self.seconds[test] += report.duration
        if report.when == "call" or report.outcome != "passed":
            self.outcomes[test] = report.outcome

    def pytest_sessionfinish(self, session) -> None:
        if not self.seconds:
            return  # collection only (--collect-only), or nothing selected
        tests = sorted(self.seconds.items(), key=lambda item: -item[1])
        head = {"total_seconds": round(time.monotonic() - self.started, 1), "load_average": round(self.load, 2),
                "cpu_cores": os.cpu_count(), "arguments": sys.argv[1:], "count": len(tests),
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        rows = [json.dumps({"test": name, "seconds": round(seconds, 2), "outcome": self.outcomes.get(name, "passed")})
                for name, seconds in tests]
        write(PATH, json.dumps(head)[:-1] + ', "tests": [\n' + ",\n".join(rows) + "\n]}\n")


def write(path: Path, text: str) -> None:
    """One test per line: a diff of two runs reads test by test."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(path)
