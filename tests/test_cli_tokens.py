"""Keys and tokens the app makes work everywhere the README shows them, also the one in 32 that
`secrets.token_urlsafe` starts with '-' (argparse took it for an option: "expected one argument")."""
from __future__ import annotations

import json
import secrets

from core.cli.main import main
from core.runs import drafts


def _dashed(make) -> str:
    """A real token from `make` that starts with '-' (drawn until one does)."""
    while not (token := make()).startswith("-"):
        continue
    return token


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_a_teacher_key_starting_with_a_dash_works_on_every_class_command(capsys, monkeypatch):
    key = _dashed(lambda: secrets.token_urlsafe(24))  # how classes.create makes a key
    assert main(["class", "create", "Bio", "--teacher-key", key, "--json"]) == 0
    made = _json(capsys)
    assert made["teacher_key"] == key
    assert main(["sample", "digits", "--name", "shared", "--per-class", "2", "--owner", key, "--json"]) == 0
    capsys.readouterr()
    assert main(["class", "publish", made["class"], "--dataset", "shared", "--teacher-key", key, "--json"]) == 0
    assert _json(capsys)["published"] is True
    assert main(["class", "rules", made["class"], "--teacher-key", key, "--set", "epochs=2", "--json"]) == 0
    assert _json(capsys)["preset"] == {"epochs": 2}
    assert main(["class", "students", made["class"], "--teacher-key", key, "--json"]) == 0
    assert _json(capsys) == []
    monkeypatch.setenv("TRANSFERLAB_TEACHER_KEY", key)  # the key from the environment, starting with '-'
    assert main(["class", "runs", made["class"], "--json"]) == 0
    assert _json(capsys) == []
    assert main(["class", "usage", made["class"], "--json"]) == 0
    assert _json(capsys)["class"] == made["class"]


def test_an_owner_token_starting_with_a_dash_works(capsys):
    token = _dashed(drafts.new)  # how the app and `class join` make an owner token
    assert main(["sample", "digits", "--name", "mine", "--per-class", "2", "--owner", token, "--json"]) == 0
    capsys.readouterr()
    assert main(["datasets", "--owner", token, "--json"]) == 0
    assert [d["name"] for d in _json(capsys)] == ["mine"]
    assert main(["datasets", "--json"]) == 0
    assert _json(capsys) == []  # the headless owner's: none (the token was not lost or mistaken)
    assert main(["runs", f"--owner={token}", "--json"]) == 0  # the joined form keeps working
    assert _json(capsys) == []


def test_a_flag_followed_by_another_option_still_says_its_value_is_missing(capsys):
    assert main(["datasets", "--owner", "--json"]) == 2
    assert "--owner: expected one argument" in capsys.readouterr().err
