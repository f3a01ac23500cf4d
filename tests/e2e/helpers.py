"""Browser helpers: open a page and wait for Streamlit's script runs, assert no exception box, shoot.

An action waits for the script run *it* caused: the server's websocket messages to each page are
read as they arrive, and every `script_finished` (not "finished early for a rerun") is counted. The
app element's `data-test-script-state` attribute is no use for counting: when the browser is slow it
handles "started" and "finished" in one render, the attribute never shows `running`, and a watcher of
its changes waits for ever (seen in CI on a busy machine).
"""
from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from google.protobuf.message import DecodeError
from playwright.sync_api import Locator, Page, TimeoutError as PlaywrightTimeout, expect
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from tests.e2e.conftest import ARTIFACTS, CONNECTED, SERVER_PIDS

# ms: a cap on waiting for training on a 2-core CPU, not a speed claim. 180 s was within reach of the demo's
# baseline at load 8 (a second suite beside this one): the wait ends when the element appears.
SLOW = 360_000
APP = "[data-testid='stApp']"
_finished_runs: dict[int, int] = {}  # id(page) → script runs the server has reported finished to it
_started_runs: dict[int, int] = {}  # id(page) → script runs started for it (a `new_session` message each)
# id(page) → whole-page runs (not a fragment's): how many started, whether one is under way, and when the
# last one started or ended. A rerun loop starts whole runs back to back; a fragment's poll is not one.
_whole_runs: dict[int, dict] = {}
LOST_MS = 15_000  # an action that started no run in this long never reached the server
_asked: dict[int, list] = {}  # id(page) → [its document's timeOrigin, messages read in it, rerun requests]
# Every message the page sends on its websocket, kept in the page as it is sent (the page's own thread):
# read back after a click, it says whether that click asked for a script run, with no guess at a delay.
RECORD_SENT = """(() => { if (window.__sent) return; window.__sent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(0);
    let text = ''; for (const b of bytes) text += String.fromCharCode(b);
    window.__sent.push(btoa(text));
    return send.call(this, data);
  }; })()"""
SENT_AFTER = """([doc, n]) => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(
  () => done([performance.timeOrigin, (window.__sent || []).slice(performance.timeOrigin === doc ? n : 0)]), 0))))"""


def _listen(page: Page) -> None:
    if id(page) in _finished_runs:
        return
    _finished_runs[id(page)] = _started_runs[id(page)] = 0
    _asked[id(page)] = [None, 0, 0]
    page.add_init_script(RECORD_SENT)
    whole = _whole_runs[id(page)] = {"started": 0, "running": False, "at": time.monotonic(), "done": 0}

    def frame(payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            kind = _run_message(bytes(payload))
            if kind:
                (_finished_runs if kind == "end" else _started_runs)[id(page)] += 1
            ended = _whole_message(bytes(payload))
            if kind == "start" or ended:
                whole.update(running=kind == "start", at=time.monotonic(), started=whole["started"] + (kind == "start"),
                             done=whole["done"] + (ended == "done"))

    page.on("websocket", lambda socket: socket.on("framereceived", frame))


def _run_message(payload: bytes) -> str | None:
    """"start" for a script run's first message, "end" for its last (not one cut short by a rerun)."""
    message = ForwardMsg()
    try:
        message.ParseFromString(payload)
    except DecodeError:
        return None
    kind = message.WhichOneof("type")
    if kind == "new_session":
        return "fragment" if message.new_session.fragment_ids_this_run else "start"
    if kind == "script_finished" and message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
        return "end"
    return None


def _whole_message(payload: bytes) -> str | None:
    """"end" for the last message of a whole-page run cut short by a rerun, "done" for one that ran to its end."""
    message = ForwardMsg()
    try:
        message.ParseFromString(payload)
    except DecodeError:
        return None
    if message.WhichOneof("type") != "script_finished" or \
            message.script_finished == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
        return None
    return "end" if message.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN else "done"


def reruns_asked(page: Page) -> int:
    """Whole-page script runs the page has asked the server for so far (`rerun_script` messages it sent, a
    fragment's own not counted), read once the page has handled what happened before this call (two
    animation frames, then its timers at 0 ms: a click's handlers have sent their message by then)."""
    asked = _asked.setdefault(id(page), [None, 0, 0])  # the document read, messages read in it, reruns asked
    document, sent_now = page.evaluate(SENT_AFTER, asked[:2])
    if document != asked[0]:  # a new document (the page was loaded again) keeps a list of its own
        asked[:2] = [document, 0]
    for sent in sent_now:
        asked[1] += 1
        message = BackMsg()
        try:
            message.ParseFromString(base64.b64decode(sent))
        except DecodeError:
            continue
        asked[2] += message.WhichOneof("type") == "rerun_script" and not message.rerun_script.fragment_id
    return asked[2]


def whole_runs_started(page: Page) -> int:
    """Whole-page script runs started for this page so far (a fragment's own reruns not counted)."""
    return _whole_runs.get(id(page), {}).get("started", 0)


def whole_runs_quiet(page: Page) -> float:
    """Seconds since the page's last whole-page run ended, 0 while one runs."""
    whole = _whole_runs.get(id(page))
    if not whole or whole["running"]:
        return 0.0
    return time.monotonic() - whole["at"]


def script_runs(page: Page) -> int:
    return _finished_runs.get(id(page), 0)


def _idle_after(page: Page, count: int, timeout: int) -> None:
    deadline = time.monotonic() + timeout / 1000
    while script_runs(page) <= count:
        if time.monotonic() > deadline:
            told = _dump_hang(page, count)
            raise PlaywrightTimeout(f"no script run finished within {timeout} ms\n{told[:6000]}")
        page.wait_for_timeout(50)  # lets Playwright deliver the websocket frames
    settle(page, timeout)  # and the page has drawn what that run sent


def _dump_hang(page: Page, count: int) -> str:
    """What a stuck rerun left behind, in tests/artifacts/hang-*: the page's script state, run count and
    screenshot, and (with py-spy installed) the server's and worker's thread stacks."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%H%M%S")
    state = page.evaluate(f"() => [document.querySelector(\"{APP}\")?.getAttribute('data-test-script-state'),"
                          f" document.querySelector(\"{APP}\")?.getAttribute('data-test-connection-state'),"
                          " location.href]")
    lines = [f"waited for run > {count}, saw {script_runs(page)}; script state, connection, url: {state}"]
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    for pid in SERVER_PIDS:
        if spy:
            done = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=60)
            lines.append(f"--- py-spy dump {pid}\n{done.stdout}{done.stderr}")
    (ARTIFACTS / f"hang-{stamp}.txt").write_text("\n".join(lines))
    page.screenshot(path=str(ARTIFACTS / f"hang-{stamp}.png"), full_page=True)
    return "\n".join(lines)


def after_rerun(page: Page, action: Callable[[], object], timeout: int = 60_000) -> None:
    """Do `action` (a click, a key) and wait until the script run it started has finished.

    Once in a few full-suite runs the browser dropped an Enter or a click on a loaded, idle page: no run
    started and the server stayed idle (py-spy), the field still showing "Press Enter to submit form".
    A person would press again; so does this, once, and only when no run started at all.

    When the action asked for a whole-page run, that run's end is what is waited for: on a page with a live
    fragment (run_every) the end of a fragment's run came first, and the teacher's projector test read the
    page while the tabs it had left were still drawn (two "3 of 3 runs finished", a strict-mode failure)."""
    before = _counts(page)
    action()
    _wait_for_the_run(page, before, timeout, again=action)


def _counts(page: Page) -> tuple[int, int, int, int]:
    """Runs ended and started, whole-page reruns asked, whole-page runs done: read before an action."""
    return (script_runs(page), _started_runs.get(id(page), 0), reruns_asked(page),
            _whole_runs.get(id(page), {}).get("done", 0))


def _wait_for_the_run(page: Page, before: tuple[int, int, int, int], timeout: int,
                      again: Callable[[], object] | None = None) -> None:
    """Until the run an action started has ended (the action done once `again` when no run started at all)."""
    ended, started, asked, done = before
    deadline = time.monotonic() + LOST_MS / 1000
    while script_runs(page) == ended and _started_runs.get(id(page), 0) == started:
        if time.monotonic() > deadline:
            if again is None:
                raise PlaywrightTimeout(f"no script run started within {LOST_MS} ms of the action")
            again()
            break
        page.wait_for_timeout(50)
    if reruns_asked(page) > asked:
        _whole_done_after(page, done, timeout)
    else:
        _idle_after(page, ended, timeout)


def _whole_done_after(page: Page, count: int, timeout: int) -> None:
    deadline = time.monotonic() + timeout / 1000
    while _whole_runs.get(id(page), {}).get("done", 0) <= count:
        if time.monotonic() > deadline:
            told = _dump_hang(page, script_runs(page) - 1)
            raise PlaywrightTimeout(f"no whole-page run finished within {timeout} ms\n{told[:6000]}")
        page.wait_for_timeout(50)
    settle(page, timeout)


def choose(page: Page, box: Locator, option: str, timeout: int = 60_000) -> None:
    """Pick `option` in the Streamlit selectbox `box` and wait for the script run the choice starts.

    The open list draws only the options in view, scrolled to the current one (a virtual list: of ten
    classes nine were in the page, and which nine changed as it scrolled): typing filters it to the option,
    as a person searching the box would. Should the list close under the click anyway, it is opened again."""
    item = page.get_by_role("option", name=option, exact=True)
    for attempt in range(3):
        box.click()
        page.keyboard.type(option)
        try:
            item.wait_for(state="visible", timeout=5_000)
            before = _counts(page)
            item.click(timeout=5_000)
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
            settle(page, timeout)
            continue
        break
    _wait_for_the_run(page, before, timeout)


def open_page(page: Page, url: str, timeout: int = 60_000) -> None:
    _listen(page)
    before = script_runs(page)
    page.goto(url)
    page.wait_for_selector(CONNECTED, timeout=timeout)
    _idle_after(page, before, timeout)  # the first script run of this page load is over


def settle(page: Page, timeout: int = 60_000) -> None:
    """No script run in progress (for moments when the test did not cause the rerun itself)."""
    page.wait_for_function(f"() => document.querySelector(\"{APP}\")"
                           ".getAttribute('data-test-script-state') === 'notRunning'", timeout=timeout)


def no_exception(page: Page) -> None:
    expect(page.locator("[data-testid='stException']")).to_have_count(0)


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def click(page: Page, name: str) -> None:
    after_rerun(page, lambda: page.get_by_role("button", name=re.compile(name)).first.click())


def token(page: Page) -> str:
    """The draft/owner token the app writes into the URL (after its first script run)."""
    page.wait_for_url(re.compile(r"[?&]s="), timeout=30_000)
    match = re.search(r"[?&]s=([^&]+)", page.url)
    assert match, page.url
    return match.group(1)


def more_points(page: Page, than: int, index: int = 1, timeout: int = SLOW) -> int:
    """Wait until the index-th Plotly chart (the accuracy curves on the Train page) holds more than `than`
    points, and return how many: Plotly draws after the text around it, so a count read at once can be 0."""
    count = page.wait_for_function(
        "([i, n]) => { const p = document.querySelectorAll('.js-plotly-plot')[i];"
        " const k = p && p.data ? p.data.reduce((s, t) => s + (t.x ? t.x.length : 0), 0) : 0;"
        " return k > n ? k : false; }", arg=[index, than], timeout=timeout)
    return int(count.json_value())


# The focused element, marked on itself or on its widget's frame (a select's frame turns the theme's blue).
FOCUS_SHOWN = """() => { const el = document.activeElement;  // focused, and marked on it or its widget's frame
  if (!el || el === document.body) return 'focus fell back to the page';
  const chain = [];
  for (let e = el, i = 0; e && i < 5; e = e.parentElement, i++) {
    const s = getComputedStyle(e);
    if ((s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none'
        || s.borderColor === 'rgb(0, 114, 178)') return true;
    chain.push(`${e.tagName} outline=${s.outlineStyle} ${s.outlineWidth} shadow=${s.boxShadow} border=${s.borderColor}`);
  }
  return chain.join(' | '); }"""


def tab_to(page: Page, wanted, limit: int = 200) -> None:
    """Press Tab until the focused element is `wanted` (a test on its tag, role, text and label)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => { const el = document.activeElement; if (!el) return {};
          const box = el.closest('[data-testid]'), label = box && box.querySelector("[data-testid='stWidgetLabel']");
          return {tag: el.tagName.toLowerCase(), role: el.getAttribute('role') || '', text: (el.innerText || '').trim(),
                  label: el.getAttribute('aria-label') || (label ? label.innerText : '')}; }""")
        if wanted(focused):
            return
    raise AssertionError(f"Tab never reached the control after {limit} presses")
