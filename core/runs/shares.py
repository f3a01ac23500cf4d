"""Share links: a finished run's model, opened by anyone holding the link, for predictions only.

A link carries its own random token (`secrets.token_urlsafe(24)`: 192 bits, never starting with '-', since
it travels as a CLI argument), never the owner token: it grants predictions on one run and nothing else,
and an owner token is no share token either (only a token's hash is looked up). The store keeps only the
token's SHA-256, as it does a teacher key: the link is shown once, when it is made. Anyone reading the
database (a backup, a support copy) cannot open it; an owner who loses a link revokes it by its id (the
first characters of the hash, shown in the list) and makes a new one. Keeping the link recoverable would
mean keeping an encryption key on the same server, which protects nothing the hash does not.

Rate limit: LIMIT images per clock minute per link (a batch of 5 uploads counts 5), counted in the store,
so every thread and process of the server shares one count per link.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import time

from core import db
from core.errors import UserError
from core.paths import check_run_id
from core.runs import status, store

LIMIT = 60  # images per minute per link: a person trying a model by hand never reaches it; a script does
MINUTE = 60.0
TOKEN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{31,99}$")  # token_urlsafe(24) is 32 characters
ID_LENGTH = 12  # a link's public id: the first characters of its hash
DEFAULT_PUBLIC_URL = "http://localhost:8501"


class LinkRefused(UserError):
    """A share token that opens nothing: unknown, malformed, revoked, or its run no longer there."""


class RateLimited(UserError):
    """This link has made its LIMIT predictions this minute."""

    def __init__(self, wait: float):
        super().__init__(f"This link has made {LIMIT} predictions in the last minute, the most one link may. "
                         f"Try again in {max(1, round(wait))} s.")
        self.wait = wait


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh share token; one starting with '-' would read as a flag on a command line, so it is drawn again."""
    while True:
        token = secrets.token_urlsafe(24)
        if not token.startswith("-"):
            return token


def public_url() -> str:
    """Where people reach this server: $TRANSFERLAB_PUBLIC_URL (`make run` sets it), else localhost."""
    return (os.environ.get("TRANSFERLAB_PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/")


def link(token: str, base: str | None = None) -> str:
    return f"{(base or public_url()).rstrip('/')}/?share={token}"


def create(run_id: str, owner: str, base: str | None = None) -> dict:
    """A new link to `owner`'s finished run: {"token", "url", "run"}; the token is never shown again."""
    row = store.run_row(run_id, owner)  # someone else's run (a teacher's key included) is "not found"
    if row["status"] != status.Status.SUCCEEDED.value:
        raise UserError(f"run {run_id} is {row['status']}: only a finished run can be shared")
    token = new_token()
    with db.transaction() as conn:
        conn.execute("INSERT INTO share_links (token_hash, run_id, creator, created) VALUES (?, ?, ?, ?)",
                     (digest(token), run_id, owner, time.time()))
    return {"token": token, "url": link(token, base), "run": run_id}


def links(owner: str, run_id: str | None = None) -> list[dict]:
    """`owner`'s links, newest first (with `run_id`, that run's only): id, run, created, revoked, active."""
    query, args = "SELECT * FROM share_links WHERE creator = ?", [owner]
    if run_id is not None:
        check_run_id(run_id)
        query += " AND run_id = ?"
        args.append(run_id)
    with db.reading() as conn:
        rows = conn.execute(query + " ORDER BY created DESC", args).fetchall()
    return [{"id": r["token_hash"][:ID_LENGTH], "run": r["run_id"], "created": r["created"], "revoked": r["revoked"],
             "active": r["revoked"] is None} for r in rows]


def revoke(token_or_id: str, owner: str) -> dict:
    """Close a link for good, named by its token or by its id from `links`; only its creator may."""
    with db.transaction() as conn:
        row = conn.execute("SELECT * FROM share_links WHERE creator = ? AND (token_hash = ? OR substr(token_hash, 1, ?) = ?)",
                           (owner, digest(token_or_id), ID_LENGTH, token_or_id)).fetchone()
        if row is None:
            raise UserError("no such share link among yours (give the link's token, or its id from `share list`)")
        conn.execute("UPDATE share_links SET revoked = ? WHERE token_hash = ? AND revoked IS NULL",
                     (time.time(), row["token_hash"]))
    return {"id": row["token_hash"][:ID_LENGTH], "run": row["run_id"], "revoked": True}


def open_link(token: str | None) -> dict:
    """What a visitor holding `token` may see: the run's id, classes and tested accuracy; nothing of its
    owner. Refused (LinkRefused) when the token opens nothing."""
    row = _active(token)
    run = store.run_row(row["run_id"])
    if run["status"] != status.Status.SUCCEEDED.value:
        raise LinkRefused("This link no longer opens a model.")
    summary, evaluation = run.get("summary") or {}, run.get("evaluation") or {}
    return {"run": run["id"], "backbone": run["backbone"], "classes": summary.get("classes") or [],
            "test_accuracy": summary.get("test_accuracy"),
            "tested": evaluation.get("images") if evaluation.get("split") == "test" else None}


def _active(token: str | None) -> dict:
    if not token or not TOKEN.match(token):
        raise LinkRefused("This link is not valid: check that it was copied whole.")
    with db.reading() as conn:
        row = conn.execute("SELECT * FROM share_links WHERE token_hash = ?", (digest(token),)).fetchone()
    if row is None:
        raise LinkRefused("This link is not valid: it was never made here, or it was copied wrongly.")
    if row["revoked"] is not None:
        raise LinkRefused("This link was turned off by the person who shared it. Ask them for a new one.")
    return dict(row)


def spend(token: str, images: int = 1, now: float | None = None) -> int:
    """Count `images` predictions against the link's minute; RateLimited when they would pass LIMIT.
    Returns how many the link has left this minute. One transaction: two server threads cannot both
    take the last one."""
    now = time.time() if now is None else now
    minute = now - now % MINUTE
    with db.transaction() as conn:
        row = conn.execute("SELECT revoked, minute, used FROM share_links WHERE token_hash = ?", (digest(token),)).fetchone()
        if row is None or row["revoked"] is not None:
            raise LinkRefused("This link is not valid any more.")
        used = row["used"] if row["minute"] == minute else 0
        if used + images > LIMIT:
            raise RateLimited(minute + MINUTE - now)
        conn.execute("UPDATE share_links SET minute = ?, used = ? WHERE token_hash = ?",
                     (minute, used + images, digest(token)))
    return LIMIT - used - images
