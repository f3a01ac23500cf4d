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

    config.pluginmanager.register(Durations(), "transferlab-durations")


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
