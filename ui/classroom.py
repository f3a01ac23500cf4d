"""The Teacher page's pieces and the students' join form. The teacher key lives in this browser
session only (`st.session_state`), never in a URL; live tables are fragments that re-read the store."""
from __future__ import annotations

import io
import ipaddress
import os
import time
import urllib.parse

import pandas as pd
import streamlit as st

from core import data, models, presets
from core.classroom import classes, rules as class_rules, teacher
from core.config import CLASS_BALANCE
from core.data import samples, store as datasets
from core.errors import UserError
from core.runs import admission, drafts, status
from core.scenarios import CODES
from core.serving import holdouts
from ui import state, widgets, words

LIVE_SECONDS = 5.0  # the teacher's table: thirty rows, re-read every few seconds is plenty
QUEUE_SECONDS = 3.0
JOIN_TOGGLE = "I am in a class: join it"  # the Home page's toggle; the Join tab's instructions name it
# The teacher's tables under plain headings, in the order a teacher scans them
STUDENTS = {"student": "student", "step": "wizard step", "status": "latest run", "backbone": "backbone",
            "scenario": "scenario", "frozen_stages": "frozen while fine-tuning", "queue_position": "place in queue",
            "eta_seconds": "starts in", "val_accuracy": "validation accuracy", "test_accuracy": "test accuracy",
            "holdout_accuracy": "held-out accuracy", "seconds": "training time"}
QUEUE = {"student": "student", "role": "kind", "status": "status", "queue_position": "place in queue",
         "eta_seconds": "starts in", "backbone": "backbone"}
BOARD = {"student": "student", "holdout_accuracy": "held-out accuracy", "backbone": "backbone", "scenario": "scenario",
         "frozen_stages": "frozen while fine-tuning"}
SHOWN = {"val_accuracy": words.percent, "test_accuracy": words.percent, "holdout_accuracy": words.percent,
         "seconds": words.duration, "eta_seconds": words.duration, "role": words.role}


# ---- signing in ---------------------------------------------------------------------------------------
def sign_in() -> None:
    left, right = st.columns(2)
    with left.container(border=True):
        st.markdown("**Open my class**")
        typed = widgets.text_form("teacher_open_form", "Open", button_key="teacher_open", fields={
            "key": dict(label="Teacher key", type="password", key="teacher_key_input")})
        if typed:
            if classes.of_key(typed["key"]):
                st.session_state["teacher_key"] = typed["key"]
                st.rerun()
            st.error("No class opens with this key.")
    with right.container(border=True):
        st.markdown("**Create a class**")
        typed = widgets.text_form("class_create_form", "Create", button_key="class_create", optional=("key",), fields={
            "name": dict(label="Class name", key="class_new_name", placeholder="e.g. Biology 2B"),
            "key": dict(label="Teacher key (optional)", type="password", key="class_new_key",
                        help="leave empty for a new random key; or use $TRANSFERLAB_TEACHER_KEY on the server")})
        if typed:
            try:
                made = classes.create(typed["name"], typed["key"] or None)
                st.session_state["teacher_key"] = made["teacher_key"]
                st.session_state["class_made"] = made
                st.rerun()
            except UserError as exc:
                st.error(str(exc))


def sign_out_button() -> None:
    made = st.session_state.get("class_made")
    if made:
        st.success(f"Class **{made['name']}** created. Join code **{made['join_code']}**.")
        st.warning("Note your teacher key now: it opens this page. It hides when you say so or open the **Join** "
                   "tab (for the projector); **Show my teacher key** brings it back.")
        st.code(made["teacher_key"], language=None)
        st.button("I have written it down: hide the key", key="teacher_key_hide", on_click=hide_key)
    elif st.toggle("Show my teacher key", key="teacher_key_show", help="it opens this page: keep it off the projector"):
        st.code(st.session_state["teacher_key"], language=None)
    if st.button("Leave the teacher view", key="teacher_leave"):
        st.session_state.pop("teacher_key", None)
        st.rerun()


def hide_key() -> None:
    """A callback: the key leaves the screen before anything is drawn again."""
    st.session_state.pop("class_made", None)
    st.session_state["teacher_key_show"] = False


def on_tab_change() -> None:
    """The Join tab goes on the projector: the teacher key never shows above it."""
    if st.session_state.get("teacher_tab") == "Join":
        hide_key()


# ---- the class, live ---------------------------------------------------------------------------------
@st.fragment(run_every=LIVE_SECONDS)
def live_students(class_id: str, key: str) -> None:
    rows = teacher.students(class_id, key)
    if not rows:
        st.info("Nobody has joined yet: put the join code on the projector (the **Join** tab).")
        return
    st.dataframe(words.table(rows, STUDENTS, SHOWN), hide_index=True, width="stretch", key="class_table")
    st.download_button("Download the table (CSV)", words.table(rows, STUDENTS).to_csv(index=False),
                       file_name=f"class-{class_id}.csv", key="class_csv")
    opened = [r for r in rows if r["run_id"]]
    if opened:
        run_id = st.selectbox("Open a student's run (read-only)", [r["run_id"] for r in opened], key="teacher_open_run",
                              format_func=lambda i: next(f"{r['student']} · backbone {r['backbone']} · {r['status']}" for r in opened
                                                         if r["run_id"] == i))
        c1, c2 = st.columns(2)
        c1.page_link("views/evaluate.py", label="Evaluate", icon=":material/insights:",
                     query_params={"s": state.token(), "run": run_id})
        c2.page_link("views/predict.py", label="Predict", icon=":material/image_search:",
                     query_params={"s": state.token(), "run": run_id})


@st.fragment(run_every=QUEUE_SECONDS)
def live_queue(class_id: str, key: str) -> None:
    st.markdown("**Worker slots**")
    slots = [{**s, "for": s["since"] and words.duration(time.time() - s["since"])} for s in teacher.slots()]
    st.dataframe(words.table(slots, {"slot_pid": "slot (process)", "run_id": "running run", "for": "for"})
                 if slots else pd.DataFrame([{"slot": "no worker running"}]),
                 hide_index=True, width="stretch", key="slots_table")
    waiting = [r for r in teacher.runs(class_id, key) if r["status"] in status.ACTIVE]
    st.markdown(f"**Queue** ({len(waiting)} waiting or running)")
    if waiting:
        st.dataframe(words.table(waiting, QUEUE, SHOWN), hide_index=True, width="stretch", key="queue_table")
    act_on_runs(class_id, key)


def act_on_runs(class_id: str, key: str) -> None:
    rows = teacher.runs(class_id, key)
    if not rows:
        return
    run_id = st.selectbox("Run", [r["run_id"] for r in rows], key="teacher_act_run",
                          format_func=lambda i: next(f"{r['student']} · {words.role(r.get('role') or 'main')} · {r['status']}" for r in rows
                                                     if r["run_id"] == i))
    c1, c2 = st.columns(2)
    if c1.button("Cancel", key="teacher_cancel"):
        _act(lambda: teacher.cancel(class_id, key, run_id))
    if c2.button("Requeue (resume)", key="teacher_requeue"):
        _act(lambda: teacher.requeue(class_id, key, run_id))


def _act(action) -> None:
    try:
        st.toast(f"done: {action()}")
    except UserError as exc:
        st.error(str(exc))


@st.fragment(run_every=LIVE_SECONDS)
def leaderboard(class_id: str, key: str) -> None:
    if holdouts.holdout_of(classes.audience(class_id)) is None:
        st.caption("Upload a held-out set on the **Setup** tab: every finished run of a class dataset is scored on it.")
    rows = teacher.leaderboard(class_id, key)
    if rows:
        st.dataframe(words.table(rows, BOARD, SHOWN), hide_index=True, width="stretch", key="board_table")
    else:
        st.info("No scored runs yet.")


# ---- setting the class up -----------------------------------------------------------------------------
def setup(class_id: str, key: str) -> None:
    publish_panel(class_id, key)
    holdout_panel(class_id, key)
    rules_panel(class_id, key)


def publish_panel(class_id: str, key: str) -> None:
    with st.container(border=True):
        st.markdown("**Class datasets** (students can train on them, not change them)")
        catalog = {s["name"]: s for s in samples.catalog() if s["available"]}
        c1, c2, c3 = st.columns([2, 1, 1])
        sample = c1.selectbox("Sample", list(catalog), key="teacher_sample", format_func=lambda n: catalog[n]["title"])
        per_class = c2.number_input("Per class", 5, 500, 30, key="teacher_per_class")
        if c3.button("Load and publish", key="teacher_publish_sample"):
            with st.spinner("Loading the sample…"):
                report = samples.materialize(sample, f"{sample}-{per_class}", per_class=int(per_class), owner=key)
            teacher.publish(class_id, key, report.dataset)
            st.rerun()
        published = datasets.shared_with(classes.audience(class_id))
        st.caption(f"Published to this class: {', '.join(published)}" if published else "Nothing published yet.")
        own = [d["name"] for d in data.list_datasets(key) if d["writable"] and not d["name"].startswith("holdout-")]
        if own:
            name = st.selectbox("Or one of your datasets", own, key="teacher_own_dataset")
            if st.button("Publish", key="teacher_publish"):
                teacher.publish(class_id, key, name)
                st.rerun()


def holdout_panel(class_id: str, key: str) -> None:
    with st.container(border=True):
        st.markdown("**Held-out set** (never shown to students; scores the leaderboard)")
        files = st.file_uploader(f"A zip or a folder in CLASS/file layout. {widgets.upload_limit()}",
                                 accept_multiple_files="directory", key="holdout_upload")
        if files and st.button("Use as the held-out set", key="holdout_set_button"):
            entries = data.from_uploads([(f.name, f.getvalue()) for f in files])
            report = teacher.set_holdout(class_id, key, entries)
            st.success(f"held-out set: {sum(report.classes.values())} images in {len(report.classes)} classes; "
                       f"{len(report.rejected)} rejected")


def rules_panel(class_id: str, key: str) -> None:
    current = teacher.rules(class_id) or admission.Policy()
    with st.container(border=True):
        st.markdown("**Class preset and locks** (the wizard shows locked fields fixed, with your reason)")
        st.caption(f"Current rules: {rules_text(current.preset)}; locked: "
                   f"{', '.join(f.replace('_', ' ') for f in current.locks) or 'nothing'}.")
        c1, c2, c3, c4 = st.columns(4)
        backbones = [b.name for b in models.list_backbones() if b.weights in presets.USABLE_WEIGHTS]
        values = {"scenario": c1.selectbox("Scenario", CODES, index=_index(CODES, current.preset.get("scenario")),
                                           key="rule_scenario"),
                  "backbone": c2.selectbox("Backbone", backbones, index=_index(backbones, current.preset.get("backbone")),
                                           key="rule_backbone"),
                  "epochs": int(c3.number_input("Epochs cap", 1, 200, int(current.preset.get("epochs", 10)),
                                                key="rule_epochs")),
                  "batch_size": c4.select_slider("Batch size", [8, 16, 32, 64, 128],
                                                 value=current.preset.get("batch_size", 32), key="rule_batch"),
                  "class_balance": st.selectbox("Class balance", CLASS_BALANCE, format_func=words.balance,
                                                index=_index(CLASS_BALANCE, current.preset.get("class_balance")),
                                                key="rule_balance")}
        locks = {}
        for field in admission.FIELDS:
            said = field.replace("_", " ")
            on = st.checkbox(f"Lock {said}", value=field in current.locks, key=f"lock_{field}")
            if on:
                locks[field] = st.text_input(f"Why ({said})", current.locks.get(field, "today we all compare the same"),
                                             key=f"why_{field}")
        if st.button("Save the rules", key="rules_save"):
            try:
                teacher.set_rules(class_id, key, values, locks)
                st.rerun()
            except UserError as exc:
                st.error(str(exc))


def rules_text(preset: dict) -> str:
    """A class preset in words: "scenario S1, at most 2 epochs, batch size 32"."""
    said = {"scenario": "scenario {}", "backbone": "backbone {}", "epochs": "at most {} epochs",
            "batch_size": "batch size {}", "class_balance": "class balance: {}"}
    return ", ".join(said[f].format(preset[f]) for f in said if f in preset) or "no preset"


def _index(options, value) -> int:
    return list(options).index(value) if value in options else 0


def join_panel(current: dict) -> None:
    url = f"{public_url()}/?join={current['join_code']}"
    st.markdown(f"# {current['join_code']}")
    st.markdown(f"Students scan the code, or open **{public_url()}**, turn on **{JOIN_TOGGLE}**, and type the "
                "code and a display name.")
    st.code(url, language=None)
    loopback_warning(url)
    st.image(qr_png(url), width=320, caption="QR code: scan to join the class")


def public_url() -> str:
    """Where others reach this server: $TRANSFERLAB_PUBLIC_URL when it is set, else the address this browser
    used (`make run` on the loopback address no longer sets it to 127.0.0.1, which no phone can open)."""
    return origin(os.environ.get("TRANSFERLAB_PUBLIC_URL"), getattr(st.context, "url", None))


def origin(configured: str | None, browser_url: str | None) -> str:
    """The configured address, else scheme://host:port of the browser's URL, else localhost."""
    if configured:
        return configured.rstrip("/")
    parts = urllib.parse.urlsplit(browser_url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "http://localhost:8501"


def loopback(url: str) -> bool:
    """Whether `url` names this computer itself (localhost, 127.x.x.x, ::1): a link no other device opens."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_warning(url: str) -> None:
    """Said beside a link or QR code for other devices when it cannot work on them."""
    if loopback(url):
        host = urllib.parse.urlsplit(url).hostname
        st.warning(f"This address ({host}) means \"this computer\": it opens here, but not on a phone or anyone "
                   "else's computer. Open the app through the server's network address (start it with `make run "
                   "HOST=0.0.0.0`), or set TRANSFERLAB_PUBLIC_URL to the address others use, then make the link again.",
                   icon=":material/warning:")


def qr_png(text: str) -> bytes:
    import segno

    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=8, border=2)
    return buffer.getvalue()


# ---- students ----------------------------------------------------------------------------------------
def join_form() -> None:
    """A student joins with the code and a display name, and lands in a private workspace."""
    with st.container(border=True):
        st.markdown("**Join a class**")
        typed = widgets.text_form("join_form", "Join", button_key="join_button", widths=[1, 2, 1], fields={
            "code": dict(label="Join code", value=st.query_params.get("join", ""), key="join_code"),
            "name": dict(label="Your name (as the class will see it)", key="join_name")})
        if typed:
            try:
                joined = classes.join(typed["code"].strip().upper(), typed["name"])
            except UserError as exc:
                st.error(str(exc))
                return
            drafts.save(joined["token"], class_rules.student_draft(joined["token"], state.config()), {})
            state.switch_token(joined["token"])
            st.rerun()
