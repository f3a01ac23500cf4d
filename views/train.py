"""Step 5: train on the worker. Live charts read the store once a second; the run id is in the URL,
so a refresh or a second tab reattaches to the same run. The page never moves on by itself: after the
demo's "Done" its from-scratch baseline goes on training below, and the person opens Evaluate when ready."""
import time

import streamlit as st

from core.config import BASELINES, RunConfig
from core.errors import UserError
from core.execute import service
from core.recipes import sweeps
from core.runs import fairness, queue, status as lifecycle, store
from core.training import curves
from ui import chart_words, experiment, figures, learning_curve, live, state, usage, widgets, words
from ui.widgets import require_dataset

BASELINE_LABELS = {"scratch": "from scratch", "linear_probe": "linear probe"}
# A watching page polls cheaply (one small query) and redraws only when something worth showing is new
# (ui.live.stale): measured in Chromium, a page sitting on a running job cost the server 0.11 of a core
# when every 1.5 s poll redrew five charts.
# the per-step charts: (field, title, key prefix); the keys are the ones browser tests find them by
STEP_CHARTS = (("loss", "loss per step", "sl"), ("lr", "learning rate", "lr"), ("images_per_second", "images / s", "ips"))
RUNNING_POLL_SECONDS = 1.5
QUEUED_POLL_SECONDS = 5.0


def end_companion_choice(cfg: RunConfig) -> None:
    """Companions are chosen for one submission: the draft keeps none and the pills start empty again (a
    kept "from scratch" once queued a 9-epoch baseline beside a person's next run, holding the only slot)."""
    state.save(cfg.replace(baselines=()))
    st.session_state.pop("baselines", None)


st.title("5 · Train")
cfg = state.config()
require_dataset()
owner = state.token()
usage.caption(owner)
experiment.train_box()

with st.container(border=True):
    st.markdown(f"**{cfg.backbone}** · {cfg.scenario} · data **{cfg.data.dataset}** · head {cfg.train.head_epochs} "
                f"epochs + fine-tune {cfg.train.finetune_epochs} · while fine-tuning: "
                f"{words.freeze_plan(cfg.freeze, cfg.train.finetune_epochs)} · augmentation: {cfg.augment.preset}")
    baselines = st.pills("Companion runs on the same split", BASELINES, selection_mode="multi",
                         default=list(cfg.baselines), key="baselines", format_func=BASELINE_LABELS.get)
    left, right = st.columns(2)
    if left.button("Start training", type="primary", key="start"):
        try:
            submitted = queue.submit(experiment.enforce(cfg.replace(baselines=tuple(baselines))), owner)
            service.ensure_worker()
            end_companion_choice(cfg)
            state.save(run=submitted["run_id"])
            st.query_params["run"] = submitted["run_id"]
            st.rerun()
        except UserError as exc:
            st.error(str(exc))
    if right.button("Freeze sweep: one run per frozen depth", key="sweep_start",
                    help="0..N stages frozen, same data, split and seed: see accuracy and time against depth"):
        try:
            result = sweeps.sweep(cfg, owner)
            service.ensure_worker()
            state.save(sweep=result["sweep"])
            st.rerun()
        except UserError as exc:
            st.error(str(exc))
    learning_curve.start(cfg, owner)

run_id = st.query_params.get("run") or state.wizard_state().get("run")



def series_for(run: dict) -> dict:
    out = {run["role"]: curves.epoch_series(live.epochs(run["id"]))}
    for companion in run["companions"]:
        row = store.run_row(companion, owner)
        out[row["role"]] = curves.epoch_series(live.epochs(companion))
    return out


def render(run: dict) -> None:
    run_id, status = run["id"], run["status"]
    st.markdown(f"#### Run of {words.started(run.get('created'))} · {status}")
    if status == "queued":
        queued(run)
    if status in lifecycle.RESUMABLE and run["message"]:
        (st.error if status == "failed" else st.warning)(run["message"])
    if status in lifecycle.ACTIVE and st.button("Stop", key=f"stop-{run_id}"):
        queue.cancel(run_id, owner)
    all_events = live.events(run_id)
    progress(run, all_events)
    for companion in run["companions"]:
        companion_status(companion)
    series = series_for(run)
    switch = curves.phase_switch(series.get(run["role"], []))
    c1, c2 = st.columns(2)
    multi = run["config"].get("task") == "multilabel"  # its live measure: mean average precision on validation
    for slot, metric, key in ((c1, "loss", "loss"), (c2, "map" if multi else "accuracy", "acc")):
        title = "mean average precision" if metric == "map" else metric
        widgets.chart(figures.curves(series, metric, switch, title), chart_words.curves(series, metric), slot,
                      width="stretch", key=f"{key}-{run_id}")
    annotate(series, run["role"])
    steps = live.steps(run_id)
    if steps:
        for slot, (field, title, key) in zip(st.columns(3), STEP_CHARTS):
            widgets.chart(figures.step_chart(steps, field, title), chart_words.step_chart(steps, field, title), slot,
                          width="stretch", key=f"{key}-{run_id}")
    if status == "succeeded":
        summary, evaluation = run.get("summary") or {}, run.get("evaluation") or {}
        tested = evaluation.get("images") if evaluation.get("split") == "test" else None
        if evaluation.get("task") == "multilabel":  # several labels per image: mAP first, "accuracy" is every label right
            st.success(f"Done: {'test' if evaluation['split'] == 'test' else 'validation'} mean average precision "
                       f"{words.percent(evaluation.get('map'))}, every label right on "
                       f"{words.percent(evaluation.get('subset_accuracy'))} of {evaluation['images']} images; trained in "
                       f"{words.duration(summary.get('seconds'))} on {summary.get('device') or 'the worker'}.")
        else:
            st.success(f"Done: validation accuracy {words.percent(summary.get('val_accuracy'))}, test accuracy "
                       f"{words.accuracy_interval(summary.get('test_accuracy'), tested)}; trained in "
                       f"{words.duration(summary.get('seconds'))} on {summary.get('device') or 'the worker'}.")
        if state.wizard_state().get("demo") == run_id:
            demo_next(run)
        st.page_link("views/evaluate.py", label="Evaluate this run", icon=":material/insights:",
                     query_params={"s": owner, "run": run_id})


def demo_next(run: dict) -> None:
    """What the demo does after its model is ready: the baseline may still be training; the person chooses."""
    waiting = [c for c in run["companions"] if store.run_row(c, owner)["status"] in lifecycle.ACTIVE]
    if waiting:
        st.info("Your transfer model is ready. The from-scratch baseline above keeps training on the same images, "
                "so its curve joins the chart; open Evaluate whenever you like (this page stays here).")
    else:
        st.info("The demo is complete: both curves are on the chart. Next, evaluate the transfer model.")


def companion_status(run_id: str) -> None:
    """A companion run's state in words (and a bar while it trains): after the main run's "Done" a
    baseline may train on for a while, and the page says so."""
    row = store.run_row(run_id, owner)
    name = f"The {BASELINE_LABELS.get(row['role'], row['role'])} baseline"
    events = live.events(run_id)
    train = RunConfig.from_dict(row["config"]).train
    done = len(curves.epoch_series([e for e in events if e["event"] == "epoch"]))
    if row["status"] == "queued":
        st.caption(f"{name} (same images, same split) waits for this run to finish: one job per person at a time.")
    elif row["status"] == "running":
        st.progress(*companion_bar(name, train, events, done))
    elif row["status"] == "succeeded":
        spent = " (its time budget was spent)" if any(e["event"] == "budget" for e in events) else ""
        st.caption(f"{name} finished after {done} epoch(s){spent}: test accuracy "
                   f"{words.percent((row.get('summary') or {}).get('test_accuracy'))}.")
    else:
        st.caption(f"{name}: {row['status']}.")


def companion_bar(name: str, train, events: list[dict], done: int) -> tuple[float, str]:
    """How far a training companion is: by its time budget when it has one, else by epochs; then what it
    does after its last epoch (testing, the look-alike check's features)."""
    last = events[-1] if events else {}
    if last.get("event") == "extract" and done:
        what = "features for the look-alike check" if "look-alike" in last["split"] else f"{last['split']} features"
        return last["done"] / max(last["total"], 1), (f"{name} has trained ({done} epoch(s)); now computing {what}: "
                                                      f"{last['done']} of {last['total']} images")
    started = next((e["t"] for e in events if e["event"] == "fit_start"), None)
    budget = train.time_budget_seconds
    if budget and started:
        spent = time.time() - started
        if spent >= budget or any(e["event"] == "budget" for e in events):
            return 1.0, f"{name} has used its {words.duration(budget)} budget ({done} epoch(s)); now testing it"
        return spent / budget, (f"{name} is training on the same images, for comparison: {words.duration(spent)} "
                                f"of its {words.duration(budget)} budget, {done} epoch(s) done")
    return min(done / max(train.total_epochs, 1), 1.0), (f"{name} is training on the same images, for comparison: "
                                                         f"epoch {done} of {train.total_epochs}")


def queued(run: dict) -> None:
    job = store.latest_job(run["id"])
    slots = max(1, len(service.alive_workers()))
    ahead = fairness.forecast(slots).get(job["id"]) if job else None
    if ahead:
        st.info(f"Queued: position {ahead['position']}, starts in about {words.duration(ahead['eta_seconds'])} "
                f"({slots} job(s) at a time on this server; jobs here take about "
                f"{words.duration(fairness.job_seconds())}). Everyone's first job goes before anyone's second.")
    else:
        st.info("Queued: waiting for the worker to start.")


def progress(run: dict, events: list[dict]) -> None:
    extract = [e for e in events if e["event"] == "extract"]
    if extract and run["status"] == "running" and not [e for e in events if e["event"] == "epoch"]:
        last = extract[-1]
        st.progress(last["done"] / max(last["total"], 1), text=f"Computing features ({last['split']}): "
                    f"{last['done']}/{last['total']} images")
    total = cfg_epochs(run)
    done = len(curves.epoch_series([e for e in events if e["event"] == "epoch"]))
    if total:
        st.progress(min(done / total, 1.0), text=f"Epoch {done} of {total}")


def cfg_epochs(run: dict) -> int:
    return RunConfig.from_dict(run["config"]).train.total_epochs


def annotate(series: dict, role: str) -> None:
    main = series.get(role, [])
    for other in ("scratch", "linear_probe"):
        told = learning_curve.compare_caption(f"the {BASELINE_LABELS[other]} baseline", main, series.get(other, []))
        if told:
            st.caption(told)


@st.fragment(run_every=RUNNING_POLL_SECONDS)
def watch_running() -> None:
    if live.stale():
        st.rerun()  # the whole page redraws once, with everything new


@st.fragment(run_every=QUEUED_POLL_SECONDS)
def watch_queued() -> None:
    if live.stale():
        st.rerun()


def current(run_id: str) -> dict | None:
    try:
        return queue.run(run_id, owner, epochs=False)
    except UserError:
        return None


def read() -> tuple[dict | None, list[dict], dict | None]:
    group = state.wizard_state().get("sweep")
    return (current(run_id) if run_id else None, sweeps.sweep_results(group, owner) if group else [],
            learning_curve.results(state.wizard_state().get("datasize"), owner))


run, sweep_rows, lab = read()
if run_id and run is None:
    st.warning(f"Run `{run_id}` is not one of yours (or was deleted).")
ids = ([run["id"], *run["companions"]] if run else []) + [r["run_id"] for r in sweep_rows] + learning_curve.run_ids(lab)
# The snapshot first, then what is drawn, read again after it, and the watcher from the snapshot: a job that
# ended between a read and the snapshot once left "running" on the page with no watcher (the refresh test)
live.drawn(ids)
run, sweep_rows, lab = read() if ids else (run, sweep_rows, lab)
if run:
    render(run)
if sweep_rows:
    st.subheader("Freeze sweep")
    widgets.chart(figures.sweep(sweep_rows), chart_words.sweep(sweep_rows), width="stretch", key="sweep_chart")
    st.dataframe(sweep_rows, hide_index=True, width="stretch")
if lab:
    learning_curve.show(lab)

statuses = live.drawn_statuses()
if "running" in statuses:
    watch_running()
elif "queued" in statuses:
    watch_queued()
