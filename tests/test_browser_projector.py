"""The projector view in chromium, at 1280x720 (a classroom projector) and 1400x1000: the charts on the first screen
once a run starts, type large enough on every chart, the presenter switch kept in the address across pages, the
smoothed loss in the big number, and uploaders that state their real limit in Chinese.

Screenshots go to shots/projector/ (or $RNNVIZ_SHOTS/projector).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from browser import ROOT, no_exceptions, settle
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

pytestmark = pytest.mark.browser  # a real app server driven by chromium

SHOTS = Path(os.environ.get("RNNVIZ_SHOTS", ROOT / "shots")) / "projector"
SCREENS = {"1280x720": (1280, 720), "1400x1000": (1400, 1000)}
SMALL_RUN = "seq_len=20&hidden=32&steps=5000&probe_every=25"  # trains for a while at a few hundred steps a second
TICK_PX, TITLE_PX = 14, 16
# The charts drawn now, top to bottom: a live view briefly unmounts its charts now and then while it redraws them
DRAWN = "[...document.querySelectorAll('.js-plotly-plot')].filter(e => e.getBoundingClientRect().height > 0)"
# The font sizes of every chart's tick labels and of its titles (chart, axes, subplots), as drawn
FONT_SIZES = """() => {
    const size = e => parseFloat(e.style.fontSize || getComputedStyle(e).fontSize);
    const all = s => [...document.querySelectorAll(s)].filter(e => e.textContent.trim()).map(size);
    return {ticks: all('.js-plotly-plot .xtick text, .js-plotly-plot .ytick text'),
            titles: all('.js-plotly-plot .gtitle, .js-plotly-plot .g-xtitle text, .js-plotly-plot .g-ytitle text')};
}"""


@pytest.fixture
def tab(chromium, request):
    """A fresh tab (its own session) at the test's screen size."""
    width, height = SCREENS[request.node.callspec.params["screen"]]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = chromium.new_page(viewport={"width": width, "height": height})
    yield page
    page.close()


def press(page, name: str) -> None:
    page.get_by_role("button", name=re.compile(rf"^\W*\w*\W*{name}$")).first.click()
    settle(page)


def to_top(page) -> None:
    """Scroll Streamlit's main area back to its top, where a student sees it first."""
    page.evaluate("for (const e of document.querySelectorAll('*')) if (e.scrollTop) e.scrollTop = 0")
    time.sleep(0.3)


def chart_box(page, title: str) -> dict:
    """Where the drawn chart of this title lies in the window, with the page scrolled to its top."""
    to_top(page)
    find = f"{DRAWN}.find(e => e.querySelector('.gtitle')?.textContent === {title!r})"
    # found and measured in one go: a live view may remount the chart between two calls
    box = page.wait_for_function(f"() => {{ const e = {find}; if (!e) return null; const r = e.getBoundingClientRect(); "
                                 "return {y: r.top, height: r.height}; }", timeout=60_000)
    return box.json_value()


def assert_projector_type(page, where: str) -> None:
    page.wait_for_function(f"{DRAWN}.some(e => e.querySelector('.xtick text'))", timeout=60_000)
    sizes = page.evaluate(FONT_SIZES)
    assert sizes["ticks"] and sizes["titles"], f"{where}: no chart drawn"
    assert min(sizes["ticks"]) >= TICK_PX, f"{where}: tick labels of {min(sizes['ticks'])} px"
    assert min(sizes["titles"]) >= TITLE_PX, f"{where}: titles of {min(sizes['titles'])} px"


@pytest.mark.parametrize("screen", SCREENS)
def test_train_shows_its_charts_on_the_first_screen(server, tab, screen):
    tab.goto(f"{server.url}/?{SMALL_RUN}")
    settle(tab)
    press(tab, "Train")
    tab.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=60_000)
    time.sleep(2)  # a few refreshes: the loss and its smoothed curve have some steps
    loss, grad = chart_box(tab, "Training loss"), chart_box(tab, "Gradient norm (before clipping)")
    tab.screenshot(path=str(SHOTS / f"train-{screen}.png"))
    assert loss["y"] >= 0 and loss["y"] + loss["height"] <= SCREENS[screen][1], loss
    assert grad["y"] + grad["height"] <= SCREENS[screen][1], grad
    assert_projector_type(tab, "Train")
    assert not no_exceptions(tab)


@pytest.mark.parametrize("screen", SCREENS)
def test_compare_shows_its_loss_chart_on_the_first_screen(server, tab, screen):
    tab.goto(f"{server.url}/compare")
    settle(tab)
    press(tab, "Train side by side")
    loss = chart_box(tab, "Training loss")
    tab.screenshot(path=str(SHOTS / f"compare-{screen}.png"))
    assert loss["y"] + loss["height"] <= SCREENS[screen][1], loss
    assert_projector_type(tab, "Compare")
    # the three cells' lines differ in dash, not only in colour (each drawn once its run has a step)
    lines = f"[...({DRAWN}[0]?.querySelectorAll('.scatterlayer .trace path.js-line') ?? [])]"
    tab.wait_for_function(f"{lines}.filter(p => p.getAttribute('d')).length >= 4", timeout=60_000)
    dashes = tab.evaluate(f"() => {lines}.slice(0, 3).map(p => p.style.strokeDasharray || 'solid')")
    assert len(set(dashes)) == 3, dashes


@pytest.mark.parametrize("screen", ["1280x720"])
def test_the_big_loss_number_is_the_smoothed_one(server, tab, screen):
    """The number under "Loss (smoothed)" is where the chart's smoothed curve ends (its last point's hover value)."""
    tab.goto(f"{server.url}/?{SMALL_RUN}&steps=300")
    settle(tab)
    press(tab, "Train")
    tab.get_by_text(re.compile(r"^(done|stopped)$")).first.wait_for(timeout=120_000)
    time.sleep(1)
    settle(tab)
    shown = float(tab.locator("[data-testid='stMetric']").filter(has_text="Loss (smoothed)")
                  .locator("[data-testid='stMetricValue']").inner_text())
    curve = tab.evaluate("""() => { const d = document.querySelectorAll('.js-plotly-plot')[0]._fullData;
        const smooth = d.find(t => t.name.startsWith('loss, smoothed')); return smooth.y[smooth.y.length - 1]; }""")
    assert shown == pytest.approx(curve, rel=1e-3)


@pytest.mark.parametrize("screen", SCREENS)
def test_presenter_view_stays_in_the_address_and_hides_settings(server, tab, screen):
    tab.goto(f"{server.url}/?present=1&{SMALL_RUN}")
    settle(tab)
    expect(tab.get_by_role("heading", name="Train a recurrent network")).to_be_visible()
    expect(tab.get_by_text("Ready-made experiment", exact=True)).to_be_hidden()
    expect(tab.locator("[data-testid='stExpander']").filter(has_text="Settings")).to_be_hidden()
    tab.screenshot(path=str(SHOTS / f"present-train-idle-{screen}.png"))
    # to another page by the sidebar's navigation and back: the address keeps the switch on
    tab.locator("[data-testid='stExpandSidebarButton'], [data-testid='stSidebarCollapsedControl'] button").first.click()
    for name, heading in (("Gates", "Gates"), ("Compare", "Compare cells"), ("Train", "Train a recurrent network")):
        tab.locator("[data-testid='stSidebarNavLink']").filter(has_text=re.compile(rf"{name}$")).click()
        settle(tab)
        expect(tab.get_by_role("heading", name=heading).first).to_be_visible()
        assert re.search(r"[?&]present=(true|1)\b", tab.url), tab.url
    expect(tab.locator("[data-testid='stExpander']").filter(has_text="Settings")).to_be_hidden()


@pytest.mark.parametrize("screen", SCREENS)
def test_presenter_charts_have_larger_type(server, tab, screen):
    tab.goto(f"{server.url}/?present=1&{SMALL_RUN}")
    settle(tab)
    press(tab, "Train")
    loss = chart_box(tab, "Training loss")
    tab.screenshot(path=str(SHOTS / f"present-train-{screen}.png"))
    tab.wait_for_function(f"{DRAWN}.some(e => e.querySelector('.xtick text'))", timeout=60_000)
    # every chart restyled: on a busy machine a chart of the first script run may be drawn before the presenter's
    large = f"() => {{ const s = ({FONT_SIZES})(); return Math.min(...s.ticks) >= 18 && Math.min(...s.titles) >= 22; }}"
    try:
        tab.wait_for_function(large, timeout=20_000)
    except PlaywrightTimeout:
        pass  # the assertion below says what was drawn
    sizes = tab.evaluate(FONT_SIZES)
    assert min(sizes["ticks"]) >= 18 and min(sizes["titles"]) >= 22, sizes
    assert loss["y"] + loss["height"] <= SCREENS[screen][1], loss


@pytest.mark.parametrize("screen", ["1280x720"])
def test_the_uploader_states_its_real_limit_in_chinese(server, tab, screen):
    tab.goto(f"{server.url}/?task=charlm&lang=zh")
    settle(tab)
    zone = tab.locator(".st-key-upload_charlm [data-testid='stFileUploaderDropzone']")
    zone.wait_for()
    zone.scroll_into_view_if_needed()
    shown = zone.evaluate("""z => [...z.querySelectorAll('span, p')].map(e =>
        getComputedStyle(e, '::after').content.replace(/^"|"$/g, '')).filter(c => c && c !== 'none').join(' | ')""")
    assert "每个文件最多 5 MB" in shown and "选择文件" in shown, shown
    visible = zone.evaluate("""z => [...z.querySelectorAll('span, p')].filter(e => parseFloat(getComputedStyle(e).fontSize) > 0
        && e.children.length === 0).map(e => e.textContent).join(' ')""")
    assert "200MB" not in visible and "Upload" not in visible, visible
    tab.screenshot(path=str(SHOTS / f"upload-zh-{screen}.png"))
