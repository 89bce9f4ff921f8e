"""The app on a shared classroom server: every input treated as hostile, in the UI (the issue's rows).

Each row: what a crafted input must not do, and the clear message its sender gets instead, while the
tab's current run goes on. App rows run the whole app in AppTest with the stand-in uploader of
test_bad_input.py; slot, watchdog and download rows call the code directly, without a server.
"""
from __future__ import annotations

import errno
import html
import re
import threading
import time
import tomllib
from pathlib import Path

import pytest
from conftest import KEPT, ROOT, assert_kept, bundle, numbers, open_app, seen, shown, tab_with, tiny_config
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from rnnviz.runs import bundle_bytes
from rnnviz.train import Trainer
from rnnviz.ui import controls, files, lifecycle
from rnnviz.ui.fields import DEFAULTS, NUMBERS
from rnnviz.ui.state import KEY, BundleBusy, TabState

LIVE_MARKUP = re.compile(r"!\[|\]\(|<\s*[a-zA-Z/!?]")  # an image, a link, an HTML tag
AUTOLINK = re.compile(r"https?://|www\.|@\w", re.IGNORECASE)  # plain text that markdown would make a link of
IMAGE = "![x](https://example.invalid/x.png)"
LINK_HEADER = "<a href='https://example.invalid'>click</a>"


def markdown(at: AppTest) -> list[str]:
    """Every text the app hands the browser to render as markdown: alerts, markdown, captions, metrics."""
    texts = [e.value for kind in ("error", "warning", "success", "info", "markdown", "caption") for e in getattr(at, kind)]
    return texts + [part for m in at.metric for part in (m.label, m.value)]


def assert_inert(at: AppTest, *sent: str) -> None:
    """No text rendered as markdown or as plotly labels (a chart's whole spec) holds live markup or would become a
    link, and each sent text is still shown, as the reader sees it."""
    charts = [chart.proto.spec for chart in at.get("plotly_chart")]
    for text in markdown(at) + charts:
        assert not LIVE_MARKUP.search(text), text
    for text in markdown(at):
        assert not AUTOLINK.search(html.unescape(text)), text
    for text in sent:
        assert any(text in seen(body) for body in markdown(at) + charts), text


# ---- 1. nothing rendered that a user typed --------------------------------------------------------
def test_a_crafted_address_value_is_shown_as_text(current):
    at = open_app(current, query={"hidden": IMAGE + "<img src=x>"})
    assert_kept(at, current)
    assert_inert(at, f"hidden={IMAGE}<img src=x>")


def test_a_crafted_file_name_is_shown_as_text(current, uploads):
    uploads["upload_charlm"] = (f"{IMAGE}.txt", b"some text to learn from, long enough for a few windows\n" * 20)
    at = open_app(current, task="charlm", seq_len=8)
    assert_kept(at, current)
    assert_inert(at, f"Training on **{IMAGE}.txt**")
    uploads["upload_charlm"] = (f"<img src=x>{IMAGE}.txt", b"")
    at = open_app(current, task="charlm", seq_len=8)
    assert shown(at.error) and all(not LIVE_MARKUP.search(e.value) for e in at.error)


def test_a_crafted_csv_header_stays_text_in_messages_and_chart_titles(current, uploads, tmp_path):
    uploads["upload_sine"] = ("names.csv", f"{LINK_HEADER},city\nann,paris\nbob,rome\n".encode())
    at = open_app(current, task="sine", seq_len=8)
    assert_kept(at, current)
    assert_inert(at, f"names.csv has no numeric column: its columns are {LINK_HEADER!r}")

    data = tmp_path / "series.csv"
    data.write_bytes(numbers(80).replace(b"t,v", f"t,{LINK_HEADER}".encode()))
    trainer = Trainer(tiny_config(task="sine", data=str(data), column=LINK_HEADER, seq_len=8, probe_every=2))
    trainer.run(2)
    at = open_app(tab_with(trainer))
    assert not at.exception
    assert_inert(at, LINK_HEADER)  # the forecast's axis title


def test_crafted_bundle_fields_are_shown_as_text(current, uploads):
    uploads["upload_run"] = ("run.zip", bundle(run_json=lambda record: record["config"].update(task=IMAGE)))
    at = open_app(current)
    assert_kept(at, current)
    assert_inert(at, "This bundle cannot be restored: ", IMAGE)

    crafted = {"kind": "stopped", "reason": "error", "step": 6, "detail": IMAGE}  # a run.json may word its error
    uploads["upload_run"] = ("run.zip", bundle(run_json=lambda record: record.update(status=crafted)))
    before = current.trainer
    at = open_app(current)
    assert not at.exception and current.trainer is not before and current.trainer.step == 6  # restored
    at.run()
    assert_inert(at)


def test_the_changed_settings_name_a_data_file_not_its_server_path(current, uploads, tmp_path):
    data = tmp_path / "first.txt"
    data.write_text("an old text to learn from\n" * 20)
    trainer = Trainer(tiny_config(task="charlm", data=str(data), seq_len=8, steps=20))
    uploads["upload_charlm"] = ("second.txt", b"a new text to learn from\n" * 20)
    at = open_app(tab_with(trainer), task="charlm", seq_len=8)
    changed = [seen(c.value) for c in at.caption if "The settings differ" in c.value]
    assert changed and "data first.txt → second.txt" in changed[0] and str(tmp_path) not in changed[0]
    assert "/tmp" not in changed[0]


# ---- 2. numbers in the page's address ----------------------------------------------------------------
@pytest.mark.parametrize("value", ["1e309", "-1e309", "inf", "-inf", "nan", "9" * 40, "abc", "", "1.5"])
def test_every_number_setting_refuses_what_it_cannot_take_from_the_address(value, current):
    """All of them at once, with one good value beside them that must survive: ?hidden=1e309 raised OverflowError."""
    keys = [k for k, spec in NUMBERS.items() if not spec.accepts(value)]
    at = open_app(current, query={**dict.fromkeys(keys, value), "cell": "Transformer"})  # heads shows for it alone
    assert_kept(at, current)
    warnings = shown(at.warning)
    for key in keys:
        assert any(f"asks for {key}={value}," in w for w in warnings), key
        assert at.number_input(key=key).value == pytest.approx(DEFAULTS[key]), key
    assert at.selectbox(key="cell").value == "Transformer"


# ---- 3. no traceback or server path in a browser; expected errors are messages ---------------------------
def test_uncaught_errors_reach_the_browser_as_a_generic_notice(tmp_path):
    with open(ROOT / ".streamlit" / "config.toml", "rb") as f:
        assert tomllib.load(f)["client"]["showErrorDetails"] == st_config.ShowErrorDetailsConfigOptions.NONE
    script = tmp_path / "crash.py"
    script.write_text("raise OSError('cannot read /srv/secret/path')\n")
    at = AppTest.from_file(str(script)).run()
    notice = at.exception[0].proto
    assert "/srv/secret" not in notice.message and not notice.stack_trace and not notice.type


@pytest.mark.parametrize("edit", [lambda r: r.update(step=[1]), lambda r: r.update(probes=["x"]),
                                  lambda r: r.update(elapsed={"a": 1}), lambda r: r["history"].update(loss=["x"]),
                                  lambda r: r.update(step=-5), lambda r: r.update(lr=1000.0, status="paused")],
                         ids=["step", "probes", "elapsed", "history", "negative step", "learning rate out of range"])
def test_a_bundle_that_breaks_the_restore_gets_a_message(edit, current, uploads):
    uploads["upload_run"] = ("run.zip", bundle(run_json=edit))
    at = open_app(current)
    assert any(e.startswith("This bundle cannot be restored: ") and e.endswith(KEPT) for e in shown(at.error))
    assert_kept(at, current)


def test_a_bundle_message_names_no_server_path(current, uploads):
    uploads["upload_run"] = ("run.zip", bundle(**{"model.safetensors": None}))  # run.json alone
    at = open_app(current)
    refused = [e for e in shown(at.error) if e.startswith("This bundle cannot be restored: ")]
    assert refused and "model.safetensors" in refused[0] and "/tmp" not in refused[0] and "rnnviz-tab" not in refused[0]
    assert_kept(at, current)


# ---- 4. uploads on disk --------------------------------------------------------------------------
def full_disk(monkeypatch, after: int):
    """Writes in rnnviz.ui.files fail with ENOSPC after `after` bytes, as on a full disk."""
    real = files.os.fdopen

    def fdopen(fd, *args, **kwargs):
        f = real(fd, *args, **kwargs)
        write = f.write

        def partial_write(data):
            write(data[:after])
            f.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        f.write = partial_write
        return f

    monkeypatch.setattr(files.os, "fdopen", fdopen)


def tab_files(state: TabState) -> list[str]:
    return sorted(str(p.relative_to(state.folder())) for p in state.folder().rglob("*") if p.is_file())


@pytest.mark.parametrize("lang, message", [("en", "the server's disk is full, so big.csv could not be stored"),
                                           ("zh", "服务器磁盘已满，无法保存 big.csv")])
def test_a_full_disk_leaves_no_truncated_file_and_says_so(lang, message, current, uploads, monkeypatch):
    full_disk(monkeypatch, after=100)
    uploads["upload_sine"] = ("big.csv", numbers(200))
    at = open_app(current, task="sine", seq_len=8, lang=lang)
    assert any(message in e for e in shown(at.error)), shown(at.error)
    assert at.session_state[KEY].trainer is current.trainer and current.trainer.step == 4
    assert tab_files(current) == [], "no partial file is left to train on"
    assert at.session_state[KEY].data_for("sine") is None


def test_a_tab_keeps_its_files_within_its_disk_share(current, uploads, monkeypatch):
    monkeypatch.setattr(files, "TAB_DISK_BYTES", 2**20)
    uploads["upload_charlm"] = ("first.txt", b"some text to learn from\n" * 30_000)  # 0.7 MB
    uploads["upload_sine"] = ("series.csv", numbers(40_000))  # 0.5 MB more
    at = open_app(current, task="charlm", seq_len=8)
    assert [Path(f).name for f in tab_files(current)] == ["first.txt"]
    at.selectbox(key="task").set_value("sine").run()
    assert ("This file cannot be used: with series.csv, this tab's files would take 1.2 MB, more than the 1 MB one tab "
            "may keep on this server") in " ".join(shown(at.error))
    assert [Path(f).name for f in tab_files(current)] == ["first.txt"]
    assert_kept(at, current)


def test_a_replaced_upload_is_deleted_unless_a_run_was_trained_on_it(current, uploads):
    uploads["upload_charlm"] = ("first.txt", b"the first text to learn from\n" * 20)
    at = open_app(current, task="charlm", seq_len=8)
    first = current.data_for("charlm")[0]
    uploads["upload_charlm"] = ("second.txt", b"the second text to learn from\n" * 20)
    at.run()
    assert not Path(first).exists() and [Path(f).name for f in tab_files(current)] == ["second.txt"]

    current.trainer = lifecycle.app_run(Trainer(tiny_config(task="charlm", data=current.data_for("charlm")[0], seq_len=8)))
    uploads["upload_charlm"] = ("third.txt", b"the third text to learn from\n" * 20)
    at.run()
    assert sorted(Path(f).name for f in tab_files(current)) == ["second.txt", "third.txt"]  # a bundle copies it


def test_a_restored_bundle_replaces_the_one_restored_before(current, uploads, tmp_path):
    data = tmp_path / "series.csv"
    data.write_bytes(numbers(80))
    trainer = Trainer(tiny_config(task="sine", data=str(data), seq_len=8, steps=4))
    trainer.run()
    uploads["upload_run"] = ("first.zip", bundle_bytes(trainer, evaluate=False))
    at = open_app(current)
    first = at.session_state[KEY].trainer
    assert "data.csv" in {Path(f).name for f in tab_files(current)}  # the restored run's data, for its download
    uploads["upload_run"] = ("second.zip", bundle())  # a run without a data file
    at.run()
    assert at.session_state[KEY].trainer is not first and tab_files(current) == []


# ---- 5. an upload is read once -------------------------------------------------------------------
def test_an_upload_is_read_once_not_on_every_rerun(current, uploads, monkeypatch):
    """Reading a file: its columns (files.numeric_columns), or building its task (files' and controls' make_task)."""
    reads = []
    for module, name in ((files, "numeric_columns"), (files, "make_task"), (controls, "make_task")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, real=real, name=name, **k: reads.append(name) or real(*a, **k))
    uploads["upload_sine"] = ("series.csv", numbers(400))
    at = open_app(current, task="sine", seq_len=8)
    first = len(reads)
    assert first and current.data_for("sine") is not None
    for _ in range(3):
        at.run()
    assert len(reads) == first, reads

    uploads["upload_sine"] = ("short.csv", b"v\n0.5\n")  # refused: a refusal is not read again either
    at.run()
    refused = len(reads)
    at.run()
    assert len(reads) == refused and any("short.csv has 1 value" in e for e in shown(at.error))


# ---- 6. downloads -----------------------------------------------------------------------------------
def test_download_clicks_of_one_tab_hold_the_shared_executor_for_one_build(monkeypatch):
    """Eight clicks at once: one builds, seven are refused at once instead of each holding one of the executor's
    threads (which other tabs' downloads wait for) while it waits; the same step again costs no build."""
    builds = []

    def slow_bundle(trainer):
        builds.append(trainer.step)
        time.sleep(0.5)
        return f"bundle at step {trainer.step}".encode()

    monkeypatch.setattr(files, "bundle_bytes", slow_bundle)
    trainer = Trainer(tiny_config(steps=20))
    trainer.run(2)
    state = tab_with(trainer)
    click = files.bundle_builder(state, state.trainer)
    answers, refused = [], []

    def press():
        start = time.monotonic()
        try:
            answers.append(click())
        except BundleBusy:
            refused.append(time.monotonic() - start)

    clicks = [threading.Thread(target=press) for _ in range(8)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()
    assert builds == [2] and answers == [b"bundle at step 2"] and len(refused) == 7 and max(refused) < 0.1
    assert click() == b"bundle at step 2" and builds == [2], "the same step again: no build"
    trainer.run(3)
    assert click() == b"bundle at step 3" and builds == [2, 3]


# ---- 7. fair training slots --------------------------------------------------------------------------
class Waiter:
    """A stand-in trainer: acquires a slot for its tab in its own thread."""

    stop_requested = False

    def __init__(self, slots, owner, started: list):
        self.owner = owner
        self.thread = threading.Thread(target=lambda: slots.acquire(self, owner) and started.append(self), daemon=True)
        self.thread.start()


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_tabs_first_run_starts_before_another_tabs_queued_runs():
    """Tab A trains two runs (every slot) and queues two more; tab B then queues its first: B's starts first."""
    slots, started = lifecycle.TrainingSlots(2), []
    a_running = [Waiter(slots, "A", started) for _ in range(2)]
    wait_until(lambda: len(started) == 2)
    a_queued = [Waiter(slots, "A", started) for _ in range(2)]
    wait_until(lambda: slots.position(a_queued[1]) == 1)
    b_first = Waiter(slots, "B", started)
    wait_until(lambda: slots.position(b_first) is not None)
    assert slots.position(b_first) == 0 and slots.position(a_queued[0]) == 1

    slots.release("A")  # one of A's runs ends
    wait_until(lambda: len(started) == 3)
    assert started[2] is b_first
    slots.release("A")
    wait_until(lambda: len(started) == 4)
    assert started[3] is a_queued[0] and started[:2] == a_running


# ---- 8. what a client can clear ------------------------------------------------------------------------
def test_a_tab_whose_state_was_cleared_has_its_runs_stopped_and_files_deleted():
    """Any client may send Streamlit's clear-cache message, which also clears its own session state: the runs the
    dropped state held must not train on unseen, holding slots other tabs wait for."""
    watchdog = lifecycle.Watchdog(lambda session_id: True, lambda session_id: None, grace_s=30, forget_s=60)
    dropped, trainer = TabState(), lifecycle.app_run(Trainer(tiny_config()))
    dropped.folder()
    watchdog.watch_tab("s", dropped)
    watchdog.watch("s", trainer)
    watchdog.watch_tab("s", TabState())  # the session's state is new: the old one was cleared
    assert trainer.stop_requested and dropped.workdir is None
