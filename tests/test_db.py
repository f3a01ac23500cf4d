"""The one schema: a data home from an older version is migrated in numbered steps, a current one is
opened without a write, and every
table exists whatever a process imported."""
import sqlite3
import subprocess
import sys

from core import data, db
from tests.conftest import ROOT


def _old_home(path) -> None:
    """A data home as the version before owners and job leases left it (user_version 0)."""
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE datasets (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL,
                               source TEXT NOT NULL DEFAULT 'upload');
        INSERT INTO datasets (id, name, created, source) VALUES (1, 'old', 0, 'cli');
        CREATE TABLE runs (id TEXT PRIMARY KEY, owner TEXT NOT NULL, parent TEXT, role TEXT NOT NULL DEFAULT 'main',
                           config TEXT NOT NULL, dataset TEXT, backbone TEXT NOT NULL, scenario TEXT NOT NULL,
                           status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', created REAL NOT NULL,
                           started REAL, finished REAL, summary TEXT, evaluation TEXT);
        CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, owner TEXT NOT NULL,
                           kind TEXT NOT NULL, status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',
                           created REAL NOT NULL, started REAL, finished REAL, cancel INTEGER NOT NULL DEFAULT 0,
                           attempts INTEGER NOT NULL DEFAULT 0, batch_size INTEGER);""")
    conn.close()


def test_an_old_data_home_is_migrated_step_by_step_and_keeps_its_rows():
    _old_home(db.db_path())
    assert [d["name"] for d in data.list_datasets("cli")] == ["old"]  # the headless owner's now
    with db.reading() as conn:
        assert db.version(conn) == db.VERSION == len(db.STEPS)
        assert "holder" in db.columns(conn, "jobs")
        assert db.columns(conn, "image_edits") and db.columns(conn, "classrooms")  # every table exists
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_current_home_is_opened_without_a_write():
    data.list_datasets("cli")  # made and migrated
    db._ready.clear()  # as in a new process
    seen: list[str] = []
    conn = sqlite3.connect(db.db_path(), isolation_level=None)
    conn.set_trace_callback(seen.append)
    db.migrate(conn)
    conn.close()
    assert seen == ["PRAGMA user_version"]  # one read: nothing is written to a home that is current


def test_every_table_exists_whichever_modules_a_process_imported(tmp_path):
    """Tables used to appear only when the module that defined them had been imported first."""
    code = ("from core import db; conn = db.connect(); "
            "print(sorted(r[0] for r in conn.execute(\"SELECT name FROM sqlite_master WHERE type = 'table'\")))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"TRANSFERLAB_HOME": str(tmp_path / "fresh"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    for table in ("datasets", "image_edits", "runs", "jobs", "drafts", "policies", "holdouts", "workers", "classrooms"):
        assert f"'{table}'" in out.stdout
