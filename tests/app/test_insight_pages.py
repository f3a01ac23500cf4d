"""The pages of issue 22: the Data page proposes a remedy for imbalanced classes and Layers & head keeps it;
Evaluate says the balanced accuracy and draws the run's feature map; Predict starts "not sure" where the
run's validation images suggest."""
import pytest

from core import data
from core.runs import drafts, store
from core.serving import predict
from core.words import percent
from tests import corpus
from tests.app.conftest import no_exceptions, open_app, with_data
from tests.app.test_results import finished_run, show


def test_an_imbalance_of_3_or_more_gets_a_remedy_that_layers_keeps(me):
    pairs = {"big": [(f"b{i}.png", corpus.png(i)) for i in range(9)], "small": [("s0.png", corpus.png(100)),
                                                                                ("s1.png", corpus.png(101)),
                                                                                ("s2.png", corpus.png(102))]}
    for name, files in pairs.items():
        data.ingest("imb", data.from_uploads(files, name), owner=me)
    at, token = open_app(with_data("imb"), "views/data.py")
    no_exceptions(at)
    assert any("Proposed: **weighted loss" in w.value for w in at.warning)
    at.button(key="use_balance").click().run()
    no_exceptions(at)
    assert drafts.load(token)[0].train.class_balance == "weighted_loss"
    at.switch_page("views/layers.py").run()
    no_exceptions(at)
    assert at.selectbox(key="tr_balance").value == "weighted_loss"
    at.selectbox(key="tr_balance").set_value("balanced_sampler").run()
    assert drafts.load(token)[0].train.class_balance == "balanced_sampler"


@pytest.mark.slow  # a trained run, the map through its network and the Predict page: 31 s at load average 5
def test_evaluate_says_balanced_accuracy_and_draws_the_runs_feature_map(me):
    at, token = open_app()
    run_id = finished_run(token)
    show(at, "views/evaluate.py", run_id)
    balanced = store.run_row(run_id)["evaluation"]["balanced_accuracy"]
    assert any(c.value.startswith("Balanced accuracy") and f"**{percent(balanced)}**" in c.value
               for c in at.caption)
    at.button(key="eval_fmap_draw").click().run()
    no_exceptions(at)
    assert any(m.label == "how well these features separate your classes" for m in at.metric)
    assert at.radio(key="eval_fmap_source").value == "run"
    # the suspects, each with how sure a model that never saw it is (or that none is doubted)
    said = [m.value for m in at.markdown if m.value.startswith("image ") and "a model that never saw it says" in m.value]
    assert said or any(c.value.startswith("No image looks mislabelled") for c in at.caption)
    assert all("% sure)" in line for line in said), said
    again, _ = open_app()  # another session: the map from the cache (its progress bar once broke a cache hit)
    show(again, "views/evaluate.py", run_id)
    again.button(key="eval_fmap_draw").click().run()
    no_exceptions(again)
    assert any(m.label == "how well these features separate your classes" for m in again.metric)

    show(at, "views/predict.py", run_id)
    suggested = predict.suggested_confidence(run_id)
    start = round(round(min(0.95, suggested["confidence"]) / 0.05) * 0.05, 2) if suggested else 0.5
    assert at.slider(key="threshold").value == start
