"""The SQLite file in the data home and its one schema: every table, and the numbered steps that bring a
data home made by an older version up to date.

A data home records how far it is migrated in `PRAGMA user_version`. `connect()` reads it (a read, no
write) once per process and file; only a home that is behind is migrated, in one transaction, and only
then is the journal mode set (WAL: readers never block the writer; the mode is kept in the file). So a
current home is opened without writing anything, and no module creates tables by being imported. On a
full or read-only disk, reads still work (`reading` falls back to an immutable snapshot of the file) while
writes fail, and the edges (CLI, pages, worker) say why with `paths.resource_error`.

Each table belongs to one room (package), named beside it with the module that keeps it; other rooms
reach a table through that room's functions, never by SQL of their own (`tests/test_architecture.py`
checks it). Inside a room, modules share their tables: the dataset manifest is written by `store`,
`intake`, `cleaner` and `splits`; jobs are claimed by `leases` and ordered by `fairness`, while their
statuses are written by `runs.status` alone.
"""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

from core import errors
from core.paths import NEARLY_FULL, data_home, free_bytes

# ---- the tables, by owner ------------------------------------------------------------------------------
# core.data.quotas: a class's limits for all its students together (NULL: no class limit); its own step (4)
QUOTAS = """CREATE TABLE IF NOT EXISTS quotas (
    audience TEXT PRIMARY KEY, max_mb REAL, max_images INTEGER, max_jobs INTEGER)"""
DATA = (  # core.data.store: datasets, who they are shared with, classes, images, duplicates
    """CREATE TABLE IF NOT EXISTS datasets (
        id INTEGER PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, created REAL NOT NULL,
        source TEXT NOT NULL DEFAULT 'upload', UNIQUE (owner, name))""",
    """CREATE TABLE IF NOT EXISTS dataset_shares (
        dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE, audience TEXT NOT NULL,
        PRIMARY KEY (dataset_id, audience))""",
    """CREATE TABLE IF NOT EXISTS audience_members (
        audience TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (audience, member))""",
    """CREATE TABLE IF NOT EXISTS classes (
        id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        name TEXT NOT NULL, UNIQUE (dataset_id, name))""",
    """CREATE TABLE IF NOT EXISTS images (
        id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
        sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
        gray INTEGER NOT NULL, phash TEXT NOT NULL, original TEXT NOT NULL, added REAL NOT NULL,
        UNIQUE (dataset_id, sha256))""",
    "CREATE INDEX IF NOT EXISTS images_by_class ON images(class_id)",
    "CREATE INDEX IF NOT EXISTS images_by_sha ON images(sha256)",
    """CREATE TABLE IF NOT EXISTS duplicates (
        id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        file TEXT NOT NULL, class_name TEXT NOT NULL, image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE)""",
    # core.data.splits: each image's sticky split, per fractions-and-seed key
    """CREATE TABLE IF NOT EXISTS split_keys (
        dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE, key TEXT NOT NULL,
        PRIMARY KEY (dataset_id, key))""",
    """CREATE TABLE IF NOT EXISTS image_splits (
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE, key TEXT NOT NULL, split TEXT NOT NULL,
        PRIMARY KEY (key, image_id))""",
    # core.data.pins: a run's own image lists
    """CREATE TABLE IF NOT EXISTS pins (
        ref TEXT PRIMARY KEY, dataset_id INTEGER REFERENCES datasets(id) ON DELETE SET NULL, dataset TEXT NOT NULL,
        owner TEXT NOT NULL, classes TEXT NOT NULL, created REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS pins_by_dataset ON pins(dataset_id)",
    """CREATE TABLE IF NOT EXISTS pinned_images (
        ref TEXT NOT NULL REFERENCES pins(ref) ON DELETE CASCADE, split TEXT NOT NULL, position INTEGER NOT NULL,
        image_id INTEGER NOT NULL, sha256 TEXT NOT NULL, class_name TEXT NOT NULL, label INTEGER NOT NULL,
        original TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, PRIMARY KEY (ref, split, position))""",
    "CREATE INDEX IF NOT EXISTS pinned_by_sha ON pinned_images(sha256)",
    # core.data.cleaner: relabel / delete / keep, each with its undo
    """CREATE TABLE IF NOT EXISTS image_edits (
        id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        image_id INTEGER NOT NULL, sha256 TEXT NOT NULL, action TEXT NOT NULL, old_class TEXT NOT NULL,
        new_class TEXT, saved TEXT, created REAL NOT NULL, undone REAL)""",
    "CREATE INDEX IF NOT EXISTS image_edits_by_dataset ON image_edits(dataset_id, undone)",
    QUOTAS,
)

# core.runs.shares: a run's share links (the token only as its SHA-256) and each link's count this minute;
# its own step (5)
SHARE_LINKS = (
    """CREATE TABLE IF NOT EXISTS share_links (
        token_hash TEXT PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        creator TEXT NOT NULL, created REAL NOT NULL, revoked REAL, minute REAL NOT NULL DEFAULT 0,
        used INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS share_links_by_creator ON share_links(creator, created)",
)
RUNS = (  # core.runs.store: runs, jobs (statuses written by core.runs.status only), metrics, artifacts
    """CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, parent TEXT, role TEXT NOT NULL DEFAULT 'main',
        config TEXT NOT NULL, dataset TEXT, backbone TEXT NOT NULL, scenario TEXT NOT NULL,
        status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', created REAL NOT NULL, started REAL,
        finished REAL, summary TEXT, evaluation TEXT)""",
    "CREATE INDEX IF NOT EXISTS runs_by_owner ON runs(owner, created)",
    """CREATE TABLE IF NOT EXISTS jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        owner TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL, started REAL, finished REAL, cancel INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0, batch_size INTEGER, holder TEXT)""",
    "CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, id)",
    """CREATE TABLE IF NOT EXISTS metrics (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        kind TEXT NOT NULL, phase TEXT, epoch INTEGER, step INTEGER, data TEXT NOT NULL, t REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS metrics_by_run ON metrics(run_id, id)",
    "CREATE INDEX IF NOT EXISTS metrics_by_kind ON metrics(run_id, kind, id)",
    """CREATE TABLE IF NOT EXISTS artifacts (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        kind TEXT NOT NULL, path TEXT NOT NULL, created REAL NOT NULL)""",
    # core.runs.drafts: the wizard's draft per browser token
    """CREATE TABLE IF NOT EXISTS drafts (
        id TEXT PRIMARY KEY, config TEXT NOT NULL, state TEXT NOT NULL DEFAULT '{}', updated REAL NOT NULL)""",
    # core.runs.admission: a class's preset and locks, enforced at submit
    """CREATE TABLE IF NOT EXISTS policies (
        audience TEXT PRIMARY KEY, preset TEXT NOT NULL DEFAULT '{}', locks TEXT NOT NULL DEFAULT '{}')""",
    *SHARE_LINKS,
)

SERVING = (  # core.serving.holdouts: a class's held-out set and each run's score on it
    """CREATE TABLE IF NOT EXISTS holdouts (
        audience TEXT PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE)""",
    """CREATE TABLE IF NOT EXISTS holdout_scores (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, audience TEXT NOT NULL, accuracy REAL,
        images INTEGER NOT NULL, scored REAL NOT NULL, PRIMARY KEY (run_id, audience))""",
)

EXECUTE = (  # core.execute.service: the slots' heartbeats
    """CREATE TABLE IF NOT EXISTS workers (
        pid INTEGER PRIMARY KEY, started REAL NOT NULL, heartbeat REAL NOT NULL, job_id INTEGER)""",
)

# core.classroom.experiments: a class's experiment (one question, its values, the run settings every value
# shares), each member's cell (value, seed, run) and each person's pick in the prediction poll; its own step (6)
EXPERIMENTS = (
    """CREATE TABLE IF NOT EXISTS class_experiments (
        id TEXT PRIMARY KEY, class_id TEXT NOT NULL REFERENCES classrooms(id) ON DELETE CASCADE,
        question TEXT NOT NULL, choices TEXT NOT NULL, dataset TEXT NOT NULL, config TEXT NOT NULL,
        created REAL NOT NULL, locked REAL, lock_reason TEXT)""",
    """CREATE TABLE IF NOT EXISTS experiment_cells (
        experiment_id TEXT NOT NULL REFERENCES class_experiments(id) ON DELETE CASCADE, token TEXT NOT NULL,
        value TEXT NOT NULL, seed INTEGER NOT NULL, assigned REAL NOT NULL, run_id TEXT,
        PRIMARY KEY (experiment_id, token))""",
    """CREATE TABLE IF NOT EXISTS experiment_picks (
        experiment_id TEXT NOT NULL REFERENCES class_experiments(id) ON DELETE CASCADE, voter TEXT NOT NULL,
        choice TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', picked REAL NOT NULL,
        PRIMARY KEY (experiment_id, voter))""",
)
CLASSROOM = (  # core.classroom.classes: classes and their members
    """CREATE TABLE IF NOT EXISTS classrooms (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, join_code TEXT NOT NULL UNIQUE, key_hash TEXT NOT NULL,
        created REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS classroom_members (
        token TEXT PRIMARY KEY, class_id TEXT NOT NULL REFERENCES classrooms(id) ON DELETE CASCADE,
        name TEXT NOT NULL, joined REAL NOT NULL, UNIQUE (class_id, name))""",
    *EXPERIMENTS,
)


# ---- the migration steps: step N brings user_version N-1 to N ---------------------------------------
def _datasets_get_owners(conn: sqlite3.Connection) -> None:
    """Homes from before datasets had owners: rebuild the table (names were global, unique); their
    datasets become the headless owner's ('cli'). Foreign keys are off here: the rebuild keeps rows."""
    existing = columns(conn, "datasets")
    if not existing or "owner" in existing:
        return
    conn.execute("""CREATE TABLE datasets_owned (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL,
                    created REAL NOT NULL, source TEXT NOT NULL DEFAULT 'upload', UNIQUE (owner, name))""")
    conn.execute("""INSERT INTO datasets_owned (id, owner, name, created, source)
                    SELECT id, 'cli', name, created, source FROM datasets""")
    conn.execute("DROP TABLE datasets")
    conn.execute("ALTER TABLE datasets_owned RENAME TO datasets")


def _jobs_get_holders(conn: sqlite3.Connection) -> None:
    """Homes from before job leases: jobs gain their holder column."""
    existing = columns(conn, "jobs")
    if existing and "holder" not in existing:
        conn.execute("ALTER TABLE jobs ADD COLUMN holder TEXT")


def _every_table(conn: sqlite3.Connection) -> None:
    """Version 3: every table above. Homes from before versioning (user_version 0) may hold some of
    them already, hence IF NOT EXISTS; steps after this one can rely on the version alone."""
    for statement in DATA + RUNS + SERVING + EXECUTE + CLASSROOM:
        conn.execute(statement)


def _classes_get_quotas(conn: sqlite3.Connection) -> None:
    """Version 4: a class's limits (stored MB, images, jobs), set with the class rules."""
    conn.execute(QUOTAS)


def _runs_get_share_links(conn: sqlite3.Connection) -> None:
    """Version 5: share links to a finished run (predict only), stored hashed."""
    for statement in SHARE_LINKS:
        conn.execute(statement)


def _classes_get_experiments(conn: sqlite3.Connection) -> None:
    """Version 6: a class's experiment, its cells and its prediction poll."""
    for statement in EXPERIMENTS:
        conn.execute(statement)


def _images_get_labels(conn: sqlite3.Connection) -> None:
    """Version 7: several labels per image (issue 32). A dataset's task; a multi-label image's labels (a JSON
    list of names; its class is the dataset's placeholder class, `store.UNLABELLED`); a run's pinned labels."""
    for table, column, kind in (("datasets", "task", "TEXT NOT NULL DEFAULT 'single_label'"),
                                ("images", "labels", "TEXT"), ("pinned_images", "labels", "TEXT")):
        if column not in columns(conn, table):  # a home set back to an earlier version keeps its columns
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


STEPS = (_datasets_get_owners, _jobs_get_holders, _every_table, _classes_get_quotas,
         _runs_get_share_links, _classes_get_experiments, _images_get_labels)  # append only: a step's number is its version
VERSION = len(STEPS)


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection) -> None:
    """Run the steps this file lacks, in one transaction; a second process doing the same waits on
    BEGIN IMMEDIATE and then finds nothing left to do. A newer home (a later version made it) is
    left as it is."""
    if version(conn) >= VERSION:
        return
    conn.execute("PRAGMA journal_mode = WAL")  # persistent: set when the file is made or migrated, never again
    conn.execute("BEGIN IMMEDIATE")
    try:
        for step in STEPS[version(conn):]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# ---- connections ---------------------------------------------------------------------------------------
_ready: set[str] = set()  # files this process has found (or made) current
_lock = threading.Lock()


def db_path() -> Path:
    return data_home() / "transferlab.db"


def replaced() -> None:
    """The file was replaced (a restore): this process checks its version again on the next connection."""
    with _lock:
        _ready.discard(str(db_path()))


def connect() -> sqlite3.Connection:
    path = str(db_path())
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    if path not in _ready:
        with _lock:
            if path not in _ready:
                migrate(conn)  # foreign keys are still off: a table rebuild keeps its rows
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
    """A connection for reads. On a full or read-only disk it is a snapshot of the file (see `_reader`)."""
    conn = _reader()
    try:
        yield conn
    finally:
        conn.close()


def _reader() -> sqlite3.Connection:
    """An ordinary connection, tried with one read: in WAL mode the first read maps the shared-memory index
    (`-shm`, 32 KB), which a process must create when no other has the file open, and that fails on a full or
    read-only disk. Then, when no write is pending in the WAL (so the main file holds every commit) and the
    disk is the cause, the file is opened immutable: reads keep working while nothing can be written."""
    conn = None
    try:
        conn = connect()
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")
        return conn
    except sqlite3.OperationalError as exc:
        if conn is not None:
            conn.close()
        snapshot = _snapshot()
        if snapshot is None or not _disk_trouble(exc):
            raise
        return snapshot


def _disk_trouble(error: sqlite3.Error) -> bool:
    kind = errors.resource_kind(error)
    # "database or disk is full" says it outright; only the vague I/O error needs the free space measured
    return kind in (errors.READ_ONLY, errors.UNOPENABLE, errors.DISK_FULL) or (
        kind == errors.IO and free_bytes(db_path().parent) < NEARLY_FULL)


def _snapshot() -> sqlite3.Connection | None:
    """The file opened read-only and immutable, when that reads every commit: a current schema, and an empty
    or absent WAL (a writer that could commit on this disk would have the -shm already)."""
    path, wal = db_path(), Path(f"{db_path()}-wal")
    if not path.exists() or (wal.exists() and wal.stat().st_size > 0):
        return None
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False,
                           isolation_level=None)
    conn.row_factory = sqlite3.Row
    if version(conn) < VERSION:  # an older schema needs its migration, which cannot be written now
        conn.close()
        return None
    return conn
