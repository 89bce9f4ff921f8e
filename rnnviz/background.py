"""BackgroundRun: a Trainer (the synchronous core, train.py) training in a daemon thread of its own, and all that
other threads may do with it.

Other threads read the run through `snapshot()` (and `status` and `step`, two of its values without its copies),
`trace_at()`, `copy_model()` and the three things that never change once it is built (`cfg`, `task`, `probe_batch`):
train.RunReader, which pages and reports take. They
control it with `start()`, `pause()`, `resume()`, `stop()`, `set_lr()` and `join()`; `held()` keeps training between
two steps while a bundle is saved from the core it yields. Pause and stop are events that the training thread
reads between two steps (an on_step callback of the core), so no control waits for a step to end.

Statuses: the core says ready, running, completed or stopped (paused for a restored run saved mid-run); a
background run adds queued (waiting for its slot) and paused (paused here while its thread waits), which
snapshot() reports in the core's place.
"""
from __future__ import annotations

import dataclasses
import threading
from contextlib import contextmanager
from typing import Iterator, Protocol

from .config import RunConfig
from .models import SeqModel
from .probe import Trace
from .status import Status
from .tasks import Batch, Task
from .train import Snapshot, Trainer


class Slot(Protocol):
    """What start() may take to limit how many runs train at once (rnnviz/ui/lifecycle.py's, bench.py's)."""

    def acquire(self, run: BackgroundRun) -> bool:
        """Block until this run may train (its status reads queued meanwhile); False if it should not start."""

    def release(self) -> None: ...


class BackgroundRun:
    def __init__(self, trainer: Trainer):
        self.trainer = trainer  # the core: its thread's, or the caller's inside held()
        self._go = threading.Event()  # set = may step; cleared by pause()
        self._go.set()
        self._stop = threading.Event()
        self._stop_reason = "user"  # why stop() was called, for the status
        self._queued = False  # waiting for its slot
        self._refused: Status | None = None  # stopped while it waited for its slot, so the core never ran
        self._thread: threading.Thread | None = None
        trainer.add_callback("on_step", self._between_steps)

    # ---- what never changes once the run is built ---------------------------------------------
    @property
    def cfg(self) -> RunConfig:
        return self.trainer.cfg

    @property
    def task(self) -> Task:
        return self.trainer.task

    @property
    def probe_batch(self) -> Batch:
        return self.trainer.probe_batch

    # ---- reading ----------------------------------------------------------------------------------
    @property
    def status(self) -> Status:
        """The status now, as snapshot() would say it, without copying the history (for a button's state)."""
        return self._status(self.trainer.status)

    @property
    def step(self) -> int:
        """The steps trained so far, likewise; values that must agree with each other come from one snapshot()."""
        return self.trainer.step

    def snapshot(self) -> Snapshot:
        snap = self.trainer.snapshot()
        return dataclasses.replace(snap, status=self._status(snap.status))

    def _status(self, core: Status) -> Status:
        if self._refused is not None:
            return self._refused
        if self._queued:
            return Status("queued")
        if not self._go.is_set() and core.kind == "running":
            return Status("paused")
        return core

    def trace_at(self, step: int) -> Trace | None:
        return self.trainer.trace_at(step)

    def copy_model(self, unrolled: bool = True) -> tuple[SeqModel, int]:
        return self.trainer.copy_model(unrolled)

    @contextmanager
    def held(self) -> Iterator[Trainer]:
        """The core, kept between two steps for the duration: to save its bundle (rnnviz.runs) consistently."""
        with self.trainer.held() as trainer:
            yield trainer

    # ---- controls ---------------------------------------------------------------------------------
    def start(self, steps: int | None = None, slot: Slot | None = None) -> threading.Thread:
        """Train in a daemon thread until `steps` in total (default the core's target), within slot if given."""
        if self.is_alive():
            raise RuntimeError("this trainer is already running")
        self._stop.clear()
        self._stop_reason, self._refused = "user", None
        self._thread = threading.Thread(target=self._work, args=(steps, slot), name="rnnviz-trainer", daemon=True)
        self._thread.start()
        return self._thread

    def _work(self, steps: int | None, slot: Slot | None) -> None:
        if slot is None:
            self.trainer.run(steps)
            return
        self._queued = True
        acquired = slot.acquire(self)
        self._queued = False
        if not acquired or self._stop.is_set():
            self._refused = Status.stopped(self._stop_reason, self.trainer.step)
            if acquired:
                slot.release()
            return
        try:
            self.trainer.run(steps)
        finally:
            slot.release()

    def _between_steps(self, trainer: Trainer, entry: dict) -> None:
        """The core's on_step callback: in this run's thread, wait while paused, then pass a stop on. (A caller may
        also run the core in a thread of its own, which is not this run's to pause or stop.)"""
        if threading.current_thread() is not self._thread:
            return
        if not self._go.is_set():
            self._go.wait()
        if self._stop.is_set():
            trainer.stop(self._stop_reason)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def pause(self) -> None:
        self._go.clear()

    def resume(self) -> None:
        self._go.set()

    def stop(self, reason: str = "user") -> None:
        """End the run between two steps; reason (a status.REASONS, e.g. "disconnected") says why."""
        self._stop_reason = reason
        self._stop.set()
        self._go.set()  # wake a paused loop so it can end

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def set_lr(self, lr: float) -> None:
        self.trainer.set_lr(lr)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
