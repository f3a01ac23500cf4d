"""Errors that carry a message meant for a person (CLI exit 2, a UI st.error)."""
from __future__ import annotations

import errno
import sqlite3


class UserError(Exception):
    """Bad input: the message names the problem and, where possible, the fix."""


class ConfigError(UserError):
    """A RunConfig field is invalid; `field` is its dotted path."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message

    def __reduce__(self):  # pickled across processes (a Ray task's error) with both arguments
        return type(self), (self.field, self.message)


class WeightsUnavailable(UserError):
    """Pretrained weights are neither bundled nor cached, and cannot be downloaded."""


class ResourceError(UserError):
    """The server ran short of something (disk, memory) or cannot use its data home. The message says
    what, where, how much is free and what to do (`paths.resource_error` writes it)."""


class LimitReached(ResourceError):
    """A person's or a class's limit (stored MB, images, jobs) or the server's free-space floor refuses
    this: the message names the limit, the usage and what frees room."""


# ---- what kind of resource trouble an exception is --------------------------------------------------
DISK_FULL, READ_ONLY, LOCKED, UNOPENABLE, MEMORY, IO = "full", "read-only", "locked", "unopenable", "memory", "io"
_SQLITE = (("database or disk is full", DISK_FULL), ("readonly database", READ_ONLY),
           ("database is locked", LOCKED), ("unable to open database file", UNOPENABLE), ("disk i/o error", IO))
_FULL_TEXT = ("no space left on device", "os error 28", "disk quota exceeded", "os error 122")


def resource_kind(error: BaseException) -> str | None:
    """DISK_FULL, READ_ONLY, LOCKED, UNOPENABLE, MEMORY or IO when `error` is about the machine's
    resources rather than the person's input; None otherwise. No free space is measured here."""
    if isinstance(error, ResourceError) or type(error).__name__ == "OutOfMemoryError":
        return None  # already explained; a GPU's out-of-memory is the half-batch retry's, not this
    if isinstance(error, MemoryError) or (isinstance(error, OSError) and error.errno == errno.ENOMEM):
        return MEMORY
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DISK_FULL
    if isinstance(error, OSError) and error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return READ_ONLY
    text = str(error).lower()
    if isinstance(error, sqlite3.Error):
        return next((kind for said, kind in _SQLITE if said in text), None)
    if any(said in text for said in _FULL_TEXT):  # safetensors' and torch's own wording of ENOSPC
        return DISK_FULL
    if "can't allocate memory" in text or "cannot allocate memory" in text:  # torch's CPU allocator
        return MEMORY
    return None
