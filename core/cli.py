"""`python -m core COMMAND ... [--json]`: every capability, headless.

Exit status: 0 success, 2 bad input (the message names the problem), 1 internal failure.
Commands register themselves with `@command`; each returns (data for --json, text for people).
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from typing import Callable

from core.errors import UserError

Handler = Callable[[argparse.Namespace], tuple[object, str]]
_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    def register(handler: Handler) -> Handler:
        _COMMANDS[name] = (help, arguments, handler)
        return handler

    return register


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m core", description="TransferLab, headless.")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, arguments, _) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print machine-readable JSON")
        arguments(p)
    return root




def main(argv: list[str] | None = None) -> int:
    _load_commands()
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for bad usage, 0 for --help
        return int(exc.code or 0)
    try:
        data, text = _COMMANDS[args.command][2](args)
    except UserError as exc:
        return _fail(args, str(exc), 2)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", 1)
    except Exception as exc:  # an internal failure: keep the traceback for the log
        traceback.print_exc(file=sys.stderr)
        return _fail(args, f"internal error: {type(exc).__name__}: {exc}", 1)
    print(json.dumps(data, indent=2, default=str) if args.json else text)
    return 0


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"error": message}))
    print(f"error: {message}", file=sys.stderr)
    return code


def _load_commands() -> None:
    """Importing a command module registers its commands."""
    from core import cli_data, cli_models, cli_train  # noqa: F401


def read_images(paths: list[str]) -> list:
    """PIL images for command-line paths; a missing or unreadable file is bad input (exit 2)."""
    from core.images import ImageRejected, load_path

    pictures = []
    for path in paths:
        try:
            pictures.append(load_path(path))
        except FileNotFoundError:
            raise UserError(f"{path}: no such file") from None
        except (ImageRejected, IsADirectoryError) as exc:
            raise UserError(f"{path}: {exc}") from None
    return pictures


def table(rows: list[dict], columns: list[str]) -> str:
    """A plain text table for people (JSON is for scripts)."""
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and value >= 10_000:
        return f"{value / 1e6:.2f}M"
    return str(value)
