"""The wizard pages through Streamlit's AppTest: they render, their widgets change the draft
RunConfig in the store, uploads show gallery counts and rejection reasons."""
import re

import pytest
import tomllib

from core import data, models
from core.config import FreezePlan, RunConfig, TrainSpec
from core.data import health
from core.execute import slot as worker
from core.runs import drafts, leases, queue as jobs
from tests import corpus
from tests.app.conftest import no_exceptions, open_app, with_data
from tests.conftest import ROOT
from tests.training import digits, probe
from tests.wording import raw_words


def rejected_table(at):
    [table] = [t.value for t in at.table if list(t.value.columns) == ["file", "problem"]]
    return table


def names(owner: str) -> list[str]:
    return [d["name"] for d in data.list_datasets(owner)]


PAGES = ["views/home.py", "views/scenario.py", "views/backbone.py", "views/data.py", "views/layers.py"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_and_with_a_dataset(page, sample_dataset):
    for config in (RunConfig(), with_data(sample_dataset)):
        at, _ = open_app(config, page)
        no_exceptions(at)
        assert at.title
        [choices] = [c.value for c in at.sidebar.caption if "while fine-tuning" in c.value]
        assert choices.startswith("scenario **S1**, small dataset, similar to ImageNet")  # not "**S1** · … data: —"
        assert "backbone efficientnet_lite0" in choices
        assert ("no dataset yet" if not config.data.dataset else f"dataset **{sample_dataset}**") in choices


def test_defaults_walk_to_a_runnable_config(sample_dataset):
    at, token = open_app(with_data(sample_dataset), "views/scenario.py")
    at.button(key="use_scenario").click().run()
    at.switch_page("views/backbone.py").run()
    at.button(key="use_backbone").click().run()
    at.switch_page("views/data.py").run()
    at.button(key="use_data").click().run()
    at.switch_page("views/layers.py").run()
    at.button(key="use_layers").click().run()
    no_exceptions(at)
    config, state = drafts.load(token)
    assert all(state[s] for s in ("scenario", "backbone", "data", "layers"))
    assert RunConfig.from_json(config.to_json()) == config
    submitted = jobs.submit(config, token)  # the queue accepts it as it is
    assert submitted["run_id"]


def test_scenario_choice_survives_page_switches_and_a_refresh():
    at, token = open_app(page="views/scenario.py")
    at.radio(key="scenario_choice").set_value("S2").run()
    no_exceptions(at)
    at.switch_page("views/backbone.py").run()
    at.switch_page("views/scenario.py").run()
    assert at.radio(key="scenario_choice").value == "S2"
    assert drafts.load(token)[0].scenario == "S2"
    assert drafts.load(token)[0].freeze.mode == "first_k"  # the S2 preset came with it
    fresh, _ = open_app(drafts.load(token)[0], "views/scenario.py")  # a new session, same draft
    assert fresh.radio(key="scenario_choice").value == "S2"


def test_per_class_upload_shows_gallery_counts_and_rejections(me):
    data.create("pets", me)
    data.add_class("pets", "cats", me)
    at, _ = open_app(with_data("pets"), "views/data.py")
    at.file_uploader(key="up:cats").set_value([
        ("good1.jpg", corpus.jpeg(1), "image/jpeg"), ("good2.png", corpus.png(2), "image/png"),
        ("notes.jpg", b"plain text", "image/jpeg"), ("empty.png", b"", "image/png")]).run()
    no_exceptions(at)
    assert data.class_counts("pets", me) == {"cats": 2}
    assert any("**cats** · 2 image(s)" in m.value for m in at.markdown)
    [gallery] = [g for g in at.get("image") if g.proto.imgs and g.proto.imgs[0].caption.startswith("cats: ")]
    assert sorted(i.caption for i in gallery.proto.imgs) == ["cats: good1.jpg", "cats: good2.png"]  # issue 33
    assert "1 class, 2 images each." in [c.value for c in at.caption]  # the class-count chart's sentence
    rejected = rejected_table(at)
    reasons = dict(zip(rejected["file"], rejected["problem"]))
    assert "not an image" in reasons["notes.jpg"] and "empty file" in reasons["empty.png"]
    at.run()  # a rerun hands the same files again: they must not be stored twice
    assert data.class_counts("pets", me) == {"cats": 2}


def test_directory_upload_creates_classes_from_folders(me):
    data.create("dirs", me)
    at, _ = open_app(with_data("dirs"), "views/data.py")
    at.file_uploader(key="up:folder").set_value([
        ("cats/a.jpg", corpus.jpeg(1), "image/jpeg"), ("dogs/b.jpg", corpus.jpeg(2), "image/jpeg"),
        ("dogs/bad.gif", b"GIF89a broken", "image/gif")]).run()
    no_exceptions(at)
    assert data.class_counts("dirs", me) == {"cats": 1, "dogs": 1}
    rejected = rejected_table(at)
    assert list(rejected["file"]) == ["dogs/bad.gif"]


def test_freeze_slider_changes_the_trainable_total(sample_dataset):
    config = with_data(sample_dataset).replace(train=TrainSpec(head_epochs=1, finetune_epochs=2))
    at, token = open_app(config, "views/layers.py")
    at.radio(key="fz_mode").set_value("first_k").run()
    totals = {}
    for k in (0, 3):
        at.slider(key="fz_k").set_value(k).run()
        no_exceptions(at)
        totals[k] = next(m.value for m in at.metric if m.label == "trainable in phase 2 (fine-tune)")
        assert drafts.load(token)[0].freeze.k == k
    assert int(totals[0].replace(",", "")) > int(totals[3].replace(",", ""))  # freezing more trains less


def test_head_builder_and_augmentation_preview(sample_dataset):
    at, token = open_app(with_data(sample_dataset), "views/layers.py")
    at.text_input(key="hd_hidden").set_value("128, 64").run()
    no_exceptions(at)
    assert drafts.load(token)[0].head.hidden == (128, 64)
    at.text_input(key="hd_hidden").set_value("big").run()
    assert any("whole numbers" in e.value for e in at.error)
    [gallery] = [g for g in at.get("image") if len(g.proto.imgs) == 8]  # one image, augmented 8 ways
    assert [i.caption for i in gallery.proto.imgs] == [f"augmented view {n} of 8" for n in range(1, 9)]
    said = [c.value for c in at.caption]  # issue 33: the stage maps say what is frozen, in words
    assert any(s.startswith("Phase 1: ") for s in said) and any(s.startswith("Phase 2: ") for s in said), said


def test_measure_my_data_places_it_on_the_grid_and_presets_the_scenario(sample_dataset):
    at, token = open_app(with_data(sample_dataset), "views/scenario.py")
    at.button(key="measure").click().run()
    no_exceptions(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["images per class"] == "8"
    measured = drafts.load(token)[1]["measured"]
    assert 0.0 <= measured["similarity"] <= 1.0 and measured["scenario"] in ("S1", "S2")  # 8 per class: small
    assert metrics["lands in"] == measured["scenario"]


def test_backbone_without_weights_is_explained_and_falls_back_to_random_init():
    at, token = open_app(page="views/backbone.py")
    at.selectbox(key="bb_choice").set_value("resnet50").run()
    no_exceptions(at)
    [warning] = [w.value for w in at.warning if "not available here" in w.value]
    assert "random initialisation" in warning and not re.search(r"(^|\s)/\w", warning)  # no file path
    assert not re.search(r"(^|\s)/\w+/", " ".join(e.value for e in [*at.success, *at.caption, *at.markdown]))
    at.button(key="use_backbone").click().run()
    config = drafts.load(token)[0]
    assert (config.backbone, config.weights) == ("resnet50", "none")
    assert any("starting from random initialisation" in c.value for c in at.caption)  # not "weights: none"
    at.selectbox(key="bb_choice").set_value("efficientnet_lite2").run()
    assert any("bundled" in s.value for s in at.success)
    assert not any(re.search(r"(^|\s)/\w+/", s.value) for s in at.success)  # the weights' file path is not shown
    [table] = [d.value for d in at.dataframe if "ImageNet top-1" in d.value.columns]
    assert raw_words(table.to_string()) == [] and "bundled with the app" in set(table["weights"])


def test_typed_names_create_a_dataset_and_its_classes_in_one_submit_each(me):
    at, _ = open_app(page="views/data.py")
    at.button(key="ds_create").click().run()  # nothing typed yet: the field is named, nothing is made
    assert any("New dataset name" in w.value for w in at.warning) and names(me) == []
    at.text_input(key="ds_new_name").set_value("my-plants")
    at.button(key="ds_create").click().run()
    no_exceptions(at)
    assert names(me) == ["my-plants"] and drafts.load(me)[0].data.dataset == "my-plants"
    for name in ("daisy", "rose"):
        at.text_input(key="class_name").set_value(name)
        at.button(key="class_add").click().run()
        no_exceptions(at)
    assert list(data.class_counts("my-plants", me)) == ["daisy", "rose"]


def test_a_new_empty_dataset_is_guided_not_alarmed(me):
    at, _ = open_app(page="views/data.py")
    at.text_input(key="ds_new_name").set_value("plants")
    at.button(key="ds_create").click().run()
    no_exceptions(at)
    # the name box empties after Create (a form cleared on submit): AppTest does not clear forms, the browser
    # test does (tests/e2e/test_workspace_browser.py)
    assert not at.error and not at.get("plotly_chart")  # no red "cannot train", no empty charts
    assert any(i.value.startswith("**Next:** add a class") for i in at.info)
    at.text_input(key="class_name").set_value("daisy")
    at.button(key="class_add").click().run()
    assert at.button(key="rm:daisy") and any("upload images for **daisy**" in i.value for i in at.info)
    at.file_uploader(key="up:daisy").set_value([("a.png", corpus.png(1), "image/png"),
                                                ("IMG_20240101_123456_portrait.png", corpus.png(2), "image/png")]).run()
    no_exceptions(at)
    assert "rm:daisy" not in [b.key for b in at.button]  # gone in the same run as the upload, no reload
    [gallery] = [[i.caption for i in g.proto.imgs] for g in at.get("image") if len(g.proto.imgs) == 2]
    # class and file (issue 33); a long name elided with a mark, never cut off mid-word
    assert gallery == ["daisy: a.png", "daisy: IMG_20…t.png"]
    assert not at.error and any("add a second class" in i.value for i in at.info)


def test_the_upload_limit_said_is_the_one_the_server_enforces(me):
    limit = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    data.create("pets", me)
    at, _ = open_app(with_data("pets"), "views/data.py")
    assert any(f"Up to {limit} MB per file." in c.value for c in at.caption)


def test_continue_says_what_comes_after_training(me):
    submitted = jobs.submit(probe(digits(per_class=6, owner=me), epochs=1), me, hold=True)
    run_id = submitted["run_id"]
    state = {step: True for step in ("scenario", "backbone", "data", "layers")}
    at, _ = open_app(with_data("dg"), state={**state, "run": run_id})
    assert "Watch your training" in [link.proto.label for link in at.get("page_link")]
    worker.process(leases.claim_specific(submitted["job_id"]))
    at.run()
    labels = [link.proto.label for link in at.get("page_link")]
    assert "Next: see how your model does (Evaluate)" in labels and "Continue: Train" not in labels


def test_using_the_suggested_learning_rate_warns_nothing_on_the_server(sample_dataset, monkeypatch):
    """The finder's button sets the LR slider through session state; the slider must then take no default
    as well, or Streamlit logs "created with a default value but also had its value set" on the server."""
    from streamlit.elements.lib import policies

    warned = []
    monkeypatch.setattr(policies.runtime, "exists", lambda: True)  # AppTest has no server runtime: checks are off
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)  # logged once per process otherwise
    monkeypatch.setattr(policies._LOGGER, "warning", lambda message, *args, **kw: warned.append(message % args))
    at, token = open_app(with_data(sample_dataset), "views/layers.py")
    at.button(key="lr_find").click().run()
    at.button(key="lr_use").click().run()
    no_exceptions(at)
    suggested = drafts.load(token)[0].train.head_lr
    assert at.select_slider(key="tr_hlr").value == suggested
    assert warned == []


def test_reset_to_the_preset_is_what_the_page_then_shows_and_keeps(sample_dataset):
    config = with_data(sample_dataset).replace(train=TrainSpec(head_epochs=1, finetune_epochs=2))
    at, token = open_app(config, "views/layers.py")
    at.radio(key="fz_mode").set_value("none").run()
    assert drafts.load(token)[0].freeze.mode == "none"
    at.button(key="preset").click().run()
    no_exceptions(at)
    assert drafts.load(token)[0].freeze.mode == "all_but_head"  # S1's plan, not saved over by the old radio value
    assert at.radio(key="fz_mode").value == "all_but_head"


def test_the_dataset_box_follows_a_loaded_sample(sample_dataset):
    """Issue 29: after 'Load sample' the box still showed the previous dataset under a heading naming the new."""
    at, token = open_app(with_data(sample_dataset), "views/data.py")
    assert at.selectbox(key="ds_pick").value == sample_dataset
    at.selectbox(key="sample_pick").set_value("digits")
    at.slider(key="sample_per_class").set_value(5)
    at.button(key="sample_load").click().run()
    no_exceptions(at)
    loaded = drafts.load(token)[0].data.dataset
    assert loaded != sample_dataset and at.subheader[0].value == f"Dataset: {loaded}"
    assert at.selectbox(key="ds_pick").value == loaded and "ds_use" not in [b.key for b in at.button]
    at.selectbox(key="ds_pick").set_value(sample_dataset).run()  # a pick waits for 'Use this dataset'
    assert at.selectbox(key="ds_pick").value == sample_dataset and drafts.load(token)[0].data.dataset == loaded
    at.button(key="ds_use").click().run()
    assert drafts.load(token)[0].data.dataset == sample_dataset
    assert at.selectbox(key="ds_pick").value == sample_dataset


def test_phase_2_says_what_it_trains_and_when_it_does_not_run(sample_dataset, me):
    """Issue 29: 'trainable in phase 2: 12,810' (the head) with stages 4-7 drawn trainable and 0 fine-tune epochs."""
    plan = FreezePlan(mode="first_k", k=4)
    config = with_data(sample_dataset).replace(freeze=plan, train=TrainSpec(head_epochs=2, finetune_epochs=0))
    at, _ = open_app(config, "views/layers.py")
    no_exceptions(at)
    phase2 = lambda: next(m.value for m in at.metric if m.label == "trainable in phase 2 (fine-tune)")
    opened = models.plan_summary(config.replace(train=TrainSpec(head_epochs=2, finetune_epochs=1)),
                                 len(data.class_names(sample_dataset, me)))
    assert phase2() == "none"
    [said] = [c.value for c in at.caption if c.value.startswith("No fine-tune epochs")]
    assert f"{opened['trainable_phase2']:,} parameters" in said
    at.number_input(key="tr_ft").set_value(1).run()
    no_exceptions(at)
    assert phase2() == f"{opened['trainable_phase2']:,}"
    assert not any(c.value.startswith("No fine-tune epochs") for c in at.caption)


def test_a_leak_across_splits_is_listed_under_plain_headings(sample_dataset, me, monkeypatch):
    """Issue 29: the leak table read 'a, a_split, b, b_split, distance'."""
    real = health.check
    pair = {"a": "seven.png", "a_split": "train", "b": "seven (copy).jpg", "b_split": "test", "distance": 2}
    monkeypatch.setattr(health, "check", lambda name, owner: {**real(name, owner),
                                                               "leaks": {"count": 1, "pairs": [pair]}})
    at, _ = open_app(with_data(sample_dataset), "views/data.py")
    no_exceptions(at)
    [table] = [d.value for d in at.dataframe if "near-identical image" in d.value.columns]
    assert table.iloc[0].tolist() == ["seven.png", "training", "seven (copy).jpg", "test", 2]
    assert raw_words(" ".join(table.columns)) == []
