"""Benchmark (not a test): how true "possibly mislabelled" is, and how true "unknown" is, on MNIST.

usage: .venv/bin/python tools/suspects_bench.py [--per-class 20] [--flips 10] [--draws 5]   prints one JSON object

suspects: MNIST (the bundled sample, `per_class` per class) through EfficientNet-Lite0's ImageNet features, as the
feature map sees them; in each draw `flips` labels are moved to another class at random (seeded) and
`training.label_issues` lists its suspects: how many are flagged, how many of them were flipped, and how many of
the first `flips` of the list were flipped.
unknown: per draw, `per_class` random MNIST images per class are kept (the bank), the rest of 50 per class are the
unseen ones; the rate at which those and 25 foreign photos (scikit-image, scikit-learn's and matplotlib's sample
photos) are called unknown by `training.ood` at its ALPHA.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.getcwd())


def features(per_class: int):
    """(features, labels) of MNIST's first `per_class` images per class, through Lite0 (ImageNet weights)."""
    from core.config import DataSpec
    from core.data import samples
    from core.data.splits import for_spec
    from core.serving import featuremap

    samples.materialize("mnist", "mn", per_class=per_class)
    splits = for_spec(DataSpec(dataset="mn"), None)
    records = splits.train + splits.val + splits.test
    model, pre, trunk = featuremap._trunk(None, "imagenet", "efficientnet_lite0")
    found = featuremap._features(model, pre, trunk, records, lambda event: None)
    return found.numpy(), np.array([r.label for r in records])


def foreign():
    """25 photos of anything but digits, through the same trunk."""
    import skimage.data as photos
    import torch
    from PIL import Image

    from core.data.transforms import model_input
    from core.serving import featuremap

    names = ("astronaut", "camera", "chelsea", "coffee", "rocket", "coins", "moon", "page", "horse", "hubble_deep_field",
             "immunohistochemistry", "brick", "grass", "gravel", "text", "checkerboard", "clock", "retina", "cat",
             "logo", "colorwheel")
    pictures = []
    for name in names:
        pixels = getattr(photos, name)()
        pixels = (pixels * 255).astype(np.uint8) if pixels.dtype == bool else pixels
        pictures.append(Image.fromarray(pixels).convert("RGB"))
    import matplotlib
    import sklearn

    for path in (os.path.join(os.path.dirname(sklearn.__file__), "datasets/images/china.jpg"),
                 os.path.join(os.path.dirname(sklearn.__file__), "datasets/images/flower.jpg"),
                 os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data/sample_data/grace_hopper.jpg")):
        pictures.append(Image.open(path).convert("RGB"))
    model, pre, _ = featuremap._trunk(None, "imagenet", "efficientnet_lite0")
    with torch.inference_mode():
        return model.trunk(model_input(pictures, pre)).numpy()


def suspects(x, y, flips: int, draws: int) -> list[dict]:
    from core.training import label_issues

    out = []
    for seed in range(draws):
        rng = np.random.default_rng(seed)
        noisy = y.copy()
        flipped = rng.choice(len(y), size=flips, replace=False)
        noisy[flipped] = (noisy[flipped] + rng.integers(1, 10, size=flips)) % 10
        found = label_issues.suspects(x, noisy, [str(c) for c in range(10)])
        flagged = [row["index"] for row in found if row["flagged"]]
        out.append({"seed": seed, "listed": len(found), "flagged": len(flagged),
                    "flagged_flipped": len(set(flagged) & set(flipped.tolist())),
                    "first_flips_flipped": len(set(r["index"] for r in found[:flips]) & set(flipped.tolist()))})
    return out


def unknown(x, y, other, per_class: int, draws: int) -> list[dict]:
    import torch

    from core.training import ood

    x, other = torch.from_numpy(x), torch.from_numpy(other)
    out = []
    for seed in range(draws):
        rng = np.random.default_rng(seed)
        kept = np.zeros(len(y), bool)
        for c in range(10):
            kept[rng.choice(np.flatnonzero(y == c), per_class, replace=False)] = True
        bank, facts = ood.reference(x[kept], x[:0])
        own = ood.scores(ood.normalised(x[~kept]), bank) > facts["threshold"]
        far = ood.scores(ood.normalised(other), bank) > facts["threshold"]
        out.append({"seed": seed, "kept": int(kept.sum()), "unseen": int((~kept).sum()),
                    "unseen_unknown": round(float(own.float().mean()), 4), "foreign": len(other),
                    "foreign_unknown": round(float(far.float().mean()), 4)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--flips", type=int, default=10)
    parser.add_argument("--draws", type=int, default=5)
    args = parser.parse_args()
    os.environ["TRANSFERLAB_HOME"] = tempfile.mkdtemp(prefix="suspects-bench-")
    os.environ.setdefault("TRANSFERLAB_OFFLINE", "1")
    x, y = features(args.per_class)
    x50, y50 = features(50)
    print(json.dumps({"suspects": suspects(x, y, args.flips, args.draws),
                      "unknown": unknown(x50, y50, foreign(), args.per_class, args.draws)}, indent=1))


if __name__ == "__main__":
    main()
