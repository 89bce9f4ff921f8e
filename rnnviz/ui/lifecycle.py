"""Background training for browser tabs: a server-wide cap on concurrent runs, and a watchdog that
ends what tabs that have gone away leave behind.

Each tab's runs (rnnviz.background.BackgroundRun, built by `app_run`) live in that tab's session state and
train in their own daemon threads; those threads call no Streamlit API. `TrainingSlots` lets at most
MAX_CONCURRENT trainers step at once (the rest wait, their status reading "queued"), and hands free slots to
the tabs with the fewest runs stepping, so a classroom shares the CPU fairly.

The watchdog asks Streamlit's runtime (a thread-safe call) whether each tab is still connected. A tab
gone for DISCONNECT_GRACE_S seconds has its trainers stopped, so its threads end. A tab gone for most
of Streamlit's `server.disconnectedSessionTTL` (a reconnect within the TTL resumes the session) has its
session closed and its uploads deleted. Left to itself, Streamlit drops an expired session without
shutting it down, and only on a later write to its session store; the session's download buttons then
stay registered server-wide for good, and ours hold the tab's trainer. So the watchdog closes the
session itself, shortly before the TTL ends, while Streamlit can still find it and shut it down.
"""
from __future__ import annotations

import gc
import os
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field

from ..background import BackgroundRun
from ..threads import take_share as _take_share
from ..threads import torch_threads_per_run  # noqa: F401 -- the rule, for the pages that show it
from ..train import Trainer

MAX_CONCURRENT = int(os.environ.get("RNNVIZ_MAX_TRAINING", "4"))  # trainers stepping at once, server-wide
DISCONNECT_GRACE_S = float(os.environ.get("RNNVIZ_DISCONNECT_GRACE_S", "30"))  # a reload or brief drop keeps the run
WATCH_INTERVAL_S = max(0.1, min(2.0, DISCONNECT_GRACE_S / 2))
TRAINER_NICENESS = int(os.environ.get("RNNVIZ_TRAINER_NICENESS", "10"))  # Linux nice value of trainer threads; 0 = off
FORGET_FRACTION = 0.75  # close a gone tab's session after this share of Streamlit's TTL: before Streamlit loses it


def keep_fair_share(trainer=None, entry=None) -> None:
    """An on_step callback of every trainer the app runs: its share follows the runs that start and end meanwhile."""
    _take_share(SLOTS.active)


def app_run(core: Trainer) -> BackgroundRun:
    """A Trainer as the app runs it: in a thread of its own (start_training), its torch threads keeping to its
    fair share. Pages then read and control it through the BackgroundRun only."""
    core.add_callback("on_step", keep_fair_share)
    return BackgroundRun(core)


def _lower_priority() -> None:
    """Give the calling thread (a trainer) a lower CPU priority than the threads that draw pages: when the cores
    are busy, the operating system then serves every tab's live view first and training takes what is left,
    instead of both slowing down alike. Linux schedules threads one by one; elsewhere this does nothing."""
    if TRAINER_NICENESS and hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TRAINER_NICENESS)
        except OSError:  # not allowed here: train at the usual priority
            pass


@dataclass(eq=False)
class _Waiting:
    owner: object  # the tab (session id) the trainer belongs to
    trainer_id: int


class TrainingSlots:
    """A limit on how many trainers step at once, shared fairly between tabs: a free slot goes to the waiting
    trainer whose tab has the fewest runs stepping, the one waiting longest among those. So a tab with nothing
    training goes before another tab's second run, and a tab that starts a four-cell comparison cannot hold every
    slot while other tabs wait."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._cond = threading.Condition()
        self._active = 0
        self._active_by_owner: Counter = Counter()  # owner -> trainers stepping
        self._queue: list[_Waiting] = []  # oldest first

    def acquire(self, trainer, owner) -> bool:
        """Block until a slot is free and this trainer is next in line (see the class); False if it was stopped
        meanwhile. owner: its tab, e.g. the session id. Called in the trainer's own thread, which it first moves
        to a lower CPU priority (see TRAINER_NICENESS)."""
        _lower_priority()
        me = _Waiting(owner, id(trainer))
        with self._cond:
            self._queue.append(me)
            while not (self._active < self.capacity and _next_in_line(self._queue, self._active_by_owner) is me):
                if trainer.stop_requested:
                    self._queue.remove(me)
                    self._cond.notify_all()
                    return False
                self._cond.wait(timeout=0.5)
            self._queue.remove(me)
            self._active += 1
            self._active_by_owner[me.owner] += 1
            _take_share(self._active)  # before the first step, so the run records the threads it trains on
            self._cond.notify_all()
            return True

    def release(self, owner) -> None:
        """A trainer of owner (as given to acquire) stops stepping."""
        with self._cond:
            self._active -= 1
            self._active_by_owner[owner] -= 1
            if not self._active_by_owner[owner]:
                del self._active_by_owner[owner]
            self._cond.notify_all()

    def for_owner(self, owner) -> "_OwnedSlot":
        """The slot object Trainer.start takes (acquire(trainer), release()) for a trainer of owner's tab; owner None
        (no session) makes the trainer a tab of its own."""
        return _OwnedSlot(self, owner)

    def position(self, trainer) -> int | None:
        """How many trainers will start before this one, or None if it is not waiting."""
        with self._cond:
            queue, stepping = list(self._queue), Counter(self._active_by_owner)
            ahead = 0
            while queue:
                picked = _next_in_line(queue, stepping)
                if picked.trainer_id == id(trainer):
                    return ahead
                queue.remove(picked)
                stepping[picked.owner] += 1
                ahead += 1
            return None

    @property
    def active(self) -> int:
        return self._active


def _next_in_line(queue: list[_Waiting], stepping: Counter) -> _Waiting:
    """The waiting trainer (queue: oldest first) that gets the next free slot, with stepping runs per owner: min
    keeps the first of equals, so the oldest."""
    return min(queue, key=lambda waiting: stepping[waiting.owner])


@dataclass
class _OwnedSlot:
    slots: TrainingSlots
    owner: object

    def acquire(self, trainer) -> bool:
        if self.owner is None:
            self.owner = id(trainer)
        return self.slots.acquire(trainer, self.owner)

    def release(self) -> None:
        self.slots.release(self.owner)


SLOTS = TrainingSlots(MAX_CONCURRENT)


@dataclass
class _Watched:
    last_seen: float  # monotonic time the session was last seen connected
    tab: weakref.ref | None = None  # its TabState (anything with close()), once registered
    trainers: list = field(default_factory=list)  # weak references to its trainers


class Watchdog:
    """Stops the trainers of sessions disconnected for longer than grace_s, and closes sessions (deleting what
    their tabs kept) disconnected for longer than forget_s (by default FORGET_FRACTION of Streamlit's TTL)."""

    def __init__(self, is_active, close_session, grace_s: float = DISCONNECT_GRACE_S, forget_s: float | None = None,
                 interval_s: float = WATCH_INTERVAL_S):
        self._is_active = is_active  # session_id -> bool, thread-safe
        self._close_session = close_session  # session_id -> None, thread-safe: the server forgets the session
        self.forget_s = FORGET_FRACTION * _session_ttl_s() if forget_s is None else forget_s
        self.grace_s, self.interval_s = min(grace_s, self.forget_s), interval_s
        self._lock = threading.Lock()
        self._watched: dict[str, _Watched] = {}
        self._thread: threading.Thread | None = None
        self._collect_pending = False  # sessions were closed: collect their garbage on the next pass

    def watch_tab(self, session_id: str, tab) -> None:
        """Register a session's tab state: its close() runs once the session has been gone for forget_s. A session
        registers a second one only after its first was dropped: Streamlit's clear-cache message, which any client
        may send, clears the sender's session state. The first one's runs would then train on, holding training
        slots that other tabs wait for, with no page left to see or stop them: they are stopped and its files go."""
        orphans, dropped = [], None
        with self._lock:
            entry = self._entry(session_id)
            if entry.tab is not None:  # registered before: that state was dropped
                orphans, dropped, entry.trainers = [ref() for ref in entry.trainers], entry.tab(), []
            entry.tab = weakref.ref(tab)
        for trainer in orphans:
            if trainer is not None:
                trainer.stop()
        if dropped is not None:
            dropped.close()

    def watch(self, session_id: str, trainer) -> None:
        """Register a trainer of a session: it is stopped once the session has been gone for grace_s."""
        with self._lock:
            self._entry(session_id).trainers.append(weakref.ref(trainer))

    def _entry(self, session_id: str) -> _Watched:
        """The session's entry (lock held), and the watching thread running."""
        if session_id not in self._watched:
            self._watched[session_id] = _Watched(last_seen=time.monotonic())
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="rnnviz-watchdog", daemon=True)
            self._thread.start()
        return self._watched[session_id]

    def check(self) -> None:
        """One pass: stop the trainers of sessions gone for longer than grace_s, forget those gone for forget_s."""
        now = time.monotonic()
        to_stop, to_close = [], []
        with self._lock:
            for session_id, entry in list(self._watched.items()):
                entry.trainers = [ref for ref in entry.trainers if ref() is not None]
                tab = entry.tab() if entry.tab is not None else None
                if self._is_active(session_id):
                    entry.last_seen = now
                gone = now - entry.last_seen
                if gone > self.grace_s:
                    to_stop += [ref() for ref in entry.trainers]
                if gone > self.forget_s:
                    to_close.append((session_id, tab))
                if gone > self.forget_s or (tab is None and not entry.trainers):
                    del self._watched[session_id]  # forgotten, or nothing of it is left to watch
        for trainer in to_stop:
            if trainer is not None:
                trainer.stop("disconnected")
        if self._collect_pending:
            # The sessions closed on the previous pass are gone from Streamlit by now, but their state sits in
            # reference cycles, and with Streamlit's collection after every script run turned off (see
            # .streamlit/config.toml) Python's own collector may not get to them for a long time on a quiet server.
            gc.collect()
        self._collect_pending = bool(to_close)
        for session_id, tab in to_close:
            self._close_session(session_id)
            if tab is not None:
                tab.close()

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval_s)
            self.check()
            with self._lock:
                if not self._watched and not self._collect_pending:
                    self._thread = None
                    return


def _session_is_active(session_id: str) -> bool:
    from streamlit.runtime import Runtime

    return not Runtime.exists() or Runtime.instance().is_active_session(session_id)


def _close_session(session_id: str) -> None:
    """Close a disconnected session now: Streamlit drops its session state and uploaded files and shuts it down.
    clear_user_info_for_session is Streamlit's public, thread-safe way to close a stored session on its event loop
    (meant for logging out; this app has no users to log out)."""
    from streamlit.runtime import Runtime

    if Runtime.exists() and not Runtime.instance().is_active_session(session_id):
        Runtime.instance().clear_user_info_for_session(session_id)


def _session_ttl_s() -> float:
    """How long Streamlit keeps a disconnected session for its tab to reconnect (server.disconnectedSessionTTL)."""
    from streamlit import config

    return float(config.get_option("server.disconnectedSessionTTL"))


WATCHDOG = Watchdog(_session_is_active, _close_session)


def watch_tab(session_id: str | None, tab) -> None:
    """Close the tab's state (stop its runs, delete its uploads) once its session has been gone long enough."""
    if session_id is not None:
        WATCHDOG.watch_tab(session_id, tab)


def start_training(run: BackgroundRun, session_id: str | None, steps: int | None = None) -> None:
    """Train in the background, within the server-wide cap, stopped if its tab goes away."""
    if session_id is not None:
        WATCHDOG.watch(session_id, run)
    run.start(steps, slot=SLOTS.for_owner(session_id))
