"""The shape of core/: rooms by concern, imports one way, one source of truth per fact."""
import argparse
import ast
from pathlib import Path

import torch

from core import config, data, models
from core.data.cache import ImageSet
from core.data.transforms import model_input, normalize
from tests.conftest import ROOT
from tests.training import digits

CORE = ROOT / "core"


def _modules() -> dict[str, Path]:
    found = {}
    for path in CORE.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict) -> set[str]:
    """Every core module a file imports, function-level imports included."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != "core" and target != name and not name.startswith(target + "."):
                out.add(target)
    return out


def test_core_has_rooms_and_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    packages = {n for n, p in modules.items() if p.name == "__init__.py" and n != "core"}
    assert len(packages) >= 5
    assert len(list(CORE.glob("*.py"))) <= 8
    assert max(len(p.read_text().splitlines()) for p in modules.values()) <= 400
    assert not any("streamlit" in i for p in modules.values() for i in _raw_imports(p))
    assert _cycle(graph) is None, f"import cycle: {_cycle(graph)}"


def _raw_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names] + \
        [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return path + [nxt]
            if not state.get(nxt):
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in graph:
        if not state.get(start):
            found = visit(start, [start])
            if found:
                return found
    return None


def test_training_and_serving_see_identical_tensors_for_an_image():
    ds = digits(per_class=3)
    pre = models.get("efficientnet_lite0").preprocess()
    for record in data.records(ds)[:4]:
        square, _ = ImageSet([record], pre)[0]  # the trainer's evaluation path: decoded cache + crop
        training = normalize(square.unsqueeze(0), pre)
        serving = model_input([data.decode(data.read_bytes(record.sha256))], pre)  # predict, Grad-CAM, probe
        assert torch.equal(training, serving)


def _choices(command: str, flag: str) -> tuple:
    from core.cli.main import parser

    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return tuple(next(a for a in sub._actions if flag in a.option_strings).choices)


def test_cli_choices_are_the_config_option_lists():
    from core import scenarios

    assert _choices("train", "--scenario") == scenarios.CODES == config.SCENARIO_CODES
    assert _choices("train", "--device") == config.DEVICES
    assert _choices("train", "--baselines") == config.BASELINES
    assert _choices("export", "--format") == config.EXPORT_FORMATS
    assert _choices("backbones", "--source") == models.SOURCES
