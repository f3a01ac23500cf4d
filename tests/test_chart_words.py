"""Issue 33: each chart's sentence (ui.chart_words) says its key numbers in people's words, on both sides of
every condition it has: rose, fell or stayed; one epoch; with and without companions; none yet."""
from core import scenarios
from tests.wording import raw_words
from ui import chart_words as said


def row(val=None, train=None, metric="accuracy"):
    return {"x": 1, f"val_{metric}": val, f"train_{metric}": train}


def test_curves_say_rose_fell_or_stayed_over_the_epochs_and_name_each_companion():
    rose = {"main": [row(0.31), row(0.5), row(0.87)], "scratch": [row(0.1), row(0.12)]}
    assert said.curves(rose, "accuracy") == ("Validation accuracy rose from 31% to 87% over 3 epochs; "
                                             "the from-scratch baseline reached 12%.")
    fell = {"main": [row(2.3, metric="loss"), row(0.412345, metric="loss")]}
    assert said.curves(fell, "loss") == "Validation loss fell from 2.3 to 0.412 over 2 epochs."
    stayed = {"main": [row(0.5), row(0.50001)], "scratch": [row(0.2)], "linear_probe": [row(0.7)]}
    assert said.curves(stayed, "accuracy") == ("Validation accuracy stayed at 50% over 2 epochs; the from-scratch "
                                               "baseline reached 20% and the linear-probe baseline reached 70%.")


def test_curves_with_one_epoch_no_validation_or_nothing_yet():
    assert said.curves({"main": [row(0.6)]}, "accuracy") == "Validation accuracy was 60% after 1 epoch."
    no_val = {"main": [row(None, 0.4), row(None, 0.6)]}
    assert said.curves(no_val, "accuracy") == "Training accuracy rose from 40% to 60% over 2 epochs."
    assert said.curves({"main": []}, "loss") == "No loss yet: no epoch has finished."
    assert said.curves({}, "accuracy") == "No accuracy yet: no epoch has finished."
    waiting = {"main": [row(0.6)], "scratch": []}  # a companion without an epoch is not named
    assert said.curves(waiting, "accuracy") == "Validation accuracy was 60% after 1 epoch."
    other = {"today 14:02, main run": [row(0.6)], "today 15:10, main run": [row(0.7)]}
    assert said.curves(other, "accuracy").endswith("; today 15:10, main run reached 70%.")


def test_confusion_names_the_biggest_confusions_or_says_there_are_none():
    matrix = [[3, 1, 0], [0, 4, 2], [0, 0, 5]]
    assert said.confusion(matrix, ["1", "7", "9"]) == ("12 of 15 test images right (80%); most confusions: "
                                                      "7 taken for 9 (2 images), 1 taken for 7 (1 image).")
    assert said.confusion([[2, 0], [0, 1]], ["a", "b"]) == "3 of 3 test images right (100%): no confusions."
    assert said.confusion([[0, 1], [0, 0]], ["a", "b"]) == "0 of 1 test image right (0%); most confusions: a taken for b (1 image)."
    assert said.confusion([[0, 0], [0, 0]], ["a", "b"]) == "No test images were classified."
    many = [[0, 5, 4, 3], [0, 0, 0, 0], [0, 0, 0, 0], [2, 0, 0, 0]]
    assert "3 taken for 0" not in said.confusion(many, ["0", "1", "2", "3"])  # three shown, the fourth left out


def test_class_counts_and_split_sizes():
    assert said.class_counts({"cat": 12, "dog": 40, "fox": 20}) == "3 classes: most images in dog (40), fewest in cat (12)."
    assert said.class_counts({"cat": 20, "dog": 20}) == "2 classes, 20 images each."
    assert said.class_counts({"cat": 1}) == "1 class, 1 image each."
    assert said.class_counts({}) == "No images yet."
    splits = {"a": {"train": 30, "val": 10, "test": 10}, "b": {"train": 30, "val": 10, "test": 10}}
    assert said.split_sizes(splits) == "60 images for training, 20 for validation and 20 for test, over 2 classes."
    assert said.split_sizes({"a": {"train": 1, "val": 0, "test": 0}}) == ("1 image for training, 0 for validation "
                                                                         "and 0 for test, over 1 class.")


def bins(*rows):
    return [{"confidence": c, "accuracy": a, "fraction": f} for c, a, f in rows]


def test_reliability_says_over_under_or_matched_confidence():
    over = bins((0.9, 0.8, 0.5), (0.7, 0.6, 0.5), (0.2, 0.0, 0.0))
    assert said.reliability(over) == ("On average the model was 80% confident and right 70% of the time: "
                                      "over-confident by 10 points.")
    under = bins((0.6, 0.9, 1.0))
    assert said.reliability(under).endswith(": under-confident by 30 points.")
    assert said.reliability(bins((0.8, 0.79, 1.0))).endswith(": its confidence matches how often it is right.")
    assert said.reliability(bins((0.8, 0.77, 1.0))).endswith("over-confident by 3 points.")
    assert said.reliability(bins((0.8, 0.79, 0.0))) == "No test images to compare confidence with accuracy."


def test_top_k_above_and_below_the_threshold_with_one_or_more_guesses():
    top = [{"label": "7", "prob": 0.6}, {"label": "1", "prob": 0.2}, {"label": "9", "prob": 0.1}]
    assert said.top_k(top, 0.5) == "Best guess 7 (60%), then 1 (20%) and 9 (10%); above the 50% threshold."
    assert said.top_k(top[:1], 0.75) == "Best guess 7 (60%); below the 75% threshold, so not sure."
    assert said.top_k([], 0.5) == "No guesses."


def test_sweep_best_and_worst_or_one_run_or_none():
    rows = [{"frozen_stages": 0, "test_accuracy": 0.8, "seconds": 40}, {"frozen_stages": 3, "test_accuracy": 0.7,
                                                                         "seconds": 12.4},
            {"frozen_stages": 1, "test_accuracy": 0.85, "seconds": 30}, {"frozen_stages": 5, "test_accuracy": None,
                                                                          "seconds": None}]
    assert said.sweep(rows) == ("Test accuracy was best with 1 stage frozen (85%) and worst with 3 (70%); "
                                "training took 40 s with 0 frozen and 12 s with 3.")
    assert said.sweep(rows[:1]) == "Test accuracy was best with 0 stages frozen (80%)."
    assert said.sweep(rows[3:]) == "No run of the sweep has finished yet."


def test_data_size_says_who_leads_at_the_smallest_and_largest_size():
    points = [{"per_class": 5, "pretrained": 0.8, "scratch": 0.3}, {"per_class": 10, "pretrained": 0.9},
              {"per_class": 50, "pretrained": 0.95, "scratch": 0.96}]
    assert said.data_size(points) == ("With 5 images per class pretrained reached 80% and from scratch 30% "
                                      "(pretrained ahead by 50 points); with 50 pretrained reached 95% and from "
                                      "scratch 96% (from scratch ahead by 1 point).")
    level = [{"per_class": 5, "pretrained": 0.5, "scratch": 0.5}]
    assert said.data_size(level) == "With 5 images per class pretrained reached 50% and from scratch 50% (level)."
    assert said.data_size(points[1:2]).startswith("No size has both")


STAGES = [{"name": "stem", "params": 500, "phase1": "frozen", "phase2": "frozen"},
          {"name": "stage1", "params": 1_200_000, "phase1": "frozen", "phase2": "trainable"},
          {"name": "head", "params": 1_000, "phase1": "trainable", "phase2": "trainable"}]


def test_stage_map_and_parameters():
    assert said.stage_map(STAGES, "phase1") == ("Phase 1: 2 of 3 parts frozen (1.2M of 1.2M parameters); "
                                                "trainable: head.")
    assert said.stage_map(STAGES, "phase2") == "Phase 2: 1 of 3 parts frozen (500 of 1.2M parameters); trainable: stage1 and head."
    open_all = [{**s, "phase2": "trainable"} for s in STAGES]
    assert said.stage_map(open_all, "phase2") == "Phase 2: every part trainable (1.2M parameters)."
    shut = [{**s, "phase1": "frozen"} for s in STAGES]
    assert said.stage_map(shut, "phase1").endswith("; nothing trains.")
    assert said.stage_params(STAGES) == "3 parts, 1.2M parameters in all; the largest, stage1, holds 1.2M."
    assert said.stage_params([]) == "No parts to show."


def test_feature_map_scenario_grid_and_step_charts():
    points = [{"class": c, "split": s} for c in "ab" for s in ("train", "train", "test")]
    assert said.feature_map(points) == ("6 images of 2 classes (4 training and 2 test); images the backbone sees as "
                                        "alike sit near each other.")
    assert said.feature_map([]) == "No images to place."
    title = scenarios.SCENARIOS["S2"].title
    assert said.scenario_grid(scenarios.SCENARIOS, "S2", None) == f"Chosen scenario: S2 ({title}); your data is not measured yet."
    assert said.scenario_grid(scenarios.SCENARIOS, "S2", {"similarity": 0.183, "per_class": 50}).endswith(
        "Your data: 18% similarity to ImageNet and 50 images per class.")
    assert said.step_chart([{"lr": 5e-4}, {"lr": 1e-5}], "lr", "learning rate") == (
        "Learning rate went from 5e-4 to 1e-5 over 2 logged steps.")
    assert said.step_chart([{"loss": 0.5}], "loss", "loss per step") == "Loss per step: 0.5 over 1 logged step."
    assert said.step_chart([{"loss": None}], "loss", "loss per step") == "No loss per step logged yet."


def test_no_sentence_carries_raw_numbers_or_identifiers():
    sentences = [said.curves({"main": [row(0.863636), row(0.123456)]}, "accuracy"),
                 said.reliability(bins((0.863636, 0.7123, 1.0))),
                 said.top_k([{"label": "a", "prob": 0.863636}], 0.123456),
                 said.sweep([{"frozen_stages": 2, "test_accuracy": 0.863636, "seconds": 291.59}])]
    assert not [raw for s in sentences for raw in raw_words(s)], sentences


def test_pictures_say_their_class_and_file_and_heat_maps_what_they_show():
    """Streamlit's st.image has no alt text (alt="0"): the caption carries what the picture shows."""
    from ui import picture_words as pictures
    assert pictures.picture("cat", "photos/img_0042.png") == "cat: img_0042.png"
    assert pictures.picture("cat", "a_very_long_file_name_0042.png") == "cat: a_very_…42.png"
    assert pictures.judged("7", "1", 0.8, "test/img_7.png") == "7 → 1 ✗ 80% · img_7.png"
    assert pictures.judged("7", "7", 0.95, "img_7.png") == "7 → 7 ✓ 95% · img_7.png"
    assert pictures.heat_map("Grad-CAM", "cat.png", "cat", "evidence for cat") == (
        "Grad-CAM heat map for cat.png, predicted cat: evidence for cat")
    assert pictures.predicted("cat.png", [{"label": "dog", "prob": 0.7}]) == "cat.png, predicted dog"
    assert pictures.predicted("cat.png", []) == "cat.png"
    assert pictures.augmented(2) == ["augmented view 1 of 2", "augmented view 2 of 2"]


def test_the_class_experiment_names_each_value_s_mean_and_the_viewer_s_run():
    run = lambda accuracy, mine=False: {"accuracy": accuracy, "mine": mine}
    found = {"metric": "test_accuracy", "cells": [
        {"words": "learning rate 1e-3", "mean": 0.8, "runs": [run(0.8), run(0.75, True), run(0.85), run(None)]},
        {"words": "learning rate 1e-2", "mean": None, "runs": [run(None)]}]}
    assert said.experiment(found) == ("Mean test accuracy: learning rate 1e-3 80% (3 runs); learning rate 1e-2 no "
                                      "finished run yet. Your run: 75%.")
    found["cells"][0]["runs"] = [run(0.8)]
    found["metric"] = "holdout_accuracy"
    assert said.experiment(found) == ("Mean held-out accuracy: learning rate 1e-3 80% (1 run); learning rate 1e-2 no "
                                      "finished run yet.")
    assert said.experiment({"metric": "test_accuracy", "cells": []}) == "No test accuracy yet."
    from ui import picture_words
    assert picture_words.feature_maps("stage2", 8) == "the 8 strongest feature maps of stage2, dark where weak, yellow where strong"


def test_probe_and_experiment_curves_with_one_or_more_points():
    rows = [{"name": "stem", "probe_accuracy": 0.31}, {"name": "stage4", "probe_accuracy": 0.87}]
    assert said.probe(rows, "stage4") == "Linear-probe accuracy went from 31% at stem to 87% at stage4; the large dot marks stage4."
    assert said.probe(rows[:1], "stem") == "Linear-probe accuracy was 31% at stem; the large dot marks stem."
    assert said.probe([], "stem") == "No stage probed yet."
    labels = {"a": "learning rate 1e-3", "b": "learning rate 1e-2"}
    curves = [{"value": "a", "val_accuracy": [0.5, 0.8]}, {"value": "b", "val_accuracy": [0.4]},
              {"value": "b", "val_accuracy": []}]
    assert said.experiment_curves(curves, labels) == ("2 runs; the highest last validation accuracy 80% (learning rate "
                                                      "1e-3), the lowest 40% (learning rate 1e-2).")
    assert said.experiment_curves(curves[:1], labels) == "1 run; the highest last validation accuracy 80% (learning rate 1e-3)."
    assert said.experiment_curves(curves[2:], labels) == "No run has finished an epoch yet."
