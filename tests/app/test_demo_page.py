"""The demo's click on the home page (issue 29 item 14): the first seconds used to show nothing while the
page waited for the worker's imports before drawing its progress. Checked by order of events, not time:
the preparation (drawn step by step) must not wait for the worker to start."""
import threading

from core.execute import service
from core.recipes import demo
from tests.app.conftest import no_exceptions, open_app


def test_the_demo_prepares_with_its_progress_while_the_worker_starts(monkeypatch):
    preparing, steps, worker = threading.Event(), [], []
    real_prepare = demo.prepare

    def prepare(owner, said=None):
        preparing.set()
        said = said or (lambda *_: None)
        return real_prepare(owner, said=lambda text, done: (steps.append(text), said(text, done)))

    def slow_worker_start(*args):
        # a worker whose imports take a while: the preparation must be under way meanwhile (before the fix,
        # the page called this first and drew nothing until it returned: 7 s at load 4)
        worker.append("while preparing" if preparing.wait(30) else "before any preparation")
        return 1

    monkeypatch.setattr(demo, "prepare", prepare)
    monkeypatch.setattr(service, "ensure_worker", slow_worker_start)
    at, _ = open_app()
    at.button(key="demo").click().run()
    no_exceptions(at)
    assert worker == ["while preparing"] and steps[0] == "Storing 400 digits…", (worker, steps)
    assert any(s.startswith("Asking the pretrained network") for s in steps)
