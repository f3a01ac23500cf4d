"""Multi-label data in (issue 32): a labels CSV beside the images (every bad row refused by its line number,
every valid one kept), the same picture in several label folders as one image, the task stored with the
dataset, and stratified splits that keep each label's share and never move an image once placed."""
import json
from collections import Counter

import pytest

from core import data
from core.config import DataSpec
from core.data import label_csv, splits, store
from core.errors import UserError
from tests import corpus
from tests.cli import cli


def _folder(root, files: dict[str, bytes], csv: str | None = None):
    for name, raw in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(raw)
    if csv is not None:
        (root / "labels.csv").write_text(csv)
    return root


def test_csv_rows_are_refused_by_line_number_and_every_valid_row_is_kept(tmp_path):
    files = {"a.png": corpus.png(1), "b.png": corpus.png(2), "sub/c.png": corpus.png(3), "d.png": corpus.png(4),
             "e.png": corpus.png(5), "stray.png": corpus.png(6)}
    csv = ("file,labels\n"
           "a.png,bottle;can\n"        # 2: two labels
           "b.png,\n"                  # 3: none of the labels
           "missing.png,can\n"         # 4: no such file
           ",bottle\n"                 # 5: empty file name
           "sub/c.png,box\n"           # 6: a path inside the folder
           "d.png,bottle,can\n"        # 7: a third field: an unknown column
           "a.png,box\n"               # 8: named again
           "\n"                        # 9: blank lines are skipped
           "e.png, bottle ; box ;\n")  # 10: spaces and a trailing separator
    entries = label_csv.from_labelled(_folder(tmp_path / "shelf", files, csv), "labels.csv")
    items = {e.file: e.labels for e in entries if isinstance(e, data.uploads.Item)}
    refused = {e.file: e.reason for e in entries if isinstance(e, data.uploads.Rejection)}
    assert items == {"a.png": ("bottle", "can"), "b.png": (), "sub/c.png": ("box",), "e.png": ("bottle", "box")}
    assert "no file 'missing.png'" in refused["labels.csv line 4"]
    assert refused["labels.csv line 5"] == "empty file name"
    assert "unknown column" in refused["labels.csv line 7"]
    assert "listed already on line 2" in refused["labels.csv line 8"]
    assert "not listed in labels.csv" in refused["stray.png"] and "d.png" in refused  # d's only row was refused
    assert "labels.csv" not in items


def test_a_header_with_an_unknown_column_refuses_the_file_by_its_line(tmp_path):
    root = _folder(tmp_path / "x", {"a.png": corpus.png(1)}, "file,tags\na.png,cat\n")
    with pytest.raises(UserError, match="line 1: unknown column 'tags'"):
        label_csv.from_labelled(root, "labels.csv")
    with pytest.raises(UserError, match="no labels file"):
        label_csv.from_labelled(root, "other.csv")


def test_a_zip_with_its_csv_inside_one_top_folder(tmp_path):
    archive = tmp_path / "shelf.zip"
    archive.write_bytes(corpus.zip_of({"shelf/labels.csv": b"file,labels\na.png,can\nb.png,\n",
                                       "shelf/a.png": corpus.png(1), "shelf/b.png": corpus.png(2)}))
    out = cli("ingest", archive, "--name", "shelf", "--labels", "labels.csv", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["task"] == "multilabel" and report["stored"] == 2 and report["classes"] == {"can": 1}
    assert [d["task"] for d in data.list_datasets()] == ["multilabel"]
    assert [d["classes"] for d in data.list_datasets()] == [1]  # the placeholder class row is not a label


def test_a_zip_uploaded_in_the_browser_and_an_empty_dataset_taking_the_task_of_its_first_images():
    raw = corpus.zip_of({"labels.csv": b"file,labels\na.png,cat;dog\n", "a.png": corpus.png(1)})
    assert label_csv.has_labels("up.zip", raw) and not label_csv.has_labels("up.zip", corpus.zip_of({"c/a.png": b""}))
    data.create("fresh")  # made on the Data page before any image: one class per image by default
    report = data.ingest("fresh", label_csv.from_labelled_zip("up.zip", raw))
    assert report.task == "multilabel" and store.task_of(store.find("fresh").id) == "multilabel"
    with pytest.raises(UserError, match="one class per image"):  # once it holds images, its task stays
        data.ingest("single", [data.uploads.Item("c/b.png", "c", corpus.png(2))]) and \
            data.ingest("single", label_csv.from_labelled_zip("up.zip", raw))


def test_the_same_picture_in_several_label_folders_is_one_image_with_both_labels(tmp_path):
    same = corpus.png(7)
    root = _folder(tmp_path / "street", {"bike/x.png": same, "car/x.png": same, "car/y.png": corpus.png(8)})
    out = cli("ingest", root, "--name", "street", "--task", "multilabel", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["stored"] == 2 and report["classes"] == {"bike": 1, "car": 2}
    assert report["duplicates"][0]["labels"] == ["bike", "car"]
    names = {r.original: r.class_name for r in data.records("street")}
    assert names == {"bike/x.png": "bike;car", "car/y.png": "car"}
    single = cli("ingest", root, "--name", "street", "--task", "single_label")
    assert single.returncode == 2 and "several labels per image" in single.stderr


def _labelled(n: int, seed: int) -> list:
    """n images whose labels follow a fixed pattern: 'a' common, 'b' rarer, 'c' rare, some with none."""
    entries = []
    for i in range(n):
        labels = tuple(name for name, every in (("a", 2), ("b", 3), ("c", 7)) if (i + seed) % every == 0)
        entries.append(data.uploads.Item(f"{seed}-{i}.png", "", corpus.png(seed * 1000 + i, (8, 8)), labels))
    return entries


def _shares(name: str) -> dict[str, Counter]:
    mapping = splits.assign(store.find(name).id)
    by_label: dict[str, Counter] = {}
    for record in data.records(name):
        for label in filter(None, record.class_name.split(";")):
            by_label.setdefault(label, Counter())[mapping[record.id]] += 1
    return by_label


def test_stratified_splits_keep_each_labels_share_and_never_move_an_image():
    data.ingest("grow", _labelled(60, 1), task="multilabel")
    first = splits.assign(store.find("grow").id)
    for batch in (2, 3):
        data.ingest("grow", _labelled(40, batch))
    after = splits.assign(store.find("grow").id)
    assert {i: after[i] for i in first} == first  # placed once, never moved
    for label, counts in _shares("grow").items():
        total = sum(counts.values())
        for split, fraction in (("val", 0.15), ("test", 0.15)):
            assert abs(counts[split] - total * fraction) <= 3, (label, counts)
    sizes = Counter(after.values())
    assert abs(sizes["val"] - 0.15 * len(after)) <= 2 and abs(sizes["test"] - 0.15 * len(after)) <= 2


def test_a_single_label_run_on_a_multilabel_dataset_is_refused_naming_the_task():
    data.ingest("ml", _labelled(12, 1), task="multilabel")
    with pytest.raises(UserError, match="--task multilabel"):
        splits.for_spec(DataSpec(dataset="ml"))
    lists = splits.for_spec(DataSpec(dataset="ml"), task="multilabel")
    assert lists.classes == ["a", "b", "c"] and all(len(r.labels) == 3 for r in lists.train)
