"""Every hostile input gets its own plain reason; every valid neighbour is stored."""
import numpy as np
import pytest

from core import data, db
from core.data import images
from core.data.uploads import clean_class_name, from_folder, from_uploads, from_zip
from core.errors import UserError
from tests import corpus

BAD = {
    "cats/truncated.jpg": (corpus.truncated_jpeg, "truncated or corrupt"),
    "cats/zero.jpg": (lambda: b"", "empty file"),
    "cats/notes.jpg": (lambda: b"this is text, not a picture", "not an image"),
    "cats/bomb.png": (corpus.png_bomb, "too many pixels"),
    "cats/huge.png": (corpus.huge_header_png, "too many pixels"),
}
GOOD = {
    "cats/photo.jpg": corpus.jpeg(10), "cats/cmyk.jpg": corpus.cmyk_jpeg(), "cats/deep.png": corpus.png16(),
    "dogs/alpha.png": corpus.rgba_png(), "dogs/anim.gif": corpus.animated_gif(),
    "dogs/rotated.jpg": corpus.exif_rotated_jpeg(), "dogs/photo.png": corpus.png(11),
}


def reasons(report):
    return {row["file"]: row["reason"] for row in report.rejected}


def test_directory_upload_rejects_each_bad_file_and_keeps_the_rest():
    pairs = list(GOOD.items()) + [(name, make()) for name, (make, _) in BAD.items()]
    report = data.ingest("pets", from_uploads(pairs))
    got = reasons(report)
    for name, (_, reason) in BAD.items():
        assert reason in got[name], (name, got.get(name))
    assert report.stored == len(GOOD)
    assert report.classes == {"cats": 3, "dogs": 4}


def test_modes_become_rgb_with_orientation_and_transparency_handled():
    decoded = {name: images.decode(raw) for name, raw in GOOD.items()}
    assert all(img.mode == "RGB" for img in decoded.values())
    assert decoded["dogs/rotated.jpg"].size == (20, 60)
    alpha = np.asarray(decoded["dogs/alpha.png"])
    assert tuple(alpha[5, 5]) == (255, 255, 255) and tuple(alpha[5, 40]) == (255, 0, 0)
    deep = np.asarray(decoded["cats/deep.png"])
    assert deep.min() == 0 and deep.max() == 255  # 16-bit range stretched, not clipped to black/white
    assert decoded["dogs/anim.gif"].size == (32, 32)


def test_oversized_file_is_refused_by_bytes():
    with pytest.raises(images.ImageRejected, match="too large"):
        images.decode(b"x" * 100, max_bytes=50)


def test_zip_slip_and_zip_bomb_are_refused_neighbours_kept():
    archive = corpus.zip_of({"cats/ok.jpg": corpus.jpeg(1), "../evil.jpg": corpus.jpeg(2),
                             "/etc/abs.jpg": corpus.jpeg(3), "dogs/ok.png": corpus.png(4),
                             "__MACOSX/._junk": b"meta"})
    entries = from_zip("upload.zip", archive) + from_zip("bomb.zip", corpus.zip_bomb())
    report = data.ingest("zips", entries)
    got = reasons(report)
    assert "unsafe path" in got["../evil.jpg"] and "unsafe path" in got["/etc/abs.jpg"]
    assert "zip bomb" in got["cats/bomb.png"]
    assert report.classes == {"cats": 1, "dogs": 1}
    assert not any("__MACOSX" in f for f in got)


def test_not_a_zip_is_one_clear_rejection():
    [rejection] = from_zip("broken.zip", b"PK\x03\x04 nonsense")
    assert rejection.file == "broken.zip" and "not a readable zip" in rejection.reason


def test_zip_with_a_shared_root_folder_uses_the_next_level_as_class():
    archive = corpus.zip_of({"pets/cats/a.jpg": corpus.jpeg(1), "pets/dogs/b.jpg": corpus.jpeg(2)})
    assert {e.class_name for e in from_zip("pets.zip", archive)} == {"cats", "dogs"}


@pytest.mark.parametrize("raw, clean", [
    ("../x", "x"), ("/etc", "etc"), ("  cats\n", "cats"), ("猫 🐱", "猫 🐱"), ("a/../../b", "a .. .. b"),
    ("x" * 300, "x" * 64), ("...", ""), ("\x00\x01", ""),
])
def test_class_names_are_labels_never_paths(raw, clean):
    assert clean_class_name(raw) == clean


def test_per_class_upload_with_an_unusable_class_name_is_reported():
    [rejection] = from_uploads([("a.jpg", corpus.jpeg())], class_name="../")
    assert "empty once cleaned" in rejection.reason


def test_unicode_and_dotdot_class_names_store_safely(data_home):
    report = data.ingest("weird", from_uploads([("a.jpg", corpus.jpeg(1))], class_name="../../etc") +
                         from_uploads([("b.jpg", corpus.jpeg(2))], class_name="猫"))
    assert set(report.classes) == {"etc", "猫"}
    stored = [p for p in (data_home / "images").rglob("*") if p.is_file()]
    assert len(stored) == 2 and all(p.is_relative_to(data_home / "images") for p in stored)


def test_exact_duplicates_are_reported_and_stored_once(data_home):
    same = corpus.jpeg(5)
    report = data.ingest("dups", from_uploads([("cats/a.jpg", same), ("dogs/b.jpg", same), ("cats/c.jpg", corpus.jpeg(6))]))
    assert report.stored == 2
    assert report.duplicates == [{"file": "dogs/b.jpg", "duplicate_of": "cats/a.jpg", "class": "cats"}]
    assert len([p for p in (data_home / "images").rglob("*") if p.is_file()]) == 2


def test_class_with_no_valid_images_is_reported():
    data.create("partly")
    data.add_class("partly", "empty one")
    report = data.ingest("partly", from_uploads([("cats/a.jpg", corpus.jpeg(1)), ("dogs/x.jpg", b"")]))
    assert set(report.empty_classes) == {"empty one", "dogs"}
    assert "dogs" not in report.classes  # a class made only of rejected files is reported, never created
    with pytest.raises(UserError, match="class 'empty one' has no images"):
        data.check_trainable("partly")


def test_store_survives_reopening_and_can_be_extended_renamed_deleted(data_home):
    data.ingest("keep", from_uploads([("cats/a.jpg", corpus.jpeg(1)), ("dogs/b.jpg", corpus.jpeg(2))]))
    db._ready.clear()  # as after a restart: the schema is checked again, rows are still there
    assert data.class_counts("keep") == {"cats": 1, "dogs": 1}
    data.ingest("keep", from_uploads([("c.jpg", corpus.jpeg(3))], class_name="cats"))
    assert data.class_counts("keep") == {"cats": 2, "dogs": 1}
    data.rename("keep", "kept")
    assert [d["name"] for d in data.list_datasets()] == ["kept"]
    assert data.delete_dataset("kept")["images"] == 3
    assert not [p for p in (data_home / "images").rglob("*") if p.is_file()]
    with pytest.raises(UserError, match="no dataset named 'kept'"):
        data.class_counts("kept")


def test_folder_ingestion_reads_class_folders(tmp_path):
    for name, raw in GOOD.items():
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(raw)
    (tmp_path / "in" / "stray.jpg").write_bytes(corpus.jpeg(9))
    entries = from_folder(tmp_path / "in")
    report = data.ingest("folder", entries)
    assert report.stored == len(GOOD)
    assert "not inside a class folder" in reasons(report)["stray.jpg"]


def test_cannot_train_with_one_class():
    data.ingest("one", from_uploads([("cats/a.jpg", corpus.jpeg(1))]))
    with pytest.raises(UserError, match="at least 2 classes"):
        data.check_trainable("one")


def test_garbage_never_crashes_ingestion():
    rng = np.random.default_rng(0)
    junk = [(f"c{i % 2}/junk{i}.png", b"\x89PNG\r\n\x1a\n" + rng.bytes(int(rng.integers(0, 400)))) for i in range(40)]
    junk += [(f"c{i % 2}/junk{i}.jpg", b"\xff\xd8\xff" + rng.bytes(int(rng.integers(0, 400)))) for i in range(40)]
    report = data.ingest("junk", from_uploads(junk + [("c0/ok.jpg", corpus.jpeg(1))]))
    assert report.stored == 1 and len(report.rejected) == 80
    assert all(r["reason"] for r in report.rejected)
