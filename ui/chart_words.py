"""Each chart's key numbers in one sentence (issue 33): shown under the chart as a caption, so a screen
reader reads what the picture shows and everyone gets the numbers without hovering. Pure functions of the
same plain data the figure builders take; no streamlit here."""
from __future__ import annotations

# the curves' sentence is shared with the report's pictures (core can import no ui): `curves` is re-exported
from core.words.charts import SPLIT_WORDS, curves, listed, plural  # noqa: F401
from ui import words
from ui.figures import human


def confusion(matrix: list[list[int]], classes: list[str], shown: int = 3) -> str:
    """"34 of 40 test images right (85%); most confusions: 7 taken for 1 (4 images), 9 taken for 4 (2 images)."""
    total = sum(map(sum, matrix))
    if not total:
        return "No test images were classified."
    right = sum(matrix[i][i] for i in range(len(matrix)))
    mixes = sorted(((matrix[t][p], t, p) for t in range(len(matrix)) for p in range(len(matrix)) if t != p and matrix[t][p]),
                   key=lambda m: -m[0])
    head = f"{right:,} of {plural(total, 'test image')} right ({words.percent(right / total)})"
    if not mixes:
        return head + ": no confusions."
    named = [f"{classes[t]} taken for {classes[p]} ({plural(n, 'image')})" for n, t, p in mixes[:shown]]
    return f"{head}; most confusions: {', '.join(named)}."


def class_counts(counts: dict[str, int]) -> str:
    """"3 classes: most images in dog (40), fewest in cat (12)." or "3 classes, 20 images each."."""
    if not counts:
        return "No images yet."
    most, fewest = max(counts, key=counts.get), min(counts, key=counts.get)
    if counts[most] == counts[fewest]:
        return f"{plural(len(counts), 'class')}, {plural(counts[most], 'image')} each."
    return (f"{plural(len(counts), 'class')}: most images in {most} ({counts[most]:,}), "
            f"fewest in {fewest} ({counts[fewest]:,}).")


def split_sizes(by_class: dict[str, dict[str, int]]) -> str:
    """"60 images for training, 20 for validation and 20 for test, over 3 classes."."""
    sums = {split: sum(v.get(split, 0) for v in by_class.values()) for split in SPLIT_WORDS}
    parts = [f"{plural(sums['train'], 'image')} for training", f"{sums['val']:,} for validation",
             f"{sums['test']:,} for test"]
    return f"{listed(parts)}, over {plural(len(by_class), 'class')}."


def reliability(bins: list[dict], close: float = 0.02) -> str:
    """Confidence against accuracy over all images: over-confident, under-confident or about right."""
    used = [b for b in bins if b.get("fraction")]
    weight = sum(b["fraction"] for b in used)
    if not weight:
        return "No test images to compare confidence with accuracy."
    confident = sum(b["confidence"] * b["fraction"] for b in used) / weight
    right = sum(b["accuracy"] * b["fraction"] for b in used) / weight
    told = f"On average the model was {words.percent(confident, 0)} confident and right {words.percent(right, 0)} of the time"
    gap = round((confident - right) * 100)
    if abs(confident - right) <= close:
        return told + ": its confidence matches how often it is right."
    return told + f": {'over' if gap > 0 else 'under'}-confident by {plural(abs(gap), 'point')}."


def top_k(top: list[dict], threshold: float) -> str:
    """"Best guess 7 (60%), then 1 (20%) and 9 (10%); above the 50% threshold."."""
    if not top:
        return "No guesses."
    best, rest = top[0], [f"{t['label']} ({words.percent(t['prob'])})" for t in top[1:]]
    told = f"Best guess {best['label']} ({words.percent(best['prob'])})" + (f", then {listed(rest)}" if rest else "")
    side = "above" if best["prob"] >= threshold else "below"
    return f"{told}; {side} the {words.percent(threshold)} threshold{'' if side == 'above' else ', so not sure'}."


def sweep(results: list[dict]) -> str:
    """Best and worst test accuracy by stages frozen, and the training time at both ends."""
    done = sorted((r for r in results if r["test_accuracy"] is not None), key=lambda r: r["frozen_stages"])
    if not done:
        return "No run of the sweep has finished yet."
    best = max(done, key=lambda r: r["test_accuracy"])
    told = f"Test accuracy was best with {plural(best['frozen_stages'], 'stage')} frozen ({words.percent(best['test_accuracy'])})"
    if len(done) > 1:
        worst = min(done, key=lambda r: r["test_accuracy"])
        told += f" and worst with {worst['frozen_stages']} ({words.percent(worst['test_accuracy'])})"
        told += (f"; training took {words.duration(done[0]['seconds'])} with {done[0]['frozen_stages']} frozen "
                 f"and {words.duration(done[-1]['seconds'])} with {done[-1]['frozen_stages']}")
    return told + "."


def data_size(points: list[dict]) -> str:
    """Pretrained against from scratch at the smallest and the largest size that has both."""
    both = [p for p in points if p.get("pretrained") is not None and p.get("scratch") is not None]
    if not both:
        return "No size has both its pretrained and its from-scratch run finished yet."
    ends = [both[0]] if len(both) == 1 else [both[0], both[-1]]
    said = [_gap(p, i == 0) for i, p in enumerate(ends)]
    return "; ".join(said) + "."


def _gap(point: dict, first: bool) -> str:
    pre, scratch = point["pretrained"], point["scratch"]
    lead = round((pre - scratch) * 100)
    ahead = (f"pretrained ahead by {plural(lead, 'point')}" if lead > 0 else
             f"from scratch ahead by {plural(-lead, 'point')}" if lead < 0 else "level")
    size = f"With {point['per_class']} images per class" if first else f"with {point['per_class']}"
    return f"{size} pretrained reached {words.percent(pre)} and from scratch {words.percent(scratch)} ({ahead})"


def stage_map(rows: list[dict], phase: str) -> str:
    """"Phase 1: 3 of 6 parts frozen (1.2M of 2.5M parameters); trainable: stage5 and head."."""
    name = f"Phase {phase[-1]}"
    frozen = [r for r in rows if r[phase] == "frozen"]
    total = sum(r["params"] for r in rows)
    if not frozen:
        return f"{name}: every part trainable ({human(total)} parameters)."
    trainable = [r["name"] for r in rows if r[phase] != "frozen"]
    told = (f"{name}: {len(frozen)} of {plural(len(rows), 'part')} frozen "
            f"({human(sum(r['params'] for r in frozen))} of {human(total)} parameters)")
    return told + (f"; trainable: {listed(trainable)}." if trainable else "; nothing trains.")


def stage_params(stages: list[dict]) -> str:
    """"6 parts, 2.5M parameters in all; the largest, stage5, holds 1.1M."."""
    if not stages:
        return "No parts to show."
    largest = max(stages, key=lambda s: s["params"])
    return (f"{plural(len(stages), 'part')}, {human(sum(s['params'] for s in stages))} parameters in all; "
            f"the largest, {largest['name']}, holds {human(largest['params'])}.")


def feature_map(points: list[dict]) -> str:
    """How many images of how many classes, by split; what nearness means."""
    if not points:
        return "No images to place."
    classes = {p["class"] for p in points}
    splits = [f"{sum(p['split'] == s for p in points):,} {SPLIT_WORDS[s]}" for s in SPLIT_WORDS
              if any(p["split"] == s for p in points)]
    return (f"{plural(len(points), 'image')} of {plural(len(classes), 'class')} ({listed(splits)}); images the "
            "backbone sees as alike sit near each other.")


def scenario_grid(scenarios: dict, selected: str, measured: dict | None) -> str:
    """Which scenario is chosen, and where the measured data sits."""
    chosen = f"Chosen scenario: {selected} ({scenarios[selected].title})"
    if not measured:
        return chosen + "; your data is not measured yet."
    return (f"{chosen}. Your data: {words.percent(measured['similarity'], 0)} similarity to ImageNet and "
            f"{plural(measured['per_class'], 'image')} per class.")


STEP_VALUES = {"lr": words.rate, "loss": words.number, "images_per_second": words.number}


def step_chart(steps: list[dict], key: str, title: str) -> str:
    """"Learning rate went from 5e-4 to 1e-5 over 120 logged steps."."""
    values = [s[key] for s in steps if s.get(key) is not None]
    if not values:
        return f"No {title} logged yet."
    shown = STEP_VALUES.get(key, words.number)
    if len(values) == 1 or shown(values[0]) == shown(values[-1]):
        return f"{title.capitalize()}: {shown(values[-1])} over {plural(len(values), 'logged step')}."
    return f"{title.capitalize()} went from {shown(values[0])} to {shown(values[-1])} over {len(values):,} logged steps."


def experiment(found: dict) -> str:
    """The class experiment's chart: each value's mean over its finished runs, and the viewer's own run."""
    metric = "held-out accuracy" if found.get("metric") == "holdout_accuracy" else "test accuracy"
    parts = [f"{c['words']} {words.percent(c['mean'])} ({plural(len(_finished(c)), 'run')})" if c["mean"] is not None
             else f"{c['words']} no finished run yet" for c in found["cells"]]
    mine = [r["accuracy"] for c in found["cells"] for r in _finished(c) if r["mine"]]
    told = f"Mean {metric}: {'; '.join(parts)}" if parts else f"No {metric} yet"
    return told + (f". Your run: {words.percent(mine[0])}." if mine else ".")


def _finished(cell: dict) -> list[dict]:
    return [r for r in cell["runs"] if r["accuracy"] is not None]


def probe(rows: list[dict], chosen: str) -> str:
    """The stage viewer's probe chart: accuracy at the first and the last stage, and the marked stage."""
    if not rows:
        return "No stage probed yet."
    first, last = rows[0], rows[-1]
    told = (f"Linear-probe accuracy was {words.percent(first['probe_accuracy'])} at {first['name']}" if len(rows) == 1 else
            f"Linear-probe accuracy went from {words.percent(first['probe_accuracy'])} at {first['name']} to "
            f"{words.percent(last['probe_accuracy'])} at {last['name']}")
    return f"{told}; the large dot marks {chosen}."


def experiment_curves(shown: list[dict], labels: dict[str, str]) -> str:
    """The class experiment's learning curves: how many runs, and the best and worst last validation accuracy."""
    ended = [(c["val_accuracy"][-1], labels[c["value"]]) for c in shown if c["val_accuracy"]]
    if not ended:
        return "No run has finished an epoch yet."
    (high, best), (low, worst) = max(ended), min(ended)
    told = f"{plural(len(ended), 'run')}; the highest last validation accuracy {words.percent(high)} ({best})"
    return told + ("." if len(ended) == 1 else f", the lowest {words.percent(low)} ({worst}).")
