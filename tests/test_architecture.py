"""The shape of core/: rooms by concern, imports one way, one source of truth per fact."""
import argparse
import ast
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from core import config, data, models
from core.data.cache import ImageSet
from core.data.transforms import model_input, normalize
from tests.conftest import ROOT
from tests.training import digits

CORE = ROOT / "core"
# Imports point down this list (a room may import its own modules, and any room below it); modules of
# core outside these rooms are leaves (config, errors, paths, db, scenarios, presets, …), importing leaves only.
LAYERS = ("cli", "classroom", "recipes", "execute", "runs", "serving", "training", "models", "data")
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")


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


def _layer(name: str) -> int:
    room = "cli" if name == "core.__main__" else name.split(".")[1]
    return LAYERS.index(room) if room in LAYERS else len(LAYERS)


def test_imports_point_down_the_layers():
    """cli → classroom → recipes → execute → runs → serving → training → models → data → leaves."""
    modules = _modules()
    upward = [(name, target) for name, path in modules.items() for target in _imports(name, path, modules)
              if _layer(name) > _layer(target)]
    assert upward == []


def _strings(path: Path) -> list[str]:
    """Every string constant of a module, f-strings' literal parts included."""
    return [n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_only_the_lifecycle_writes_a_status():
    """Every status write goes through core.runs.status: no UPDATE elsewhere sets `status =`, and no
    INSERT or UPDATE elsewhere spells a status literal."""
    offenders = []
    for name, path in _modules().items():
        if name == "core.runs.status":
            continue
        for text in _strings(path):
            sql = " ".join(text.split())
            sets = re.search(r"\bUPDATE\b.*?\bSET\b(.*?)(\bWHERE\b|$)", sql, re.IGNORECASE)
            if sets and re.search(r"\bstatus\s*=", sets.group(1)):
                offenders.append((name, sql))
            if re.search(r"\b(INSERT|UPDATE)\b", sql) and re.search(rf"'({'|'.join(STATUSES)})'", sql):
                offenders.append((name, sql))
    assert offenders == []
    from core.runs import status

    assert {s.value for s in status.Status} == set(STATUSES) == set(status.ACTIVE) | set(status.FINAL)


def test_a_rooms_tables_are_read_and_written_only_inside_it():
    """core/db.py lists every table under its room; SQL naming a table appears only in that room."""
    from core import db

    owner = {re.search(r"CREATE TABLE IF NOT EXISTS (\w+)", sql).group(1): room
             for room, statements in (("data", db.DATA), ("runs", db.RUNS), ("serving", db.SERVING),
                                      ("execute", db.EXECUTE), ("classroom", db.CLASSROOM))
             for sql in statements if "CREATE TABLE" in sql}
    pattern = re.compile(rf"\b(?:FROM|JOIN|INTO|UPDATE)\s+({'|'.join(owner)})\b")
    strays = {(name, table) for name, path in _modules().items() if name != "core.db"
              for text in _strings(path) for table in pattern.findall(" ".join(text.split()))
              if name.split(".")[1] != owner[table]}
    assert len(owner) == 27 and strays == set()


def test_the_supervisor_never_imports_torch(tmp_path):
    """`python -m core worker` loads only the worker command; the supervisor process it becomes keeps
    torch out (its slots import it)."""
    code = ("import sys; from core.cli import main; main.load(['worker']); from core.execute import supervisor; "
            "print(sorted(m for m in ('torch', 'torchvision', 'timm', 'streamlit') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    env = {**os.environ, "TRANSFERLAB_HOME": str(tmp_path / "home")}
    worker = subprocess.Popen([sys.executable, "-m", "core", "worker", "--slots", "1"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = tmp_path / "home" / "worker.lock"
        deadline = time.time() + 120
        while not (lock.exists() and lock.read_text().strip() == str(worker.pid)) and time.time() < deadline:
            time.sleep(0.1)
        assert worker.poll() is None, "the worker exited"
        maps = Path(f"/proc/{worker.pid}/maps").read_text()
        assert "libtorch" not in maps and "/torch/" not in maps
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(120)


POLICY = "import os, core; print(os.environ.get('OMP_WAIT_POLICY'))"


def test_torchs_idle_threads_sleep_unless_the_environment_says_otherwise():
    """Spinning OpenMP threads made a training step 2-4x slower beside another PyTorch process on 2 cores
    (tools/thread_wait_bench.py): every process that imports core lets them sleep; a value someone set stays."""
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    told = subprocess.run([sys.executable, "-c", POLICY], cwd=ROOT, env=clean, capture_output=True, text=True)
    kept = subprocess.run([sys.executable, "-c", POLICY], cwd=ROOT, env={**clean, "OMP_WAIT_POLICY": "ACTIVE"},
                          capture_output=True, text=True)
    assert (told.stdout.strip(), kept.stdout.strip()) == ("PASSIVE", "ACTIVE")
