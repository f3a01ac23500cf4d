"""`python -m core ...` for tests: the same `main()` with its exit status, stdout and stderr, run in this process.

A new interpreter spends about 5 s of CPU importing PyTorch before the command starts (`python -m core datasets`,
measured on this 2-core box), and the suite makes about a hundred such calls. `real_cli` starts the real command;
tests/test_cli.py uses it for the entry point itself (`python -m core`, its exit status through `sys.exit`).
"""
from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

from core.cli.main import main
from tests.conftest import ROOT


def cli(*args) -> subprocess.CompletedProcess:
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return subprocess.CompletedProcess(["python", "-m", "core", *argv], code, out.getvalue(), err.getvalue())


def real_cli(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
