"""How much one person, and one class together, may keep on the server, and the room the server keeps
free on its disk.

Limits per owner come from the environment (defaults below); a class's limits, for all its students
together, are set by the teacher with the class rules and kept here (`quotas` table). Usage is counted
where it lives: stored bytes are the images of the owner's datasets plus their runs' folders (checkpoints,
models), images are the images of their datasets; queued and running jobs are counted by
`runs.admission`, which holds them to `max_jobs`. Below the free-space floor new uploads and jobs are
refused while everything stored stays readable. A limit refuses at the limit, not before: reaching it
exactly is allowed.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core import db, words
from core.data import pins, store
from core.errors import LimitReached, UserError
from core.paths import RUN_ID, data_home, env_owner, free_bytes, run_dir

MB = words.MB
DEFAULTS = {"TRANSFERLAB_OWNER_MAX_MB": 2048, "TRANSFERLAB_OWNER_MAX_IMAGES": 20_000, "TRANSFERLAB_OWNER_MAX_JOBS": 20,
            "TRANSFERLAB_MIN_FREE_MB": 200}
FIELDS = ("max_mb", "max_images", "max_jobs")  # what a class rule may set (`class rules --set max_mb=500`)
SAID = {"max_mb": "stored", "max_images": "images", "max_jobs": "queued or running jobs"}


@dataclass(frozen=True)
class Limits:
    """None: no limit of that kind."""

    max_mb: float | None = None
    max_images: int | None = None
    max_jobs: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Usage:
    bytes: int = 0
    images: int = 0
    jobs: int = 0  # filled in by runs.admission (jobs are the runs room's)

    def to_dict(self) -> dict:
        return asdict(self)


# ---- the limits ---------------------------------------------------------------------------------------
def _env_number(name: str) -> float:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return DEFAULTS[name]
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{name}={text!r} is not a number (default {DEFAULTS[name]})") from None
    if value < 0:
        raise UserError(f"{name}={text!r} must be 0 or more (default {DEFAULTS[name]})")
    return value


def owner_limits() -> Limits:
    """Every owner's own limits: $TRANSFERLAB_OWNER_MAX_MB, _MAX_IMAGES and _MAX_JOBS, or the defaults."""
    return Limits(_env_number("TRANSFERLAB_OWNER_MAX_MB"), int(_env_number("TRANSFERLAB_OWNER_MAX_IMAGES")),
                  int(_env_number("TRANSFERLAB_OWNER_MAX_JOBS")))


def min_free_bytes() -> int:
    """The free-space floor: $TRANSFERLAB_MIN_FREE_MB (default 200 MB) stays free on the data home's disk."""
    return int(_env_number("TRANSFERLAB_MIN_FREE_MB") * MB)


def class_limits(audience: str) -> Limits:
    with db.reading() as conn:
        row = conn.execute("SELECT max_mb, max_images, max_jobs FROM quotas WHERE audience = ?", (audience,)).fetchone()
    return Limits(*row) if row else Limits()


def set_class_limits(audience: str, values: dict) -> Limits:
    """Set some of a class's limits (`FIELDS`; None removes one); the others keep their value."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise UserError(f"{unknown[0]} is not a class limit; limits are {', '.join(FIELDS)}")
    for name, value in values.items():
        if value is not None and (not isinstance(value, (int, float)) or value < 1):
            raise UserError(f"{name} must be a whole number of 1 or more (or 'none'), got {value!r}")
    merged = {**class_limits(audience).to_dict(), **values}
    with db.transaction() as conn:
        conn.execute("INSERT OR REPLACE INTO quotas (audience, max_mb, max_images, max_jobs) VALUES (?, ?, ?, ?)",
                     (audience, merged["max_mb"], merged["max_images"], merged["max_jobs"]))
    return Limits(**merged)


def keep_only(conn, audience: str) -> None:
    """In a copy of the store (a class's backup): that class's limits alone."""
    conn.execute("DELETE FROM quotas WHERE audience != ?", (audience,))


def limited_classes(owner: str) -> dict[str, Limits]:
    """The owner's classes (audiences) that have a limit set, with those limits."""
    found = {audience: class_limits(audience) for audience in store.audiences(owner)}
    return {audience: limits for audience, limits in found.items() if limits != Limits()}


# ---- usage ----------------------------------------------------------------------------------------------
def usage(owners: list[str] | set[str]) -> Usage:
    """Stored bytes (their datasets' images and their runs' folders) and images of these owners together."""
    owners = sorted(owners)
    if not owners:
        return Usage()
    marks = ",".join("?" * len(owners))
    with db.reading() as conn:
        row = conn.execute(f"""SELECT COALESCE(SUM(i.bytes), 0), COUNT(i.id) FROM images i
                               JOIN datasets d ON d.id = i.dataset_id WHERE d.owner IN ({marks})""", owners).fetchone()
    runs = sum(folder_bytes(run_dir(ref)) for ref in pins.refs_of(owners) if RUN_ID.match(ref))
    return Usage(bytes=row[0] + runs, images=row[1])


def folder_bytes(folder: Path) -> int:
    """The bytes of the files under `folder` (0 when it does not exist); files vanishing meanwhile are skipped."""
    total = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


def class_usage(audience: str) -> Usage:
    return usage(store.members(audience))


# ---- refusing -------------------------------------------------------------------------------------------
def check_free(adding: int = 0, what: str = "this") -> None:
    """Refuse `what` when writing `adding` more bytes would leave less than the floor free."""
    floor, free = min_free_bytes(), free_bytes(data_home())
    if free - adding < floor:
        raise LimitReached(f"{what} is refused: the server keeps at least {words.size(floor)} free on its disk "
                           f"(TRANSFERLAB_MIN_FREE_MB) and {data_home()} has {words.size(free)} free. Everything "
                           "already stored can still be read; ask whoever runs the server to free space.")


def over(limits: Limits, used: Usage, adding: Usage) -> str | None:
    """The first limit that `adding` would take `used` over, as "1.9 MB of 2 MB stored"; None when all fit."""
    for name, now, more, scale in (("max_mb", used.bytes, adding.bytes, MB), ("max_images", used.images, adding.images, 1),
                                   ("max_jobs", used.jobs, adding.jobs, 1)):
        limit = getattr(limits, name)
        if limit is not None and more and now + more > limit * scale:
            return said(name, now, limit)
    return None


def said(name: str, now: int, limit: float) -> str:
    """Usage against a limit in words: "1.9 MB of 2 MB stored", "20 of 20 images"."""
    if name == "max_mb":
        return f"{words.size(now)} of {words.size(limit * MB)} stored"
    return f"{words.number(now)} of {words.number(limit)} {SAID[name]}"


def in_words(used: Usage, limits: Limits) -> str:
    """"12 MB of 2 GB stored · 340 of 20,000 images · 1 of 20 queued or running jobs" (no limit: the usage alone)."""
    values = {"max_mb": used.bytes, "max_images": used.images, "max_jobs": used.jobs}
    parts = []
    for name, now in values.items():
        limit = getattr(limits, name)
        if limit is not None:
            parts.append(said(name, now, limit))
        else:
            parts.append(f"{words.size(now)} stored" if name == "max_mb" else f"{words.number(now)} {SAID[name]}")
    return " · ".join(parts)


@dataclass
class Budget:
    """An owner's room for one ingest, checked before each file is stored (usage is counted once, then kept
    up to date here): the owner's limits, each limited class's, and the free-space floor."""

    owner: str
    used: Usage = field(init=False)
    classes: dict[str, tuple[Limits, Usage]] = field(init=False)

    def __post_init__(self):
        self.used = usage([self.owner])
        self.classes = {a: (limits, class_usage(a)) for a, limits in limited_classes(self.owner).items()}

    def admit(self, file: str, size: int) -> None:
        """Count one more image of `size` bytes, or refuse it with a reason that names `file`."""
        adding = Usage(bytes=size, images=1)
        crossed = over(owner_limits(), self.used, adding)
        if crossed:
            raise LimitReached(f"{file}: not stored: you have {crossed} (the limit per person) and this image would "
                               "go over it. Delete datasets or runs you no longer need, or ask whoever runs the server "
                               "for more (TRANSFERLAB_OWNER_MAX_MB, TRANSFERLAB_OWNER_MAX_IMAGES).")
        for limits, used in self.classes.values():
            crossed = over(limits, used, adding)
            if crossed:
                raise LimitReached(f"{file}: not stored: your class has {crossed} (its limit for all students "
                                   "together, set by your teacher) and this image would go over it. Delete datasets "
                                   "or runs you no longer need, or ask your teacher to raise it.")
        check_free(size, f"{file}: storing it")
        for used in (self.used, *(u for _, u in self.classes.values())):
            used.bytes, used.images = used.bytes + size, used.images + 1


def budget(owner: str | None = None) -> Budget:
    return Budget(owner or env_owner())
