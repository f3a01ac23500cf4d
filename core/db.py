"""The SQLite file in the data home: WAL mode (readers never block the writer), one schema.

Modules add their tables with `schema(...)` at import; `connect()` creates whatever is missing.
"""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

from core.paths import data_home

_SCHEMAS: list[str] = []
_ready: set[str] = set()
_lock = threading.Lock()


def schema(sql: str) -> None:
    _SCHEMAS.append(sql)
    _ready.clear()


def db_path() -> Path:
    return data_home() / "transferlab.db"


def connect() -> sqlite3.Connection:
    path = str(db_path())
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    with _lock:
        if path not in _ready:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript("".join(_SCHEMAS))
            _ready.add(path)
    return conn


@contextmanager
def transaction():
    """One connection, BEGIN IMMEDIATE … COMMIT (ROLLBACK on error), closed afterwards."""
    conn = connect()
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


@contextmanager
def reading():
    conn = connect()
    try:
        yield conn
    finally:
        conn.close()
