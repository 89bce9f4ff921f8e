"""Per-tab state: everything one browser tab owns lives in st.session_state, never in a shared cache."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from ..config import RunConfig
from ..cost import shape_of
from ..tasks import make_task
from ..train import Trainer
from . import budget
from .lifecycle import start_training, watch_tab

KEY = "rnnviz_tab"


@dataclass
class TabState:
    trainer: Trainer | None = None  # the run the Train and Look-inside pages show
    compare: dict[str, Trainer] = field(default_factory=dict)  # Compare page: label -> trainer
    workdir: tempfile.TemporaryDirectory | None = None  # this tab's uploads; deleted with the session
    notice: str | None = None  # a one-off message for the next render (e.g. why a run could not start)
    data: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # task -> (uploaded file path, CSV column)
    pending_config: RunConfig | None = None  # settings to put into the Train page's widgets on its next run
    restored_upload: str | None = None  # file id of the last run bundle restored, so a rerun does not restore it again

    def folder(self) -> Path:
        if self.workdir is None:
            self.workdir = tempfile.TemporaryDirectory(prefix="rnnviz-tab-")
        return Path(self.workdir.name)

    def data_for(self, task: str) -> tuple[str, str | None] | None:
        """The user's file (and CSV column) this tab trains the task on, or None for generated data."""
        return self.data.get(task)

    def close(self) -> None:
        """The tab is gone for good: stop its runs and delete its uploads now, not whenever its state is collected."""
        for trainer in (self.trainer, *self.compare.values()):
            if trainer is not None:
                trainer.stop("disconnected")
        self.trainer, self.compare, self.data = None, {}, {}
        if self.workdir is not None:
            self.workdir.cleanup()
            self.workdir = None

    def activity(self) -> str | None:
        """"running" while any of this tab's trainers steps, else "queued" while any waits for a training slot,
        else None (paused, finished or no run)."""
        alive = [t.status.kind for t in (self.trainer, *self.compare.values()) if t is not None and t.is_alive()]
        return next((kind for kind in ("running", "queued") if kind in alive), None)


def tab() -> TabState:
    if KEY not in st.session_state:
        st.session_state[KEY] = TabState()
        watch_tab(session_id(), st.session_state[KEY])
    return st.session_state[KEY]


def session_id() -> str | None:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def train_in_background(trainer: Trainer, steps: int | None = None) -> None:
    start_training(trainer, session_id(), steps)


def new_run(cfg: RunConfig, start: bool = True) -> Trainer:
    """Replace this tab's run with a fresh one for cfg (and start it). Raises ValueError for bad configs and for
    runs over the server's budget (checked before the model is built)."""
    state = tab()
    task = make_task(cfg.task)
    budget.check(cfg, shape_of(task))
    trainer = Trainer(cfg, task=task)  # built first: if cfg is refused, the current run goes on untouched
    release(state.trainer)
    state.trainer = trainer
    if start:
        train_in_background(state.trainer)
    return state.trainer


def release(trainer: Trainer | None) -> None:
    """Stop a trainer and wait briefly for its thread, so its memory can go."""
    if trainer is not None:
        trainer.stop()
        trainer.join(timeout=5)
