"""The live loop in a real browser: train, watch the chart update, pause, resume, reset; every page by URL.

Screenshots go to shots/browser/ (or $RNNVIZ_SHOTS); the test run's summary names the folder.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from browser import ROOT, AppServer, WireMeter, no_exceptions, settle
from playwright.sync_api import expect

from rnnviz.ui.layout import NAVIGATION

SHOTS = Path(os.environ.get("RNNVIZ_SHOTS", ROOT / "shots" / "browser"))
# A run that trains for a while at a few hundred steps a second, so the live view has something to show.
SMALL_RUN = "seq_len=20&hidden=32&steps=5000&probe_every=25"


pytestmark = pytest.mark.browser  # a real app server driven by chromium

@pytest.fixture(scope="module")
def page(chromium):
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab = chromium.new_page(viewport={"width": 1400, "height": 1000})
    tab.meter = WireMeter(tab)
    yield tab


def click(page, label: str) -> None:
    page.get_by_role("button", name=re.compile(rf"^\W*\w*\W*{label}$")).first.click()
    settle(page)


def rerun(page) -> None:
    """Rerun the page as a user pressing R would (a reload would start a new session)."""
    page.locator("h1").first.click()
    page.keyboard.press("r")
    time.sleep(0.5)
    settle(page)


def current_step(page) -> int:
    text = page.get_by_text(re.compile(r"^Step \d+ of \d+$")).first.inner_text()
    return int(text.split()[1])


def loss_path(page) -> str:
    """The drawn loss line (an SVG path), which changes whenever the chart is redrawn with new data."""
    return page.locator(".js-plotly-plot").first.locator("path.js-line").first.get_attribute("d") or ""


def test_train_pause_resume_reset(server, page):
    page.goto(f"{server.url}/?{SMALL_RUN}")
    settle(page)
    expect(page.get_by_role("heading", name="Train a recurrent network")).to_be_visible()
    click(page, "Train")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=30_000)
    paths, steps = set(), []
    started = time.monotonic()
    while time.monotonic() - started < 4:
        paths.add(loss_path(page))
        steps.append(current_step(page))
        time.sleep(0.25)
    assert len(paths) >= 3, "the loss chart should be redrawn at least twice in 4 s"
    assert steps[-1] > steps[0]
    rate, size = page.meter.window(started, time.monotonic())
    print(f"\nlive view: {rate:.2f} refreshes/s, {size / 1e3:.1f} kB per refresh")
    assert rate >= 2 and size <= 1e6
    page.screenshot(path=str(SHOTS / "train-live.png"), full_page=True)

    click(page, "Pause")
    time.sleep(1.0)
    rerun(page)
    paused_at = current_step(page)
    time.sleep(1.5)
    rerun(page)
    assert current_step(page) == paused_at, "a paused run must not step"
    click(page, "Resume")
    page.wait_for_function(f"""() => [...document.querySelectorAll('p')].some(p => {{
        const m = p.innerText.match(/^Step (\\d+) of/); return m && +m[1] > {paused_at}; }})""", timeout=30_000)
    click(page, "Reset")
    # waits: the click's rerun may not have begun when settle() looked, so the page can still show the old run
    page.get_by_text(re.compile("No run yet: choose settings")).wait_for(timeout=30_000)
    assert not no_exceptions(page)


def page_not_found(page) -> bool:
    return page.get_by_text("Page not found").count() > 0


@pytest.mark.parametrize("stem", [stem for _, entries in NAVIGATION for stem, _ in entries])
def test_every_page_opens_by_url(server, page, stem):
    page.goto(f"{server.url}/{'' if stem == 'train' else stem}")  # the default page is served at the root
    settle(page)
    assert not no_exceptions(page), f"{stem}: {no_exceptions(page)}"
    assert not page_not_found(page)
    # the app's own navigation, not file names
    expect(page.locator("[data-testid='stSidebarNavLink']")).to_have_count(sum(len(entries) for _, entries in NAVIGATION))
    page.screenshot(path=str(SHOTS / f"{stem}.png"), full_page=True)


def test_a_shared_link_is_the_first_visit_of_a_fresh_server(chromium, tmp_path):
    """A server's very first visitor arriving by a deep link gets the app's navigation, language and the
    page's own parameters (Streamlit would run a bare page script if the folder were named pages/)."""
    app = AppServer(tmp_path / "streamlit.log")
    try:
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{app.url}/?task=reversal&seq_len=8&cell=GRU&lang=zh")  # the Train page is the root
        settle(page)
        expect(page.get_by_role("heading", name="训练一个循环神经网络")).to_be_visible()
        expect(page.locator("[data-testid='stSidebarNavLink']")).to_have_count(sum(len(e) for _, e in NAVIGATION))
        expect(page.get_by_text("字符串反转（编码器–解码器）").first).to_be_visible()  # the task's caption, in Chinese
        assert not no_exceptions(page) and not page_not_found(page)
        page.close()
    finally:
        app.close()


def test_the_share_link_opens_the_same_settings(server, chromium):
    first = chromium.new_page(viewport={"width": 1400, "height": 1000})
    first.goto(f"{server.url}/?task=reversal&seq_len=6&cell=GRU&hidden=48")
    settle(first)
    link = first.locator("[data-testid='stCode']").last.inner_text().strip()
    assert link.startswith(server.url) and "cell=GRU" in link and "hidden=48" in link
    second = chromium.new_page(viewport={"width": 1400, "height": 1000})
    second.goto(link)
    settle(second)
    assert not page_not_found(second)
    # expect() retries: on a loaded machine the first run may still be drawing the controls
    expect(second.get_by_role("spinbutton", name="Hidden units")).to_have_value("48")
    expect(second.get_by_role("spinbutton", name="Sequence length T")).to_have_value("6")
    expect(second.get_by_text("Reverse a string (encoder–decoder).")).to_have_count(1)
    first.close()
    second.close()
