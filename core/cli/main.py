"""`python -m core COMMAND ... [--json]` (also the `transferlab` console script): every capability,
headless. Exit status: 0 success, 2 bad input or resource trouble (the message names the problem: a full disk
says where, how much is free and what to do), 1 internal failure.

Importing a command module registers its commands (`registry.command`), in GROUPS' order in --help.
The worker is the one command loaded alone: it starts the long-lived supervisor, which must not carry
every other command's imports (torch among them) for its whole life."""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback

from core.cli.registry import COMMANDS, TOKEN_FLAGS, CommandFailed
from core.errors import UserError
from core.paths import resource_error

GROUPS = ("data", "models", "train", "runs", "worker", "serve", "embed", "share", "lab", "classroom", "study", "cleaner",
          "backup")
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
        root = parser(argv)
        args = root.parse_args(join_tokens(argv, options(root)))
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
    except Exception as exc:  # a full disk, memory...: said plainly; anything else is internal (traceback kept)
        explained = resource_error(exc)
        if explained is not None:
            return _fail(args, str(explained), 2)
        traceback.print_exc(file=sys.stderr)
        return _fail(args, f"internal error: {type(exc).__name__}: {exc}", 1)
    print(json.dumps(data_out, indent=2, default=str) if args.json else text)
    return 0


def options(root: argparse.ArgumentParser) -> set[str]:
    """Every option string of every command (and of subcommands such as `class publish`)."""
    found, parsers = set(), [root]
    while parsers:
        current = parsers.pop()
        for action in current._actions:
            found.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
    return found


def join_tokens(argv: list[str], known: set[str]) -> list[str]:
    """`--teacher-key -abc` → `--teacher-key=-abc` for the flags that take a key or token (`registry.token_arg`),
    so a token starting with '-' is a value, not an option. A known option in that place stays what it is
    (`--owner --json` still says the value is missing)."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in TOKEN_FLAGS and arg.startswith("-") and arg not in known:
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"error": message}))
    print(f"error: {message}", file=sys.stderr)
    return code
