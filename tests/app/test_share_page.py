"""A share link's page and the owner's share panel: the link opens predictions on one run and nothing else
(no sidebar, no workspace made, no heat map, no owner data); revoked, unknown and owner tokens open nothing;
a share token is no owner token on any page; the rate limit is said; a teacher sees the student's link
state and cannot make one."""
from streamlit.testing.v1 import AppTest

from core import db
from core.classroom import classes
from core.runs import queue as jobs, shares, store
from tests import corpus
from tests.app.conftest import TIMEOUT, no_exceptions, open_app
from tests.app.test_results import finished_run, heat_captions, show
from tests.conftest import ROOT


def visit(token: str) -> AppTest:
    """A visitor's browser: only the link, no workspace token of their own."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.query_params["share"] = token
    at.run()
    no_exceptions(at)
    return at


def drafts_count() -> int:
    with db.reading() as conn:
        return conn.execute("SELECT COUNT(*) FROM drafts").fetchone()[0]


def page_text(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("title", "markdown", "caption", "info", "warning", "code")
                    for e in getattr(at, kind))


def test_a_link_opens_predictions_and_nothing_of_the_owner(me):
    run_id = finished_run(me)
    token = shares.create(run_id, me)["token"]
    before = drafts_count()
    at = visit(token)
    assert [t.value for t in at.title] == ["Try this model"]
    assert not at.sidebar.children and dict(at.query_params) == {"share": [token]}  # no navigation, no ?s=
    assert drafts_count() == before  # no workspace was made for the visitor
    at.file_uploader(key="shared_upload").set_value([("seven.png", corpus.png(7, (64, 64)), "image/png")]).run()
    no_exceptions(at)
    assert any(m.value.startswith("**seven.png** →") for m in at.markdown)
    assert len(at.get("plotly_chart")) == 1 and heat_captions(at) == []  # top-k bars; no Grad-CAM
    told = page_text(at)
    assert "test accuracy" in told.lower() and "95% interval" in told
    for private in (me, "dg", run_id):  # the owner's token, dataset name, run id
        assert private not in told, private
    assert not [b for b in at.button] and not at.get("download_button")  # no export, no owner action


def test_revoked_unknown_and_owner_tokens_open_a_plain_message(me):
    run_id = finished_run(me, epochs=1)
    token = shares.create(run_id, me)["token"]
    shares.revoke(token, me)
    for stranger, said in ((token, "turned off"), (shares.new_token(), "not valid"), (me, "not valid")):
        at = visit(stranger)
        assert any(said in i.value for i in at.info), (stranger, [i.value for i in at.info])
        assert not at.get("file_uploader") and not at.get("camera_input")


def test_a_share_token_is_no_workspace_token(me):
    run_id = finished_run(me, epochs=1)
    token = shares.create(run_id, me)["token"]
    for page in ("views/predict.py", "views/evaluate.py", "views/export.py", "views/runs.py"):
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
        at.query_params["s"] = token
        at.query_params["run"] = run_id
        at.run()
        at.switch_page(page).run()
        no_exceptions(at)
        assert at.session_state["token"] != token and at.query_params["s"] != [token], page  # a new workspace instead
        assert jobs.runs(at.session_state["token"]) == []
        assert not any(run_id in str(t.value) for t in at.table), page


def test_the_rate_limit_is_said_and_answered_pictures_cost_nothing(me, monkeypatch):
    run_id = finished_run(me, epochs=1)
    token = shares.create(run_id, me)["token"]
    monkeypatch.setattr(shares, "LIMIT", 2)
    at = visit(token)
    at.file_uploader(key="shared_upload").set_value([("a.png", corpus.png(1, (64, 64)), "image/png"),
                                                     ("b.png", corpus.png(2, (64, 64)), "image/png")]).run()
    at.slider(key="shared_threshold").set_value(0.9).run()  # the same pictures again: no new prediction counted
    assert not at.warning and sum(m.value.startswith(("**a.png**", "**b.png**")) for m in at.markdown) == 2
    at.file_uploader(key="shared_upload").set_value([("a.png", corpus.png(1, (64, 64)), "image/png"),
                                                     ("c.png", corpus.png(3, (64, 64)), "image/png")]).run()
    no_exceptions(at)
    assert any("2 predictions in the last minute" in w.value for w in at.warning)
    assert not any(m.value.startswith("**c.png**") for m in at.markdown)
    at.file_uploader(key="shared_upload").set_value([("notes.png", b"not a picture", "image/png")]).run()
    assert any(e.value.startswith("notes.png:") for e in at.error)  # the same validation as every upload


def test_the_owner_makes_a_link_with_its_qr_code_and_turns_it_off(me):
    run_id = finished_run(me, epochs=1)
    at, _ = open_app()
    show(at, "views/predict.py", run_id)
    at.button(key=f"share-create-{run_id}").click().run()
    no_exceptions(at)
    [link] = shares.links(me, run_id)
    [code] = [c.value for c in at.code if "?share=" in c.value]
    token = code.split("?share=")[1]
    assert shares.digest(token).startswith(link["id"]) and shares.open_link(token)["run"] == run_id
    assert any(i.caption == "QR code: scan to try it" for g in at.get("image") for i in g.proto.imgs)  # the QR code
    at.button(key=f"share-revoke-{link['id']}").click().run()
    no_exceptions(at)
    assert shares.links(me, run_id)[0]["active"] is False and not any("?share=" in c.value for c in at.code)


def test_a_teacher_sees_the_students_link_state_and_cannot_make_one():
    made = classes.create("Share class")
    student = classes.join(made["join_code"], "Ada")["token"]
    run_id = finished_run(student, epochs=1)
    at, _ = open_app()
    at.session_state["teacher_key"] = made["teacher_key"]
    show(at, "views/predict.py", run_id)
    assert any("has not shared this run" in i.value for i in at.info)
    assert not any(b.key == f"share-create-{run_id}" for b in at.button)
    shares.create(run_id, student)
    show(at, "views/predict.py", run_id)
    assert any("shared this run: 1 open link" in i.value for i in at.info)
    assert not any("?share=" in c.value for c in at.code) and store.run_row(run_id)["owner"] == student


def test_a_link_is_built_from_the_browsers_address_unless_one_is_configured():
    """Issue 29 item 11: `make run` set the link to 127.0.0.1, which no student's phone opens."""
    from ui.classroom import loopback, origin

    assert origin(None, "http://192.168.1.20:8501/predict") == "http://192.168.1.20:8501"
    assert origin("", "https://lab.school/evaluate") == "https://lab.school"
    assert origin("https://lab.example:8501/", "http://127.0.0.1:8501/predict") == "https://lab.example:8501"
    assert origin(None, None) == "http://localhost:8501"
    assert [loopback(u) for u in ("http://127.0.0.1:8501", "http://localhost:8501", "http://[::1]:8501",
                                  "http://127.5.0.1", "http://192.168.1.20:8501", "https://lab.school")] == \
        [True, True, True, True, False, False]


def test_a_link_on_this_computers_own_address_is_said_to_open_nowhere_else(me, monkeypatch):
    run_id = finished_run(me, epochs=1)
    for configured, warned in (("http://127.0.0.1:8501", True), ("https://lab.example:8501", False)):
        monkeypatch.setenv("TRANSFERLAB_PUBLIC_URL", configured)
        at, _ = open_app()
        show(at, "views/predict.py", run_id)
        at.button(key=f"share-create-{run_id}").click().run()
        no_exceptions(at)
        [code] = [c.value for c in at.code if "?share=" in c.value]
        assert code.startswith(f"{configured}/?share=")
        said = [w.value for w in at.warning if "means \"this computer\"" in w.value]
        assert len(said) == (2 if warned else 0), said  # beside the new link, and the sidebar's own link
