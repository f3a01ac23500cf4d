"""Turn what people hand us (uploads, directory uploads, zips, folders, camera snapshots) into
(class, file name, bytes) items, rejecting what is unsafe with a plain reason per file.

Zips are read member by member in memory (never extracted): absolute paths and `..` are refused,
and member count, total size and compression ratio are capped, with sizes measured while reading
(headers can lie). Class names are labels in the database, never paths.
"""
from __future__ import annotations

import io
import os
import posixpath
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from core.data.images import MAX_BYTES, mib

MAX_CLASS_NAME = 64
ZIP_MAX_MEMBERS = 20_000
ZIP_MAX_TOTAL = 1024 * 1024 * 1024  # 1 GiB uncompressed, all members together
ZIP_MAX_RATIO = 100  # images barely compress; 100:1 means a bomb, not a photo
FOLDER_MAX_FILES = 100_000
SKIPPED = re.compile(r"(^|/)(__MACOSX|\.DS_Store|Thumbs\.db|desktop\.ini)(/|$)|(^|/)\.[^/]*$", re.I)


@dataclass(frozen=True)
class Item:
    file: str  # the name as given (path inside the folder or zip)
    class_name: str
    data: bytes
    labels: tuple[str, ...] | None = None  # a multi-label image's labels (maybe none); class_name is then unused


@dataclass(frozen=True)
class Rejection:
    file: str
    reason: str


Entry = Item | Rejection


def clean_class_name(raw: str) -> str:
    """A safe, readable label: NFC, no control characters or path separators, no leading dots,
    at most 64 characters. Returns "" when nothing is left (the caller reports it)."""
    text = unicodedata.normalize("NFC", str(raw))
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = re.sub(r"[\\/]+", " ", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    return text[:MAX_CLASS_NAME].strip()


def from_uploads(pairs: Iterable[tuple[str, bytes]], class_name: str | None = None) -> list[Entry]:
    """Streamlit uploads as (name, bytes). With `class_name` every file goes to that class
    (per-class upload, camera snapshot); without, names look like `cats/a.jpg` (directory upload)
    and zips among them are opened."""
    pairs = list(pairs)
    if class_name is not None:
        label = clean_class_name(class_name)
        if not label:
            return [Rejection(name, f"class name {class_name!r} is empty once cleaned") for name, _ in pairs]
        return [e for name, data in pairs for e in _one_upload(name, data, label)]
    plain = [(n, d) for n, d in pairs if not _is_zip_name(n)]
    entries = [e for n, d in pairs if _is_zip_name(n) for e in from_zip(n, d)]
    return entries + _by_folder(plain)


def _one_upload(name: str, data: bytes, label: str) -> list[Entry]:
    if _is_zip_name(name):  # a zip handed to a class: its files all join that class
        return [Item(e.file, label, e.data) if isinstance(e, Item) else e for e in from_zip(name, data)]
    return [Item(name, label, data)]


def _is_zip_name(name: str) -> bool:
    return name.lower().endswith(".zip")


def _by_folder(pairs: list[tuple[str, bytes]]) -> list[Entry]:
    """Class = the first folder level, after dropping a root folder that every file shares."""
    split = [(name, _parts(name), data) for name, data in pairs]
    depth = _common_root_depth([p for _, p, _ in split if p])
    out: list[Entry] = []
    for name, parts, data in split:
        if parts is None:
            out.append(Rejection(name, "unsafe path (absolute or with '..')"))
        elif SKIPPED.search("/".join(parts)):
            continue
        elif len(parts) - depth < 2:
            out.append(Rejection(name, "not inside a class folder (expected CLASS/file.jpg)"))
        else:
            label = clean_class_name(parts[depth])
            out.append(Item(name, label, data) if label else
                       Rejection(name, f"folder name {parts[depth]!r} is not usable as a class name"))
    return out


def _parts(name: str) -> list[str] | None:
    """Path components of an archive or upload name; None when it is unsafe."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[a-zA-Z]:", name):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts) or not parts:
        return None
    return parts


def _common_root_depth(all_parts: list[list[str]]) -> int:
    depth = 0
    while all_parts and all(len(p) > depth + 2 for p in all_parts) and \
            len({p[depth] for p in all_parts}) == 1:
        depth += 1
    return depth


def from_zip(name: str, data: bytes) -> list[Entry]:
    pairs, rejected = zip_files(name, data)
    return rejected + _by_folder(pairs)


def zip_files(name: str, data: bytes) -> tuple[list[tuple[str, bytes]], list[Rejection]]:
    """A zip's files as (member name, bytes), read in memory under the caps, and what was refused."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        return [], [Rejection(name, f"not a readable zip archive ({exc})")]
    if len(members) > ZIP_MAX_MEMBERS:
        return [], [Rejection(name, f"zip has {len(members):,} files (limit {ZIP_MAX_MEMBERS:,})")]
    pairs, rejected, total = [], [], 0
    for member in members:
        problem = _member_problem(member)
        if problem:
            rejected.append(Rejection(member.filename, problem))
            continue
        if total >= ZIP_MAX_TOTAL:
            rejected.append(Rejection(member.filename, f"skipped: archive exceeds {mib(ZIP_MAX_TOTAL)} uncompressed"))
            continue
        try:
            content = _read_capped(archive, member, min(MAX_BYTES, ZIP_MAX_TOTAL - total))
        except _TooBig as exc:
            rejected.append(Rejection(member.filename, str(exc)))
            continue
        except Exception as exc:  # CRC errors, unsupported compression, truncated archives
            rejected.append(Rejection(member.filename, f"could not be read from {os.path.basename(name)} ({exc})"))
            continue
        total += len(content)
        pairs.append((member.filename, content))
    return pairs, rejected


def _member_problem(member: zipfile.ZipInfo) -> str | None:
    if _parts(member.filename) is None:
        return "unsafe path in archive (absolute or with '..'): refused"
    if member.flag_bits & 0x1:
        return "encrypted zip member"
    if member.compress_size and member.file_size / member.compress_size > ZIP_MAX_RATIO:
        return f"compression ratio {member.file_size // member.compress_size}:1 (a zip bomb?): refused"
    return None


class _TooBig(Exception):
    pass


def _read_capped(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int) -> bytes:
    with archive.open(member) as fh:
        content = fh.read(limit + 1)
        if len(content) > limit:
            raise _TooBig(f"too large once uncompressed (over {mib(limit)})")
        ratio = len(content) / max(member.compress_size, 1)
        if ratio > ZIP_MAX_RATIO:
            raise _TooBig(f"compression ratio {int(ratio)}:1 (a zip bomb?): refused")
    return content


def from_folder(path: str | os.PathLike) -> list[Entry]:
    """A local folder in class-folder layout (CLI), or a zip file on disk."""
    root = Path(path)
    if root.is_file():
        if _is_zip_name(root.name):
            return from_zip(root.name, root.read_bytes())
        return [Rejection(str(path), "a single file needs a class: put it in a CLASS/ folder")]
    if not root.is_dir():
        return [Rejection(str(path), "no such file or folder")]
    pairs, too_big = folder_files(root)
    return too_big + _by_folder(pairs)


def folder_files(root: Path) -> tuple[list[tuple[str, bytes]], list[Rejection]]:
    """A folder's files as (path relative to it, bytes), and those refused unread (too large)."""
    walked = list(_walk(root))
    return [w for w in walked if not isinstance(w, Rejection)], [w for w in walked if isinstance(w, Rejection)]


def skipped(name: str) -> bool:
    """Files every reader passes over silently (__MACOSX, .DS_Store, hidden files)."""
    return bool(SKIPPED.search(name.replace("\\", "/")))


def safe_parts(name: str) -> list[str] | None:
    """Path components of an archive or upload name; None when it is unsafe (absolute, '..')."""
    return _parts(name)


def _walk(root: Path) -> Iterator[tuple[str, bytes] | Rejection]:
    """Files under `root` (no symlinks); oversized ones are rejected without being read."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for filename in sorted(filenames):
            full = Path(dirpath) / filename
            if full.is_symlink() or not full.is_file():
                continue
            count += 1
            if count > FOLDER_MAX_FILES:
                return
            rel = posixpath.join(*full.relative_to(root).parts)
            size = full.stat().st_size
            if size > MAX_BYTES:
                yield Rejection(rel, f"too large: {mib(size)} (limit {mib(MAX_BYTES)})")
            else:
                yield rel, full.read_bytes()
