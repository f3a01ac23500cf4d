"""`python -m core embed --dataset N [--run ID] [--weights imagenet|none] [--method pca|tsne|umap] --json`: the
feature map of a dataset (`serving.featuremap`), how well the features separate its classes, and the images
whose label a held-out head doubts (`suspects`, least sure first; `flagged` ones below the default cut)."""
from __future__ import annotations

from core.cli.registry import command, owner_arg
from core.config import EMBED_METHODS, WEIGHTS
from core.runs import queue


def _embed_args(p):
    p.add_argument("--dataset", required=True)
    p.add_argument("--run", dest="run_id", metavar="ID", help="a finished run's fine-tuned trunk (default: --weights)")
    p.add_argument("--weights", choices=WEIGHTS, default="imagenet",
                   help="imagenet: the backbone's pretrained features; none: random initialisation, for contrast")
    p.add_argument("--method", choices=EMBED_METHODS, default="pca",
                   help="pca: fast, straight; tsne: clusters easier to see, slower; umap: needs umap-learn installed")
    p.add_argument("--backbone", default="efficientnet_lite0", help="without --run (default: efficientnet_lite0)")
    owner_arg(p)


@command("embed", "every image of a dataset as a point in 2-D through a backbone's eyes, and how well it "
                  "separates the classes", _embed_args)
def embed_cmd(args):
    from core.serving import featuremap

    if args.run_id:
        queue.run(args.run_id, args.owner)  # another person's run is not found
    found = featuremap.embed(args.dataset, args.owner, args.run_id, args.weights, args.method, args.backbone)
    sep = found["separation"]
    flagged = [s for s in found["suspects"] if s["flagged"]]
    text = (f"{len(found['points'])} images, {found['weights']} features of {found['backbone']}: leave-one-out "
            f"{sep['k']}-NN accuracy {sep['knn_accuracy']:.2f}; {len(flagged)} possibly mislabelled")
    text += "".join(f"\n  image {s['id']} ({s['class']}): a head that never saw it says {s['likely_class']} "
                    f"({s['likely_probability']:.0%}), {s['class']} {s['label_probability']:.1%}" for s in flagged[:20])
    return found, text
