"""The figure builders: class names are categories in rank or given order, every one labelled (Plotly
reads "0".."9" as numbers unless told otherwise); accuracy axes stay on 0..1; the measured star does not
sit on a quadrant's label."""
from core import scenarios
from ui import figures

DIGITS = [str(d) for d in range(10)]


def axis_names(axis) -> list[str]:
    assert axis.type == "category", axis.type
    assert list(axis.tickvals) == list(axis.categoryarray)  # every name gets its label
    return list(axis.categoryarray)


def test_top_k_with_numeric_class_names_lists_every_guess_by_rank():
    top = [{"label": "7", "prob": 0.6}, {"label": "1", "prob": 0.2}, {"label": "9", "prob": 0.1},
           {"label": "4", "prob": 0.06}, {"label": "0", "prob": 0.04}]
    fig = figures.top_k(top, 0.5)
    shown = axis_names(fig.layout.yaxis)
    assert shown[::-1] == ["7", "1", "9", "4", "0"]  # drawn bottom-up: the first guess on top
    assert list(fig.data[0].y) == shown and list(fig.data[0].x) == [t["prob"] for t in reversed(top)]


def test_confusion_and_data_charts_put_digit_classes_on_category_axes_in_order():
    matrix = [[int(t == p) for p in range(10)] for t in range(10)]
    fig = figures.confusion(matrix, DIGITS)
    assert axis_names(fig.layout.xaxis) == DIGITS and axis_names(fig.layout.yaxis) == DIGITS
    counts = {c: 5 for c in DIGITS[::-1]}  # the dataset's own order, not sorted by value
    assert axis_names(figures.class_counts(counts).layout.xaxis) == DIGITS[::-1]
    splits = {c: {"train": 3, "val": 1, "test": 1} for c in DIGITS}
    assert axis_names(figures.split_sizes(splits).layout.xaxis) == DIGITS


def test_learning_curves_keep_accuracy_on_zero_to_one_even_with_one_point():
    series = {"main": [{"x": 1, "phase": "head", "epoch": 0, "train_accuracy": 0.5, "val_accuracy": 0.6}]}
    fig = figures.curves(series, "accuracy", None, "accuracy")
    assert tuple(fig.layout.yaxis.range) == (0, 1.02)
    sizes = figures.data_size([{"per_class": 5, "pretrained": 0.8, "scratch": 0.3},
                               {"per_class": 10, "pretrained": 0.9, "scratch": 0.5}])
    assert sizes.layout.xaxis.type == "category" and list(sizes.layout.xaxis.categoryarray) == ["5", "10"]


def test_the_measured_star_is_named_in_the_legend_not_beside_a_quadrant_label():
    fig = figures.scenario_grid(scenarios.SCENARIOS, "S2", scenarios.SMALL_PER_CLASS, scenarios.SIMILAR_CONFIDENCE,
                                {"similarity": 0.18, "per_class": 50})
    star = next(t for t in fig.data if t.marker.symbol == "star")
    assert "text" not in star.mode and star.showlegend
    assert all(not t.showlegend for t in fig.data if t is not star)


def test_legends_say_the_run_and_the_split_in_words_and_rates_read_as_rates():
    """Issue 29: legends read "main train / main val"; the learning-rate axis "0.0005"."""
    row = {"x": 1, "phase": "head", "epoch": 0, "train_accuracy": 0.5, "val_accuracy": 0.6}
    fig = figures.curves({"main": [row], "scratch": [row]}, "accuracy", None, "accuracy")
    assert [t.name for t in fig.data] == ["main run, training", "main run, validation",
                                          "from-scratch baseline, training", "from-scratch baseline, validation"]
    splits = figures.split_sizes({"a": {"train": 3, "val": 1, "test": 1}})
    assert [t.name for t in splits.data] == ["training", "validation", "test"]
    rates = figures.step_chart([{"lr": 5e-4}, {"lr": 1e-4}], "lr", "learning rate")
    assert rates.layout.yaxis.tickformat == ".0e"  # "5e-4", as the Layers page writes rates
    assert figures.step_chart([{"loss": 0.5}], "loss", "loss").layout.yaxis.tickformat is None
