"""Shared fixtures. Every test gets its own data home; nothing touches the network."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]  # the repository: subprocesses (CLI, server, worker) start here
os.environ.setdefault("TRANSFERLAB_OFFLINE", "1")  # CI has no internet; be honest about it
# As core/__init__.py does, before any test module imports torch ahead of core: idle OpenMP threads sleep, so
# the suite's server, worker and test processes do not steal each other's cores by spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def pytest_configure(config) -> None:
    from tests.durations import Durations

    if not hasattr(config, "workerinput"):  # with pytest-xdist, the controller alone sees every test's report
        config.pluginmanager.register(Durations(), "transferlab-durations")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items) -> None:
    """With pytest-xdist (`make test` runs two workers), a test file stays on one worker (its module fixtures are
    built once) and every browser test on the same one: they share one app server and training worker, and
    that worker's one slot is where their runs queue. The browser tests mostly wait on that slot and the
    browser, so the other pytest worker runs the rest beside them."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    browser = [item for item in items if item.nodeid.startswith("tests/e2e/")]
    in_browser = set(browser)
    for item in items:
        item.add_marker(pytest.mark.xdist_group("browser" if item in in_browser else item.nodeid.split("::")[0]))
    items[:] = browser + [item for item in items if item not in in_browser]  # the longest group starts first


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("TRANSFERLAB_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def chelsea_png(tmp_path_factory) -> Path:
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("img") / "chelsea.png"
    Image.fromarray(data.chelsea()).save(path)
    return path
