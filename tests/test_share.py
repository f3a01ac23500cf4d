"""Share links: their own random token, stored only as a hash, granting predictions on one run and nothing
else; revoked or unknown tokens refused; never an owner token, and an owner token never a share token;
a per-link rate limit counted in the store; the CLI's contract."""
import json
import threading

import pytest

from core import db
from core.errors import UserError
from core.execute import slot as worker
from core.runs import drafts, leases, queue as jobs, shares
from tests.cli import cli
from tests.training import digits, probe


@pytest.fixture
def owner() -> str:
    return drafts.new()


@pytest.fixture
def run_id(owner) -> str:
    submitted = jobs.submit(probe(digits(per_class=6, owner=owner), epochs=2), owner)
    worker.process(leases.claim_specific(submitted["job_id"]))
    return submitted["run_id"]


def _stored_bytes() -> bytes:
    """Everything the data home's database holds on disk, write-ahead log included."""
    path = db.db_path()
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def test_a_link_has_its_own_token_stored_only_as_its_hash(run_id, owner, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_PUBLIC_URL", "https://lab.example:8501/")
    made = shares.create(run_id, owner)
    token = made["token"]
    assert set(made) == {"token", "url", "run"} and made["run"] == run_id
    assert made["url"] == f"https://lab.example:8501/?share={token}"
    assert len(token) >= 32 and not token.startswith("-") and token != owner  # 192 bits of token_urlsafe(24)
    stored = _stored_bytes()
    assert token.encode() not in stored and shares.digest(token).encode() in stored
    [listed] = shares.links(owner)
    assert listed == {"id": shares.digest(token)[:12], "run": run_id, "created": listed["created"], "revoked": None,
                      "active": True}
    assert shares.open_link(token)["run"] == run_id


def test_a_fresh_token_is_drawn_again_when_it_would_start_with_a_dash(monkeypatch):
    drawn = iter(["-" + "a" * 31, "b" * 32])
    monkeypatch.setattr(shares.secrets, "token_urlsafe", lambda n: next(drawn))
    assert shares.new_token() == "b" * 32


def test_a_link_opens_the_runs_facts_and_nothing_of_its_owner(run_id, owner):
    opened = shares.open_link(shares.create(run_id, owner)["token"])
    assert set(opened) == {"run", "backbone", "classes", "test_accuracy", "tested"}
    assert opened["classes"] == [str(d) for d in range(10)] and owner not in json.dumps(opened)


def test_only_the_owner_of_a_finished_run_can_share_it(run_id, owner):
    with pytest.raises(UserError, match="no run"):
        shares.create(run_id, drafts.new())  # someone else, or a teacher's key: not their run
    queued = jobs.submit(probe(digits("dq", per_class=6, owner=owner), epochs=1), owner)["run_id"]
    with pytest.raises(UserError, match="only a finished run"):
        shares.create(queued, owner)


def test_revoked_unknown_and_owner_tokens_open_nothing(run_id, owner):
    made = shares.create(run_id, owner)
    with pytest.raises(UserError, match="no such share link"):
        shares.revoke(made["token"], drafts.new())  # only its creator turns it off
    assert shares.revoke(made["token"], owner) == {"id": shares.digest(made["token"])[:12], "run": run_id,
                                                   "revoked": True}
    with pytest.raises(shares.LinkRefused, match="turned off"):
        shares.open_link(made["token"])
    with pytest.raises(shares.LinkRefused):
        shares.spend(made["token"])
    for stranger in (owner, shares.new_token(), "", None, "../../etc/passwd", "-" * 40):
        with pytest.raises(shares.LinkRefused, match="not valid"):
            shares.open_link(stranger)  # an owner token is not a share token
    second = shares.create(run_id, owner)
    shares.revoke(shares.links(owner)[0]["id"], owner)  # by the id `share list` shows, the newest first
    with pytest.raises(shares.LinkRefused):
        shares.open_link(second["token"])


def test_a_links_rate_limit_is_shared_by_every_thread_and_resets_each_minute(run_id, owner):
    token = shares.create(run_id, owner)["token"]
    minute = 1_000_040.0  # 20 s into a clock minute (1_000_020 is one's start)
    refused, lock = [], threading.Lock()

    def visitor():
        for _ in range(10):
            try:
                shares.spend(token, 1, now=minute)
            except shares.RateLimited as exc:
                with lock:
                    refused.append(exc)

    threads = [threading.Thread(target=visitor) for _ in range(8)]  # 80 pictures asked at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(refused) == 80 - shares.LIMIT  # exactly LIMIT went through, counted in the store
    assert "Try again in 40 s" in str(refused[0])
    with pytest.raises(shares.RateLimited):
        shares.spend(token, 1, now=minute + 39)
    assert shares.spend(token, 5, now=minute + 40) == shares.LIMIT - 5  # the next minute starts afresh
    other = shares.create(run_id, owner)["token"]
    assert shares.spend(other, 1, now=minute + 40) == shares.LIMIT - 1  # each link counts its own


def test_cli_share_create_list_revoke(run_id, owner):
    made = cli("share", "create", "--run", run_id, "--owner", owner, "--json")
    assert made.returncode == 0, made.stderr
    link = json.loads(made.stdout)
    assert set(link) == {"token", "url", "run"} and link["url"].endswith(f"/?share={link['token']}")
    listed = json.loads(cli("share", "list", "--owner", owner, "--json").stdout)
    assert [(r["run"], r["active"]) for r in listed] == [(run_id, True)] and link["token"] not in json.dumps(listed)
    assert json.loads(cli("share", "list", "--json").stdout) == []  # the headless owner has none
    gone = cli("share", "revoke", link["token"], "--owner", owner)
    assert gone.returncode == 0 and "turned off" in gone.stdout
    assert json.loads(cli("share", "list", "--owner", owner, "--json").stdout)[0]["active"] is False


def test_a_share_token_is_no_owner_token_on_the_command_line(run_id, owner):
    token = shares.create(run_id, owner)["token"]
    assert json.loads(cli("runs", "--owner", token, "--json").stdout) == []
    for args in (("run", "--run", run_id), ("evaluate", "--run", run_id), ("share", "create", "--run", run_id),
                 ("export", "--run", run_id, "--format", "onnx", "--out", "/tmp/never.onnx"),
                 ("report", "--run", run_id, "--out", "/tmp/never.html")):
        out = cli(*args, "--owner", token, "--json")
        assert out.returncode == 2 and "no run" in out.stderr, (args, out.stderr)
    out = cli("share", "revoke", token, "--owner", token)
    assert out.returncode == 2 and "no such share link" in out.stderr
    assert shares.open_link(token)["run"] == run_id  # still open: the visitor could not turn it off


def test_a_data_home_from_before_share_links_gains_the_table():
    with db.reading() as conn:  # made current, then set back to the version before share links
        conn.execute("DROP TABLE share_links")
        conn.execute(f"PRAGMA user_version = {db.STEPS.index(db._runs_get_share_links)}")
    db._ready.clear()  # as in a new process
    with db.reading() as conn:
        assert db.version(conn) == db.VERSION and "token_hash" in db.columns(conn, "share_links")
