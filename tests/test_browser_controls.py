"""Controls agree with the run, in a real browser at a projector's 1280x720: what the settings, boxes, buttons and
address say is what trains (issue 11).

Screenshots go to shots/controls/ (or $RNNVIZ_SHOTS).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from browser import ROOT, no_exceptions, settle
from conftest import bundle
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("RNNVIZ_SHOTS", ROOT / "shots" / "controls"))
VIEWPORT = {"width": 1280, "height": 720}
SMALL_RUN = "seq_len=20&hidden=32&steps=5000&probe_every=25"
# The non-finite run of test_pages_train: an orthogonal gain of 3, SGD at lr 10 and no clipping blow up at once.
EXPLODING = "cell=RNN&init=orthogonal&init_gain=3&lr=10&clipping=false&optimizer=sgd&seq_len=20&hidden=16&steps=200"


@pytest.fixture
def page(chromium):
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab = chromium.new_page(viewport=VIEWPORT)
    yield tab
    tab.close()


def open_at(page, url: str) -> None:
    page.goto(url)
    settle(page)


def button(page, label: str):
    """A button by its label (its icon's name may come first in its accessible name)."""
    return page.get_by_role("button", name=re.compile(rf"^\W*\w*\W*{re.escape(label)}$")).first


def click(page, locator) -> None:
    locator.click()
    time.sleep(0.3)
    settle(page)


def main(page):
    return page.locator("[data-testid='stMain']")


def selected_pills(page) -> set[str]:
    group = main(page).locator("[data-testid='stButtonGroup']").filter(has_text="Transformer")
    return {text.strip() for text in group.locator("button[data-selected='true']").all_text_contents()}  # folded too


STEP_ABOVE = """() => [...document.querySelectorAll('p')].some(p => {
    const m = p.innerText.match(/^Step (\\d+) of/); return m && +m[1] > LIMIT; })"""
STEP_BELOW = STEP_ABOVE.replace("> LIMIT", "< LIMIT")


def current_step(page) -> int:
    text = page.get_by_text(re.compile(r"^Step \d+ of \d+$")).first.inner_text()
    return int(text.split()[1])


@pytest.mark.parametrize("lang, title", [("en", "Short memory: RNN on adding, T=10"), ("zh", "短记忆：RNN 做加法，T=10")])
def test_lesson_2_step_2_compares_the_cells_it_says(server, page, lang, title):
    open_at(page, f"{server.url}/lessons?lesson=2&step=2&lang={lang}")
    click(page, main(page).get_by_role("button", name=re.compile("Compare cells on|上对比各种单元")))
    expect(page).to_have_url(re.compile(r"/compare\?"))
    settle(page)
    assert selected_pills(page) == {"RNN", "LSTM", "GRU"}
    # The three cells are the page's default, so the address may leave them out; what it names is all of them.
    query = parse_qs(urlparse(page.url).query)
    assert set(query.get("cmp_cells", ["RNN", "LSTM", "GRU"])) == {"RNN", "LSTM", "GRU"}
    assert query["cmp_source"] == ["adding_t10"]
    click(page, page.locator("summary", has_text=re.compile("Experiment and cells|实验与单元")))  # folded while training
    expect(main(page).get_by_role("combobox").first).to_have_value(title)  # the preset's title in the page's language, not its key
    assert not no_exceptions(page)
    page.screenshot(path=str(SHOTS / f"compare-lesson2-{lang}.png"))
    click(page, button(page, "Reset" if lang == "en" else "重置"))


def test_back_from_a_lessons_link_returns_to_the_same_step(server, page):
    open_at(page, f"{server.url}/lessons?lesson=3&step=1")
    click(page, main(page).get_by_role("link", name=re.compile("Gradient lab")))
    expect(page).to_have_url(re.compile(r"/lab\?view=cliff"))
    settle(page)
    page.go_back()
    time.sleep(1)
    settle(page)
    expect(main(page).get_by_role("heading", name=re.compile(r"^3 · "))).to_be_visible()
    expect(main(page).get_by_role("heading", name=re.compile(r"^Step 1 of"))).to_be_visible()
    assert "view=" not in page.url and "lesson=3" in page.url
    page.screenshot(path=str(SHOTS / "lessons-back.png"))
    click(page, button(page, "Next"))
    expect(main(page).get_by_role("heading", name=re.compile(r"^Step 2 of"))).to_be_visible()
    expect(main(page).get_by_role("heading", name=re.compile(r"^3 · "))).to_be_visible()


def test_the_experiment_box_names_the_preset_or_says_custom(server, page):
    open_at(page, f"{server.url}/lessons?lesson=6&step=1")
    click(page, main(page).get_by_role("button", name=re.compile("^Train “")))
    expect(page.get_by_role("heading", name="Train a recurrent network")).to_be_visible()
    settle(page)
    click(page, page.locator("summary", has_text="Settings"))  # once a run exists the box is folded with the settings
    box = page.get_by_role("combobox", name="Ready-made experiment")
    expect(box).to_have_value("Character model on bracketed text")  # the charlm preset's title
    page.screenshot(path=str(SHOTS / "train-charlm.png"))
    click(page, button(page, "Reset"))
    expect(page.get_by_role("combobox", name="Task")).to_have_value("charlm")  # the widgets show what trained
    page.get_by_role("spinbutton", name="Hidden units").fill("17")
    page.keyboard.press("Enter")
    settle(page)
    expect(box).to_have_value("Custom settings")


def test_the_lab_opens_the_train_page_with_its_setting(server, page):
    """Arriving from another page, the widgets (drawn before in this session) show the setting, not their defaults."""
    open_at(page, f"{server.url}/")
    click(page, page.locator("[data-testid='stSidebarNavLink']").filter(has_text="Gradient lab"))
    click(page, main(page).get_by_role("button", name=re.compile("Train this")))  # the lab's RNN at T = 100
    expect(page.get_by_role("spinbutton", name="Sequence length T")).to_have_value("100")
    expect(page.get_by_role("combobox", name="Cell")).to_have_value("RNN")
    assert "seq_len=100" in page.url
    expect(page.get_by_role("combobox", name="Ready-made experiment")).to_have_value("Custom settings")


# "1e9": an integer field would read it with parseInt, in the browser, and hold 1 (see controls._number)
@pytest.mark.parametrize("typed", ["100000", "-5", "1e9", "12.5"])
def test_a_typed_value_out_of_range_is_shown_and_train_is_off(server, page, typed):
    open_at(page, f"{server.url}/")
    field = page.get_by_role("spinbutton", name="Hidden units")
    field.fill(typed)
    page.keyboard.press("Enter")
    time.sleep(0.5)
    settle(page)
    shown = f"{float(typed):.15g}"  # as the reader typed it, written out: 1000000000, 12.5
    expect(page.get_by_text(re.compile(rf"Hidden units: {re.escape(shown)} is out of range")).first).to_be_visible()
    expect(button(page, "Train")).to_be_disabled()
    assert page.get_by_text(re.compile("The page address asks for")).count() == 0, "typed here, not from a link"
    page.get_by_text(re.compile("is out of range")).last.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"train-out-of-range{shown}.png"))
    field.fill("48")
    page.keyboard.press("Enter")
    time.sleep(0.5)
    settle(page)
    expect(button(page, "Train")).to_be_enabled()
    assert page.get_by_text(re.compile("is out of range")).count() == 0


def test_train_during_a_run_is_an_explicit_restart(server, page):
    open_at(page, f"{server.url}/?{SMALL_RUN}")
    click(page, button(page, "Train"))
    restart = button(page, "Restart")
    expect(restart).to_be_visible(timeout=30_000)
    page.wait_for_function(STEP_ABOVE.replace("LIMIT", "60"), timeout=60_000)
    click(page, button(page, "Pause"))
    time.sleep(1)
    before = current_step(page)
    page.screenshot(path=str(SHOTS / "train-restart.png"))
    click(page, button(page, "Restart"))  # still Restart: a paused run is one the new run would replace
    page.wait_for_function(STEP_BELOW.replace("LIMIT", str(before)), timeout=20_000)  # a new run, from step 0
    click(page, button(page, "Reset"))


def test_resume_is_off_for_finished_and_failed_runs(server, page):
    open_at(page, f"{server.url}/?seq_len=6&hidden=8&steps=30&probe_every=10")
    click(page, button(page, "Train"))
    expect(page.get_by_text("Step 30 of 30").first).to_be_visible(timeout=60_000)
    settle(page)
    expect(button(page, "Resume")).to_be_disabled()
    expect(button(page, "Train")).to_be_enabled()  # a finished run: Train, not Restart

    open_at(page, f"{server.url}/?{EXPLODING}")
    click(page, button(page, "Train"))
    expect(page.get_by_text(re.compile("Turn clipping on")).first).to_be_visible(timeout=60_000)
    settle(page)
    expect(button(page, "Resume")).to_be_disabled()
    page.screenshot(path=str(SHOTS / "train-failed.png"))


def test_restoring_a_bundle_confirms_it_and_shows_its_settings(server, page, tmp_path):
    run = tmp_path / "tiny-run.zip"
    run.write_bytes(bundle())  # a tiny LSTM run on the adding task, 4 hidden units, finished at step 6
    open_at(page, f"{server.url}/")
    page.locator("[data-testid='stFileUploaderDropzoneInput']").last.set_input_files(str(run))
    expect(page.get_by_text(re.compile(r"Restored a lstm run on adding at step 6")).first).to_be_visible(timeout=30_000)
    settle(page)
    click(page, main(page).locator("[data-testid='stExpander'] summary").first)  # the settings fold once a run is in
    expect(page.get_by_role("spinbutton", name="Hidden units")).to_have_value("4")
    expect(page.get_by_role("combobox", name="Ready-made experiment")).to_have_value("Custom settings")
    expect(button(page, "Resume")).to_be_disabled()
    page.screenshot(path=str(SHOTS / "train-restored.png"), full_page=True)
    assert not no_exceptions(page)
