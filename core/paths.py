"""Where TransferLab keeps its data. One folder, the data home; nothing else is needed."""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = ".transferlab"


def data_home() -> Path:
    """`$TRANSFERLAB_HOME`, else `./.transferlab`; created on first use."""
    home = Path(os.environ.get("TRANSFERLAB_HOME") or DEFAULT_HOME).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def subdir(name: str) -> Path:
    path = data_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path
