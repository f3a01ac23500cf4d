"""The Export page's deployment card (fp32 against int8, in words) and the Evaluate page's report download."""
import streamlit as st

from core.serving import deployment, quantize
from tests.app.conftest import no_exceptions, open_app
from tests.app.test_results import finished_run, show
from tests.wording import raw_words

MEASURED = {"path": "", "size_mb": 3.78, "fp32_size_mb": 13.1, "latency_ms": 8.61, "fp32_latency_ms": 17.05,
            "agreement": 0.9, "fp32_agreement": 1.0, "accuracy": 0.8667, "fp32_accuracy": 0.9, "images": 30,
            "split": "test", "cpu": "AMD EPYC", "threads": 2, "runs": 30}


def test_export_page_shows_fp32_against_int8_in_words(monkeypatch, tmp_path):
    at, token = open_app()
    run_id = finished_run(token, epochs=1)
    asked, events = [], []
    real_bar = st.progress

    def bar(*args, **kwargs):
        events.append("bar drawn")
        return real_bar(*args, **kwargs)

    def measured(run, out, lists, said):  # the real quantization is tests/test_quantize.py's: here, what the page shows
        events.append("quantizing")
        said("Quantizing: every layer int8…", 0.5)  # moves the page's bar
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"int8")
        asked.append(run["id"])
        deployment.save(run["id"], {**MEASURED, "path": str(out)})

    monkeypatch.setattr(quantize, "quantize", measured)
    monkeypatch.setattr(st, "progress", bar)
    show(at, "views/export.py", run_id)
    assert not at.table  # nothing measured yet
    at.button(key="build-int8").click().run()
    no_exceptions(at)
    assert asked == [run_id]
    # a progress bar from the click, before the minute of work (a spinner said nothing of how far it was)
    assert events == ["bar drawn", "quantizing"] and not at.get("progress"), events
    [table] = [t.value for t in at.table]
    assert list(table.index) == ["fp32 (as trained)", "int8"]
    assert table.loc["int8"].tolist() == ["3.8 MB", "8.6 ms", "90%", "86.7%"]
    assert table.loc["fp32 (as trained)"].tolist() == ["13.1 MB", "17.1 ms", "100%", "90%"]
    assert any("AMD EPYC" in c.value and "2 thread" in c.value for c in at.caption)
    # 90% < 98%: 3 of the 30 answers change (the card's words since the judge set, issue 29 item 10)
    assert any(w.value.startswith("**int8 changes 3 of 30 answers: keep fp32**") for w in at.warning), at.warning
    assert not [b for b in at.get("download_button") if b.proto.label == "Download model-int8.onnx"]
    assert raw_words(table.to_string()) == []
    assert any("## Deployment" in m.value for m in at.markdown)  # the model card says it too


def test_evaluate_page_builds_the_report_for_download():
    at, token = open_app()
    run_id = finished_run(token, epochs=1)
    show(at, "views/evaluate.py", run_id)
    at.button(key="report-build").click().run()
    no_exceptions(at)
    [download] = [d for d in at.get("download_button") if "report.html" in d.proto.label]
    assert any("opens offline and prints" in c.value for c in at.caption)
    assert download.proto.label == "Download report.html"
