"""The report to leave behind: one self-contained HTML file about a finished run, the model card's long form.

Built from the same facts as the card (`card.facts`) plus what only a long form has room for: the scenario
and why, the data per class and split with its health warnings, training curves beside the from-scratch
baseline, the confusion matrix, per-class precision/recall/F1, calibration, Grad-CAM on right and wrong
test images, the deployment figures once measured, and the limitations. Numbers come from the same
function as `evaluate --json` (`rescore.evaluate_run`) and carry their raw value in `data-value`.

Self-contained: no address of any other file or site (pictures are `data:` URIs, charts are PNGs drawn
here, the style is inline), so it opens offline, mails as one attachment, and prints (A4, print CSS).
"""
from __future__ import annotations

import html
import re
import time
from pathlib import Path

from core import data, words
from core.data import health
from core.data.splits import SPLITS, Splits
from core.errors import UserError
from core.scenarios import SCENARIOS, size_bucket
from core.serving import card, charts, deployment, predict, rescore
from core.training import multilabel
from core.training.curves import epoch_series
from core.words import charts as chart_words

SECTIONS = (("scenario", "The scenario and why"), ("data", "The data"), ("model", "Backbone and what was frozen"),
            ("training", "Training"), ("results", "Results on held-out images"), ("calibration", "Calibration"),
            ("examples", "Where the model looks"), ("deployment", "What deploying it costs"),
            ("limitations", "Limitations"))
EXAMPLES = 3  # right and wrong test images each, with Grad-CAM
SPLIT_NAMES = {"train": "training", "val": "validation", "test": "test"}


def build(run: dict, companions: list[dict], lists: Splits, out: str | Path) -> dict:
    """Write the report of `run` (as `queue.run` gives it, with its epochs) to `out`; `companions`: its
    baselines' runs, `lists`: its pinned image lists. Returns {"path", "size_kb", "sections", "run"}."""
    evaluation = rescore.evaluate_run(run["id"], lists)
    facts = dict(card.facts(run))
    parts = {"scenario": _scenario(run, lists), "data": _data(run, lists), "model": _model(facts),
             "training": _training(run, companions, facts), "results": _results(evaluation),
             "calibration": _calibration(evaluation), "examples": _examples(run["id"], evaluation, lists),
             "deployment": _deployment(run["id"]), "limitations": _list(facts["Limitations"])}
    body = "".join(f'<section id="{key}" data-section="{key}"><h2>{title}</h2>{parts[key]}</section>'
                   for key, title in SECTIONS)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_page(run, evaluation, body), encoding="utf-8")
    return {"path": str(out), "size_kb": round(out.stat().st_size / 1024, 1), "sections": [k for k, _ in SECTIONS],
            "run": run["id"]}


# ---- pieces of HTML --------------------------------------------------------------------------------------
def _e(value) -> str:
    return html.escape(str(value))


def _inline(text: str) -> str:
    """A fact line in HTML: escaped, the card's **bold** kept."""
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", _e(text))


def _list(lines: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{_inline(line)}</li>" for line in lines) + "</ul>"


def _value(metric: str, value, shown: str, **extra) -> str:
    """A number people read, with its exact value for machines (and the report's tests)."""
    attributes = "".join(f' data-{k}="{_e(v)}"' for k, v in extra.items())
    return f'<span data-metric="{metric}" data-value="{_e(value)}"{attributes}>{_e(shown)}</span>'


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """Cells are HTML already (escaped by their maker)."""
    top = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (f'<table class="{cls}"><thead><tr>{top}</tr></thead><tbody>'
            + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows) + "</tbody></table>")


def _figure(uri: str, caption: str) -> str:
    return f'<figure><img src="{uri}" alt="{_e(caption)}"><figcaption>{_e(caption)}</figcaption></figure>'


# ---- sections ------------------------------------------------------------------------------------------
def _scenario(run: dict, lists: Splits) -> str:
    code = run["config"]["scenario"]
    scenario = SCENARIOS.get(code)
    per_class = len(lists.train) / max(1, len(lists.classes))
    said = (f"<p>This run trained <strong>{per_class:.0f} images per class</strong>: a "
            f"<strong>{size_bucket(per_class)}</strong> dataset by the app's rule.</p>")
    if scenario is None:
        return said + f"<p>Scenario {_e(code)}.</p>"
    return (f"<p><strong>{_e(code)} · {_e(scenario.title)}: {_e(scenario.strategy)}.</strong></p>"
            f"<p>{_e(scenario.explanation)}</p>" + said
            + _list([f"Freezing: {scenario.freezing}", f"Learning rate: {scenario.learning_rate}"]))


def _data(run: dict, lists: Splits) -> str:
    rows = [[_e(name)] + [_value("count", n, str(n), split=s, **{"class": name}) for s, n in zip(SPLITS, counts)]
            + [str(sum(counts))] for name, counts in _counts(lists).items()]
    totals = [len(getattr(lists, s)) for s in SPLITS]
    rows.append(["<strong>all</strong>"] + [f"<strong>{n}</strong>" for n in totals] + [f"<strong>{sum(totals)}</strong>"])
    gone = (f"<p>Dataset <strong>{_e(run['dataset'])}</strong> was deleted since this run; the run keeps its own "
            "images, counted here.</p>") if run.get("dataset_gone") else ""
    return (f"<p>Dataset <strong>{_e(run['config']['data']['dataset'])}</strong>, as this run pinned it when it was "
            "submitted:</p>" + _table(["class"] + [SPLIT_NAMES[s] for s in SPLITS] + ["all"], rows, "numbers")
            + gone + "<h3>Health checks</h3>" + _list(_health(run)))


def _counts(lists: Splits) -> dict[str, list[int]]:
    counts = {name: [0, 0, 0] for name in lists.classes}
    for i, split in enumerate(SPLITS):
        for record in getattr(lists, split):
            names = [c for c, on in zip(lists.classes, record.labels) if on] if record.labels is not None \
                else [record.class_name]  # a multi-label image counts once for each of its labels
            for name in names:
                counts.setdefault(name, [0, 0, 0])[i] += 1
    return counts


def _health(run: dict) -> list[str]:
    """The dataset's health warnings as it is now (not only as this run saw it)."""
    try:
        found = health.check(run["config"]["data"]["dataset"], run["owner"])
    except UserError:
        return ["The dataset is no longer there, so its health cannot be checked again."]
    warnings = [text for test, text in (
        (found["empty_classes"], f"Classes without images: {', '.join(found['empty_classes'])}."),
        ((found["imbalance_ratio"] or 1) >= 2, f"The largest class has {words.number(found['imbalance_ratio'])}× the "
                                               "images of the smallest: accuracy flatters the large classes."),
        (found["leaks"]["count"], f"{found['leaks']['count']} near-identical pair(s) of images sit in different splits: "
                                  "the test score may flatter the model."),
        (found["duplicates"], f"{len(found['duplicates'])} exact duplicate(s) were found at upload and kept once."),
        (found["tiny"]["count"], f"{found['tiny']['count']} image(s) are smaller than 32 px and were upscaled a lot."),
        (found["mixed_color"], f"A mix of grayscale ({found['grayscale']}) and colour ({found['color']}) images."),
    ) if test]
    return warnings or ["No problems found: classes balanced, no duplicates, no leaks across splits, no tiny images."]


def _model(facts: dict) -> str:
    return _list(facts["Backbone and weights"] + facts["Freezing and head"])


def _training(run: dict, companions: list[dict], facts: dict) -> str:
    by_role = {r["role"]: epoch_series(r.get("epochs") or []) for r in [run, *companions]}
    series = {words.role(role): rows for role, rows in by_role.items() if rows}
    chart = _figure(charts.curves(series), "Validation accuracy and loss per epoch"
                    + (", beside the baselines trained on the same images" if len(series) > 1 else "")
                    + ". " + chart_words.curves(by_role, "accuracy")) if series else ""
    return _list(facts["Training"]) + chart + _comparison(run, companions)


def _comparison(run: dict, companions: list[dict]) -> str:
    """What the chart beside it shows of the from-scratch baseline, said as it stands now: a report built
    while the baseline still trained said none was trained (its curve was in the chart)."""
    scratch = next((c for c in companions if c["role"] == "scratch"), None)
    if scratch is None:
        return ("<p>No from-scratch baseline was trained beside this run (the Train step offers one among the "
                "companion runs, chosen before Start).</p>")
    if scratch["status"] == "succeeded" and scratch.get("summary"):
        mine, theirs = (run.get("summary") or {}).get("val_accuracy"), scratch["summary"].get("val_accuracy")
        return (f"<p>From scratch, the same network on the same images reached {_e(words.percent(theirs))} "
                f"validation accuracy; starting from pretrained weights reached {_e(words.percent(mine))}.</p>")
    return f"<p>{_e(_unfinished(scratch))}</p>"


def _unfinished(scratch: dict) -> str:
    done = len(epoch_series(scratch.get("epochs") or []))
    planned = scratch["config"]["train"]["head_epochs"] + scratch["config"]["train"]["finetune_epochs"]
    if scratch["status"] in ("queued", "running"):
        so_far = (f"{done} of {planned} epochs done, its curve so far in the chart" if done
                  else "it has not trained an epoch yet")
        return (f"The from-scratch baseline is still training ({so_far}): its final accuracy is not known yet. "
                "Build the report again once it has finished to compare the two.")
    return (f"The from-scratch baseline stopped after {done} of {planned} epochs ({scratch['status']}): "
            "there is no final accuracy to compare with.")


def _results(evaluation: dict) -> str:
    if evaluation.get("task") == "multilabel":
        return _label_results(evaluation)
    images, classes = evaluation["images"], [c["class"] for c in evaluation["per_class"]]
    low, high = words.wilson(round(evaluation["accuracy"] * images), images)
    head = (f"<p class=\"headline\">{_e(SPLIT_NAMES[evaluation['split']].capitalize())} accuracy "
            f"{_value('accuracy', evaluation['accuracy'], words.percent(evaluation['accuracy']))} on "
            f"{_value('images', images, str(images))} images: with 95% confidence between "
            f"{_e(words.percent(low, 0))} and {_e(words.percent(high, 0))}. Chance is "
            f"{_e(words.percent(1 / len(classes)))}.</p>")
    return head + "<h3>Confusion matrix</h3><p>Rows: the true class; columns: what the model said.</p>" \
        + _confusion(evaluation["confusion"], classes) + "<h3>Per class</h3>" + _per_class(evaluation["per_class"])


def _label_results(evaluation: dict) -> str:
    """A multi-label run: mean average precision, subset accuracy, and per label its measures at its threshold."""
    split, images = SPLIT_NAMES[evaluation["split"]], evaluation["images"]
    head = (f"<p class=\"headline\">{_e(split.capitalize())} mean average precision "
            f"{_value('map', evaluation['map'], words.percent(evaluation['map']))} on {_value('images', images, str(images))} "
            f"images; every label right on {_value('subset_accuracy', evaluation['subset_accuracy'], words.percent(evaluation['subset_accuracy']))} "
            "of them. Each label is a yes or no of its own, at a threshold chosen on the validation images.</p>")
    rows = [[_e(x["label"])] + [_value(k, x[k], words.percent(x[k]), label=x["label"]) for k in ("ap", "precision", "recall", "f1")]
            + [_value("threshold", x["threshold"], f"{x['threshold']:.2f}", label=x["label"]),
               _value("support", x["support"], str(x["support"]), label=x["label"]), _e(x.get("threshold_note", ""))]
            for x in evaluation["per_label"]]
    return head + "<h3>Per label</h3>" + _table(["label", "AP", "precision", "recall", "F1", "threshold", "images",
                                                 "how the threshold was set"], rows, "numbers") + _mistakes(evaluation)


def _mistakes(evaluation: dict) -> str:
    """Per label missed (rows), how often each other label was wrongly added to the same image (columns)."""
    names = [x["label"] for x in evaluation["per_label"]]
    pairs = multilabel.mistake_pairs(evaluation["predictions"], len(names))
    if not any(any(row) for row in pairs):
        return "<p>No image had one label missed and another wrongly added.</p>"
    rows = [[f"<strong>missed {_e(names[m])}</strong>"] + [_value("mistakes", n, str(n), missed=names[m], added=names[a])
                                                          for a, n in enumerate(row)] for m, row in enumerate(pairs)]
    return ("<h3>Mistakes that come together</h3><p>Images where the row's label was missed and the column's label "
            "wrongly added.</p>" + _table([""] + [f"added {n}" for n in names], rows, "numbers"))


def _confusion(matrix: list[list[int]], classes: list[str]) -> str:
    rows = []
    for t, row in enumerate(matrix):
        total = max(1, sum(row))
        cells = [f'<span style="display:block;background:rgba({"31,119,180" if t == p else "214,39,40"},'
                 f'{0.12 + 0.75 * n / total if n else 0:.2f})" data-metric="confusion" data-true="{t}" data-pred="{p}" '
                 f'data-value="{n}">{n}</span>' for p, n in enumerate(row)]
        rows.append([f"<strong>{_e(classes[t])}</strong>"] + cells)
    return _table(["true \\ said"] + classes, rows, "numbers confusion")


def _per_class(per_class: list[dict]) -> str:
    rows = [[_e(c["class"])] + [_value(k, c[k], words.percent(c[k]), **{"class": c["class"]})
                                for k in ("precision", "recall", "f1")]
            + [_value("support", c["support"], str(c["support"]), **{"class": c["class"]})] for c in per_class]
    return _table(["class", "precision", "recall", "F1", "images"], rows, "numbers")


def _calibration(evaluation: dict) -> str:
    if evaluation.get("task") == "multilabel":
        return ("<p>Not measured for a multi-label run: each label's probability is a yes or no of its own; its "
                "threshold, chosen on the validation images, is in the results above.</p>")
    ece = evaluation["calibration"]["ece"]
    return (f"<p>Expected calibration error {_value('ece', ece, words.number(ece))} (0 is perfect): how far the "
            "model's confidence is from how often it is right, averaged over confidence bins.</p>"
            + _figure(charts.reliability(evaluation["calibration"]["bins"]),
                      "Accuracy per confidence bin: bars on the dashed line mean the confidence can be taken at its word"))


def _examples(run_id: str, evaluation: dict, lists: Splits) -> str:
    if evaluation.get("task") == "multilabel":
        return (f"<p>Not drawn for a multi-label run: a heat map shows one label at a time (<code>python -m core "
                f"explain --run {_e(run_id)} IMAGE --class LABEL</code>).</p>")
    records = {r.id: r for r in getattr(lists, evaluation["split"])}
    classes = [c["class"] for c in evaluation["per_class"]]
    chosen = sorted(evaluation["predictions"], key=lambda p: -p["prob"])
    right = [p for p in chosen if p["true"] == p["pred"]][:EXAMPLES]
    wrong = [p for p in chosen if p["true"] != p["pred"]][:EXAMPLES]
    told = ("<p>Grad-CAM: the warm areas are where the evidence for the class the model said lies. The most "
            "confident right answers, then the most confident wrong ones.</p>")
    return told + "".join(f"<h3>{title}</h3>" + _gallery(run_id, picks, records, classes) if picks else
                          f"<h3>{title}</h3><p>None among the {len(chosen)} images.</p>"
                          for title, picks in (("Right", right), ("Wrong", wrong)))


def _gallery(run_id: str, picks: list[dict], records: dict, classes: list[str]) -> str:
    cards = []
    for p in picks:
        picture = data.decode(data.read_bytes(records[p["image_id"]].sha256))
        try:
            shown = predict.explain(run_id, picture)["overlay"]
        except UserError:  # a network without a convolutional feature map (a ViT): the picture alone
            shown = picture
        mark = "✓" if p["true"] == p["pred"] else "✗"
        cards.append(_figure(charts.image_uri(shown), f"{classes[p['true']]} → {classes[p['pred']]} {mark} "
                                                      f"{words.percent(p['prob'], 0)}"))
    return f'<div class="cams">{"".join(cards)}</div>'


def _deployment(run_id: str) -> str:
    measured = deployment.measured(run_id)
    if not measured:
        return ("<p>Not measured yet. The Export page's int8 button, or <code>python -m core export --run "
                f"{_e(run_id)} --format onnx --quantize int8 --out model.onnx</code>, measures it.</p>")
    rows = [[_e(name), _e(card.megabytes(measured[f"{key}size_mb"])), _e(card.milliseconds(measured[f"{key}latency_ms"])),
             _value("agreement", measured[f"{key}agreement"], words.percent(measured[f"{key}agreement"]), graph=name),
             _value("deployed_accuracy", measured[f"{key}accuracy"], words.percent(measured[f"{key}accuracy"]), graph=name)]
            for name, key in (("fp32 ONNX", "fp32_"), ("int8 ONNX", ""))]
    return _table(["model", "file size", "CPU time per image", "agrees with the app", "accuracy"], rows, "numbers") \
        + _list(card.deployment_lines(measured)[1:])


# ---- the page ------------------------------------------------------------------------------------------
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;max-width:980px;margin:2em auto;
padding:0 1em;color:#1a1a1a;line-height:1.45}
h1{margin-bottom:0}h2{border-bottom:2px solid #1f77b4;padding-bottom:2px;margin-top:1.8em}
.meta{color:#555}.headline{font-size:1.15em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:3px 8px}
table.numbers td{text-align:right}table.numbers td:first-child{text-align:left}
table.confusion td{padding:0}table.confusion td span{padding:3px 8px}
figure{margin:.8em 0}figure img{max-width:100%}figcaption{font-size:.85em;color:#555}
.cams{display:flex;flex-wrap:wrap;gap:12px}.cams figure{width:200px;margin:0}
code{background:#f3f3f3;padding:1px 4px}
@page{size:A4;margin:14mm}
@media print{body{max-width:none;margin:0;font-size:10.5pt}h2{break-after:avoid}
figure,table,.cams{break-inside:avoid}section{break-before:auto}}
"""


def _page(run: dict, evaluation: dict, body: str) -> str:
    summary = run.get("summary") or {}
    made = time.strftime("%Y-%m-%d %H:%M")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Report: {_e(run["config"]["backbone"])} on {_e(run["config"]["data"]["dataset"])}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
            f'<body data-run="{_e(run["id"])}"><h1>{_e(run["backbone"])} on {_e(run["config"]["data"]["dataset"])}</h1>'
            f'<p class="meta">TransferLab report on run <code>{_e(run["id"])}</code>, made {made}. Trained in '
            f'{_e(words.duration(summary.get("seconds")))}; {_e(SPLIT_NAMES[evaluation["split"]])} {_e(_headline(evaluation))} '
            f'on {evaluation["images"]} images.</p>{body}</body></html>')


def _headline(evaluation: dict) -> str:
    if evaluation.get("task") == "multilabel":
        return f"mean average precision {words.percent(evaluation['map'])}"
    return f"accuracy {words.percent(evaluation['accuracy'])}"
