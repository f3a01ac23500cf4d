"""The feature map: every image of a dataset as a point in 2-D, seen through a backbone's pooled features
(pretrained, random initialisation for contrast, or a finished run's fine-tuned trunk), with one number
for how well those features separate the classes and the images that look mislabelled.

Separation: leave-one-out k-NN accuracy (cosine, K neighbours, majority vote, ties to the nearer) on
the full features, never on the 2-D picture, which bends distances. Suspects: images whose label a linear
head that never saw them doubts, the confident-learning way (`training.label_issues`). Features come from the
process's feature cache (`training.feature_cache`) when this trunk has seen the images; otherwise extraction is the cost
(EfficientNet-Lite0 ran 12.6 images/s on this 2-core box at load average 4: 1,000 images took 150 s,
5,000 took 895 s, while the same maps from cached features took 0.7 s and 2.4 s with PCA;
tools/insight_bench.py embed-time). Projection: scikit-learn PCA (default) or t-SNE after PCA to 50
dimensions (30 s at 1,000 images, 71 s at 5,000; clusters easier to see). umap-learn is used only where it
is installed, not a dependency: it brings numba and llvmlite (210 MB), its first call in a process
compiled for 32 s (1,000) to 55 s (5,000), later calls took 2.5 s and 8.7 s: worth `pip install
umap-learn` on a long-lived server that maps large datasets often, not for everyone.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch

from core.config import EMBED_METHODS, WEIGHTS, DataSpec, RunConfig
from core.data.cache import ImageSet
from core.data.splits import for_spec
from core.errors import UserError
from core.models import registry
from core.models.transfer import build_model
from core.serving import predict
from core.training import feature_cache, label_issues
from core.training.ood import normalised
from core.training.sources import ImageBatches, extract_cached, extract_features

K = 5
BATCH = 16  # CPU extraction batch (as the trainer's: small batches stay in CPU caches)
CHUNK = 1024  # query rows per similarity matrix
TSNE_INPUT_DIMS = 50
CPU = torch.device("cpu")


def embed(dataset: str, owner: str | None = None, run_id: str | None = None, weights: str = "imagenet",
          method: str = "pca", backbone: str = "efficientnet_lite0", emit: Callable | None = None) -> dict:
    """The map's JSON: points (id, class, split, x, y, sha256, neighbours), separation, weights, method,
    suspects. `run_id` uses that run's trained trunk (then `weights` and `backbone` are the run's)."""
    _check(weights, method)
    splits = for_spec(DataSpec(dataset=dataset), owner, tool="the feature map (neighbours by class)")
    records = splits.train + splits.val + splits.test
    model, pre, trunk = _trunk(run_id, weights, backbone)
    features = _features(model, pre, trunk, records, emit or (lambda event: None))
    labels = torch.tensor([r.label for r in records])
    sims, idx = nearest(normalised(features), K)
    xy = project(normalised(features).numpy(), method)
    return {"points": _points(records, xy, sims, idx), "separation": separation(labels, idx),
            "weights": f"run:{run_id}" if run_id else weights, "method": method,
            "backbone": trunk[0], "suspects": suspects(records, features, labels, splits.classes)}


def _check(weights: str, method: str) -> None:
    if weights not in WEIGHTS:
        raise UserError(f"--weights {weights!r}: use one of {', '.join(WEIGHTS)}")
    if method not in EMBED_METHODS:
        raise UserError(f"--method {method!r}: use one of {', '.join(EMBED_METHODS)}")


# ---- features ------------------------------------------------------------------------------------
def _trunk(run_id: str | None, weights: str, backbone: str):
    """(a model with `.trunk`, its preprocessing, the feature-cache key of that trunk). A run's model is
    copied: the served one is shared by every session under its lock."""
    if run_id:
        loaded = predict.load_run(run_id)
        with loaded.lock:
            model = copy.deepcopy(loaded.model)
        config = RunConfig(backbone=f"run:{run_id}", head=loaded.config.head)  # "imagenet" = the run's weights
        return model, loaded.pre, feature_cache.trunk_key(config, loaded.pre, CPU)
    config = RunConfig(backbone=backbone, weights=weights)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # random initialisation, the same every time (and in the cache)
        model = build_model(config, 2).eval()
    pre = registry.get(backbone).preprocess()
    return model, pre, feature_cache.trunk_key(config, pre, CPU)


def _features(model, pre, trunk: tuple, records: list, emit: Callable) -> torch.Tensor:
    model = model.to(memory_format=torch.channels_last)  # as the trainer: 1.8x faster CPU inference (oneDNN)
    source = ImageBatches(ImageSet(records, pre), pre, CPU)
    extract = lambda src, name: extract_features(model, src, BATCH, emit, name, lambda: False)
    return extract_cached(source, "feature map", trunk, extract, emit).float().cpu()


# ---- neighbours, separation, suspects ------------------------------------------------------------
def nearest(unit: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(cosine similarities, indices) of each row's k nearest other rows, nearest first."""
    k = min(k, len(unit) - 1)
    sims, idx = [], []
    for start in range(0, len(unit), CHUNK):
        block = unit[start:start + CHUNK] @ unit.T
        block[torch.arange(len(block)), torch.arange(start, start + len(block))] = -2.0  # never itself
        top = block.topk(k, dim=-1)
        sims.append(top.values)
        idx.append(top.indices)
    return torch.cat(sims), torch.cat(idx)


def votes(labels: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Each image's k-NN class: the majority among its neighbours, a tie going to the nearer class."""
    neighbour = labels[idx]
    ones = torch.ones_like(neighbour, dtype=torch.float)
    counts = torch.zeros(len(idx), int(labels.max()) + 1).scatter_add_(1, neighbour, ones)
    best = counts.gather(1, neighbour) == counts.max(-1, keepdim=True).values  # neighbours of a top class
    first = best.float().argmax(-1)  # the nearest such neighbour
    return neighbour[torch.arange(len(idx)), first]


def separation(labels: torch.Tensor, idx: torch.Tensor) -> dict:
    """Leave-one-out k-NN accuracy on the full features."""
    accuracy = float((votes(labels, idx) == labels).float().mean()) if len(idx) else 0.0
    return {"knn_accuracy": round(accuracy, 4), "k": int(idx.shape[1]) if idx.dim() == 2 else 0}


def suspects(records: list, features: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> list[dict]:
    """Images whose held-out predictions doubt their label (`training.label_issues`), the least sure first."""
    found = label_issues.suspects(features.numpy(), labels.numpy(), classes)
    return [{"id": records[row["index"]].id, "class": records[row["index"]].class_name,
             **{key: value for key, value in row.items() if key != "index"}} for row in found]


def _points(records: list, xy: np.ndarray, sims: torch.Tensor, idx: torch.Tensor) -> list[dict]:
    return [{"id": r.id, "class": r.class_name, "split": r.split, "x": round(float(x), 4), "y": round(float(y), 4),
             "sha256": r.sha256, "neighbours": [{"id": records[j].id, "class": records[j].class_name,
                                                "distance": round(1.0 - float(s), 4)} for s, j in zip(srow, irow)]}
            for r, (x, y), srow, irow in zip(records, xy, sims.tolist(), idx.tolist())]


# ---- 2-D -----------------------------------------------------------------------------------------
def project(features: np.ndarray, method: str) -> np.ndarray:
    """(n, 2) coordinates, the same for the same features (fixed seeds)."""
    if len(features) < 3:
        return np.zeros((len(features), 2))
    if method == "tsne":
        return _tsne(features)
    if method == "umap":
        return _umap(features)
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=0).fit_transform(features)


def _tsne(features: np.ndarray) -> np.ndarray:
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    reduced = PCA(n_components=min(TSNE_INPUT_DIMS, *features.shape), random_state=0).fit_transform(features)
    perplexity = min(30.0, (len(features) - 1) / 3)
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=0).fit_transform(reduced)


def _umap(features: np.ndarray) -> np.ndarray:
    try:
        import umap
    except ImportError:
        raise UserError("--method umap needs the umap-learn package, which is not installed here "
                        "(pip install umap-learn); pca and tsne need nothing more") from None
    return umap.UMAP(n_components=2, random_state=0).fit_transform(features)
