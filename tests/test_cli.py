"""The command line as a contract: JSON shapes, exit status 2 with a message for bad input. Most calls run
`main()` in this process (tests/cli.py); the first two start the real `python -m core` entry point."""
import json

from tests.cli import cli, real_cli


def test_backbones_json_lists_required_models():
    out = real_cli("backbones", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert len(rows) >= 40
    for key in ("name", "source", "params", "input_size", "weights"):
        assert key in rows["resnet18"]
    assert rows["efficientnet_lite0"]["weights"] == "bundled"
    assert rows["resnet50"]["weights"] in ("unavailable", "cached", "download")


def test_describe_json_stage_params_sum_to_total():
    out = cli("describe", "mobilenet_v3_large", "--json")
    info = json.loads(out.stdout)
    assert sum(s["params"] for s in info["stages"]) == info["params"]
    assert info["preprocess"]["crop"] == 224


def test_imagenet_json_shape(chelsea_png):
    out = cli("imagenet", "efficientnet_lite0", str(chelsea_png), "--top", "3", "--json")
    assert out.returncode == 0, out.stderr
    [row] = json.loads(out.stdout)
    assert row["image"] == str(chelsea_png)
    assert len(row["top"]) == 3 and set(row["top"][0]) == {"index", "label", "prob"}


def test_bad_input_exits_2_with_a_message(tmp_path):
    out = real_cli("describe", "resnt50")
    assert out.returncode == 2 and "resnet50" in out.stderr
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("hello")
    out = real_cli("imagenet", "efficientnet_lite0", str(not_image), "--json")
    assert out.returncode == 2
    assert "notes.jpg" in json.loads(out.stdout)["error"] and "not an image" in out.stderr


def test_offline_pretrained_download_is_a_clear_error(tmp_path):
    img = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (32, 32)).save(img)
    out = cli("imagenet", "resnet18", str(img))
    assert out.returncode == 2
    assert "resnet18-f37072fd.pth" in out.stderr and "Traceback" not in out.stderr


def test_numeric_flags_are_refused_alike_everywhere(chelsea_png):
    for args in (("imagenet", "efficientnet_lite0", str(chelsea_png), "--top", "0"),
                 ("predict", "--run", "0123456789ab", str(chelsea_png), "--top", "0"),
                 ("sample", "digits", "--per-class", "0"),
                 ("train", "--dataset", "x", "--epochs", "0")):
        out = cli(*args)
        assert out.returncode == 2 and "must be 1 or more" in out.stderr, (args, out.stderr)


def test_a_run_is_named_with_run_everywhere_and_ids_are_checked():
    for args in (("run", "--run", "nope"), ("run", "nope"), ("cancel", "--run", "../../etc"), ("resume", "--run", "x")):
        out = cli(*args, "--json")
        assert out.returncode == 2 and "is not a run id" in out.stderr, (args, out.stderr)
    out = cli("run", "--run", "0123456789ab", "--json")
    assert out.returncode == 2 and "no run '0123456789ab'" in out.stderr
