"""The class experiment on the pages (AppTest): a student's wizard opens with their value locked, the
Class experiment page hides others' picks until the poll locks, the Teacher page's projector view shows the
chart alone with no key and no token."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1.element_tree import AppTestError

from core.classroom import classes, experiments, poll
from core.data import samples
from core.execute import service
from core.runs import drafts, store
from tests.app.conftest import no_exceptions, open_app


def class_with_experiment(question: str = "freeze", values: str = "0,2") -> tuple[dict, list[str]]:
    made = classes.create("Art 4")
    samples.materialize("digits", "class-digits", per_class=6, owner=made["teacher_key"])
    tokens = [classes.join(made["join_code"], name)["token"] for name in ("Ada", "Bo", "Cy")]
    experiments.create(made["class"], made["teacher_key"], question, values, "class-digits", epochs=2)
    return made, tokens


def poll_bars(at) -> list:
    chart = next(c for c in at.get("plotly_chart") if "predicted to win" in c.proto.spec)
    return next(t for t in json.loads(chart.proto.spec)["data"] if t["type"] == "bar")["y"]


def test_the_students_wizard_opens_with_their_value_locked_and_it_cannot_change(monkeypatch):
    monkeypatch.setattr(service, "ensure_worker", lambda: 0)  # no process spawned from a unit test
    made, tokens = class_with_experiment()
    at, _ = open_app(token=tokens[1], page="views/layers.py")  # Bo, second to join: 2 frozen stages
    no_exceptions(at)
    assert any("the class experiment gives you 2 frozen stages" in i.value for i in at.info)
    assert at.radio(key="fz_mode").disabled and at.radio(key="fz_mode").value == "first_k"
    assert at.slider(key="fz_k").disabled and at.slider(key="fz_k").value == 2
    with pytest.raises(AppTestError, match="disabled"):
        at.radio(key="fz_mode").set_value("none")
    at.slider(key="hd_dropout").set_value(0.2).run()  # the student's other choices stay theirs
    no_exceptions(at)
    saved = drafts.load(tokens[1])[0]
    assert (saved.freeze.mode, saved.freeze.k, saved.head.dropout) == ("first_k", 2, 0.2)
    at.switch_page("views/train.py").run()
    at.button(key="experiment_train").click().run()  # their experiment run: exactly the class's settings
    no_exceptions(at)
    mine = experiments.of_student(tokens[1])
    assert store.run_row(mine["run_id"])["config"] == mine["config"].to_dict()


def test_others_picks_stay_hidden_on_the_page_until_the_poll_locks():
    made, tokens = class_with_experiment()
    poll.pick(made["class"], "0", "it adapts everything", owner=tokens[0])
    at, _ = open_app(token=tokens[1], page="views/experiment.py")
    no_exceptions(at)
    assert poll_bars(at) == [0, 0]  # Ada's pick is not shown to Bo
    assert not any("it adapts everything" in m.value for m in [*at.markdown, *at.caption])
    at.radio(key="poll_choice").set_value("2").run()
    at.button(key="FormSubmitter:experiment_poll-Save my prediction").click().run()
    no_exceptions(at)
    assert poll.view(experiments.current(made["class"]), tokens[1])["mine"]["choice"] == "2"
    poll.lock(made["class"], made["teacher_key"])
    at.run()
    assert poll_bars(at) == [1, 1]
    assert any("The poll is closed" in c.value for c in at.caption)


def test_the_projector_view_shows_the_chart_alone_with_no_key_or_token():
    made, _ = class_with_experiment()
    at, token = open_app(page="views/teacher.py")
    at.text_input(key="teacher_key_input").set_value(made["teacher_key"]).run()
    at.button(key="teacher_open").click().run()
    no_exceptions(at)
    assert any("predicted to win" in c.proto.spec for c in at.get("plotly_chart"))  # the Experiment tab's chart
    at.button(key="exp_projector").click().run()
    no_exceptions(at)
    assert len(at.get("plotly_chart")) == 1 and not at.sidebar.markdown
    shown = " ".join(e.value for e in [*at.markdown, *at.caption, *at.info, *at.success] if isinstance(e.value, str))
    assert made["teacher_key"] not in shown and token not in shown
    assert "s" not in at.query_params  # the address bar shows no token either
    at.button(key="exp_projector_off").click().run()
    no_exceptions(at)
    assert at.query_params["s"] in (token, [token])


def test_a_students_home_page_leads_to_their_part_in_the_experiment():
    made, tokens = class_with_experiment()
    at, _ = open_app(token=tokens[0])
    no_exceptions(at)
    links = [link.proto.label for link in at.get("page_link")]
    assert any("you train training everything" in label for label in links)
    stranger, _ = open_app()  # not in a class: no such link
    assert not any("experiment" in link.proto.label for link in stranger.get("page_link"))
