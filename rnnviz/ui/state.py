"""Per-tab state: everything one browser tab owns lives in st.session_state, never in a shared cache.

A tab's files (its uploads, the bundles it restored) lie in its own temporary folder, deleted with the
session. The folder keeps only what the tab still uses: the files in its uploaders and the data files
its runs were built from (a run's bundle copies its data file when it is downloaded); `prune()` deletes
the rest, so a replaced upload or an earlier restored bundle does not count against the tab's share of
the disk, RNNVIZ_TAB_DISK_MB.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from ..background import BackgroundRun
from ..config import RunConfig
from ..cost import shape_of
from ..tasks import make_task
from ..train import Trainer
from . import budget
from .lifecycle import app_run, start_training, watch_tab

KEY = "rnnviz_tab"
TAB_DISK_BYTES = int(float(os.environ.get("RNNVIZ_TAB_DISK_MB", "256")) * 2**20)  # a tab's uploads and bundles


@dataclass
class Upload:
    """A file in one of the Train page's uploaders, stored and checked once per upload (Streamlit's file id)."""

    file_id: str
    path: str | None = None  # where it lies in the tab's folder; None when it was refused before being stored
    columns: list[str] = field(default_factory=list)  # a CSV's numeric columns
    error: str | None = None  # why the file cannot be used, ready to show (user text in it went through plain())
    checks: dict = field(default_factory=dict)  # (seq_len, column) -> the task's baseline loss there, or why it refuses


class BundleBusy(RuntimeError):
    """A download click of a tab whose run bundle is being built for an earlier click."""


class BundleCache:
    """The tab's latest run bundle. Download buttons build their file on Streamlit's small executor, shared by every
    tab (6 threads on 2 cores), when clicked. A tab builds one bundle at a time: a click that comes while one is being
    built is refused at once (the earlier click's file is on its way) rather than holding an executor thread while it
    waits, and a click at the step of the last build gets that build again, so one tab's clicks never keep another
    tab's downloads waiting."""

    def __init__(self):
        self._lock = threading.Lock()
        self._run: weakref.ref | None = None  # the run the bytes below are of
        self._step = -1  # its step when they were built
        self._data = b""

    def get(self, run: BackgroundRun, build: Callable[[], tuple[int, bytes]]) -> bytes:
        """The bundle of run: build() returns (the step it was built at, its bytes). Raises BundleBusy."""
        if not self._lock.acquire(blocking=False):
            raise BundleBusy("this tab's run bundle is being built for an earlier click")
        try:
            if self._run is None or self._run() is not run or self._step != run.step:
                self._step, self._data = build()
                self._run = weakref.ref(run)
            return self._data
        finally:
            self._lock.release()


@dataclass
class TabState:
    trainer: BackgroundRun | None = None  # the run the Train and Look-inside pages show (lifecycle.app_run)
    compare: dict[str, BackgroundRun] = field(default_factory=dict)  # Compare page: label -> its run
    workdir: tempfile.TemporaryDirectory | None = None  # this tab's uploads; deleted with the session
    notice: str | None = None  # a one-off message for the next render (e.g. why a run could not start)
    confirmation: str | None = None  # a one-off success message for the next render (a bundle restored)
    data: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # task -> (uploaded file path, CSV column)
    uploads: dict[str, Upload] = field(default_factory=dict)  # task -> the file in its uploader
    pending_config: RunConfig | None = None  # settings to put into the Train page's widgets on its next run
    restored_upload: str | None = None  # file id of the last run bundle restored, so a rerun does not restore it again
    bundle: BundleCache = field(default_factory=BundleCache)  # the run's bundle, as last downloaded
    report: BundleCache = field(default_factory=BundleCache)  # its HTML report (rnnviz.report), likewise

    def folder(self) -> Path:
        if self.workdir is None:
            self.workdir = tempfile.TemporaryDirectory(prefix="rnnviz-tab-")
        return Path(self.workdir.name)

    def data_for(self, task: str) -> tuple[str, str | None] | None:
        """The user's file (and CSV column) this tab trains the task on, or None for generated data."""
        return self.data.get(task)

    def trainers(self) -> list[BackgroundRun]:
        return [t for t in (self.trainer, *self.compare.values()) if t is not None]

    def disk_bytes(self) -> int:
        """What the tab's folder holds."""
        if self.workdir is None:
            return 0
        return sum(path.stat().st_size for path in self.folder().rglob("*") if path.is_file())

    def prune(self) -> None:
        """Delete what nothing of this tab uses any more from its folder (each upload and bundle has its own
        subfolder): uploads replaced or removed, bundles extracted for earlier runs."""
        if self.workdir is None:
            return
        used = [Path(p) for p in (*(u.path for u in self.uploads.values()), *(p for p, _ in self.data.values()),
                                  *(t.cfg.task.data for t in self.trainers())) if p]
        for entry in self.folder().iterdir():
            if not any(entry == p or entry in p.parents for p in used):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    def close(self) -> None:
        """The tab is gone for good: stop its runs and delete its uploads now, not whenever its state is collected."""
        for trainer in self.trainers():
            trainer.stop("disconnected")
        self.trainer, self.compare, self.data, self.uploads = None, {}, {}, {}
        if self.workdir is not None:
            self.workdir.cleanup()
            self.workdir = None

    def activity(self) -> str | None:
        """"running" while any of this tab's trainers steps, else "queued" while any waits for a training slot,
        else None (paused, finished or no run)."""
        alive = [t.status.kind for t in self.trainers() if t.is_alive()]
        return next((kind for kind in ("running", "queued") if kind in alive), None)


def tab() -> TabState:
    if KEY not in st.session_state:
        st.session_state[KEY] = TabState()
        watch_tab(session_id(), st.session_state[KEY])
    return st.session_state[KEY]


def session_id() -> str | None:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def train_in_background(run: BackgroundRun, steps: int | None = None) -> None:
    start_training(run, session_id(), steps)


def new_run(cfg: RunConfig, start: bool = True) -> BackgroundRun:
    """Replace this tab's run with a fresh one for cfg (and start it). Raises ValueError for bad configs and for
    runs over the server's budget (checked before the model is built)."""
    state = tab()
    task = make_task(cfg.task)
    budget.check(cfg, shape_of(task))
    run = app_run(Trainer(cfg, task=task))  # built first: if cfg is refused, the current run goes on untouched
    release(state.trainer)
    state.trainer = run
    state.prune()  # the files only the replaced run used
    if start:
        train_in_background(state.trainer)
    return state.trainer


def release(run: BackgroundRun | None) -> None:
    """Stop a run and wait briefly for its thread, so its memory can go."""
    if run is not None:
        run.stop()
        run.join(timeout=5)
