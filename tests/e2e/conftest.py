"""A real server, a real worker and Debian's Chromium driven by Playwright.

The server and worker share one fresh data home for the session; each test uses its own browser
context (its own URL token, hence its own owner). Screenshots go to tests/artifacts/ (git-ignored).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import ROOT

CHROMIUM = os.environ.get("TRANSFERLAB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
# Playwright's assertions poll for 5 s by default. With the suite's other pytest worker training beside the
# browser tests, a page's elements arrived later than that (the Layers page's widgets, at load 8), and a
# present element failed the test. A cap, not a timing: each wait ends as soon as its element is there.
expect.set_options(timeout=30_000)
SERVER_PIDS: list[int] = []  # the app server's and the worker's, for a stack dump when a page hangs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def e2e_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-home")


@pytest.fixture(scope="session")
def server(e2e_home):
    """streamlit run + python -m core worker on a free port; torn down at the end."""
    port = free_port()
    env = {**os.environ, "TRANSFERLAB_HOME": str(e2e_home), "TRANSFERLAB_OFFLINE": "1"}
    log = open(e2e_home / "server.log", "wb")
    app = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                            "--server.address", "127.0.0.1", "--server.headless", "true",
                            "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env, stdout=log, stderr=log,
                           start_new_session=True)
    worker = subprocess.Popen([sys.executable, "-m", "core", "worker"], cwd=ROOT, env=env, stdout=log, stderr=log,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    SERVER_PIDS[:] = [app.pid, worker.pid]
    try:
        _wait_healthy(url, app)
        yield url
    finally:
        for process in (app, worker):
            os.killpg(process.pid, signal.SIGTERM)
        for process in (app, worker):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _wait_healthy(url: str, app: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if app.poll() is not None:
            raise RuntimeError("streamlit exited; see server.log in the e2e data home")
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("streamlit did not become healthy in time")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch arguments, pointed at Debian's Chromium."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     # a camera that is always there and never asks (a test pattern): camera snapshots in tests
                     "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1000}}


@pytest.fixture
def store_env(e2e_home, monkeypatch):
    """Let the test process read and prepare the server's store directly."""
    monkeypatch.setenv("TRANSFERLAB_HOME", str(e2e_home))
    return e2e_home


@pytest.fixture(autouse=True)
def _close_contexts(browser):
    """Every context a test opened is closed after it, passed or failed: a page left open keeps its live parts
    rerunning on the server and drawing in Chromium (a Teacher page's tables every few seconds) for the rest of
    the session, on the cores the next tests need."""
    yield
    for context in list(browser.contexts):
        context.close()

