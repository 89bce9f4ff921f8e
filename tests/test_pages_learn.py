"""The Learn pages (gradient lab, theory, lessons) in Streamlit's AppTest, in both languages.

Preset buttons are clicked for real; only the background training they would start is replaced by a
recorder, so the test checks what would train (a valid config, the right cells) without training it.
"""
from __future__ import annotations

import json

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from rnnviz.curriculum import LESSONS, THEORY_SECTIONS
from rnnviz.presets import PRESETS
from rnnviz.ui.i18n import LANG_KEY
from rnnviz.ui.state import KEY

TIMEOUT = 60
LANGS = ("en", "zh")


def page(name: str, lang: str = "en", **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state[LANG_KEY] = lang
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(f"views/{name}.py").run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def titles(at: AppTest) -> list[str]:
    return [(json.loads(c.proto.spec)["layout"].get("title") or {}).get("text") for c in at.get("plotly_chart")]


def click(at: AppTest, label: str) -> AppTest:
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r} among {[b.label for b in at.button]}"
    matches[0].click().run()
    assert_clean(at)
    return at


@pytest.fixture
def started(monkeypatch):
    """Runs that buttons would start, recorded instead of trained."""
    runs = []
    record = lambda trainer, *args, **kwargs: runs.append(trainer)  # noqa: E731
    # On the class, so every module that starts a trainer sees it (a patched module-level name would stay
    # bound in modules first imported while the patch was on).
    monkeypatch.setattr("rnnviz.background.BackgroundRun.start", record)
    return runs


# --- the gradient lab -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("view", ["rnn", "lstm", "cliff"])
def test_lab_views_load(lang, view):
    at = page("lab", lang, lab_view=view)
    charts = titles(at)
    assert len(charts) == 3  # norms and the two spectra, or the map, its close-up and the losses
    if view != "cliff":
        assert any(m.value.startswith("### :") for m in at.markdown)  # the regime, in words


def test_lab_sliders_redraw_and_name_the_regime():
    at = page("lab")
    for rho, regime in ((0.5, "Vanishing"), (2.0, "Exploding")):
        at.select_slider(key="lab_rho").set_value(rho).run()
        assert_clean(at)
        assert any(f"[{regime}]" in m.value for m in at.markdown)


def test_lab_extreme_setting_is_drawn_with_its_caveats():
    at = page("lab", lab_act="identity", lab_T=1000, lab_rho=10.0, lab_H=64)
    assert len(titles(at)) == 3
    assert any("overflowed" in m.value or "Exploding" in m.value for m in at.markdown)


@pytest.mark.parametrize("view", ["rnn", "lstm"])
def test_train_this_opens_the_train_page_with_the_lab_setting(view, started):
    at = page("lab", lab_view=view, lab_T=200, lstm_T=200)
    click(at, "Train this")
    assert at.session_state["seq_len"] == 200 and at.session_state["task"] == "adding"
    assert at.session_state["init"] == "orthogonal"
    assert not started  # handed over, not started


def test_train_this_is_off_for_activations_the_train_page_lacks():
    at = page("lab", lab_act="sigmoid")
    assert [b for b in at.button if b.label == "Train this"][0].disabled


def test_cliff_start_snaps_to_the_wall():
    at = page("lab", lab_view="cliff", cliff_b=0.0)
    click(at, "Put the start on the wall")
    assert at.slider(key="cliff_b").value == pytest.approx(-2.242, abs=0.002)
    assert any("0.09" in m.value for m in at.markdown)  # the plain path is stuck on the plateau


# --- theory ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_theory_page_has_every_section_and_equation(lang):
    at = page("theory", lang)
    assert len(at.header) == len(THEORY_SECTIONS) + 1  # and the applications
    assert len(at.latex) == sum(len(s.equations) for s in THEORY_SECTIONS)


def test_theory_buttons_load_their_presets(started):
    at = page("theory")
    labels = [b.label for b in at.button]
    for label in dict.fromkeys(labels):
        at = page("theory")
        click(at, label)
    loaded = {(trainer.cfg.task.name, trainer.cfg.model.cell) for trainer in started}
    assert ("adding", "rnn") in loaded and ("reversal", "lstm") in loaded


# --- lessons ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_every_lesson_step_renders(lang):
    at = page("lessons", lang)
    for number, lesson in enumerate(LESSONS, start=1):
        for index, _ in enumerate(lesson.steps, start=1):
            at.session_state["lesson"], at.session_state["step"] = number, index
            at.run()
            assert_clean(at)
            assert f"{index}" in at.subheader[0].value
            assert len(at.info) == 1 and len(at.warning) == 1 and len(at.expander) >= 1


def test_next_and_back_walk_through_a_lesson():
    at = page("lessons", lesson=2)
    assert at.session_state["step"] == 1
    click(at, "Next")
    click(at, "Next")
    assert at.session_state["step"] == 3 and "Step 3 of" in at.subheader[0].value
    click(at, "Back")
    assert at.session_state["step"] == 2


@pytest.mark.parametrize("number,lesson", list(enumerate(LESSONS, start=1)), ids=[item.key for item in LESSONS])
def test_every_lesson_button_loads_a_valid_preset(number, lesson, started):
    for index, step in enumerate(lesson.steps, start=1):
        if not step.preset:
            continue
        at = page("lessons", lesson=number, step=index)
        buttons = [b for b in at.button if b.label not in ("Back", "Next")]
        assert len(buttons) == 1
        before = len(started)
        buttons[0].click().run()
        assert_clean(at)
        preset = PRESETS[step.preset]
        new = started[before:]
        if step.action == "compare":
            assert sorted(t.cfg.model.cell for t in new) == sorted(preset.compare)
            assert all(t.cfg.replace(cell=preset.config().model.cell) == preset.config() for t in new)
        else:
            assert [t.cfg for t in new] == [preset.config()]
            assert at.session_state[KEY].trainer is new[0]
