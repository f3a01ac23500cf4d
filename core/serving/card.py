"""A run's facts in words, by section: the one source of the model card (markdown, `model_card`) and of its
long form, the report (`core.serving.report`). No config identifiers, percentages, durations, the test
set's size and the 95 % interval its accuracy carries; `**bold**` marks what a reader looks for first."""
from __future__ import annotations

import json

from core import words
from core.paths import run_dir
from core.scenarios import SCENARIOS
from core.serving import deployment


def facts(run: dict) -> list[tuple[str, list[str]]]:
    """(section title, lines) in reading order; "Deployment" only once an int8 export was measured."""
    meta = json.loads((run_dir(run["id"]) / "meta.json").read_text())
    sections = [("Data", _data(run, meta)), ("Backbone and weights", _backbone(run, meta)),
                ("Freezing and head", _freezing(run)), ("Training", _training(run)), ("Metrics", _metrics(run))]
    if meta.get("unknown") or meta.get("not_sure"):
        sections.append(("Unknown and not sure", answers(meta)))
    measured = deployment.measured(run["id"])
    if measured:
        sections.append(("Deployment", deployment_lines(measured)))
    return sections + [("Limitations", limitations(run, meta["classes"]))]


def model_card(run: dict) -> str:
    cfg = run["config"]  # the id is code, shown as code: what `python -m core ... --run` takes
    lines = [f"# Model card: {cfg['backbone']} on {cfg['data']['dataset']}", "", f"Run `{run['id']}` on the command line."]
    for title, said in facts(run):
        lines += ["", f"## {title}", *[f"- {line}" for line in said]]
    return "\n".join(lines) + "\n"


def tested(run: dict) -> int | None:
    """How many held-out test images the run's accuracy rests on (None: it had no test split)."""
    evaluation = run.get("evaluation") or {}
    return evaluation.get("images") if evaluation.get("split") == "test" else None


def _data(run: dict, meta: dict) -> list[str]:
    data = run["config"]["data"]
    return [f"dataset: **{data['dataset']}**, classes ({len(meta['classes'])}): {', '.join(meta['classes'])}",
            f"split: {words.percent(data['val_fraction'])} for validation, {words.percent(data['test_fraction'])} "
            f"for testing (split seed {data['split_seed']})"]


def _backbone(run: dict, meta: dict) -> list[str]:
    cfg = run["config"]
    scenario = SCENARIOS.get(cfg["scenario"])
    named = f"{cfg['scenario']}, {scenario.title}: {scenario.strategy.lower()}" if scenario else cfg["scenario"]
    return [f"backbone: **{cfg['backbone']}**, starting from {words.weights(cfg['weights'])}",
            f"input: {meta['preprocess']['crop']} px, mean {meta['preprocess']['mean']}, std {meta['preprocess']['std']}",
            f"scenario: {named}"]


def _freezing(run: dict) -> list[str]:
    cfg = run["config"]
    return [f"while fine-tuning: {words.freeze_plan(cfg['freeze'], cfg['train']['finetune_epochs'])}",
            f"new head: {words.head(cfg['head'])}"]


def _training(run: dict) -> list[str]:
    cfg, train = run["config"], run["config"]["train"]
    return [f"phase 1 (head only): {train['head_epochs']} epochs at learning rate {words.rate(train['head_lr'])}",
            f"phase 2 (fine-tuning): {train['finetune_epochs']} epochs at learning rate {words.rate(train['finetune_lr'])}, "
            f"each stage further from the head {words.percent(train['lr_factor'], 0)} of the next one's rate",
            f"optimizer {train['optimizer']}, schedule {train['schedule']}, batch size {train['batch_size']}, "
            f"augmentation: {cfg['augment']['preset']}, seed {cfg['seed']}"]


def _metrics(run: dict) -> list[str]:
    summary, evaluation = run.get("summary") or {}, run.get("evaluation") or {}
    if evaluation.get("task") == "multilabel":
        return multilabel_lines(evaluation) + [
            f"training time: {words.duration(summary.get('seconds'))} on {summary.get('device') or 'an unknown device'}"]
    return [f"validation accuracy: {words.percent(summary.get('val_accuracy'))}",
            f"test accuracy: {words.accuracy_interval(summary.get('test_accuracy'), tested(run))}",
            f"calibration error (ECE, 0 is perfect): {words.number((evaluation.get('calibration') or {}).get('ece'))}",
            f"training time: {words.duration(summary.get('seconds'))} on {summary.get('device') or 'an unknown device'}"]


def multilabel_lines(evaluation: dict) -> list[str]:
    """A multi-label run's measures: mean average precision, subset accuracy, and per label its AP, precision,
    recall and F1 at its threshold (and how that threshold was set), with the held-out images that carry it."""
    split = "test" if evaluation.get("split") == "test" else "validation"
    lines = ["several labels per image: one yes/no per label, each at its own threshold chosen on the validation "
             "images (best F1)",
             f"{split} mean average precision: **{words.percent(evaluation.get('map'))}**; every label right "
             f"(subset accuracy): {words.percent(evaluation.get('subset_accuracy'))} of {evaluation.get('images')} "
             f"{split} images"]
    return lines + [label_line(row, split) for row in evaluation.get("per_label", [])]


def label_line(row: dict, split: str = "test") -> str:
    """"bottle: AP 91%, precision 88%, recall 80%, F1 84% at threshold 0.42 (…); 12 test images carry it"."""
    return (f"**{row['label']}**: AP {words.percent(row['ap'])}, precision {words.percent(row['precision'])}, "
            f"recall {words.percent(row['recall'])}, F1 {words.percent(row['f1'])} at threshold "
            f"{row['threshold']:.2f} ({row.get('threshold_note', 'set when training ended')}); {row['support']} {split} "
            f"image{'s' if row['support'] != 1 else ''} carry it")


def answers(meta: dict) -> list[str]:
    """When the app answers "unknown" and where it suggests "not sure", as measured when training ended."""
    lines = []
    unknown, not_sure = meta.get("unknown"), meta.get("not_sure")
    if unknown:
        lines.append(f"**unknown** (looks like none of the classes): {unknown_rule(unknown)}")
    if not_sure:
        lines.append(f"**not sure** suggested below {words.percent(not_sure['confidence'], 0)} confidence: at or "
                     f"above it {words.percent(not_sure['precision'], 0)} of the validation answers were right, and "
                     f"{words.percent(not_sure['kept'], 0)} of the validation images got an answer")
    return lines


def unknown_rule(unknown: dict) -> str:
    """How the "unknown" threshold was set, in plain words, with how many images it rests on (`training.ood`)."""
    n = unknown["images"]
    if "rank" not in unknown:  # a run trained before the conformal rule: a percentile of its validation images
        return (f"a picture further from every training image than {words.percent(unknown['quantile'], 0)} of the "
                f"{n} validation images were; that share of pictures like them is called unknown by design")
    if not n:
        return "never said: this run kept no images to compare a picture with"
    rule = (f"a picture further from all {n} kept images (training and validation) than {unknown['rank']} of them "
            f"are from their nearest other kept image")
    if unknown["at_most"] <= unknown["alpha"]:
        return (f"{rule}; on average at most {words.percent(unknown['alpha'], 0)} of new pictures of your classes are "
                "called unknown")
    return (f"{rule}, the furthest: with only {n} images to compare, up to 1 in {n + 1} new pictures of your "
            f"classes may be called unknown")


def deployment_lines(measured: dict) -> list[str]:
    """An int8 export's figures against its fp32 graph, as measured on this server; "keep fp32" when the int8
    graph agrees with the app on fewer than 98 % of the images it was judged on (`quantize.TARGET`)."""
    lines = [f"int8 ONNX: **{megabytes(measured['size_mb'])}** (fp32: {megabytes(measured['fp32_size_mb'])})",
             f"CPU time per image at batch 1: **{milliseconds(measured['latency_ms'])}** (fp32: "
             f"{milliseconds(measured['fp32_latency_ms'])}), median of {measured['runs']} runs on {measured['cpu']}, "
             f"{measured['threads']} thread{'s' if measured['threads'] != 1 else ''}",
             f"agrees with the app's own predictions on {words.percent(measured['agreement'])} of "
             f"{judged_on(measured)}; accuracy {words.percent(measured['accuracy'])} (fp32: "
             f"{words.percent(measured['fp32_accuracy'])}) on the {measured.get('accuracy_images', measured['images'])} "
             f"{'test' if measured['split'] == 'test' else 'validation'} images"]
    return lines if recommended(measured) else [verdict(measured), *lines]


def recommended(measured: dict) -> bool:
    """Whether the int8 graph is offered: it agreed with the app on 98 % of the judged images or more (figures
    measured before `recommended` was kept: the same rule on their agreement)."""
    return measured.get("recommended", measured["agreement"] >= 0.98)


def verdict(measured: dict) -> str:
    """The deployment card's advice in one line."""
    if recommended(measured):
        return f"int8 agrees with the app on {words.percent(measured['agreement'])} of {measured['images']} images"
    changed = measured.get("changed", round((1 - measured["agreement"]) * measured["images"]))
    return f"**int8 changes {changed} of {measured['images']} answers: keep fp32**"


def judged_on(measured: dict) -> str:
    """"260 images (40 validation, 30 test, 190 augmented views of training images)"; older figures: the split."""
    counts = measured.get("judged_on")
    if not counts:
        return f"{measured['images']} {'test' if measured['split'] == 'test' else 'validation'} images"
    parts = [f"{counts[k]} {name}" for k, name in (("validation", "validation"), ("test", "test"),
                                                   ("augmented training views", "augmented views of training images"))
             if counts.get(k)]
    return f"{measured['images']} images ({', '.join(parts)})"


def megabytes(value: float | None) -> str:
    """Sizes as the deployment figures keep them (MB of 2**20 bytes, as the upload limits): "3.8 MB"."""
    return words.MISSING if value is None else f"{words.number(round(value, 1))} MB"


def milliseconds(value: float | None) -> str:
    return words.MISSING if value is None else f"{words.number(round(value, 1))} ms"


def _known(run: dict, classes: list[str]) -> str:
    if run["config"].get("task") == "multilabel":
        return (f"It knows only these {len(classes)} labels: {', '.join(classes)}, each said yes or no on its own; a "
                "picture with none of them gets \"none of the labels\", and \"unknown\" where it measures that a "
                "picture looks unlike the training images; neither is a guarantee.")
    return (f"It knows only these {len(classes)} classes: {', '.join(classes)}. A picture of anything else still gets "
            "one of these names: the app says \"not sure\" below a confidence you choose, and \"unknown\" where it "
            "measures that a picture looks unlike the training images; neither is a guarantee.")


def limitations(run: dict, classes: list[str]) -> list[str]:
    count = tested(run)
    evidence = (f"It was tested on {count} held-out image{'s' if count != 1 else ''} only." if count else
                "It was not tested on held-out images (its dataset had no test split).")
    return [f"{evidence} Accuracy on other sources (cameras, lighting, backgrounds) is unknown.",
            _known(run, classes),
            "Inherits the biases of the pretraining data (ImageNet) and of this dataset."]
