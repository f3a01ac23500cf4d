"""Issue 33, colour: every chart colour is Okabe–Ito or a neutral grey, and never the only difference: roles on
learning curves differ by dash and marker, classes on the feature map by shape, frozen bars by hatching and
words, confusion cells carry their counts."""
import itertools

import pytest

from core import scenarios
from ui import experiment_chart, figures, lab

SAFE = {c.lower() for c in figures.OKABE_ITO.values()} | {c.lower() for c in figures.GREYS}
ROW = {"x": 1, "phase": "head", "epoch": 0, "train_accuracy": 0.5, "val_accuracy": 0.6, "train_loss": 1.0,
       "val_loss": 1.2}
STAGES = [{"name": "stem", "params": 500, "phase1": "frozen", "phase2": "frozen"},
          {"name": "stage1", "params": 20_000, "phase1": "frozen", "phase2": "trainable"},
          {"name": "head", "params": 1_000, "phase1": "trainable", "phase2": "trainable"}]
POINTS = [{"class": c, "split": s, "x": i, "y": i, "id": i}
          for i, (c, s) in enumerate(itertools.product("abcdefghij", ("train", "val", "test")))]


def _rgba_base(colour: str) -> str:
    """A tint written "rgba(0,114,178,0.12)" → its colour "#0072b2"."""
    r, g, b = (int(v) for v in colour[5:-1].split(",")[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _colours(fig) -> list[str]:
    found = []
    for trace in fig.data:
        marker = getattr(trace, "marker", None)
        if marker is not None and marker.opacity is not None and marker.opacity < 0.05:
            continue  # an invisible click target
        for value in (getattr(marker, "color", None), getattr(getattr(trace, "line", None), "color", None)):
            found += value if isinstance(value, (list, tuple)) else [value] if isinstance(value, str) else []
    for shape in fig.layout.shapes:
        found += [c for c in (shape.fillcolor, shape.line.color) if c]
    return [_rgba_base(c) if c.startswith("rgba") else c.lower() for c in found]


FIGURES = {
    "scenario grid": lambda: figures.scenario_grid(scenarios.SCENARIOS, "S2", scenarios.SMALL_PER_CLASS,
                                                   scenarios.SIMILAR_CONFIDENCE, {"similarity": 0.2, "per_class": 50}),
    "stage map": lambda: figures.stage_map(STAGES, "phase1"),
    "stage params": lambda: figures.stage_params(STAGES),
    "class counts": lambda: figures.class_counts({"a": 3, "b": 5}),
    "split sizes": lambda: figures.split_sizes({"a": {"train": 3, "val": 1, "test": 1}}),
    "curves": lambda: figures.curves({"main": [ROW], "scratch": [ROW], "linear_probe": [ROW], "other": [ROW]},
                                     "accuracy", 1, "accuracy"),
    "step chart": lambda: figures.step_chart([{"loss": 1.0}, {"loss": 0.5}], "loss", "loss"),
    "confusion": lambda: figures.confusion([[3, 1], [0, 4]], ["a", "b"]),
    "reliability": lambda: figures.reliability([{"low": 0.0, "high": 0.5, "accuracy": 0.4, "fraction": 0.3},
                                                {"low": 0.5, "high": 1.0, "accuracy": 0.9, "fraction": 0.7}]),
    "top k": lambda: figures.top_k([{"label": "a", "prob": 0.7}, {"label": "b", "prob": 0.3}], 0.5),
    "sweep": lambda: figures.sweep([{"frozen_stages": 0, "test_accuracy": 0.8, "seconds": 10},
                                    {"frozen_stages": 1, "test_accuracy": 0.7, "seconds": 6}]),
    "data size": lambda: figures.data_size([{"per_class": 5, "pretrained": 0.8, "scratch": 0.3}]),
    "feature map": lambda: figures.feature_map(POINTS),
    "probe": lambda: lab.probe_figure([{"name": "stem", "probe_accuracy": 0.3}], "stem"),
    "lr finder": lambda: lab.lr_figure({"lrs": [1e-4, 1e-3], "raw_losses": [2.0, 1.5], "losses": [2.0, 1.6],
                                        "suggested": 1e-3, "rule": "steepest"}),
    "experiment curves": lambda: experiment_chart.learning_curves(
        [{"value": v, "epoch": [1, 2], "val_accuracy": [0.5, 0.6], "mine": v == "a"} for v in "abc"],
        ["a", "b", "c"], {"a": "A", "b": "B", "c": "C"}),
}


@pytest.mark.parametrize("name", FIGURES)
def test_every_chart_colour_is_okabe_ito_or_a_neutral_grey(name):
    colours = _colours(FIGURES[name]())
    assert colours or name == "confusion", name  # the heat map's colours are a sequential blue scale
    assert set(colours) <= SAFE, (name, set(colours) - SAFE)


def test_curve_roles_differ_by_dash_and_marker_not_colour_alone():
    validation = [t for t in FIGURES["curves"]().data if t.name.endswith("validation")]
    assert len(validation) == 4
    for a, b in itertools.combinations(validation, 2):
        assert a.line.dash != b.line.dash and a.marker.symbol != b.marker.symbol, (a.name, b.name)
    fig = figures.data_size([{"per_class": 5, "pretrained": 0.8, "scratch": 0.3}])
    pretrained, scratch = fig.data[:2]
    assert (pretrained.name, scratch.name) == ("pretrained", "from scratch")  # the legend in words
    assert pretrained.line.dash != scratch.line.dash and pretrained.marker.symbol != scratch.marker.symbol
    values = FIGURES["experiment curves"]().data
    assert len({t.line.dash for t in values}) == len({t.marker.symbol for t in values}) == 3


def test_training_and_validation_curves_differ_by_width_and_fill():
    train, val = FIGURES["curves"]().data[:2]
    assert train.line.width < val.line.width and train.marker.symbol == val.marker.symbol + "-open"


def test_feature_map_classes_differ_by_shape_and_each_class_style_is_its_own():
    traces = FIGURES["feature map"]().data
    shapes = [t.marker.symbol[0] for t in traces]
    assert len(set(shapes[:8])) == 8  # up to 8 classes, no two share a shape
    styles = [figures.class_style(i) for i in range(64)]
    assert len(set(styles)) == 64
    first = traces[0].marker.symbol
    assert first[0] != first[1] != first[2] and first[1].endswith("-open")  # the split: fill, not shape


def test_frozen_bars_are_hatched_and_say_so_and_confusion_cells_show_counts():
    bars = FIGURES["stage map"]().data[0]
    assert list(bars.marker.pattern.shape) == ["/", "/", ""]
    assert [t.split("<br>")[1] for t in bars.text] == ["frozen", "frozen", "trainable"]
    below = FIGURES["top k"]().data[0]
    assert list(below.marker.pattern.shape) == ["/", ""]  # drawn bottom-up: the guess under the threshold first
    heat = FIGURES["confusion"]().data[0]
    assert heat.texttemplate == "%{text}" and heat.colorscale[0][1] != heat.colorscale[-1][1]
    assert [[c for c in row] for row in heat.text] == [[3, 1], [0, 4]]
