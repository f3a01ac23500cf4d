"""The report: one self-contained HTML file (no address of anything outside it), every section present, its
numbers those of `evaluate --json`, the baseline's curve and the deployment figures when they exist."""
import json
import re
from html.parser import HTMLParser

from core.execute import slot as worker
from core.runs import leases, queue as jobs, store
from core.serving import card, deployment, report
from tests.cli import cli
from tests.training import digits, probe
from tests.wording import raw_words


def finished(per_class: int = 10, epochs: int = 3, **changes) -> str:
    submitted = jobs.submit(probe(digits(per_class=per_class), epochs=epochs).replace(**changes), "cli")
    for run_id in [submitted["run_id"], *submitted["companions"].values()]:
        worker.process(leases.claim_specific(store.latest_job(run_id)["id"]))
    return submitted["run_id"]


class Numbers(HTMLParser):
    """Every element's data-* attributes that carry a metric, and every section's id."""

    def __init__(self):
        super().__init__()
        self.metrics: list[dict] = []
        self.sections: list[str] = []
        self.text: list[str] = []
        self.code = 0

    def handle_starttag(self, tag, attrs):
        self.code += tag in ("code", "style")  # code shown as code (a run's id to type) and CSS are not words
        found = dict(attrs)
        if "data-metric" in found:
            self.metrics.append(found)
        if "data-section" in found:
            self.sections.append(found["data-section"])

    def handle_endtag(self, tag):
        self.code -= tag in ("code", "style")

    def handle_data(self, data):
        if not self.code:
            self.text.append(data)


def parsed(path) -> Numbers:
    numbers = Numbers()
    numbers.feed(path.read_text(encoding="utf-8"))
    return numbers


def metric(numbers: Numbers, name: str, **where) -> float:
    [found] = [m for m in numbers.metrics if m["data-metric"] == name
               and all(m.get(f"data-{k}") == str(v) for k, v in where.items())]
    return float(found["data-value"])


def test_the_report_stands_alone_and_says_what_evaluate_says(tmp_path):
    run_id = finished(per_class=6, epochs=2, baselines=("scratch",))  # the baseline trains every layer: kept small
    out = cli("report", "--run", run_id, "--out", str(tmp_path / "report.html"), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert {"path", "size_kb", "sections"} <= set(result) and result["sections"] == [k for k, _ in report.SECTIONS]
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text  # nothing fetched from anywhere: the whole file
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", text)  # every picture inline
    assert 20 < result["size_kb"] < 2000 and result["size_kb"] == round(len(text.encode()) / 1024, 1)
    numbers = parsed(tmp_path / "report.html")
    assert numbers.sections == result["sections"]

    evaluated = json.loads(cli("evaluate", "--run", run_id, "--json").stdout)
    assert metric(numbers, "accuracy") == evaluated["accuracy"] and metric(numbers, "images") == evaluated["images"]
    assert metric(numbers, "ece") == evaluated["calibration"]["ece"]
    for row in evaluated["per_class"]:
        for key in ("precision", "recall", "f1", "support"):
            assert metric(numbers, key, **{"class": row["class"]}) == row[key], (row, key)
    for t, line in enumerate(evaluated["confusion"]):
        assert [metric(numbers, "confusion", true=t, pred=p) for p in range(len(line))] == line

    words = " ".join(numbers.text)
    assert "From scratch, the same network on the same images reached" in words  # the baseline, compared
    assert "smaller than 32 px" in words  # a health warning: 8×8 digits
    assert "Not measured yet" in words and raw_words(words) == [], raw_words(words)
    assert text.count('src="data:image/png;base64,') == 2  # curves with the baseline, reliability
    # the curves' picture says its numbers to a screen reader (issue 33): its alt text, the app's sentence
    assert re.search(r'alt="[^"]*Validation accuracy (rose|fell|stayed) [^"]*%[^"]*from-scratch baseline reached \d+', text)
    assert text.count('src="data:image/jpeg;base64,') >= 3  # Grad-CAM on right and wrong test images


def test_the_deployment_figures_once_measured(tmp_path):
    run_id = finished()
    deployment.save(run_id, {"size_mb": 3.78, "fp32_size_mb": 13.1, "latency_ms": 8.61, "fp32_latency_ms": 17.05,
                             "agreement": 0.9667, "fp32_agreement": 1.0, "accuracy": 0.8667, "fp32_accuracy": 0.9,
                             "images": 30, "split": "test", "cpu": "AMD EPYC", "threads": 2, "runs": 30})
    run = jobs.run(run_id)
    built = report.build(run, [], jobs.lists(run_id), tmp_path / "r.html")
    numbers = parsed(tmp_path / "r.html")
    assert metric(numbers, "agreement", graph="int8 ONNX") == 0.9667
    words = " ".join(numbers.text)
    for said in ("3.8 MB", "13.1 MB", "8.6 ms", "17.1 ms", "96.7%", "AMD EPYC", "No from-scratch baseline"):
        assert said in words, said
    assert built["sections"][-2:] == ["deployment", "limitations"]


def test_the_baselines_sentence_follows_what_the_chart_has(tmp_path):
    """Issue 29: built while the baseline trained, the chart had its curve and the text said none was trained
    'on the Layers step' (companions are chosen on Train)."""
    submitted = jobs.submit(probe(digits(per_class=6), epochs=2).replace(baselines=("scratch",)), "cli")
    run_id, baseline = submitted["run_id"], submitted["companions"]["scratch"]
    worker.process(leases.claim_specific(submitted["job_id"]))
    run = jobs.run(run_id)
    training = lambda companions: report._training(run, companions, dict(card.facts(run)))
    said = lambda html: " ".join(parsed_text(html).text)

    queued = said(training([jobs.run(baseline)]))
    assert "still training (it has not trained an epoch yet)" in queued and "beside the baselines" not in queued
    leases.claim_specific(store.latest_job(baseline)["id"])
    store.add_metric(baseline, store.metrics(run_id, "epoch")[0])
    running = jobs.run(baseline)
    html = training([running])
    assert "beside the baselines" in said(html) and html.count("data:image/png") == 1  # its curve in the chart
    assert "still training (1 of 2 epochs done" in said(html) and "No from-scratch" not in said(html)
    ended = said(training([{**running, "status": "cancelled"}]))
    assert "stopped after 1 of 2 epochs (cancelled)" in ended
    finished = said(training([{**running, "status": "succeeded", "summary": {"val_accuracy": 0.5}}]))
    assert "From scratch, the same network on the same images reached 50% validation accuracy" in finished
    alone = said(training([]))
    assert "No from-scratch baseline was trained" in alone and "Train step" in alone and "Layers" not in alone
    for text in (queued, said(html), ended, finished, alone):
        assert raw_words(text) == [], raw_words(text)


def parsed_text(html: str) -> Numbers:
    numbers = Numbers()
    numbers.feed(html)
    return numbers
