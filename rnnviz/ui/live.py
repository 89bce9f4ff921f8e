"""Live re-rendering: a fragment that redraws every half second while this tab trains, slowly while its runs
wait for a training slot, and not at all otherwise."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from .state import tab

REFRESH_S = 0.5  # at least two refreshes a second while training
QUEUED_REFRESH_S = 2.0  # a queued run changes only when it starts: no need to redraw a full classroom's tabs


def live(draw: Callable[[], None], interval: float = REFRESH_S) -> None:
    """Call draw() now and, while any of this tab's trainers steps, again every interval (every QUEUED_REFRESH_S
    while they only wait in the queue). When that changes, the whole page reruns once, so the fragment starts,
    slows or stops polling with it."""
    activity = tab().activity()
    every = {"running": interval, "queued": max(interval, QUEUED_REFRESH_S)}.get(activity)

    @st.fragment(run_every=every)
    def fragment():
        draw()
        if activity is not None and tab().activity() != activity:
            st.rerun()

    fragment()
