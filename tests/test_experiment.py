"""A class runs one experiment together: assignment, the prediction poll, the intervals and the verdict."""
from __future__ import annotations

from collections import Counter

import pytest

from core.classroom import classes, experiments, poll, results
from core.errors import UserError
from core.execute import slot as worker
from core.runs import leases, store
from tests.training import digits


def make_class(students: int, per_class: int = 8) -> tuple[dict, list[str]]:
    made = classes.create("Physics 3")
    digits("exp-data", per_class=per_class, owner=made["teacher_key"])
    tokens = [classes.join(made["join_code"], f"s{i:02d}")["token"] for i in range(students)]
    return made, tokens


def create(made: dict, question: str = "learning_rate", values: str = "0.003,0.0003", **kw) -> dict:
    return experiments.create(made["class"], made["teacher_key"], question, values, "exp-data", **kw)


# ---- assignment ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", range(2, 7))
def test_assignment_is_round_robin_in_join_order_and_balanced_for_1_to_40_students(k):
    values = [str(v) for v in range(k)]
    taken: Counter = Counter()
    for n in range(1, 41):
        value = experiments.next_value(values, taken)
        assert value == values[(n - 1) % k]  # round-robin in join order
        taken[value] += 1
        assert set(taken[v] for v in values) <= {n // k, -(-n // k)}  # ⌊n/k⌋ or ⌈n/k⌉ each


def test_create_assigns_members_and_a_late_joiner_fills_the_smallest_cell():
    made, tokens = make_class(4)
    made_exp = create(made, values="0.01,0.001,0.0001")
    assert made_exp["values"] == ["0.01", "0.001", "0.0001"]
    assert [c["students"] for c in made_exp["cells"]] == [["s00", "s03"], ["s01"], ["s02"]]
    classes.join(made["join_code"], "late")
    cells = experiments.summary(experiments.current(made["class"]))["cells"]
    assert cells[1]["students"] == ["s01", "late"]  # the first of the two smallest cells
    seeds = {c["student"]: c["seed"] for c in experiments.current(made["class"])["cells"]}
    assert (seeds["s00"], seeds["s03"], seeds["late"]) == (0, 1, 1)  # repeats differ in their seed


def test_a_students_run_is_the_shared_settings_with_their_value_and_seed():
    made, tokens = make_class(3)
    create(made, question="freeze", values="0,2", epochs=3)
    mine = experiments.of_student(tokens[2])  # third to join: value "0", its second repeat
    assert (mine["value"], mine["seed"]) == ("0", 1)
    assert mine["config"].freeze.mode == "none" and mine["config"].train.total_epochs == 3
    assert "the class experiment gives you training everything" in mine["reason"]
    other = experiments.of_student(tokens[1])["config"]
    assert (other.freeze.mode, other.freeze.k) == ("first_k", 2)
    assert other.replace(freeze=mine["config"].freeze, seed=1) == mine["config"]  # nothing else differs


@pytest.mark.parametrize("question,values,reason", [
    ("freeze", "0,99", "more than efficientnet_lite0 has"),
    ("backbone", "efficientnet_lite0,resnet5", "unknown backbone 'resnet5'"),
    ("data_size", "2,500", "more than exp-data holds"),
    ("augment", "none,wild", "not an augmentation preset"),
    ("learning_rate", "0.01,fast", "not a number"),
    ("pretrained", "yes,maybe", "yes,no"),
    ("learning_rate", "0.01", "give 2 to 6 values"),
    ("learning_rate", "0.001,1e-3", "given twice"),
    ("depth", "1,2", "choose one of freeze"),
])
def test_a_bad_value_is_refused_at_create_with_a_reason(question, values, reason):
    made, _ = make_class(1)
    with pytest.raises(UserError, match=reason):
        create(made, question=question, values=values)
    assert experiments.current(made["class"]) is None


# ---- the poll -----------------------------------------------------------------------------------------
def test_poll_hides_picks_until_the_first_run_finishes_then_locks():
    made, tokens = make_class(2, per_class=6)
    create(made, epochs=1)
    assert poll.pick(made["class"], "3e-4", "slower is\nsafer", owner=tokens[0]) == \
        {"choice": "0.0003", "reason": "slower is safer", "locked": False}
    poll.pick(made["class"], "0.003", owner=tokens[0])  # a pick may change before the lock
    poll.pick(made["class"], "0.0003", key=made["teacher_key"])
    early = results.results(made["class"], owner=tokens[1])
    assert "poll" not in early and early["picks"] == 2 and early["mine"] is None and not early["locked"]
    assert "poll" not in results.results(made["class"], key=made["teacher_key"])  # the teacher neither
    launched = experiments.launch(made["class"], made["teacher_key"])
    assert launched["queued"] == 2
    first = store.latest_job(experiments.of_student(tokens[0])["run_id"])
    assert worker.process(leases.claim_specific(first["id"])) == "succeeded"
    with pytest.raises(UserError, match="the poll is closed: the first run of the experiment finished"):
        poll.pick(made["class"], "0.003", owner=tokens[1])
    after = results.results(made["class"], owner=tokens[1])
    assert after["locked"] and after["poll"] == {"0.003": 1, "0.0003": 1}
    assert after["cells"][0]["finished"] == 1 and after["cells"][0]["runs"][0]["student"] is None  # not theirs
    assert results.results(made["class"], owner=tokens[0])["cells"][0]["runs"][0]["mine"] is True


def test_the_teacher_locks_the_poll_and_a_stranger_is_refused():
    made, tokens = make_class(1)
    create(made)
    with pytest.raises(UserError, match="not a student of class"):
        poll.pick(made["class"], "0.003", owner="someone-else-entirely")
    with pytest.raises(UserError, match="not one of this experiment's values"):
        poll.pick(made["class"], "0.5", owner=tokens[0])
    poll.lock(made["class"], made["teacher_key"])
    with pytest.raises(UserError, match="the teacher locked it"):
        poll.pick(made["class"], "0.003", owner=tokens[0])


# ---- intervals and verdict ----------------------------------------------------------------------------
def test_interval_uses_students_t_and_stays_within_0_and_1():
    found = results.interval([0.70, 0.72, 0.74])
    assert found["mean"] == pytest.approx(0.72)
    assert (found["low"], found["high"]) == (pytest.approx(0.6703, abs=1e-4), pytest.approx(0.7697, abs=1e-4))
    assert results.interval([0.8, 0.9, 1.0])["high"] == 1.0  # 1.148 kept at 1
    assert results.interval([0.5]) == {"n": 1, "mean": 0.5, "low": None, "high": None}
    assert results.interval([])["mean"] is None
    assert results.t975(2) == 4.303 and results.t975(120) == pytest.approx(1.98, abs=0.003)


def cell(words: str, mean: float, low: float | None, high: float | None, finished: int = 3) -> dict:
    return {"words": words, "finished": finished, "mean": mean, "low": low, "high": high}


def test_verdict_says_no_clear_difference_when_the_intervals_overlap():
    said = results.verdict([cell("2 frozen stages", 0.80, 0.70, 0.90), cell("4 frozen stages", 0.75, 0.65, 0.85)], 6)
    assert said == "No clear difference between 2 frozen stages and 4 frozen stages: the intervals overlap."


def test_verdict_says_clearly_ahead_only_when_the_intervals_are_apart():
    said = results.verdict([cell("training everything", 0.60, 0.55, 0.65),
                            cell("freezing everything but the head", 0.90, 0.85, 0.95)], 6)
    assert said == "Freezing everything but the head was best, clearly ahead of training everything."


def test_verdict_with_one_value_ahead_and_one_tied():
    said = results.verdict([cell("a", 0.9, 0.85, 0.95), cell("b", 0.88, 0.80, 0.96), cell("c", 0.5, 0.4, 0.6)], 9)
    assert said == ("A had the highest mean and was clearly ahead of c; no clear difference from b: "
                    "the intervals overlap.")


def test_verdict_before_enough_runs_and_while_runs_are_still_going():
    assert results.verdict([cell("a", None, None, None, 0), cell("b", None, None, None, 0)], 4) == \
        "No results yet: no run of the experiment has finished."
    assert results.verdict([cell("a", 0.9, None, None, 1), cell("b", 0.8, 0.7, 0.9, 2)], 4) == \
        ("So far (3 of 4 runs finished): too early to tell: a value needs at least two finished runs to be "
         "compared, and a has fewer.")
    assert results.verdict([cell("a", 0.9, None, None, 1), cell("b", 0.8, None, None, 1)], 2) == \
        ("Too early to tell: a value needs at least two finished runs to be compared, and a and b have fewer.")
    partial = results.verdict([cell("a", 0.9, 0.85, 0.95, 2), cell("b", 0.5, 0.4, 0.6, 2), cell("c", 0.7, None, None, 1)], 6)
    assert partial == ("So far (5 of 6 runs finished): a was best, clearly ahead of b. Not compared yet (fewer "
                       "than two finished runs): c.")


def test_values_read_in_plain_words():
    from core.classroom.questions import words

    said = [words("freeze", "0", 7), words("freeze", "1", 7), words("freeze", "3", 7), words("freeze", "7", 7),
            words("pretrained", "yes", 7), words("pretrained", "no", 7), words("data_size", "20", 7),
            words("augment", "none", 7), words("augment", "light", 7), words("learning_rate", "0.001", 7),
            words("backbone", "mobilenet_v3_small", 7)]
    assert said == ["training everything", "1 frozen stage", "3 frozen stages", "freezing everything but the head",
                    "pretrained", "from scratch", "20 images per class", "no augmentation", "light augmentation",
                    "learning rate 0.001", "backbone mobilenet_v3_small"]
