"""The soak test, short: 4 students for 40 s against the real queue and worker, the worker killed twice
and the disk filled to the floor once (tools/soak.py; the 30-student run is a benchmark)."""
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_a_short_soak_loses_nothing_and_every_refusal_has_a_reason():
    done = subprocess.run([sys.executable, "tools/soak.py", "--students", "4", "--minutes", "0.67", "--tmpfs-mb", "1024",
                           "--drain-seconds", "20", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["failed_without_reason"] == 0, result["failures"]
    assert result["lost"] == 0 and result["checks_ok"], result["problems"]
    assert result["checks"]["integrity_check"] == "ok"
    assert result["actions"] >= 20 and result["refused_with_reason"] >= 1
    assert result["by_action"]["submit"]["done"] >= 1 and result["worker_kills"] == 2
    assert result["runs"].get("succeeded", 0) >= 1  # the worker came back after each kill and trained
