"""Lesson 3's key moment in a real browser at 1280×720: load the Exploding gradients experiment, train it (it stops
on a non-finite gradient within about 30 steps), open Gradients through time and check what the class sees: a
curve with finite values on a log axis of a few readable labels, numbers in scientific notation, and a heatmap
with a row for each of the many probes. Screenshots go to shots/browser/ (or $RNNVIZ_SHOTS)."""
from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

import pytest
from browser import ROOT, no_exceptions, settle

SHOTS = Path(os.environ.get("RNNVIZ_SHOTS", ROOT / "shots" / "browser"))

pytestmark = pytest.mark.browser  # a real app server driven by chromium

CHART = """(index) => {
    const gd = document.querySelectorAll('.js-plotly-plot')[index];
    const box = (e) => e.getBoundingClientRect();
    const labels = [...gd.querySelectorAll('.yaxislayer-above .ytick text')].map(e => {
        const r = box(e); return {text: e.textContent, top: r.top, bottom: r.bottom}; });
    const [lo, hi] = gd._fullLayout.yaxis.range;
    const ys = gd._fullData.map(trace => Array.from(trace.y || []));
    const size = gd._fullData[0].marker ? gd._fullData[0].marker.size : 0;
    const sizes = Array.isArray(size) || ArrayBuffer.isView(size) ? Array.from(size) : ys[0].map(() => size || 0);
    return {labels, lo, hi, ys, sizes, type: gd._fullLayout.yaxis.type, rows: (gd._fullData[0].y || []).length};
}"""


@pytest.fixture(scope="module")
def page(server, chromium):
    tab = chromium.new_page(viewport={"width": 1280, "height": 720})
    yield tab, server.url
    tab.close()


def test_the_exploding_run_shows_its_blow_up_on_gradients_through_time(page):
    page, url = page
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(url)
    settle(page)
    page.get_by_role("combobox", name="Ready-made experiment").click()
    page.get_by_role("option", name=re.compile("^Exploding gradients")).click()
    settle(page)
    page.get_by_role("button", name=re.compile(r"^\W*\w*\W*Train$")).first.click()  # picking a preset loads it
    page.get_by_text(re.compile("Training stopped at step")).first.wait_for(timeout=60_000)
    page.locator("[data-testid='stSidebarNavLink']").filter(has_text="Gradients through time").click()
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .ytick text').length > 0", timeout=60_000)
    time.sleep(1.0)  # the charts' last redraw
    settle(page)
    assert not no_exceptions(page)

    curve = page.evaluate(CHART, 0)  # ‖∂L/∂h_t‖ over time at the latest probe
    assert curve["type"] == "log"
    drawn = [y for trace in curve["ys"][:1] for y in trace if y is not None and y == y]  # finite, not NaN
    assert drawn and all(curve["lo"] <= math.log10(y) <= curve["hi"] for y in drawn), curve
    y, finite = curve["ys"][0], [v is not None and v == v for v in curve["ys"][0]]
    lone = [i for i in range(len(y)) if finite[i] and not any(finite[j] for j in (i - 1, i + 1) if 0 <= j < len(y))]
    assert all(curve["sizes"][i] > 0 for i in lone), "a point with no neighbour to draw a line to is a dot"
    labels = curve["labels"]
    assert 3 <= len(labels) <= 8, [label["text"] for label in labels]
    ordered = sorted(labels, key=lambda label: label["top"])
    assert all(a["bottom"] <= b["top"] + 1 for a, b in zip(ordered, ordered[1:])), "tick labels overlap"

    text = page.locator("[data-testid='stMain']").inner_text()
    assert re.search(r"σ_max = \d(\.\d+)?×10[⁰¹²³⁴⁵⁶⁷⁸⁹]+", text), "σ_max in scientific notation"
    assert not re.search(r"\d{9,}", text.replace(",", "")), "no long runs of digits"

    heat = page.evaluate(CHART, 1)  # log10 ‖∂L/∂h_t‖ per probe: one row per probe, every 2 steps
    assert heat["rows"] >= 12
    page.screenshot(path=str(SHOTS / "gradients-exploding-1280.png"), full_page=True)

