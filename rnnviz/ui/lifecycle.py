"""Background training for browser tabs: a server-wide cap on concurrent runs, and a watchdog that
stops the runs of tabs that have gone away.

Each tab's Trainer lives in that tab's session state and trains in its own daemon thread; the thread
calls no Streamlit API. `TrainingSlots` lets at most MAX_CONCURRENT trainers step at once (the rest
wait in order, their status reading "queued"), so a classroom shares the CPU fairly. The watchdog
asks Streamlit's runtime (a thread-safe call) whether each tab is still connected, and stops a
tab's trainers after DISCONNECT_GRACE_S seconds without it, so closed tabs free their threads; their
memory goes with the session once Streamlit forgets it.
"""
from __future__ import annotations

import os
import threading
import time
import weakref

import torch

MAX_CONCURRENT = int(os.environ.get("RNNVIZ_MAX_TRAINING", "4"))  # trainers stepping at once, server-wide
DISCONNECT_GRACE_S = float(os.environ.get("RNNVIZ_DISCONNECT_GRACE_S", "30"))  # a reload or brief drop keeps the run
WATCH_INTERVAL_S = 2.0


def configure_torch_threads() -> int:
    """Several tabs train at once, so each torch op gets a fair share of the cores, not all of them."""
    cores = os.cpu_count() or 1
    threads = int(os.environ.get("RNNVIZ_TORCH_THREADS", max(1, cores // max(1, min(MAX_CONCURRENT, cores)))))
    torch.set_num_threads(threads)
    return threads


class TrainingSlots:
    """A first-come, first-served limit on how many trainers step at once."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._cond = threading.Condition()
        self._active = 0
        self._queue: list[int] = []  # ids of waiting trainers, oldest first

    def acquire(self, trainer) -> bool:
        """Block until a slot is free and this trainer is first in line; False if it was stopped meanwhile."""
        me = id(trainer)
        with self._cond:
            self._queue.append(me)
            while not (self._active < self.capacity and self._queue[0] == me):
                if trainer.stop_requested:
                    self._queue.remove(me)
                    self._cond.notify_all()
                    return False
                self._cond.wait(timeout=0.5)
            self._queue.pop(0)
            self._active += 1
            self._cond.notify_all()
            return True

    def release(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def position(self, trainer) -> int | None:
        """How many trainers wait ahead of this one, or None if it is not waiting."""
        with self._cond:
            return self._queue.index(id(trainer)) if id(trainer) in self._queue else None

    @property
    def active(self) -> int:
        return self._active


SLOTS = TrainingSlots(MAX_CONCURRENT)


class Watchdog:
    """Stops the trainers of sessions that have been disconnected for longer than the grace period."""

    def __init__(self, is_active, grace_s: float = DISCONNECT_GRACE_S, interval_s: float = WATCH_INTERVAL_S):
        self._is_active = is_active  # session_id -> bool, thread-safe
        self.grace_s, self.interval_s = grace_s, interval_s
        self._lock = threading.Lock()
        self._watched: dict[str, list] = {}  # session id -> weak references to its trainers
        self._last_seen: dict[str, float] = {}
        self._thread: threading.Thread | None = None

    def watch(self, session_id: str, trainer) -> None:
        with self._lock:
            self._watched.setdefault(session_id, []).append(weakref.ref(trainer))
            self._last_seen[session_id] = time.monotonic()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="rnnviz-watchdog", daemon=True)
                self._thread.start()

    def check(self) -> None:
        """One pass: stop the trainers of sessions gone for longer than the grace period."""
        now = time.monotonic()
        with self._lock:
            for session_id in list(self._watched):
                alive = [ref for ref in self._watched[session_id] if ref() is not None]
                if self._is_active(session_id):
                    self._last_seen[session_id] = now
                elif now - self._last_seen[session_id] > self.grace_s:
                    for ref in alive:
                        trainer = ref()
                        if trainer is not None:
                            trainer.stop()
                    alive = []
                if alive:
                    self._watched[session_id] = alive
                else:
                    del self._watched[session_id], self._last_seen[session_id]

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval_s)
            self.check()
            with self._lock:
                if not self._watched:
                    self._thread = None
                    return


def _session_is_active(session_id: str) -> bool:
    from streamlit.runtime import Runtime

    return not Runtime.exists() or Runtime.instance().is_active_session(session_id)


WATCHDOG = Watchdog(_session_is_active)


def start_training(trainer, session_id: str | None, steps: int | None = None) -> None:
    """Train in the background, within the server-wide cap, stopped if its tab goes away."""
    if session_id is not None:
        WATCHDOG.watch(session_id, trainer)
    trainer.start(steps, slot=SLOTS)
