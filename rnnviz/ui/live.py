"""Live re-rendering: a fragment that redraws every half second while this tab trains, and not otherwise."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from .state import tab

REFRESH_S = 0.5  # at least two refreshes a second while training


def live(draw: Callable[[], None], interval: float = REFRESH_S) -> None:
    """Call draw() now and, while any of this tab's trainers is queued or stepping, again every interval.
    When training ends the whole page reruns once, so the fragment stops polling."""
    polling = tab().busy()

    @st.fragment(run_every=interval if polling else None)
    def fragment():
        draw()
        if polling and not tab().busy():
            st.rerun()

    fragment()
