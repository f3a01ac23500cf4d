"""The one-click demo's shape: enough images to convince, one test list for both runs, the baseline's budget."""
from core import words
from core.data import pins
from core.recipes import demo
from core.runs import store
from tests.conftest import ROOT


def test_demo_trains_on_fifty_per_class_and_tests_on_a_hundred_beside_its_baseline():
    config, measured = demo.prepare("demo")
    submitted = demo.submit(config, "demo", hold=True)
    main, scratch = pins.load(submitted["run_id"]), pins.load(submitted["companions"]["scratch"])
    per_class = {c: sum(r.class_name == c for r in main.train) for c in main.classes}
    assert len(per_class) == 10 and min(per_class.values()) >= 50
    assert len(main.test) >= 100
    assert [r.sha256 for r in scratch.test] == [r.sha256 for r in main.test]  # judged on the same images
    assert [r.sha256 for r in scratch.train] == [r.sha256 for r in main.train]
    baseline = store.run_row(submitted["companions"]["scratch"])
    assert baseline["parent"] == submitted["run_id"] and baseline["role"] == "scratch"
    assert baseline["config"]["weights"] == "none" and baseline["config"]["train"]["finetune_epochs"] == demo.SCRATCH_MAX_EPOCHS
    assert baseline["config"]["train"]["time_budget_seconds"] == demo.SCRATCH_SECONDS  # a time budget, not epochs
    # the transfer model: head only, on features computed once (no live augmentation)
    assert config.train.finetune_epochs == 0 and config.augment.preset == "none" and config.weights == "imagenet"
    assert measured["scenario"] == config.scenario


def test_the_readme_promises_what_the_home_page_promises():
    """Both come from the demo's browser-test measurement (tests/artifacts/demo-timing.json)."""
    readme = (ROOT / "README.md").read_text()
    assert f'the home page promises "within about {words.duration(demo.PROMISED_MODEL_SECONDS)}"' in readme
    assert f"within a {words.duration(demo.SCRATCH_SECONDS)} time budget" in readme
