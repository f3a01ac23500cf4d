"""The Teacher page and the join form through AppTest: the key opens the class, students appear,
the rules show as locks in a student's wizard."""
from core.classroom import classes, teacher
from core.data import samples
from core.execute import slot as worker
from core.runs import drafts, leases, queue as jobs
from tests.app.conftest import no_exceptions, open_app
from tests.training import probe


def test_the_key_opens_the_teacher_page_with_the_class_live():
    made = classes.create("Biology 2B")
    ada = classes.join(made["join_code"], "Ada")["token"]
    samples.materialize("digits", "leaves", per_class=6, owner=made["teacher_key"])
    teacher.publish(made["class"], made["teacher_key"], "leaves")
    run = jobs.submit(probe("leaves", epochs=1), ada, hold=True)
    worker.process(leases.claim_specific(run["job_id"]))
    at, _ = open_app(page="views/teacher.py")
    assert at.text_input(key="teacher_key_input")  # no key yet: the sign-in form
    at.text_input(key="teacher_key_input").set_value(made["teacher_key"]).run()
    at.button(key="teacher_open").click().run()
    no_exceptions(at)
    table = at.dataframe[0].value  # the Students tab's live table, under plain headings
    assert list(table["student"]) == ["Ada"] and table["latest run"][0] == "succeeded"
    assert table["test accuracy"][0].endswith("%") and table["training time"][0].endswith(" s")
    assert not [c for c in table.columns if "_" in c]  # no run_id, eta_seconds
    assert table["place in queue"][0] == "" and "None" not in table.to_string()  # empty, not "None"
    assert made["teacher_key"] not in str(at.query_params)  # the key is never in the URL
    assert any(made["join_code"] in m.value for m in at.markdown)  # the Join tab shows the code
    # issue 29: a student who trained (never marking a wizard step) read "0/4 joined"; no limit read "0"
    assert table["wizard step"][0] == "trained a model"
    assert [t.value for t in at.toggle if t.key.startswith("limited_")] == [False] * 3
    assert [c.value for c in at.caption].count("No class limit.") == 3
    assert not [n for n in at.number_input if n.key.startswith("limit_")]


def test_a_wrong_key_opens_nothing():
    classes.create("Biology 2B")
    at, _ = open_app(page="views/teacher.py")
    at.text_input(key="teacher_key_input").set_value("x" * 24).run()
    at.button(key="teacher_open").click().run()
    no_exceptions(at)
    assert any("No class opens with this key" in e.value for e in at.error)


def test_joining_from_the_home_page_gives_a_private_workspace_with_the_class_rules():
    made = classes.create("Biology 2B")
    teacher.set_rules(made["class"], made["teacher_key"], {"scenario": "S1", "epochs": 3},
                      {"scenario": "we all compare feature extraction today"})
    at, before = open_app()
    at.toggle(key="join_toggle").set_value(True).run()
    at.text_input(key="join_code").set_value(made["join_code"].lower()).run()
    at.text_input(key="join_name").set_value("Bo").run()
    at.button(key="join_button").click().run()
    no_exceptions(at)
    token = at.query_params["s"][0] if isinstance(at.query_params["s"], list) else at.query_params["s"]
    assert token != before and classes.membership(token)["name"] == "Bo"
    config = drafts.load(token)[0]
    assert config.scenario == "S1" and config.train.head_epochs + config.train.finetune_epochs <= 3
    at.switch_page("views/scenario.py").run()
    no_exceptions(at)
    assert any("we all compare feature extraction today" in i.value for i in at.info)
    assert at.radio(key="scenario_choice").disabled


def test_a_join_with_an_empty_name_names_the_missing_field_and_keeps_the_code():
    made = classes.create("Biology 2B")
    at, before = open_app()
    at.toggle(key="join_toggle").set_value(True).run()
    at.text_input(key="join_code").set_value(made["join_code"])
    at.button(key="join_button").click().run()  # typed and clicked in one go: a form submit
    no_exceptions(at)
    assert any("Your name (as the class will see it)" in w.value for w in at.warning)
    assert at.text_input(key="join_code").value == made["join_code"] and classes.members(made["class"]) == []


def test_the_teacher_key_hides_once_noted_behind_a_reveal():
    at, _ = open_app(page="views/teacher.py")
    at.text_input(key="class_new_name").set_value("Biology 2B")
    at.button(key="class_create").click().run()
    no_exceptions(at)
    key = at.session_state["teacher_key"]
    assert shown(at, key)  # once, to be written down
    at.button(key="teacher_key_hide").click().run()
    assert not shown(at, key)
    at.toggle(key="teacher_key_show").set_value(True).run()  # behind a reveal
    assert shown(at, key)
    # switching to the Join tab (for the projector) hides it too: AppTest cannot switch tabs, the browser
    # test does (tests/e2e/test_first_visit_browser.py)
    label = at.toggle(key="teacher_key_show").label
    assert label == "Show my teacher key"
    join = next(m.value for m in at.markdown if "Students scan the code" in m.value)
    home, _ = open_app()
    assert f"**{home.toggle(key='join_toggle').label}**" in join  # the toggle named as it is labelled


def shown(at, key: str) -> bool:
    return any(key in c.value for c in at.code) or any(key in m.value for m in at.markdown)
