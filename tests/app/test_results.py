"""Train, Evaluate, Predict, Export and Runs pages on runs prepared by the real engine."""
import json

import pytest
import torch

from core import presets
from core.config import RunConfig
from core.execute import service, slot as worker
from core.paths import run_dir
from core.runs import drafts, leases, queue as jobs, store
from core.training import trainer as train
from tests import corpus
from tests.app.conftest import no_exceptions, open_app
from tests.training import digits, finetune, probe
from tests.wording import raw_words
from ui import chart_words, words


def finished_run(token: str, epochs: int = 4, per_class: int = 10, **changes) -> str:
    config = probe(digits(per_class=per_class, owner=token), epochs=epochs).replace(**changes)
    submitted = jobs.submit(config, token)
    for run_id in [submitted["run_id"], *submitted["companions"].values()]:
        worker.process(leases.claim_specific(store.latest_job(run_id)["id"]))
    return submitted["run_id"]


def show(at, page: str, run_id: str | None = None):
    if run_id:
        at.query_params["run"] = run_id
    at.switch_page(page).run()
    no_exceptions(at)
    return at


def test_train_page_shows_queued_running_succeeded_and_failed(monkeypatch):
    at, token = open_app(probe("dg", epochs=3))
    ds = digits(per_class=6, owner=token)  # few: the from-scratch baseline trains every layer of Lite0
    done = finished_run(token, epochs=3, per_class=6, baselines=("scratch",))
    show(at, "views/train.py", done)
    [banner] = [s.value for s in at.success if s.value.startswith("Done: validation accuracy")]
    tested = store.run_row(done)["evaluation"]["images"]
    assert "95% interval" in banner and f"{tested} images" in banner and raw_words(banner) == [], banner
    assert any(c.value.startswith("Against the from scratch baseline, over the same 3 epochs") and
               "asymptote" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) >= 2  # loss and accuracy curves
    # issue 33: each chart says its numbers in a sentence under it, the baseline named
    said = [c.value for c in at.caption]
    assert any(s.startswith("Validation accuracy ") and "over 3 epochs; the from-scratch baseline reached" in s
               for s in said), said
    assert any(s.startswith("Validation loss ") for s in said), said

    last = store.metrics(done, "epoch")[-1]  # two more epochs for the transfer run: 5 against 3
    for epoch in (last["epoch"] + 1, last["epoch"] + 2):
        store.add_metric(done, {**last, "epoch": epoch})
    show(at, "views/train.py", done)
    [told] = [c.value for c in at.caption if c.value.startswith("Against the from scratch baseline")]
    assert "over the 3 epoch(s) both have" in told and "at epoch 3" in told and "not comparable" in told, told
    assert not any(f"{word} asymptote" in told for word in ("higher", "lower", "same")), told

    queued = jobs.submit(probe(ds, epochs=3), token)
    jobs.submit(probe(digits(per_class=10, owner="someone-else"), epochs=3), "someone-else")
    show(at, "views/train.py", queued["run_id"])
    # fair order: someone-else has never been served, this owner just was (the finished run above)
    assert any("Queued: position 2" in i.value for i in at.info), [i.value for i in at.info]

    leases.claim_specific(queued["job_id"])  # now running; feed it the finished run's epoch rows
    for event in store.metrics(done, "epoch")[:2]:
        store.add_metric(queued["run_id"], event)
    show(at, "views/train.py", queued["run_id"])
    assert at.button(key=f"stop-{queued['run_id']}")
    assert any("Epoch 2 of 3" in p.proto.text for p in at.get("progress"))
    at.button(key=f"stop-{queued['run_id']}").click().run()
    assert store.job_row(queued["job_id"])["cancel"] == 1

    monkeypatch.setattr(train.tasks.F, "cross_entropy", lambda *a, **k: torch.tensor(float("nan"), requires_grad=True))
    failed = jobs.submit(probe(ds, epochs=1), token)
    worker.process(leases.claim_specific(failed["job_id"]))
    show(at, "views/train.py", failed["run_id"])
    assert any("loss became nan" in e.value for e in at.error)
    assert not any("Traceback" in e.value for e in at.error)


@pytest.mark.slow  # two real trainings (a small network and its from-scratch baseline): 30 s at load average 5
def test_the_demo_shows_its_baseline_after_done_and_never_leaves_the_page_by_itself(me):
    submitted = jobs.submit(finetune(digits(per_class=6, owner=me), epochs=1).replace(baselines=("scratch",)), me)
    run_id, baseline = submitted["run_id"], submitted["companions"]["scratch"]
    worker.process(leases.claim_specific(submitted["job_id"]))
    job = leases.claim_specific(store.latest_job(baseline)["id"])  # the baseline trains on after "Done"
    at, _ = open_app(probe("dg", epochs=1), state={"demo": run_id, "run": run_id})
    show(at, "views/train.py", run_id)
    assert at.title[0].value == "5 · Train"
    assert any(s.value.startswith("Done: validation accuracy") for s in at.success)
    assert any("baseline above keeps training" in i.value for i in at.info), [i.value for i in at.info]
    assert any(p.proto.text.startswith("The from scratch baseline is training on the same images")
               for p in at.get("progress")), [p.proto.text for p in at.get("progress")]
    worker.process(job)
    show(at, "views/train.py", run_id)
    assert at.title[0].value == "5 · Train"  # it used to switch to Evaluate here, unasked
    assert any("The demo is complete" in i.value for i in at.info)
    assert any(c.value.startswith("The from scratch baseline finished after 1 epoch(s)") for c in at.caption)


def test_start_training_queues_a_run_and_puts_it_in_the_url(monkeypatch):
    monkeypatch.setattr(service, "ensure_worker", lambda: 0)  # no process spawned from a unit test
    at, token = open_app(probe("dg", epochs=1))
    digits(per_class=6, owner=token)
    show(at, "views/train.py")
    at.button(key="start").click().run()
    no_exceptions(at)
    [run] = jobs.runs(token)
    assert at.query_params["run"] == [run["id"]] or at.query_params["run"] == run["id"]


def test_a_companion_is_chosen_for_one_submission_only(monkeypatch):
    """Issue 29: "from scratch" stayed selected after a submission and rode along with the person's next run."""
    monkeypatch.setattr(service, "ensure_worker", lambda: 0)
    at, token = open_app(probe("dg", epochs=1))
    digits(per_class=6, owner=token)
    show(at, "views/train.py")
    at.button_group(key="baselines").set_value(["scratch"]).run()
    at.button(key="start").click().run()
    no_exceptions(at)
    [first] = [r for r in jobs.runs(token) if r["role"] == "main"]
    assert [r["role"] for r in jobs.runs(token)].count("scratch") == 1  # this submission had its baseline
    assert list(at.button_group(key="baselines").value) == [] and drafts.load(token)[0].baselines == ()
    at.button(key="start").click().run()
    assert [r["role"] for r in jobs.runs(token)].count("scratch") == 1, "the next submission chose none"


def test_a_preset_never_keeps_an_earlier_companion():
    chosen = RunConfig(baselines=("scratch",))
    assert presets.preset("S2", base=chosen).baselines == () and presets.preset("S3", base=chosen).baselines == ("scratch",)


def test_evaluate_confusion_selection_filters_thumbnails():
    at, token = open_app()
    run_id = finished_run(token)
    show(at, "views/evaluate.py", run_id)
    report = store.run_row(run_id)["evaluation"]
    classes = store.run_row(run_id)["summary"]["classes"]
    t, p = next((t, p) for t in range(10) for p in range(10) if report["confusion"][t][p] and t != p)
    at.selectbox(key="cm_true").set_value(classes[t]).run()
    at.selectbox(key="cm_pred").set_value(classes[p]).run()
    no_exceptions(at)
    count = report["confusion"][t][p]
    assert any(f"**{count} true {classes[t]}, predicted {classes[p]}**" == m.value for m in at.markdown)
    [gallery] = [g for g in at.get("image") if g.proto.imgs and
                 g.proto.imgs[0].caption.startswith(f"{classes[t]} → {classes[p]} ✗")]  # true → said, on each card
    assert len(gallery.proto.imgs) == min(count, 24)


def test_a_confusion_cell_click_sets_the_pickers_once(monkeypatch):
    """Issue 29: after a cell click the True/Predicted pickers still said "any" beside that cell's images."""
    import types

    import streamlit

    at, token = open_app()
    run_id = finished_run(token)
    report, classes = store.run_row(run_id)["evaluation"], store.run_row(run_id)["summary"]["classes"]
    t, p = next((t, p) for t in range(10) for p in range(10) if report["confusion"][t][p] and t != p)
    drawn = streamlit.plotly_chart

    def clicked(figure, *args, **kwargs):  # the browser's click on cell (t, p), as Streamlit hands it back
        drawn(figure, *args, **kwargs)
        if kwargs.get("key") == "cm":
            return types.SimpleNamespace(selection=types.SimpleNamespace(points=[{"customdata": [t, p]}]))
        return None
    monkeypatch.setattr(streamlit, "plotly_chart", clicked)
    show(at, "views/evaluate.py", run_id)
    assert (at.selectbox(key="cm_true").value, at.selectbox(key="cm_pred").value) == (classes[t], classes[p])
    assert any(m.value.startswith(f"**{report['confusion'][t][p]} true {classes[t]}, predicted {classes[p]}**")
               for m in at.markdown)
    at.selectbox(key="cm_pred").set_value("any").run()  # a later choice stands while the cell stays selected
    assert at.selectbox(key="cm_pred").value == "any"


def test_evaluate_says_what_top_losses_are_and_how_sure_the_accuracy_is():
    at, token = open_app()
    run_id = finished_run(token)
    show(at, "views/evaluate.py", run_id)
    report = store.run_row(run_id)["evaluation"]
    assert any("highest loss" in c.value and "unsure" in c.value for c in at.caption)
    assert not any("most confidently wrong" in c.value for c in at.caption)
    # every card: the true class → what the model said, ✓ right or ✗ wrong, how sure, then its file (issue 33)
    expected = [f"{t['true']} → {t['pred']} {'✓' if t['true'] == t['pred'] else '✗'} {t['prob']:.0%} · "
                for t in report["top_losses"][:16]]
    cards = [[i.caption for i in g.proto.imgs] for g in at.get("image")]
    assert any(len(c) == len(expected) and all(a.startswith(b) and len(a) > len(b) for a, b in zip(c, expected))
               for c in cards)
    assert any("95% confidence" in c.value and f"On {report['images']} images" in c.value for c in at.caption)
    classes = store.run_row(run_id)["summary"]["classes"]
    assert chart_words.confusion(report["confusion"], classes) in [c.value for c in at.caption]  # issue 33
    assert any(c.value.startswith("On average the model was ") for c in at.caption)  # the reliability chart


def test_predict_page_gives_top_k_for_an_uploaded_image():
    at, token = open_app()
    run_id = finished_run(token)
    show(at, "views/predict.py", run_id)
    kept = json.loads((run_dir(run_id) / "meta.json").read_text())["unknown"]["images"]  # how "unknown" is set
    assert any(f"**Unknown** means a picture further from all {kept} kept images" in c.value for c in at.caption)
    at.file_uploader(key="pred_upload").set_value([("seven.png", corpus.png(7, (64, 64)), "image/png")]).run()
    no_exceptions(at)
    assert any(m.value.startswith("**seven.png** →") for m in at.markdown)
    [chart] = at.get("plotly_chart")  # the top-k bars: digit names on a category axis, best guess on top
    axis = json.loads(chart.proto.spec)["layout"]["yaxis"]
    bars = json.loads(chart.proto.spec)["data"][0]
    assert axis["type"] == "category" and axis["tickvals"] == axis["categoryarray"] == bars["y"]
    assert bars["x"] == sorted(bars["x"]) and len(bars["y"]) == 5  # drawn bottom-up: ascending probability
    assert any(c.value.startswith(f"Best guess {bars['y'][-1]} (") for c in at.caption)  # the chart's sentence
    [caption] = heat_captions(at)  # issue 33: the heat map's caption is its text alternative
    best = bars["y"][-1]
    assert caption == f"Grad-CAM heat map for seven.png, predicted {best}: evidence for {best}", caption
    passes = trunk_passes(run_id)
    at.radio(key="cam_method").set_value("eigencam").run()
    no_exceptions(at)
    assert heat_captions(at) == [f"EigenCAM heat map for seven.png, predicted {best}: strongest features (any class)"]
    assert len(passes) <= 2, passes  # the top-k and the new map, once each (it was four passes: seconds a click)
    passes.clear()
    at.radio(key="cam_method").set_value("gradcam").run()
    at.slider(key="threshold").set_value(1.0).run()
    assert heat_captions(at) == [caption] and len(passes) <= 2, passes  # a map drawn once is not drawn again
    # random noise looks like no digit: "unknown" (the look-alike check) comes before "not sure", whatever the
    # threshold; the order itself is tested in tests/test_unknown.py
    assert any(m.value.startswith("**seven.png** → **unknown**") for m in at.markdown)


def trunk_passes(run_id: str) -> list[int]:
    """A list that grows by one for every pass through the run's served trunk from now on."""
    from core.serving import predict

    passes: list[int] = []
    predict.load_run(run_id).model.trunk.register_forward_hook(lambda *_: passes.append(1))
    return passes


def heat_captions(at) -> list[str]:
    return [i.caption for g in at.get("image") for i in g.proto.imgs if "CAM" in i.caption]


def test_export_page_verifies_and_offers_downloads():
    at, token = open_app()
    run_id = finished_run(token)
    show(at, "views/export.py", run_id)
    at.button(key="build-torchscript").click().run()
    no_exceptions(at)
    assert any("top-1 agreement 100.00%" in s.value for s in at.success)


def test_deleting_a_run_removes_its_files_and_rows():
    at, token = open_app()
    run_id = finished_run(token, epochs=1)
    folder = run_dir(run_id)
    assert (folder / "model.safetensors").exists()
    show(at, "views/runs.py")
    [table] = [t.value for t in at.table]  # in words: a percentage, a duration, no None
    assert list(table.index) == [words.started(store.run_row(run_id)["created"])]  # when, not the id
    row = table.iloc[0]
    assert row["role"] == "main run" and row["test accuracy"].endswith("%") and row["training time"].endswith(" s")
    assert raw_words(table.to_string()) == []
    at.selectbox(key="runs_pick").set_value(run_id).run()
    at.button(key="delete").click().run()
    no_exceptions(at)
    assert not folder.exists()
    assert jobs.runs(token) == [] and store.metrics(run_id) == []


def test_train_page_polls_only_metric_rows_it_has_not_seen(monkeypatch):
    at, token = open_app(probe("dg", epochs=3))
    run_id = finished_run(token, epochs=3)
    asked, real = [], store.metrics
    monkeypatch.setattr(store, "metrics", lambda rid, kind=None, after_id=0: asked.append((rid, kind, after_id))
                        or real(rid, kind, after_id))
    show(at, "views/train.py", run_id)
    last = real(run_id)[-1]["id"]
    first_view = [a for a in asked if a[0] == run_id]
    assert first_view[0][2] == 0 and all(a[2] >= last for a in first_view[1:])  # the whole run is read once
    asked.clear()
    store.add_metric(run_id, {"event": "step", "phase": "head", "epoch": 2, "step": 99, "loss": 0.5, "lr": 1e-3,
                              "images_per_second": 10.0})
    at.run()
    no_exceptions(at)
    reads = [a for a in asked if a[0] == run_id]
    assert reads and all(a[2] >= last for a in reads)  # later views ask only for newer rows


def test_a_job_that_ends_while_the_train_page_reads_it_is_drawn_finished(monkeypatch):
    """The page once read the run (running), then took its redraw snapshot (finished by then), then chose its
    watcher from the snapshot's time: drawn 'running' with no watcher, the page never moved again."""
    from ui import live

    at, token = open_app(probe("dg", epochs=1))
    submitted = jobs.submit(probe(digits(per_class=10, owner=token), epochs=1), token)
    lease = leases.claim_specific(submitted["job_id"])  # running when the page first reads it
    snapshot = live.drawn

    def job_ends_first(ids):
        if store.run_row(submitted["run_id"])["status"] == "running":
            worker.process(lease)  # the job ends between the page's first read and its snapshot
        snapshot(ids)

    monkeypatch.setattr(live, "drawn", job_ends_first)
    show(at, "views/train.py", submitted["run_id"])
    assert any(s.value.startswith("Done: validation accuracy") for s in at.success), [s.value for s in at.success]


def test_the_runs_page_opens_on_the_main_run_not_its_companion(me):
    """Issue 29: Runs opened on the from-scratch companion (created after its main run, so listed first)."""
    submitted = jobs.submit(probe(digits(per_class=6, owner=me), epochs=1).replace(baselines=("scratch",)), me)
    assert jobs.runs(me)[0]["role"] == "scratch"  # newest first
    at, _ = open_app(page="views/runs.py")
    no_exceptions(at)
    assert at.selectbox(key="runs_pick").value == submitted["run_id"]


def test_comparing_runs_names_them_in_words_not_by_id():
    """Issue 29: run labels read '0c8edf5cd6a6 · … · main run' in pickers, tables and legends."""
    at, token = open_app()
    first, second = finished_run(token, epochs=1), finished_run(token, epochs=1, seed=1)
    show(at, "views/evaluate.py", second)
    at.multiselect(key="compare").set_value([first]).run()
    no_exceptions(at)  # every picker option, table and heading checked for ids
    recall = [d.value for d in at.dataframe if "recall here" in d.value.columns]
    assert recall and len(recall[0].columns) == 3 and all(first not in c for c in recall[0].columns)
    assert all(first not in o and second not in o for o in at.multiselect(key="compare").options)
