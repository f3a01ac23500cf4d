"""The SQLite file in the data home: WAL mode (readers never block the writer), one schema.

Modules add their tables with `schema(...)` and, for data homes made by an older version, a
`migration(...)` that brings an existing table up to date; `connect()` runs whatever is missing once
per process.
"""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from core.paths import data_home

_SCHEMAS: list[str] = []
_MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []
_ready: set[str] = set()
_lock = threading.Lock()


def schema(sql: str) -> None:
    _SCHEMAS.append(sql)
    _ready.clear()


def migration(step: Callable[[sqlite3.Connection], None]) -> None:
    """`step(conn)` runs before the schemas on every new connection's first use; it must check
    whether its change is needed (a missing column, an old constraint) and do nothing otherwise."""
    _MIGRATIONS.append(step)
    _ready.clear()


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def add_column(conn: sqlite3.Connection, table: str, column: str, ddl: str) -> None:
    """ALTER TABLE … ADD COLUMN, when the table exists without the column."""
    existing = columns(conn, table)
    if existing and column not in existing:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")


def db_path() -> Path:
    return data_home() / "transferlab.db"


def connect() -> sqlite3.Connection:
    path = str(db_path())
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    with _lock:
        if path not in _ready:
            conn.execute("PRAGMA journal_mode = WAL")
            for step in _MIGRATIONS:  # foreign keys are still off: a table rebuild keeps its rows
                step(conn)
            conn.executescript("".join(_SCHEMAS))
            _ready.add(path)
    conn.execute("PRAGMA foreign_keys = ON")
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
