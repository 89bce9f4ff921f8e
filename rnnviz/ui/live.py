"""Live re-rendering: a fragment that redraws every half second while this tab trains, slowly while its runs
wait for a training slot, and not at all otherwise; and slower for everyone when the server's live views together
would take more than their share of its cores.

Why a share: the trainers run in this process too (rnnviz/ui/lifecycle.py), and every redraw holds Python's
interpreter lock while it builds figures, which training threads wait for between their ops. With 10 default runs
on 2 cores, views at two refreshes a second left training 36 % of its headless speed (tools/capacity.py). So the live views of all tabs
together may cost training VIEW_SHARE of the cores (their drawing's CPU time, measured as they draw, times
DRAW_OVERHEAD for what else a refresh costs the trainers); past that every view's interval grows by the same
factor, in steps of √2, up to MAX_INTERVAL_S. A full classroom's views then slow down together, and none stops.
"""
from __future__ import annotations

import math
import os
import threading
import time
from typing import Callable

import streamlit as st

from .state import session_id, tab

REFRESH_S = 0.5  # at least two refreshes a second while training, on a server with room for it
QUEUED_REFRESH_S = 2.0  # a queued run changes only when it starts: no need to redraw a full classroom's tabs
MAX_INTERVAL_S = 4.0  # however busy the server, a live view redraws at least this often
VIEW_SHARE = 0.2  # of the cores, for drawing every tab's live views, so training keeps about 80 %: see the README
# What a refresh costs the trainers, as a multiple of the draw's own CPU time: Streamlit's work around it (running the
# fragment, the event loop sending it) took 1.3 times the draw's CPU with 10 watched runs, and the trainers also wait
# for the interpreter lock meanwhile. tools/capacity.py, 10 default runs on 2 cores: at 1.3 the views refreshed twice
# a second and training kept 54 % of its headless speed; at 2, 1.8 times and 69 %; at 3, once a second and 78 %; at
# 5, 0.5-0.7 times and 88 %. At 3 a view's interval lands on exactly 1 s under moderate load (4 tabs a replica, 2
# replicas, tests/test_sessions.py), and the views' promised refresh a second fails with any jitter: hence 2.
DRAW_OVERHEAD = 2.0
STEP = math.sqrt(2)  # intervals grow and shrink by this factor: a full rerun of the page applies a new one
SPEED_UP_BELOW = 0.8  # a view speeds up once its due factor is this far below the next step down (no flapping)
INTERVAL_KEY = "live_interval_factor"  # session state: this tab's current slow-down factor


class LiveViews:
    """Every tab's live views in this server process: when each last drew, what its drawing cost in CPU seconds
    (a moving average), and the interval it asks for on an idle server. Script threads of all tabs share it."""

    STALE_S = 3 * MAX_INTERVAL_S  # a view not drawn for this long has gone (its tab closed or stopped training)

    def __init__(self, cores: int):
        self.budget = VIEW_SHARE * cores  # CPU seconds per second all live views may draw
        self._lock = threading.Lock()
        self._views: dict[tuple, tuple[float, float, float]] = {}  # view -> (last drawn, CPU s a draw, base interval)

    def drawn(self, view: tuple, cpu_seconds: float, base_interval: float) -> None:
        now = time.monotonic()
        with self._lock:
            cost = self._views.get(view, (now, cpu_seconds, base_interval))[1]
            self._views[view] = (now, 0.9 * cost + 0.1 * cpu_seconds, base_interval)  # about its last 10 draws

    def slowdown(self) -> float:
        """How many times their idle-server interval all views should wait between draws: 1 while they fit in the
        budget, else the factor that makes them fit."""
        now = time.monotonic()
        with self._lock:
            self._views = {v: e for v, e in self._views.items() if now - e[0] < self.STALE_S}
            demand = DRAW_OVERHEAD * sum(cost / base for _, cost, base in self._views.values())  # cores at idle rates
        return max(1.0, demand / self.budget)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


VIEWS = LiveViews(_cores())


def next_factor(current: float, wanted: float) -> float:
    """The slow-down factor a view takes: the least power of STEP at least `wanted`. It goes up at once, and down
    only when `wanted` fits a step below with room to spare, so a load near a boundary does not rerun the page at
    every refresh."""
    fitting = STEP ** math.ceil(math.log(max(1.0, wanted), STEP) - 1e-9)
    if fitting > current or wanted <= SPEED_UP_BELOW * current / STEP:
        return fitting
    return current


def _interval(base: float, factor: float) -> float:
    return min(MAX_INTERVAL_S, base * factor)  # factor >= 1


def live(draw: Callable[[], None], interval: float = REFRESH_S) -> None:
    """Call draw() now and, while any of this tab's trainers steps, again every interval (every QUEUED_REFRESH_S
    while they only wait in the queue), times the server's slow-down factor. When this tab's activity or its factor
    changes, the whole page reruns once, so the fragment starts, slows or stops polling with it."""
    activity = tab().activity()
    base = {"running": interval, "queued": max(interval, QUEUED_REFRESH_S)}.get(activity)
    factor = next_factor(st.session_state.get(INTERVAL_KEY, 1.0), VIEWS.slowdown())
    st.session_state[INTERVAL_KEY] = factor
    every = None if base is None else _interval(base, factor)
    view = (session_id(), draw.__qualname__)

    @st.fragment(run_every=every)
    def fragment():
        began = time.thread_time()
        draw()
        if base is not None:
            VIEWS.drawn(view, time.thread_time() - began, base)
        if activity is not None and tab().activity() != activity:
            st.rerun()
        elif base is not None and _interval(base, next_factor(factor, VIEWS.slowdown())) != every:
            st.rerun()  # not for a new factor past MAX_INTERVAL_S: the interval stays what it is

    fragment()
