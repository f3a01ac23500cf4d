"""The learning-curve lab: nested subsets, shared features, and transfer's head start at small sizes."""
from __future__ import annotations

import json

import pytest

from core.cli.main import main
from core.data import pins
from core.data.store import ImageRecord
from core.errors import UserError
from core.recipes import datasize
from core.runs import store
from core.training import feature_cache
from tests.training import mnist


def _records(per_class: dict[int, int]) -> list[ImageRecord]:
    return [ImageRecord(len(str(label)) * 1000 + i, f"{label:02d}{i:062d}", label, str(label), "train", f"{i}.png", 8, 8)
            for label, count in per_class.items() for i in range(count)]


def test_subsets_are_nested_per_class_and_stable():
    train = _records({0: 30, 1: 30, 2: 7})
    subsets = datasize.nested_subsets(train, (5, 10, 25), seed=3)
    assert list(subsets) == [5, 10, 25]
    for small, large in ((5, 10), (10, 25)):
        assert {r.sha256 for r in subsets[small]} <= {r.sha256 for r in subsets[large]}
    counts = {label: sum(r.label == label for r in subsets[10]) for label in (0, 1, 2)}
    assert counts == {0: 10, 1: 10, 2: 7}  # a small class gives what it has
    # the same seed picks the same images whatever order the store listed them in
    again = datasize.nested_subsets(list(reversed(train)), (5,), seed=3)
    assert {r.sha256 for r in again[5]} == {r.sha256 for r in subsets[5]}
    other = datasize.nested_subsets(train, (5,), seed=4)
    assert {r.sha256 for r in other[5]} != {r.sha256 for r in subsets[5]}


def test_sizes_beyond_the_data_collapse_into_all():
    train = _records({0: 12, 1: 12})
    subsets = datasize.nested_subsets(train, datasize.parse_sizes("5,50,all"), seed=0)
    assert list(subsets) == [5, 12]
    assert len(subsets[12]) == len(train)


@pytest.mark.parametrize("text", ["", "0", "5,x", "-3"])
def test_bad_sizes_are_refused_with_the_reason(text):
    with pytest.raises(UserError, match="sizes"):
        datasize.parse_sizes(text)


def test_data_size_sweep_shows_transfer_winning_with_few_images(capsys):
    """Through the CLI contract: pretrained beats scratch at the smallest size on MNIST, every run
    tests on the same list, the second size re-uses the first size's features, and one size's two curves
    are compared. (The from-scratch runs train every layer: this one lab is the test's whole cost.)"""
    feature_cache.shared().clear()
    mnist("mn", per_class=20)
    code = main(["sweep", "--over", "data-size", "--dataset", "mn", "--sizes", "3,5", "--epochs", "6",
                 "--wait", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    points = out["points"]
    assert [p["per_class"] for p in points] == [3, 5]
    smallest = points[0]
    assert smallest["pretrained"] > smallest["scratch"] + 0.2, points
    assert smallest["pretrained"] > 0.3  # ten classes: chance is 0.1

    runs = [p["runs"][kind] for p in points for kind in datasize.KINDS]
    assert len({tuple(r.sha256 for r in pins.load(r).test) for r in runs}) == 1  # one fixed test list
    train_3, train_5 = ({r.sha256 for r in pins.load(p["runs"]["pretrained"]).train} for p in points)
    assert len(train_3) == 30 and len(train_5) == 50 and train_3 < train_5

    # the second pretrained run extracted only the two new images per class; validation came from the cache
    events = [e for e in store.metrics(points[1]["runs"]["pretrained"]) if e["event"] == "extract"]
    cached = {e["split"]: e["cached"] for e in events if "cached" in e}
    assert cached.get("val") == len(pins.load(points[1]["runs"]["pretrained"]).val)
    assert cached.get("train") == 30

    # one size's two learning curves, compared epoch by epoch
    shapes = datasize.shapes(datasize.results(out["sweep"], "cli")["points"][0])
    assert len(shapes["series"]["pretrained"]) == 6 and len(shapes["series"]["scratch"]) == 6
    assert shapes["compare"]["verdict"][0] in ("higher start", "lower start", "same start")
