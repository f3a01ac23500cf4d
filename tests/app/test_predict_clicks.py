"""What a click on the Predict page costs (issue 34), counted rather than timed: models loaded, passes
through the network, figures built. The seconds themselves are measured by tools/click_latency.py."""
import pytest

from core.runs import queue
from core.serving import predict
from tests.app.conftest import no_exceptions, open_app
from tests.app.test_results import finished_run, heat_captions, show, trunk_passes


@pytest.fixture
def work(monkeypatch):
    """Counters of the page's work from now on: models built from their files, figures built."""
    from ui import figures

    counted = {"models": 0, "figures": 0}
    rebuild, top_k = predict.rebuild, figures.top_k

    def counting(name, real):
        def call(*args, **kwargs):
            counted[name] += 1
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(predict, "rebuild", counting("models", rebuild))
    monkeypatch.setattr(figures, "top_k", counting("figures", top_k))
    return counted


def predict_page():
    at, token = open_app()
    run_id = finished_run(token)
    show(at, "views/predict.py", run_id)
    return at, run_id, [r.id for r in queue.lists(run_id, token).test]


def pick(at, ids: list[int]):
    at.multiselect(key="pred_test").set_value(ids).run()
    no_exceptions(at)
    return at


def test_a_second_prediction_loads_no_model_and_runs_one_pass(work):
    at, run_id, ids = predict_page()
    pick(at, ids[:1])
    assert heat_captions(at)[0].startswith("Grad-CAM heat map for test #")  # issue 33: which picture, what it shows
    assert ": evidence for " in heat_captions(at)[0]
    passes = trunk_passes(run_id)
    work.update(models=0)
    pick(at, ids[:2])
    assert len(heat_captions(at)) == 2
    # one pass for the new picture: its heat map's forward pass also gives its top-k and "unknown"
    # (before: the top-k of every picture again, then the new map: two passes, and more with each picture)
    assert work["models"] == 0 and len(passes) == 1, (work, passes)
    at.toggle(key="cam_on").set_value(False).run()
    passes.clear()
    pick(at, ids[:3])  # without heat maps: one pass for the set's new picture set, no map
    assert not heat_captions(at) and len(passes) == 1 and work["models"] == 0, (work, passes)


def test_back_to_a_drawn_heat_map_runs_no_pass_and_a_rerun_with_nothing_changed_does_no_work(work):
    at, run_id, ids = predict_page()
    pick(at, ids[:1])
    first = heat_captions(at)
    at.radio(key="cam_method").set_value("eigencam").run()
    [eigen] = heat_captions(at)
    assert eigen.startswith("EigenCAM heat map for ") and eigen.endswith(": strongest features (any class)")
    passes = trunk_passes(run_id)
    work.update(figures=0)
    at.radio(key="cam_method").set_value("gradcam").run()
    no_exceptions(at)
    assert heat_captions(at) == first and passes == [], passes  # kept: no pass (before: the top-k's pass)
    assert work["figures"] == 0  # the same answer's bars: the figure built once is shown again
    at.run()  # a rerun where nothing changed
    assert heat_captions(at) == first and passes == [] and work["figures"] == 0, (passes, work)
    at.slider(key="threshold").set_value(0.9).run()  # a new threshold is a new figure, and no pass
    assert work["figures"] == 1 and passes == [], (passes, work)


def test_the_test_image_picker_offers_no_select_all():
    at, _, ids = predict_page()
    picker = at.multiselect(key="pred_test")
    assert picker.proto.select_all == 0  # Streamlit's default puts "Select all" first: 40 images in one click
    assert len(picker.options) == len(ids)
