"""The command registry, a leaf: command modules register into it with `@command`; `cli.main`
imports them and dispatches. Also the shared argument types and output helpers.

Each handler returns (data for --json, text for people).
"""
from __future__ import annotations

import argparse
from typing import Callable

from core.errors import UserError

Handler = Callable[[argparse.Namespace], tuple[object, str]]


class CommandFailed(Exception):
    """The command ran but what it did failed (a run that did not succeed): its result is still
    printed, and the exit status is 1."""

    def __init__(self, data: object, text: str):
        super().__init__(text)
        self.data, self.text = data, text
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = (help, arguments, handler)
        return handler

    return register


# ---- arguments every command spells the same way ----------------------------------------------------
def positive_int(text: str) -> int:
    """Numeric flags are validated alike everywhere: 0 or less is refused, never clamped."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return value


TOKEN_FLAGS: set[str] = set()  # flags whose value is a key or token: it may start with '-' (`cli.main` joins them)


def token_arg(p: argparse.ArgumentParser, flag: str, **options) -> None:
    """A flag that takes a key or token the app made. `secrets.token_urlsafe` starts one in 32 with '-', which
    argparse would read as another option ("expected one argument"): `cli.main` hands such a value over as
    `FLAG=VALUE` before parsing."""
    TOKEN_FLAGS.add(flag)
    p.add_argument(flag, **options)


def owner_arg(p: argparse.ArgumentParser) -> None:
    token_arg(p, "--owner", help="owner token (default $TRANSFERLAB_OWNER or 'cli')")


def run_arg(p: argparse.ArgumentParser) -> None:
    """`--run ID` everywhere; a bare ID after the command is accepted too (the older form)."""
    p.add_argument("--run", dest="run_id", metavar="ID", help="the run's id")
    p.add_argument("run_positional", nargs="?", metavar="ID", help=argparse.SUPPRESS)


def required_run(p: argparse.ArgumentParser) -> None:
    """For commands that also take file arguments, where a bare ID could not be told from a path."""
    p.add_argument("--run", dest="run_id", metavar="ID", required=True, help="the run's id")


def the_run(args: argparse.Namespace) -> str:
    run_id = args.run_id or args.run_positional
    if not run_id:
        raise UserError("which run? give --run ID")
    if args.run_id and args.run_positional and args.run_id != args.run_positional:
        raise UserError(f"two different runs given: --run {args.run_id} and {args.run_positional}")
    return run_id


# ---- output ------------------------------------------------------------------------------------------
def read_images(paths: list[str]) -> list:
    """PIL images for command-line paths; a missing or unreadable file is bad input (exit 2)."""
    from core.data.images import ImageRejected, load_path

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
