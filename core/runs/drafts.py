"""Wizard drafts: the RunConfig a person is building and the wizard steps they have done (`STEPS`),
kept in the store so a browser refresh (which loses Streamlit's session state) finds it again by the
token in the URL."""
from __future__ import annotations

import json
import re
import secrets
import time

from core import db
from core.config import RunConfig
from core.errors import ConfigError

STEPS = ("scenario", "backbone", "data", "layers")  # the wizard's steps a draft records as done
TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def new(config: RunConfig | None = None) -> str:
    token = secrets.token_urlsafe(12)
    save(token, config or RunConfig(), {})
    return token


def valid_token(token: str | None) -> bool:
    return bool(token) and bool(TOKEN.match(token))


def load(token: str) -> tuple[RunConfig, dict] | None:
    """The draft, or None when the token is unknown. A draft that no longer validates (an older
    format) starts over from the defaults rather than breaking the page."""
    with db.reading() as conn:
        row = conn.execute("SELECT config, state FROM drafts WHERE id = ?", (token,)).fetchone()
    if row is None:
        return None
    try:
        config = RunConfig.from_json(row["config"])
    except ConfigError:
        config = RunConfig()
    return config, json.loads(row["state"])


def save(token: str, config: RunConfig, state: dict) -> None:
    with db.transaction() as conn:
        conn.execute("""INSERT INTO drafts (id, config, state, updated) VALUES (?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET config = excluded.config, state = excluded.state,
                        updated = excluded.updated""", (token, config.to_json(), json.dumps(state), time.time()))


def keep_only(conn, tokens: set[str]) -> None:
    """In a copy of the store (a class's backup): the drafts of `tokens` alone."""
    marks = ",".join("?" * len(tokens))  # none: NOT IN () keeps nothing
    conn.execute(f"DELETE FROM drafts WHERE id NOT IN ({marks})", sorted(tokens))
