"""A class in real Chromium: the teacher creates it and publishes a sample on the Teacher page, three
students join with the code and train, the teacher sees three rows with accuracies and a
leaderboard, and no student's page shows another student's name or run."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.data import samples
from tests.e2e.helpers import SLOW, after_rerun, click, no_exception, open_page, shoot

pytestmark = pytest.mark.slow
NAMES = ("Ada", "Bo", "Cy")


def body(page) -> str:
    return page.evaluate("document.body.innerText")


def test_a_teacher_and_three_students(server, browser, store_env, tmp_path):
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(4)]
    teacher_page, *students = (c.new_page() for c in contexts)
    code = create_and_publish(teacher_page, server, tmp_path)
    runs = [join_and_train(page, server, code, name) for page, name in zip(students, NAMES)]
    for page, name in zip(students, NAMES):
        expect(page.get_by_text("Done: validation accuracy")).to_be_visible(timeout=2 * SLOW)  # one after another
        for other, other_run in zip(NAMES, runs):
            if other != name:
                assert other not in body(page) and other_run not in body(page)
        no_exception(page)

    teacher_page.get_by_role("tab", name="Students").click()
    table = frames(teacher_page).filter(has_text="wizard step").first
    for name in NAMES:
        expect(table).to_contain_text(name, timeout=SLOW)
    # accuracies filled in for all three (validation and test: two percentages a student at least)
    expect(table).to_contain_text(re.compile(r"(\d+(\.\d)?%.*){6}", re.S), timeout=SLOW)
    expect(table).not_to_contain_text("None")
    teacher_page.get_by_role("tab", name="Leaderboard").click()
    board = frames(teacher_page).filter(has_text="held-out accuracy").filter(has_not_text="wizard step").first
    for name in NAMES:
        expect(board).to_contain_text(name, timeout=SLOW)  # scored on the held-out set by the worker
    no_exception(teacher_page)
    shoot(teacher_page, "14-teacher")
    for context in contexts:
        context.close()


def frames(page):
    """Every table of the page (each tab's content sits in the page, hidden): pick one by its columns."""
    return page.locator("[data-testid='stDataFrame']")


def create_and_publish(page, server: str, tmp_path) -> str:
    open_page(page, f"{server}/teacher")
    page.get_by_label("Class name").fill("Biology 2B")
    click(page, "^Create$")  # typed, then clicked: one submit, no Enter needed first
    message = page.get_by_text(re.compile(r"Join code [A-Z0-9]{6}")).first
    expect(message).to_be_visible()
    code = re.search(r"Join code ([A-Z0-9]{6})", message.inner_text()).group(1)
    assert code not in page.url and "key" not in page.url
    # the page's live tables rerun every few seconds, so each step waits for its own visible outcome
    setup_tab(page).get_by_label("Per class").fill("8")
    page.get_by_label("Per class").press("Enter")
    expect(setup_tab(page).get_by_label("Per class")).to_have_value("8")
    setup_tab(page).get_by_role("button", name="Load and publish").click()
    expect(page.get_by_text("Published to this class: mnist-8")).to_be_visible(timeout=SLOW)
    upload_holdout(page, tmp_path)
    setup_tab(page).get_by_label("Epochs cap").fill("2")  # S1 (the preset's scenario), two head epochs
    page.get_by_label("Epochs cap").press("Enter")
    expect(setup_tab(page).get_by_label("Epochs cap")).to_have_value("2")
    setup_tab(page).get_by_role("button", name="Save the rules").click()
    expect(page.get_by_text(re.compile(r"Current rules: .*at most 2 epochs"))).to_be_visible(timeout=60_000)
    return code


def setup_tab(page):
    """The Setup tab, selected again: a rerun that changes what sits above the tabs resets them."""
    page.get_by_role("tab", name="Setup").click()
    return page


def upload_holdout(page, tmp_path) -> None:
    folder = tmp_path / "holdout"
    for i, (label, picture) in enumerate(list(samples.get("mnist").load())[-50:]):
        (folder / label).mkdir(parents=True, exist_ok=True)
        picture.save(folder / label / f"{i}.png")
    setup_tab(page).locator("input[webkitdirectory]").set_input_files(str(folder))
    button = setup_tab(page).get_by_role("button", name="Use as the held-out set")
    expect(button).to_be_visible(timeout=60_000)
    button.click()
    expect(page.get_by_text(re.compile(r"held-out set: \d+ images"))).to_be_visible(timeout=60_000)


def join_and_train(page, server: str, code: str, name: str) -> str:
    open_page(page, f"{server}/?join={code}")
    page.get_by_label("Your name").fill(name)
    # a click on Join submits the form (code and name together); Enter in the field once saw no rerun within
    # 60 s on a fresh clone (the server idle, the page connected): what people do most is what this asserts
    after_rerun(page, lambda: page.get_by_role("button", name="Join").click())
    expect(page.get_by_text(f"You are {name} in class")).to_be_visible()
    token = re.search(r"[?&]s=([^&]+)", page.url).group(1)
    open_page(page, f"{server}/data?s={token}")
    click(page, "Use this dataset")
    open_page(page, f"{server}/train?s={token}")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"[?&]run=[0-9a-f]{12}"), timeout=60_000)
    return re.search(r"[?&]run=([0-9a-f]{12})", page.url).group(1)
