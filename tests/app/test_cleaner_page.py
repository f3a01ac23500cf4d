"""The Evaluate page's cleaner, on a run trained by the real engine."""
from core.data import cleaner, pins
from tests.app.conftest import no_exceptions, open_app
from tests.app.test_results import finished_run, show


def test_relabel_from_evaluate_then_undo(me):
    at, token = open_app()
    run_id = finished_run(token)
    show(at, "views/evaluate.py", run_id)
    at.toggle(key="clean_open").set_value(True).run()
    no_exceptions(at)
    relabels = [b for b in at.button if b.key and b.key.endswith("-relabel")]
    assert relabels, "hard images are offered"
    image_id = int(relabels[0].key.split("-")[1])
    target = at.selectbox(key=f"clean-{image_id}-to").value
    relabels[0].click().run()
    no_exceptions(at)
    [change] = cleaner.history("dg", token)
    assert (change["action"], change["image_id"], change["new_class"]) == ("relabel", image_id, target)
    assert not any(b.key == f"clean-{image_id}-relabel" for b in at.button)  # handled: no longer offered
    pinned = {r.id: r.class_name for r in pins.load(run_id).train + pins.load(run_id).val}
    assert pinned[image_id] != target  # the run on screen keeps its labels

    at.button(key="clean-undo").click().run()
    no_exceptions(at)
    assert cleaner.history("dg", token)[0]["undone"]
    assert any(b.key == f"clean-{image_id}-relabel" for b in at.button)
