"""The feature map (`python -m core embed`): pretrained features separate MNIST better than random ones,
every image is one finite point, and an image put in the wrong class is named as a suspect. MNIST at 10
per class: the feature cache keeps each trunk's vectors across these tests (same images, same process)."""
import json
import math

import pytest

from core.cli.main import main
from core.data import cleaner
from core.serving import featuremap
from tests.training import mnist


@pytest.mark.slow  # 200 images through two networks: 30 s at load average 4-6 on 2 cores (12.6 images/s)
def test_pretrained_features_separate_mnist_better_than_random_init():
    ds = mnist(per_class=10)
    pretrained = featuremap.embed(ds, weights="imagenet")
    random_init = featuremap.embed(ds, weights="none")
    # measured: 0.82 against 0.69 at 20 per class (the note in README has the larger samples)
    assert pretrained["separation"]["knn_accuracy"] > random_init["separation"]["knn_accuracy"] + 0.05
    assert pretrained["separation"]["k"] == featuremap.K


def test_each_image_is_one_finite_point():
    ds = mnist(per_class=10)
    found = featuremap.embed(ds)
    assert len(found["points"]) == 100 and len({p["id"] for p in found["points"]}) == 100
    assert all(math.isfinite(p["x"]) and math.isfinite(p["y"]) for p in found["points"])
    assert {p["split"] for p in found["points"]} == {"train", "val", "test"}


@pytest.mark.slow  # 200 MNIST digits through Lite0 (100 of them cached by the tests above when run together)
def test_flipped_labels_lead_the_suspects_and_few_correct_images_are_flagged():
    """Issue 29: 10 of 200 labels flipped on purpose; the 5-nearest-neighbour vote listed 25 suspects, 8 flipped.
    Measured with the held-out head: the note of issue 29 (tools/suspects_bench.py)."""
    ds = mnist(per_class=20)
    points = featuremap.embed(ds)["points"]
    flipped = {}
    for c in range(10):  # each class's first image moved to the class three further on
        image = next(p for p in points if p["class"] == str(c))
        flipped[image["id"]] = str((c + 3) % 10)
        cleaner.relabel(ds, image["id"], flipped[image["id"]])
    found = featuremap.embed(ds)["suspects"]
    flagged = [s for s in found if s.get("flagged", True)]
    others = [s for s in flagged if s["id"] not in flipped]
    assert len(others) < len(flipped), (len(flagged), len(others))
    assert [s["id"] in flipped for s in found[:3]] == [True] * 3, found[:3]
    assert sum(s["id"] in flipped for s in flagged) > len(others)
    first = found[0]
    assert first["class"] == flipped[first["id"]] and 0 <= first["label_probability"] < 0.05
    assert first["likely_class"] != first["class"] and first["likely_probability"] > first["label_probability"]


def test_embed_json_contract_and_bad_input(capsys):
    ds = mnist(per_class=10)
    assert main(["embed", "--dataset", ds, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert {"points", "separation", "weights", "method", "suspects"} <= set(found)
    assert {"id", "class", "split", "x", "y"} <= set(found["points"][0])
    assert set(found["separation"]) == {"knn_accuracy", "k"}
    assert found["weights"] == "imagenet" and found["method"] == "pca"
    assert main(["embed", "--dataset", "nope", "--json"]) == 2
    assert "nope" in json.loads(capsys.readouterr().out)["error"]
