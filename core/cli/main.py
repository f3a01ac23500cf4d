"""`python -m core COMMAND ... [--json]` (also the `transferlab` console script): every capability,
headless. Exit status: 0 success, 2 bad input (the message names the problem), 1 internal failure."""
from __future__ import annotations

import argparse
import json
import sys
import traceback

# Importing a command module registers its commands, in this order in --help.
from core.cli import data, models, train, runs, serve, lab, classroom, study, cleaner  # noqa: F401,I001
from core.cli.registry import COMMANDS, CommandFailed
from core.errors import UserError


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m core", description="TransferLab, headless.")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, arguments, _) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print machine-readable JSON")
        arguments(p)
    return root


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
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
