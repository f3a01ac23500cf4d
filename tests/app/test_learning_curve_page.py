"""The Train page's learning-curve lab, on runs trained by the real engine."""
from core.execute import outcome, service, slot as worker
from core.recipes import datasize
from core.runs import leases, queue as jobs, store
from tests.app.conftest import no_exceptions, open_app
from tests.training import digits, probe


def test_lab_queues_nested_sizes_then_draws_both_curves_and_the_gap(monkeypatch):
    monkeypatch.setattr(service, "ensure_worker", lambda: 0)  # no process spawned from a unit test
    at, token = open_app(probe("dg", epochs=2))
    digits(per_class=10, owner=token)  # 6 training images per class (2 val, 2 test): 10, 25 and 50 all mean "all 6"
    at.switch_page("views/train.py").run()
    no_exceptions(at)
    at.button(key="lab_start").click().run()
    no_exceptions(at)
    runs = jobs.runs(token)
    assert sorted(r["role"] for r in runs) == ["size:5:pretrained", "size:5:scratch", "size:6:pretrained",
                                               "size:6:scratch"]
    assert any("runs finished" in p.proto.text for p in at.get("progress"))

    for run in sorted(runs, key=lambda r: r["created"]):
        worker.process(leases.claim_specific(store.latest_job(run["id"])["id"]))
    at.run()
    no_exceptions(at)
    assert [p["per_class"] for p in datasize.results(runs[0]["parent"], token)["points"]] == [5, 6]
    charts = [c for c in at.get("plotly_chart") if "Test accuracy against training images" in c.proto.spec]
    assert charts, "the data-size chart is drawn"
    lead = next(c.value for c in at.caption if "Pretraining's lead is" in c.value)
    tested = len(jobs.lists(runs[0]["id"], token).test)  # 2 per class: a 20-image test list
    assert f"same {tested} test images" in lead and "±22 points (95%)" in lead  # 1.96 * sqrt(0.25 / 20) = 0.219
    assert at.selectbox(key="lab_size").options == ["5 images per class", "6 images per class"]
    assert any("Pretrained against from scratch" in c.value for c in at.caption)


def test_an_interrupted_run_counts_as_finished_in_the_labs_progress(monkeypatch):
    """The page once counted succeeded, failed and cancelled runs only: an interrupted one stayed "running"."""
    monkeypatch.setattr(service, "ensure_worker", lambda: 0)
    at, token = open_app(probe("dg", epochs=2))
    digits(per_class=10, owner=token)
    at.switch_page("views/train.py").run()
    at.button(key="lab_start").click().run()
    first = min(jobs.runs(token), key=lambda r: r["created"])
    outcome.interrupted(leases.claim_specific(store.latest_job(first["id"])["id"]), "the worker stopped")
    at.run()
    no_exceptions(at)
    assert any(p.proto.text.startswith("1 of 4 runs finished") for p in at.get("progress"))
