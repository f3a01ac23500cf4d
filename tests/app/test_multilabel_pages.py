"""A multi-label run on the Evaluate and Predict pages (issue 32): mean average precision and the per-label table
with each threshold; a test picture's labels as "red ✓ 0.91 · blue 0.08", and no "not sure" slider."""
from streamlit.testing.v1 import AppTest

from core import data
from core.config import AugmentSpec, DataSpec, RunConfig, TrainSpec
from core.data import label_csv
from core.execute import slot as worker
from core.runs import drafts, leases, queue as jobs, shares, store
from tests import corpus
from tests.app.conftest import TIMEOUT, no_exceptions, open_app
from tests.conftest import ROOT


def _shapes(root, n: int = 40, seed: int = 0):
    return corpus.red_and_blue_squares(root, n, seed)


def heat_captions(at) -> list[str]:
    return [i.caption for g in at.get("image") for i in g.proto.imgs if "CAM" in i.caption]


def state_task(token: str) -> str:
    return drafts.load(token)[0].task


def test_evaluate_and_predict_pages_show_a_multilabel_run(tmp_path, me):
    data.ingest("shapes", label_csv.from_labelled(_shapes(tmp_path / "shapes"), "labels.csv"), owner=me)
    config = RunConfig(task="multilabel", augment=AugmentSpec(preset="none"), data=DataSpec(dataset="shapes"),
                       train=TrainSpec(head_epochs=4, head_lr=3e-3, batch_size=16))
    run_id = jobs.submit(config, me)["run_id"]
    worker.process(leases.claim_specific(store.latest_job(run_id)["id"]))
    at, _ = open_app(RunConfig(), page="views/data.py")
    at.selectbox(key="ds_pick").set_value("shapes").run()
    at.button(key="ds_use").click().run()
    no_exceptions(at)
    assert state_task(me) == "multilabel"  # the draft follows the dataset's task
    shown = [m.value for m in at.markdown]
    assert "**red** · 20 image(s)" in shown and "**blue** · 14 image(s)" in shown, shown  # images under each label
    assert any(c.value.startswith("Several labels per image: 13 image(s) carry none") for c in at.caption)
    more = corpus.zip_of({"more/labels.csv": b"file,labels\nx.png,red\ny.png,\n", "more/x.png": corpus.png(91),
                          "more/y.png": corpus.png(92)})
    at.file_uploader(key="up:zip").set_value([("more.zip", more, "application/zip")]).run()
    no_exceptions(at)
    assert any("stored 2 image(s)" in s.value for s in at.success), [s.value for s in at.success]
    picture = corpus.png(93)  # tagged by hand: the same picture uploaded under two labels is one image with both
    at.file_uploader(key="up:red").set_value([("tag.png", picture, "image/png")]).run()
    at.file_uploader(key="up:blue").set_value([("tag.png", picture, "image/png")]).run()
    no_exceptions(at)
    assert [r.class_name for r in data.records("shapes", me) if r.original == "tag.png"] == ["blue;red"]
    at.query_params["run"] = run_id
    at.switch_page("views/train.py").run()
    no_exceptions(at)
    assert any(s.value.startswith("Done: test mean average precision") for s in at.success), [s.value for s in at.success]
    assert any(c.value.startswith("Validation mean average precision ") for c in at.caption)  # the live measure's chart
    at.switch_page("views/evaluate.py").run()
    no_exceptions(at)
    assert [m.label for m in at.metric][:2] == ["test mean average precision", "every label right"]
    table = at.dataframe[0].value
    assert list(table["label"]) == ["blue", "red"] and "how the threshold was set" in table.columns
    assert at.get("plotly_chart")  # the first label's precision–recall curve
    at.slider(key=f"ml_threshold:{run_id}:blue").set_value(0.0).run()  # every image on: recall 100%
    no_exceptions(at)
    [said] = [c.value for c in at.caption if c.value.startswith("blue on ")]
    assert "at threshold 0.00 precision" in said and "recall 100%, F1" in said, said
    opened = [e.label for e in at.expander]  # at 0 every image is on: none missed, every image without blue added
    assert "Missed: carry blue, not said at 0.00 (0)" in opened, opened
    assert any(t.startswith("Wrongly added: said blue at 0.00, not carrying it (") and not t.endswith("(0)")
               for t in opened), opened

    at.switch_page("views/predict.py").run()
    no_exceptions(at)
    assert not at.slider  # no "not sure" confidence: each label has its own threshold
    first = jobs.lists(run_id, me).test[0]
    at.multiselect(key="pred_test").set_value([first.id]).run()
    no_exceptions(at)
    said = [m.value for m in at.markdown if m.value.startswith(f"**test #{first.id}")]
    assert said and ("✓" in said[0] or "none of the labels" in said[0]), said
    picker = at.selectbox(key=next(s.key for s in at.selectbox if s.key and s.key.startswith("cam-label-0-")))
    other = "blue" if picker.value == "red" else "red"
    picker.set_value(other).run()  # a heat map for another label of the same picture
    no_exceptions(at)
    assert any(c.endswith(f"evidence for {other}") for c in heat_captions(at)), heat_captions(at)

    visitor = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    visitor.query_params["share"] = shares.create(run_id, me)["token"]
    visitor.run()
    no_exceptions(visitor)
    assert not visitor.slider and any("**2 labels** (blue, red)" in m.value for m in visitor.markdown)
