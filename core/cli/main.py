"""`python -m core COMMAND ... [--json]` (also the `transferlab` console script): every capability,
headless. Exit status: 0 success, 2 bad input (the message names the problem), 1 internal failure.

Importing a command module registers its commands (`registry.command`), in GROUPS' order in --help.
The worker is the one command loaded alone: it starts the long-lived supervisor, which must not carry
every other command's imports (torch among them) for its whole life."""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback

from core.cli.registry import COMMANDS, CommandFailed
from core.errors import UserError

GROUPS = ("data", "models", "train", "runs", "worker", "serve", "lab", "classroom", "study", "cleaner")
ALONE = {"worker": "worker"}  # command → the one module that serves it, loaded without the others


def load(argv: list[str] | None = None) -> None:
    """Register the commands `argv` may need: the worker's module alone for `worker`, else every group."""
    command = argv[0] if argv else None
    for group in (ALONE[command],) if command in ALONE else GROUPS:
        importlib.import_module(f"core.cli.{group}")


def parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`'s command (every command, without `argv`), in GROUPS' order."""
    load(argv)
    root = argparse.ArgumentParser(prog="python -m core", description="TransferLab, headless.")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ordered = sorted(COMMANDS.items(), key=lambda item: GROUPS.index(item[1][2].__module__.rpartition(".")[2]))
    for name, (help_text, arguments, _) in ordered:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print machine-readable JSON")
        arguments(p)
    return root


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parser(argv).parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for bad usage, 0 for --help
        return int(exc.code or 0)
    try:
        data_out, text = COMMANDS[args.command][2](args)
    except CommandFailed as failed:
        print(json.dumps(failed.data, indent=2, default=str) if args.json else failed.text)
        return 1
    except UserError as exc:
        return _fail(args, str(exc), 2)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", 1)
    except Exception as exc:  # an internal failure: keep the traceback for the log
        traceback.print_exc(file=sys.stderr)
        return _fail(args, f"internal error: {type(exc).__name__}: {exc}", 1)
    print(json.dumps(data_out, indent=2, default=str) if args.json else text)
    return 0


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"error": message}))
    print(f"error: {message}", file=sys.stderr)
    return code
