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
    pinned = {r.id: r.class_name for r in pins.load(run_id).train + pins.load(run_id).val}
    box = at.selectbox(key=f"clean-{image_id}-to")
    # the box says what it is (0: its label visible) and starts at the image's own label: Relabel has nothing to move until a choice
    assert box.label == "Class" and box.proto.label_visibility.value == 0 and box.value == pinned[image_id]
    assert at.button(key=f"clean-{image_id}-relabel").disabled
    target = next(c for c in box.options if c != pinned[image_id])
    box.set_value(target).run()
    at.button(key=f"clean-{image_id}-relabel").click().run()
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

    # the model's answer is a button of its own, naming the class it moves the image to
    model = next(b for b in at.button if b.key and b.key.endswith("-model"))
    said = model.label.removeprefix("The model says ").removesuffix(": move it there")
    image_id = int(model.key.split("-")[1])
    assert said != pinned[image_id] and said in at.selectbox(key=f"clean-{image_id}-to").options
    model.click().run()
    no_exceptions(at)
    latest = cleaner.history("dg", token)[0]
    assert (latest["action"], latest["image_id"], latest["new_class"]) == ("relabel", image_id, said)
