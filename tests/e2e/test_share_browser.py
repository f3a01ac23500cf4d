"""Sharing a model, in two browsers: the owner makes a link on the Predict page; a visitor opens it, gets a
prediction for an uploaded picture and sees nothing of the owner (no sidebar, no workspace, no dataset,
run or token); the owner turns the link off and the visitor's page says so."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.data import samples
from core.execute import slot as worker
from core.runs import drafts, leases, queue as jobs
from tests import corpus
from tests.e2e.helpers import click, no_exception, open_page, shoot
from tests.training import probe

pytestmark = pytest.mark.slow


def test_an_owner_shares_a_model_and_a_visitor_tries_it(server, browser, store_env, tmp_path):
    owner = drafts.new()
    samples.materialize("digits", "owners-private-digits", per_class=6, owner=owner)
    submitted = jobs.submit(probe("owners-private-digits", epochs=1), owner, hold=True)
    worker.process(leases.claim_specific(submitted["job_id"]))
    run_id = submitted["run_id"]
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    mine, theirs = (c.new_page() for c in contexts)

    open_page(mine, f"{server}/predict?s={owner}&run={run_id}")
    mine.get_by_text("Share this model by link").click()  # an expander opens in the browser: no script run
    click(mine, "Create a share link")
    expect(mine.get_by_text("scan to try it")).to_be_visible()
    shown = mine.locator("[data-testid='stCode']", has_text="?share=").inner_text()
    url = re.search(r"\S+\?share=[A-Za-z0-9_-]+", shown).group(0)
    assert url.startswith(server) and owner not in url
    no_exception(mine)
    shoot(mine, "share-01-owner")

    open_page(theirs, url)
    expect(theirs.get_by_text("Try this model")).to_be_visible()
    expect(theirs.locator("[data-testid='stSidebar']")).to_have_count(0)  # no navigation to anyone's pages
    assert "s=" not in theirs.url.replace("share=", "")  # no workspace of their own was made
    picture = tmp_path / "seven.png"
    picture.write_bytes(corpus.png(7, (64, 64)))
    theirs.get_by_role("tab", name="Upload").click()
    theirs.locator("input[type='file']:not([webkitdirectory])").first.set_input_files(str(picture))
    expect(theirs.get_by_text(re.compile(r"seven\.png →"))).to_be_visible(timeout=60_000)
    expect(theirs.locator(".js-plotly-plot")).to_have_count(1)  # the top-k bars
    text = theirs.evaluate("document.body.innerText")
    for private in (owner, "owners-private-digits", run_id):
        assert private not in text, private
    no_exception(theirs)
    shoot(theirs, "share-02-visitor")

    click(mine, "Turn off")
    open_page(theirs, url)
    expect(theirs.get_by_text("turned off by the person who shared it")).to_be_visible()
    expect(theirs.locator("input[type='file']")).to_have_count(0)
    no_exception(theirs)
    shoot(theirs, "share-03-revoked")
    for context in contexts:
        context.close()
