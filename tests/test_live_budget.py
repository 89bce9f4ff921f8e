"""The live views' shared budget (rnnviz/ui/live.py): views slow down together once their drawing would take more
than VIEW_SHARE of the cores, in steps, without flapping near a boundary, and never past MAX_INTERVAL_S."""
from __future__ import annotations

import math

import pytest

from rnnviz.ui import live
from rnnviz.ui.live import DRAW_OVERHEAD, STEP, VIEW_SHARE, LiveViews, next_factor


def test_views_within_the_budget_keep_their_idle_rate():
    views = LiveViews(cores=2)
    for tab in range(4):  # 4 tabs drawing 10 ms every 0.5 s: 0.08 cores, with what else a refresh costs 0.24 of 0.4
        views.drawn((tab, "draw"), 0.010, 0.5)
    assert views.slowdown() == 1.0


def test_views_over_the_budget_slow_down_by_what_fits():
    views = LiveViews(cores=2)
    for tab in range(10):  # 10 tabs x 25 ms / 0.5 s = 0.5 cores wanted, and Streamlit's share; 0.4 allowed
        views.drawn((tab, "draw"), 0.025, 0.5)
    assert views.slowdown() == pytest.approx(DRAW_OVERHEAD * 0.5 / (VIEW_SHARE * 2))


def test_a_view_that_stopped_drawing_leaves_the_count(monkeypatch):
    views = LiveViews(cores=1)
    clock = [100.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: clock[0])
    views.drawn(("gone", "draw"), 1.0, 0.5)
    assert views.slowdown() > 1
    clock[0] += LiveViews.STALE_S + 1
    assert views.slowdown() == 1.0


def test_the_cost_is_a_moving_average_so_one_slow_draw_does_not_slow_everyone():
    views = LiveViews(cores=2)
    for _ in range(20):
        views.drawn(("tab", "draw"), 0.010, 0.5)
    views.drawn(("tab", "draw"), 0.500, 0.5)  # one draw behind a garbage collection: alone it would ask 1 core
    assert views.slowdown() == 1.0


@pytest.mark.parametrize("current, wanted, expected", [
    (1.0, 1.0, 1.0),  # fits: idle rate
    (1.0, 1.2, STEP),  # slows at once to the next step
    (1.0, 3.0, STEP ** 4),  # several steps at once
    (STEP ** 2, 1.3, STEP ** 2),  # near the step below: stays, no rerun at every refresh
    (STEP ** 2, 1.0, 1.0),  # well below: back to the idle rate
])
def test_factors_go_up_at_once_and_down_with_room_to_spare(current, wanted, expected):
    assert next_factor(current, wanted) == pytest.approx(expected)


def test_a_load_wavering_around_a_step_changes_the_factor_once():
    factor, changes = 1.0, 0
    for wanted in [1.5, 1.3, 1.45, 1.2, 1.5] * 5:  # just past √2, and back
        new = next_factor(factor, wanted)
        changes += new != factor
        factor = new
    assert changes == 1 and math.isclose(factor, STEP ** 2)
