"""Explore in a real browser at 1280x720: clicking the probe text's characters picks the span the slider shows, and
every chart's camera saves the SVG the sidebar asks for.

Screenshots go to shots/browser/ (or $RNNVIZ_SHOTS).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from browser import ROOT, no_exceptions, settle
from playwright.sync_api import expect

SHOTS = Path(os.environ.get("RNNVIZ_SHOTS", ROOT / "shots" / "browser"))
CHARLM_RUN = "task=charlm&seq_len=24&hidden=16&steps=200&probe_every=20"
ROW = 32  # explore.ROW_CHARS: cells per row of the span chart

pytestmark = pytest.mark.browser  # a real app server driven by chromium


@pytest.fixture(scope="module")
def page(server, chromium):
    tab = chromium.new_page(viewport={"width": 1280, "height": 720})
    tab.goto(f"{server.url}/?{CHARLM_RUN}")
    settle(tab)
    tab.get_by_role("button", name=re.compile(r"^\W*\w*\W*Train$")).first.click()
    tab.get_by_text(re.compile(r"^Step 200 of 200$")).first.wait_for(timeout=120_000)
    tab.locator("[data-testid='stSidebarNavLink']", has_text="Explore your model").click()
    settle(tab)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield tab
    tab.close()


def span(page) -> tuple[int, int]:
    """The values over the span slider's two thumbs."""
    start, end = page.locator(".st-key-ex_span [data-testid='stSliderThumbValue']").all_inner_texts()
    return int(start), int(end)


def click_character(page, step: int) -> None:
    """Click the cell of the span chart that shows the character at step (rows of ROW cells)."""
    plot = page.locator(".st-key-inside-ex-span .nsewdrag").first
    box = plot.bounding_box()
    rows = 1  # seq_len 24 fits one row
    plot.click(position={"x": (step % ROW + 0.5) / ROW * box["width"], "y": (step // ROW + 0.5) / rows * box["height"]})
    time.sleep(0.5)
    settle(page)


def test_clicking_two_characters_picks_the_span_the_slider_shows(page):
    expect(page.get_by_text("Click a character to start a span")).to_be_visible()
    click_character(page, 4)
    expect(page.get_by_text("The span starts at step 4: click the character it ends at.")).to_be_visible()
    assert span(page) == (4, 4)
    click_character(page, 9)
    expect(page.get_by_text("Click a character to start a span")).to_be_visible()
    assert span(page) == (4, 9)
    click_character(page, 1)  # a new span, ended on the left of where it starts
    click_character(page, 0)
    assert span(page) == (0, 1)
    assert not no_exceptions(page)
    page.screenshot(path=str(SHOTS / "explore-span-1280.png"), full_page=True)


def test_the_toolbar_saves_svg_once_the_sidebar_asks(page):
    chart = page.locator(".st-key-inside-ex-saliency .js-plotly-plot").first
    chart.hover()
    expect(chart.locator(".modebar-btn[data-title='Download plot as a PNG']")).to_have_count(1)
    page.locator(".st-key-chart_image_format button", has_text="SVG").click()
    time.sleep(0.5)
    settle(page)
    chart = page.locator(".st-key-inside-ex-saliency .js-plotly-plot").first
    chart.hover()
    camera = chart.locator(".modebar-btn[data-title='Download plot']")
    with page.expect_download() as download:
        camera.click()
    assert download.value.suggested_filename == "rnnviz-inside-ex-saliency.svg"
    assert not no_exceptions(page)
