import json

from tests import corpus
from tests.cli import cli


def write_tree(root, files):
    for name, raw in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)


def test_ingest_json_reports_classes_rejections_and_duplicates(tmp_path):
    write_tree(tmp_path / "set", {"cats/a.jpg": corpus.jpeg(1), "cats/b.jpg": corpus.jpeg(2),
                                  "dogs/c.png": corpus.png(3), "dogs/bad.jpg": b"nope",
                                  "dogs/same.jpg": corpus.jpeg(1)})
    zipped = tmp_path / "more.zip"
    zipped.write_bytes(corpus.zip_of({"birds/d.jpg": corpus.jpeg(4), "../slip.jpg": corpus.jpeg(5)}))
    out = cli("ingest", str(tmp_path / "set"), str(zipped), "--name", "animals", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["dataset"] == "animals" and report["stored"] == 4
    assert report["classes"] == {"birds": 1, "cats": 2, "dogs": 1}
    rejected = {r["file"]: r["reason"] for r in report["rejected"]}
    assert "not an image" in rejected["dogs/bad.jpg"] and "unsafe path" in rejected["../slip.jpg"]
    assert report["duplicates"][0]["file"] == "dogs/same.jpg"
    listed = json.loads(cli("datasets", "--json").stdout)
    assert listed[0]["name"] == "animals" and listed[0]["images"] == 4
    health = json.loads(cli("health", "animals", "--json").stdout)
    assert health["classes"] == report["classes"] and health["size_bucket"] == "small"


def test_ingest_with_nothing_valid_exits_2(tmp_path):
    write_tree(tmp_path / "bad", {"cats/a.jpg": b"", "cats/b.jpg": b"text"})
    out = cli("ingest", str(tmp_path / "bad"), "--name", "empty", "--json")
    assert out.returncode == 2
    assert "cats/a.jpg" in json.loads(out.stdout)["error"]


def test_sample_subset_and_samples_catalog():
    out = cli("sample", "mnist", "--name", "mn", "--per-class", "3", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["stored"] == 30
    catalog = {s["name"]: s for s in json.loads(cli("samples", "--json").stdout)}
    assert catalog["mnist"]["available"] and catalog["eurosat"]["available"] is False
    assert cli("sample", "nope", "--name", "x").returncode == 2
