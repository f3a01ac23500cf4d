"""`python -m core share ...`: a link that lets anyone try a finished run's model (predictions only).
`share create --run ID` prints the link once (only its hash is kept); `share list` names each link by its
id; `share revoke TOKEN` (or the id) turns one off for good. Only the run's owner does any of it."""
from __future__ import annotations

import argparse
import datetime

from core.cli.registry import command, owner_arg, table
from core.paths import env_owner
from core.runs import shares


def _share_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="a new link to a finished run: printed once, keep it")
    create.add_argument("--run", dest="run_id", metavar="ID", required=True, help="the run's id")
    listed = sub.add_parser("list", help="your links: id, run, when made, whether still open")
    listed.add_argument("--run", dest="run_id", metavar="ID", help="only this run's links")
    revoke = sub.add_parser("revoke", help="turn a link off for good")
    revoke.add_argument("token", metavar="TOKEN", help="the link's token, or its id from `share list`")
    for action in sub.choices.values():
        action.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                            help="print machine-readable JSON")
        owner_arg(action)


@command("share", "share a finished run by link, predictions only: create, list, revoke", _share_args)
def share_cmd(args):
    return ACTIONS[args.action](args, args.owner or env_owner())


def _create(args, owner: str):
    made = shares.create(args.run_id, owner)
    return made, (f"{made['url']}\nAnyone with this link can try run {made['run']} (predictions only, "
                  f"{shares.LIMIT} images a minute). It is shown once: keep it. Turn it off with "
                  f"`python -m core share revoke {made['token']}`.")


def _list(args, owner: str):
    rows = shares.links(owner, args.run_id)
    shown = [{**r, "created": _when(r["created"]), "state": "open" if r["active"] else f"revoked {_when(r['revoked'])}"}
             for r in rows]
    return rows, table(shown, ["id", "run", "created", "state"]) if rows else "no share links yet"


def _revoke(args, owner: str):
    done = shares.revoke(args.token, owner)
    return done, f"link {done['id']} to run {done['run']} is turned off"


def _when(stamp: float) -> str:
    return datetime.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


ACTIONS = {"create": _create, "list": _list, "revoke": _revoke}
