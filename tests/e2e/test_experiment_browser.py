"""A class experiment in real Chromium: a teacher and three students, two values. The students predict on the
Class experiment page, the teacher launches every run from the Teacher page, and the combined chart fills in
as the worker finishes them; the projector view shows it with no exception box, no key and no token."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.classroom import classes, experiments
from core.data import samples
from tests.e2e.helpers import SLOW, after_rerun, no_exception, open_page, shoot

pytestmark = pytest.mark.slow
NAMES = ("Ada", "Bo", "Cy")


def body(page) -> str:
    return page.evaluate("document.body.innerText")


def experiment_tab(page):
    """The Experiment tab, selected again (a rerun that changes what sits above the tabs resets them)."""
    page.get_by_role("tab", name="Experiment").click()
    return page


def test_a_class_experiment_with_a_teacher_and_three_students(server, browser, store_env):
    made = classes.create("Physics 5")
    samples.materialize("digits", "exp-digits", per_class=8, owner=made["teacher_key"])
    tokens = [classes.join(made["join_code"], name)["token"] for name in NAMES]
    experiments.create(made["class"], made["teacher_key"], "learning_rate", "0.01,0.001", "exp-digits", epochs=2)
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(4)]
    teacher_page, *students = (c.new_page() for c in contexts)

    for page, token, choice in zip(students, tokens, ("0.01", "0.001", "0.01")):
        open_page(page, f"{server}/experiment?s={token}")
        page.locator("[data-testid='stRadio'] label").filter(has_text=re.compile(rf"^learning rate {choice}$")).click()
        after_rerun(page, lambda p=page: p.get_by_role("button", name="Save my prediction").click())
        expect(page.get_by_text(f"Saved: you predict learning rate {choice}")).to_be_visible()
        assert "hidden until the poll locks" in body(page)  # nobody's pick shows before the lock
        no_exception(page)

    open_page(teacher_page, f"{server}/teacher")
    teacher_page.get_by_label("Teacher key", exact=True).fill(made["teacher_key"])
    after_rerun(teacher_page, lambda: teacher_page.get_by_role("button", name="Open", exact=True).click())
    experiment_tab(teacher_page)
    expect(teacher_page.get_by_text("3 picks so far")).to_be_visible()
    after_rerun(teacher_page, lambda: experiment_tab(teacher_page).get_by_role("button", name="Launch every run").click())
    expect(teacher_page.get_by_text("3 of 3 runs finished")).to_be_visible(timeout=3 * SLOW)
    no_exception(teacher_page)

    after_rerun(teacher_page, lambda: experiment_tab(teacher_page).get_by_role("button", name="Projector view").click())
    expect(teacher_page.get_by_text("3 of 3 runs finished")).to_be_visible()
    expect(teacher_page.locator(".js-plotly-plot")).to_have_count(1)
    expect(teacher_page.get_by_text("predicted to win (poll)")).to_be_visible()
    shown = body(teacher_page)
    assert made["teacher_key"] not in shown and not any(t in shown for t in tokens)
    assert made["teacher_key"] not in teacher_page.url and "s=" not in teacher_page.url
    expect(teacher_page.locator("[data-testid='stSidebar']")).not_to_be_visible()
    no_exception(teacher_page)
    shoot(teacher_page, "31-experiment-projector")

    ada = students[0]
    expect(ada.get_by_text("3 of 3 runs finished")).to_be_visible(timeout=SLOW)  # the live chart on her page
    expect(ada.get_by_text("your run", exact=True)).to_be_visible()  # her star in the chart
    assert not any(name in body(ada) for name in NAMES[1:])  # the others' dots carry no names
    no_exception(ada)
    for context in contexts:
        context.close()
