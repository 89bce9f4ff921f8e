"""AppTest tests of the Train and Compare pages: they load, their controls are there, runs train.

Training in these tests is stepped synchronously (Trainer.run) or in the trainer's own thread and
joined; the live fragment's timer is never relied on.
"""
from __future__ import annotations

import pytest
from conftest import ROOT, button, stepped, tab_with, tiny_config
from streamlit.testing.v1 import AppTest

from rnnviz.figures.training import smoothed
from rnnviz.presets import PRESETS
from rnnviz.status import Status
from rnnviz.tasks import REGISTRY, resolve_config
from rnnviz.train import Trainer
from rnnviz.ui.state import KEY, TabState

TIMEOUT = 60
TINY_SETTINGS = {"seq_len": 6, "hidden": 4, "steps": 12, "batch": 8, "probe_every": 4}


def app(page: str | None = None, state: TabState | None = None, **widgets) -> AppTest:
    """The whole app (navigation, sidebar), optionally on another page, with a tab state and widget values."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if state is not None:
        at.session_state[KEY] = state
    for key, value in widgets.items():
        at.session_state[key] = value
    at.run()
    if page is not None:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def test_train_page_loads_with_its_controls():
    at = app()
    assert at.title[0].value == "Train a recurrent network"
    labels = {w.label for w in [*at.selectbox, *at.number_input]}
    for label in ("Task", "Cell", "Attention", "Recurrent weights", "Optimizer", "Sequence length T", "Hidden units",
                  "Layers", "Gain ρ", "Forget-gate bias", "Learning rate", "Batch", "Steps", "Clip threshold", "Seed",
                  "Probe every", "Ready-made experiment"):
        assert label in labels
    assert [t.label for t in at.toggle] == ["Bidirectional", "Clip gradients", "Presenter view"]  # the last in the sidebar
    for label in ("Train", "Pause", "Resume", "Reset"):
        button(at, label)
    assert button(at, "Pause").disabled and button(at, "Reset").disabled
    assert any("No run yet" in i.value for i in at.info)


def test_a_short_run_trains_and_is_drawn():
    at = app(**TINY_SETTINGS)
    button(at, "Train").click().run()
    trainer = at.session_state[KEY].trainer
    assert trainer.cfg.model.hidden == 4 and trainer.cfg.train.steps == 12
    trainer.join(timeout=TIMEOUT)
    assert trainer.status.kind == "completed"
    at.run()
    assert not at.exception
    assert [m.value for m in at.metric][:2] == ["done", f"{smoothed(trainer.snapshot().history['loss'])[-1]:.4g}"]  # smoothed
    charts = at.get("plotly_chart")
    assert len(charts) >= 3  # loss, gradient norm, predictions


def test_pause_resume_reset():
    trainer = stepped(run_steps=4, steps=40)
    trainer.status, trainer.target_steps = Status("paused"), 40  # a bundle saved mid-run, restored: no thread yet
    at = app(state=tab_with(trainer))
    assert not button(at, "Resume").disabled
    button(at, "Resume").click().run()
    at.session_state[KEY].trainer.join(timeout=TIMEOUT)
    assert trainer.step == 40 and trainer.status.kind == "completed", trainer.status
    at.run()
    assert button(at, "Resume").disabled, "a finished run is not resumed: Train starts a new one"
    button(at, "Reset").click().run()
    assert at.session_state[KEY].trainer is None


def test_train_says_restart_while_a_run_is_going():
    trainer = stepped(run_steps=4, steps=40)
    trainer.status = Status("paused")
    state = tab_with(trainer)
    first = state.trainer
    at = app(state=state, **TINY_SETTINGS)
    restart = button(at, "Restart")
    assert "step 4" in restart.help
    restart.click().run()
    assert at.session_state[KEY].trainer is not first
    at.session_state[KEY].trainer.join(timeout=TIMEOUT)
    at.run()
    button(at, "Train")  # the new run finished: Train again


@pytest.mark.parametrize("task", list(REGISTRY))
def test_every_task_shows_its_output(task):
    sizes = {"sentiment": 13, "order": 6, "reversal": 4, "copy": 3, "charlm": 8}
    trainer = stepped(run_steps=2, task=task, seq_len=sizes.get(task, 6), attention=REGISTRY[task].defaults.get("attention", "none"))
    at = app(state=tab_with(trainer))
    assert any("What the model does" in m.value for m in at.markdown)


def test_settings_a_task_cannot_take_are_explained_and_not_trainable():
    at = app(task="sentiment", seq_len=5, attention="dot")
    assert any("at least 13" in e.value for e in at.error)
    assert button(at, "Train").disabled


def test_changing_the_task_brings_its_defaults():
    at = app()
    at.selectbox(key="task").set_value("reversal").run()
    assert at.number_input(key="seq_len").value == REGISTRY["reversal"].defaults["seq_len"]
    assert at.selectbox(key="attention").value == "dot"
    assert at.selectbox(key="cell").value == "LSTM"  # the cell is kept


def test_every_preset_loads_into_the_controls():
    for key, preset in PRESETS.items():
        at = app()
        at.selectbox(key="preset_choice").set_value(key).run()
        assert not at.exception
        expected = preset.config()
        assert at.selectbox(key="task").value == expected.task.name
        assert at.number_input(key="seq_len").value == expected.task.seq_len
        assert at.number_input(key="steps").value == expected.train.steps
        assert at.toggle(key="clipping").value == (expected.train.clip > 0)
        assert at.selectbox(key="preset_choice").value == key, "the box names the preset the settings are"


def test_the_experiment_box_says_custom_for_settings_of_no_preset():
    at = app()
    at.selectbox(key="preset_choice").set_value("charlm").run()
    at.number_input(key="hidden").set_value(17).run()
    assert at.selectbox(key="preset_choice").value == "custom"
    assert at.selectbox(key="preset_choice").format_func("custom") == "Custom settings"


def test_a_typed_value_out_of_range_is_shown_and_not_trained():
    at = app()
    at.number_input(key="hidden").set_value(100000).run()
    assert at.number_input(key="hidden").value == 100000, "the widget keeps what was typed"
    assert any("100000" in e.value and "1 – 512" in e.value for e in at.error)
    assert button(at, "Train").disabled


def test_nonfinite_stop_is_explained():
    trainer = Trainer(tiny_config(cell="rnn", init="orthogonal", init_gain=3.0, lr=10.0, clip=0.0, optimizer="sgd",
                                  seq_len=20, hidden=16, steps=200))
    trainer.run()
    assert trainer.status.reason == "non_finite"
    at = app(state=tab_with(trainer))
    assert any("Turn clipping on" in e.value for e in at.error)
    assert button(at, "Resume").disabled


def test_compare_page_trains_cells_side_by_side():
    current = stepped(run_steps=2)
    at = app("compare", state=tab_with(current))
    assert at.title[0].value == "Compare cells"
    at.selectbox(key="cmp_source").set_value("current").run()
    button(at, "Train side by side").click().run()
    runs = at.session_state[KEY].compare
    assert list(runs) == ["RNN", "LSTM", "GRU"]
    for trainer in runs.values():
        trainer.join(timeout=TIMEOUT)
        assert trainer.status.kind == "completed" and trainer.cfg.task == current.cfg.task
    at.run()
    assert not at.exception
    assert [m.label for m in at.metric] == ["RNN", "LSTM", "GRU"]
    assert len(at.get("plotly_chart")) == 2  # losses, and gradients through time at a matching step


def test_compare_needs_a_run_for_the_current_settings():
    at = app("compare")
    at.selectbox(key="cmp_source").set_value("current").run()
    assert at.error and button(at, "Train side by side").disabled


def test_presets_are_valid_configs():
    for preset in PRESETS.values():
        resolve_config(preset.options)


def test_the_sidebar_speaks_the_readers_language():
    at = app(state=tab_with(stepped()), lang="zh")
    captions = [c.value for c in at.sidebar.caption]
    assert any(c.startswith("设备：CPU · ") and c.endswith("个线程") for c in captions), captions
    assert any(c.startswith("状态：") for c in captions)
    assert not any(word in c for c in captions for word in ("thread", "completed", "running")), captions


def test_a_restored_run_on_a_users_file_is_what_the_settings_say(uploads, tmp_path):
    from conftest import open_app, seen
    from rnnviz.runs import bundle_bytes

    data = tmp_path / "stdlib_mix.txt"
    data.write_text("the text a class trained on, (with brackets) and 'quotes'\n" * 20)
    trainer = Trainer(resolve_config({"task": "charlm", "data": str(data), "seq_len": 8, "hidden": 8, "steps": 4}))
    trainer.run()
    uploads["upload_run"] = ("class-run.zip", bundle_bytes(trainer, evaluate=False))
    at = open_app()
    assert not at.exception
    captions = [seen(c.value) for c in at.caption]
    assert not [c for c in captions if "The settings differ" in c], captions  # the settings train on the run's file
    assert any("your file data.txt." in c for c in captions)  # the bundle's copy of it, not "brackets"
    assert any("Your file data.txt is not part of the link" in c for c in captions)
    assert any("Restored a lstm run on charlm at step 4" in s.value for s in at.success)
    assert at.selectbox(key="preset_choice").value == "custom"
