"""Classes: a name, a join code students type (6 letters and digits, no look-alikes), and a teacher
key (≥ 128 bits, stored only as a hash) that opens the teacher's view. A student joins with the code
and a display name and gets a private workspace: a fresh owner token (a draft token, so the browser
uses it as `?s=`) that belongs to the class's audience."""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time

from core import db
from core.data import store as datasets
from core.data.uploads import clean_class_name
from core.errors import UserError
from core.runs import drafts

JOIN_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read off a projector
JOIN_LENGTH = 6
MIN_KEY_LENGTH = 16
MAX_NAME = 40


def audience(class_id: str) -> str:
    return f"class:{class_id}"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(name: str, teacher_key: str | None = None) -> dict:
    """A new class; the teacher key is `teacher_key`, else $TRANSFERLAB_TEACHER_KEY, else a fresh one.
    The key is also the teacher's own owner token (their datasets, their runs)."""
    title = clean_class_name(name)[:MAX_NAME]
    if not title:
        raise UserError(f"class name {name!r} is empty once cleaned; use letters or digits")
    key = teacher_key or os.environ.get("TRANSFERLAB_TEACHER_KEY") or secrets.token_urlsafe(24)
    if len(key) < MIN_KEY_LENGTH or not re.fullmatch(r"[A-Za-z0-9_-]+", key):
        raise UserError(f"a teacher key needs at least {MIN_KEY_LENGTH} letters, digits, '-' or '_'")
    class_id = secrets.token_hex(4)
    for _ in range(20):  # a fresh code that no class uses yet
        code = "".join(secrets.choice(JOIN_ALPHABET) for _ in range(JOIN_LENGTH))
        with db.transaction() as conn:
            if conn.execute("SELECT 1 FROM classrooms WHERE join_code = ?", (code,)).fetchone():
                continue
            conn.execute("INSERT INTO classrooms (id, name, join_code, key_hash, created) VALUES (?, ?, ?, ?, ?)",
                         (class_id, title, code, _hash(key), time.time()))
        return {"class": class_id, "join_code": code, "teacher_key": key, "name": title}
    raise UserError("could not find a free join code; try again")


def authorize(class_id: str, key: str | None) -> dict:
    """The class, when `key` is its teacher key; otherwise a clear refusal."""
    if not key:
        raise UserError("this needs the class's teacher key (--teacher-key or $TRANSFERLAB_TEACHER_KEY)")
    with db.reading() as conn:
        row = conn.execute("SELECT * FROM classrooms WHERE id = ?", (class_id,)).fetchone()
    if row is None:
        raise UserError(f"no class {class_id!r}")
    if not hmac.compare_digest(row["key_hash"], _hash(key)):
        raise UserError(f"that is not the teacher key of class {class_id!r}")
    return dict(row)


def of_key(key: str | None) -> list[dict]:
    """The classes this teacher key opens (newest first)."""
    if not key:
        return []
    with db.reading() as conn:
        rows = conn.execute("SELECT * FROM classrooms WHERE key_hash = ? ORDER BY created DESC", (_hash(key),))
        return [dict(r) for r in rows]


def join(code: str, name: str) -> dict:
    """A student joins with the code and a display name: a new private workspace in the class."""
    display = clean_class_name(name)[:MAX_NAME]
    if not display:
        raise UserError("type a display name (letters or digits)")
    with db.reading() as conn:
        row = conn.execute("SELECT id FROM classrooms WHERE join_code = ?", (code.strip().upper(),)).fetchone()
    if row is None:
        raise UserError(f"no class has the join code {code!r}; check it with your teacher")
    token = drafts.new()
    with db.transaction() as conn:
        if conn.execute("SELECT 1 FROM classroom_members WHERE class_id = ? AND name = ?", (row["id"], display)).fetchone():
            raise UserError(f"someone in this class is already called {display!r}; add an initial")
        conn.execute("INSERT INTO classroom_members (token, class_id, name, joined) VALUES (?, ?, ?, ?)",
                     (token, row["id"], display, time.time()))
    datasets.join_audience(audience(row["id"]), token)
    return {"class": row["id"], "token": token, "name": display}


def membership(token: str) -> dict | None:
    """{"class", "name", "class_name"} of a student token, or None."""
    with db.reading() as conn:
        row = conn.execute("""SELECT m.class_id, m.name, c.name AS class_name FROM classroom_members m
                              JOIN classrooms c ON c.id = m.class_id WHERE m.token = ?""", (token,)).fetchone()
    return {"class": row["class_id"], "name": row["name"], "class_name": row["class_name"]} if row else None


def members(class_id: str) -> list[dict]:
    with db.reading() as conn:
        rows = conn.execute("SELECT token, name, joined FROM classroom_members WHERE class_id = ? ORDER BY joined", (class_id,))
        return [dict(r) for r in rows]


def keep_only(conn, class_id: str) -> set[str]:
    """In a copy of the store (a class's backup): that class and its members alone; returns their tokens."""
    conn.execute("DELETE FROM classrooms WHERE id != ?", (class_id,))
    return {r[0] for r in conn.execute("SELECT token FROM classroom_members WHERE class_id = ?", (class_id,))}


def count(conn) -> int:
    return conn.execute("SELECT COUNT(*) FROM classrooms").fetchone()[0]
