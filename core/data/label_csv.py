"""Multi-label images from a folder or a zip and a labels CSV: header `file,labels`, one row per image, `file`
relative to the folder's (or the zip's) root, labels separated by ';', an empty field meaning none of the labels.

Every bad row (an empty file name, a file that is not there, more fields than the header, a file named twice,
a label that is empty once cleaned) is refused with its line number and the rest are kept; a file that no row
names is refused by its name. A header that is not `file,labels` refuses the whole file (no row can be read).
The CSV may sit on disk or inside the folder or zip; inside, it is not an image.
"""
from __future__ import annotations

import csv
import io
import posixpath
from pathlib import Path

from core.data.uploads import Entry, Item, Rejection, clean_class_name, folder_files, safe_parts, skipped, zip_files
from core.errors import UserError

HEADER = ("file", "labels")
SEPARATOR = ";"


def from_labelled(path: str | Path, labels_csv: str | Path) -> list[Entry]:
    """Items (each with its labels) and rejections for the folder or zip `path`, labelled by `labels_csv`."""
    files, refused = _files(Path(path))
    return _labelled(files, refused, Path(labels_csv), Path(path).name)


def from_labelled_zip(name: str, data: bytes, labels_csv: str = "labels.csv") -> list[Entry]:
    """The same for a zip uploaded in a browser (its CSV inside it)."""
    pairs, refused = zip_files(name, data)
    return _labelled(*_named(pairs, refused), Path(labels_csv), name)


def has_labels(name: str, data: bytes, labels_csv: str = "labels.csv") -> bool:
    """Whether a zip holds a labels CSV (a multi-label set) rather than class folders."""
    pairs, _ = zip_files(name, data)
    return any(posixpath.basename(n) == labels_csv for n, _ in pairs)


def _labelled(files: dict[str, bytes], refused: list[Rejection], labels_csv: Path, source: str) -> list[Entry]:
    if not files and refused:
        return refused
    csv_name, text, files = _csv(labels_csv, files, source)
    lookup = _lookup(files, csv_name)
    entries, named = _rows(text, Path(csv_name).name, lookup, files, source)
    unlisted = [Rejection(name, f"not listed in {Path(csv_name).name} (add a row; an empty labels field means "
                                "none of the labels)") for name in files if name not in named]
    return refused + entries + unlisted


def _files(root: Path) -> tuple[dict[str, bytes], list[Rejection]]:
    if root.is_file():
        pairs, refused = zip_files(root.name, root.read_bytes())
    elif root.is_dir():
        pairs, refused = folder_files(root)
    else:
        return {}, [Rejection(str(root), "no such file or folder")]
    return _named(pairs, refused)


def _named(pairs: list[tuple[str, bytes]], refused: list[Rejection]) -> tuple[dict[str, bytes], list[Rejection]]:
    files: dict[str, bytes] = {}
    for name, data in pairs:
        parts = safe_parts(name)
        if parts is None:
            refused.append(Rejection(name, "unsafe path (absolute or with '..')"))
        elif not skipped("/".join(parts)):
            files["/".join(parts)] = data
    return files, refused


def _csv(given: Path, files: dict[str, bytes], source: str) -> tuple[str, str, dict[str, bytes]]:
    """(its name, its text, the files without it): the CSV on disk, or inside the folder or zip by its path
    or, at any depth, by its file name."""
    inside = [n for n in files if n == posixpath.normpath(given.as_posix())] or \
        [n for n in files if posixpath.basename(n) == given.name]
    if given.is_file() and not inside:
        return str(given), _text(given.read_bytes(), given.name), files
    if not inside:
        raise UserError(f"no labels file {str(given)!r}: neither on disk nor inside {source}")
    name = min(inside, key=lambda n: n.count("/"))  # the shallowest: the one beside the images
    rest = {n: d for n, d in files.items() if n != name}
    return name, _text(files[name], name), rest


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _lookup(files: dict[str, bytes], csv_name: str) -> dict[str, str]:
    """Row path → stored name: as written, relative to the CSV's folder, or without a top folder every file
    shares (a zip of one folder)."""
    base = posixpath.dirname(csv_name)
    tops = {n.split("/")[0] for n in files}
    top = next(iter(tops)) if len(tops) == 1 and all("/" in n for n in files) else None
    found: dict[str, str] = {}
    for name in files:
        for key in (name, _strip(name, base), _strip(name, top)):
            found.setdefault(key, name)
    return found


def _strip(name: str, folder: str | None) -> str:
    return name[len(folder) + 1:] if folder and name.startswith(folder + "/") else name


def _rows(text: str, csv_name: str, lookup: dict[str, str], files: dict[str, bytes],
          source: str) -> tuple[list[Entry], set[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    columns = None
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        line = reader.line_num
        if columns is None:
            columns = _header(row, csv_name, line)
            continue
        entry = _row(row, columns, line, csv_name, lookup, seen, source)
        entries.append(Item(entry.file, "", files[entry.file], entry.labels) if isinstance(entry, Item) else entry)
    if columns is None:
        raise UserError(f"{csv_name} is empty: it needs the header file,labels and one row per image")
    return entries, set(seen)


def _header(row: list[str], csv_name: str, line: int) -> dict[str, int]:
    names = [cell.strip().lower() for cell in row]
    unknown = [n for n in names if n not in HEADER]
    if unknown or sorted(names) != sorted(HEADER):
        what = f"unknown column {unknown[0]!r}" if unknown else f"the columns {', '.join(names)}"
        raise UserError(f"{csv_name} line {line}: {what}; the header must be file,labels")
    return {n: names.index(n) for n in HEADER}


def _row(row, columns, line, csv_name, lookup, seen, source) -> Entry:
    where = f"{csv_name} line {line}"
    if len(row) > len(columns):
        return Rejection(where, f"{len(row)} fields where the header has {len(columns)} (file,labels): an unknown "
                                f"column; separate labels with '{SEPARATOR}', not ','")
    if len(row) < len(columns):
        return Rejection(where, f"only {len(row)} field; write 'NAME,' for an image with none of the labels")
    file = row[columns["file"]].strip()
    if not file:
        return Rejection(where, "empty file name")
    name = lookup.get(posixpath.normpath(file.replace("\\", "/")))
    if name is None:
        return Rejection(where, f"no file {file!r} in {source}")
    if name in seen:
        return Rejection(where, f"{file!r} is listed already on line {seen[name]}")
    seen[name] = line
    raw = [part.strip() for part in row[columns["labels"]].split(SEPARATOR) if part.strip()]
    labels = [clean_class_name(part) for part in raw]
    if "" in labels:
        return Rejection(where, f"label {raw[labels.index('')]!r} of {file!r} is not usable as a label name")
    return Item(name, "", b"", tuple(sorted(set(labels))))  # the bytes are added by the caller
