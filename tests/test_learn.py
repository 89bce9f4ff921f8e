"""The Learn pages' library side: the lab's and the cliff's figures (rnnviz/figures/lab.py, cliff.py), the lab's
hand-over to the Train page and the cliff's windows, the Theory sections and lessons (rnnviz/curriculum.py), and
their texts in both languages. The lab's numbers are tested in test_theory.py."""
from __future__ import annotations

import math
import string
import tomllib

import numpy as np
import pytest
from conftest import ROOT

from rnnviz import curriculum
from rnnviz.figures import cliff as cliff_figs
from rnnviz.figures import lab as figs
from rnnviz.presets import PRESETS
from rnnviz.tasks import resolve_config
from rnnviz.theory import cliff, lab
from rnnviz.train import Trainer

LANGS = ("en", "zh")
MY_TABLES = ("lab", "theory", "lessons")


def texts(lang: str) -> dict[str, str]:
    with open(ROOT / "rnnviz" / "text" / f"{lang}.toml", "rb") as f:
        data = tomllib.load(f)
    flat = {}

    def walk(prefix, node):
        for k, v in node.items():
            walk(f"{prefix}{k}.", v) if isinstance(v, dict) else flat.__setitem__(f"{prefix}{k}", v)

    walk("", data)
    return flat


def arrays(fig) -> list[np.ndarray]:
    """Every numeric array a figure sends to the browser."""
    out = []
    for trace in fig.data:
        for name in ("x", "y", "z"):
            value = getattr(trace, name, None)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                out.append(value)
    return out


def assert_light(fig) -> None:
    """float32 to the browser, and every value finite (NaN gaps allowed)."""
    for a in arrays(fig):
        assert a.dtype == np.float32
        assert not np.isinf(a).any()


# --- figures ----------------------------------------------------------------------------------------


def test_rnn_norms_figure_draws_the_norm_and_the_bound_in_log10():
    result = lab.lab_rnn(hidden=8, seq_len=30, rho=0.5, activation="identity", points=None)
    fig = figs.gradient_norms(result, title="t")
    assert [trace.name for trace in fig.data] == ["‖∂h_T/∂h_t‖", "bound (λ₁γ)^(T−t)"]
    norm, bound = fig.data[0].y, fig.data[1].y
    np.testing.assert_allclose(norm, (30 - np.arange(31)) * math.log10(0.5), atol=1e-4)  # identity: exactly ρ^(T−t)
    np.testing.assert_allclose(bound, norm, atol=1e-4)
    lo, hi = fig.layout.yaxis.range
    assert lo < norm.min() and hi > norm.max()
    assert_light(fig)


def test_lstm_norms_figure_has_cell_path_h_path_and_forget_product():
    result = lab.lab_lstm(hidden=6, seq_len=20, forget_bias=2.0, points=None)
    fig = figs.gradient_norms(result, labels={"cell_path": "c", "h_path": "h", "forget_product": "f"})
    assert [trace.name for trace in fig.data] == ["c", "h", "f"]
    assert_light(fig)


@pytest.mark.parametrize("activation", ["identity", "relu", "tanh"])
def test_extreme_settings_give_finite_labelled_plots(activation):
    result = lab.lab_rnn(hidden=8, seq_len=1000, rho=10.0, activation=activation)
    fig = figs.gradient_norms(result)
    assert_light(fig)
    assert fig.layout.yaxis.ticktext and all("10" in text or text == "1" for text in fig.layout.yaxis.ticktext)
    if activation == "identity":  # 10^1000 and 10^-1000 are no floats: drawn as their log10
        assert fig.data[0].y.max() == pytest.approx(1000, abs=1)
        assert "overflow" in result.notes
    for builder in (figs.singular_values, figs.eigenvalues):
        assert_light(builder(result))


def test_spectrum_figures_mark_the_threshold_one_over_gamma():
    result = lab.lab_rnn(hidden=8, seq_len=10, rho=2.0, activation="sigmoid", points=None)
    sv = figs.singular_values(result)
    assert sv.layout.shapes[0].y0 == pytest.approx(4.0)  # 1/γ for sigmoid
    np.testing.assert_allclose(sv.data[0].y, 2.0, rtol=1e-5)  # orthogonal × ρ: every σ_i = ρ
    ev = figs.eigenvalues(result)
    assert [trace.name for trace in ev.data] == ["unit circle", "radius 1/γ", "eigenvalues"]
    np.testing.assert_allclose(np.hypot(ev.data[2].x, ev.data[2].y), 2.0, rtol=1e-5)
    assert ev.layout.yaxis.scaleanchor == "x"  # circles look round


def test_cliff_figures_show_log_loss_and_paths_inside_the_map():
    plain, plain_loss = cliff.descent(clip=None)
    clipped, clipped_loss = cliff.descent(clip=1.0)
    ws, bs = cliff.axes([plain, clipped], n=41)
    loss = cliff.loss(ws[None, :], bs[:, None])
    fig = cliff_figs.loss_map(ws, bs, loss, {"plain": plain, "clipped": clipped}, start=cliff.START)
    heat = fig.data[0]
    assert heat.z.shape == (41, 41) and heat.z.min() >= math.log10(cliff_figs.LOSS_FLOOR)
    for trace in [trace for trace in fig.data if trace.name in ("plain gradient descent", "clipped at norm 1")]:
        assert ws[0] <= trace.x.min() and trace.x.max() <= ws[-1]
        assert bs[0] <= trace.y.min() and trace.y.max() <= bs[-1]
    assert_light(fig)
    losses = cliff_figs.loss_along_paths({"plain": plain_loss, "clipped": clipped_loss})
    assert losses.layout.yaxis.type == "log"
    assert_light(losses)


@pytest.mark.parametrize("lang", LANGS)
def test_every_regime_and_caveat_the_lab_reports_has_its_text(lang):
    """The lab decides the regime and its caveats; the page words them from these keys (ui/lab.py)."""
    found = texts(lang)
    results = [lab.lab_rnn(hidden=8, seq_len=20, rho=2.0, activation="sigmoid", points=None),  # the bound decides
               lab.lab_rnn(hidden=16, seq_len=300, rho=1.5, activation="tanh", points=50),  # vanishing all the same
               lab.lab_rnn(hidden=8, seq_len=1000, rho=10.0, activation="identity"),  # exploding, overflowed
               lab.lab_rnn(hidden=8, seq_len=40, rho=1.0, activation="identity", points=None),  # the edge
               lab.lab_lstm(hidden=8, seq_len=60, forget_bias=8.0, rho=0.5, points=None),
               lab.lab_lstm(hidden=8, seq_len=1000, forget_bias=-4.0, rho=0.5)]  # values clamped
    for result in results:
        case = "sufficient" if result.bound_decides else result.regime
        found[f"lab.{result.cell}_{case}"].format(product=1.0, total=0.0, T=1, forget=0.5, carousel=0.0)
        for kind, values in result.notes.items():
            found[f"lab.note_{kind}"].format(**values)
    cases = {(r.cell, "sufficient" if r.bound_decides else r.regime) for r in results}
    assert {("rnn", "sufficient"), ("rnn", "vanishing"), ("rnn", "exploding"), ("rnn", "edge")} <= cases
    assert {kind for r in results for kind in r.notes} == {"sampled", "overflow", "clamped"}


# --- lab helpers ------------------------------------------------------------------------------------


def test_train_this_maps_the_lab_setting_to_a_valid_config():
    cfg = resolve_config(lab.train_options("rnn", 32, 100, 1.25, "relu"))
    assert (cfg.task.name, cfg.model.cell, cfg.model.nonlinearity) == ("adding", "rnn", "relu")
    assert (cfg.model.hidden, cfg.task.seq_len, cfg.model.init, cfg.model.init_gain) == (32, 100, "orthogonal", 1.25)
    cfg = resolve_config(lab.train_options("lstm", 128, 1000, 10.0, forget_bias=-4.0))
    assert (cfg.model.cell, cfg.model.forget_bias, cfg.model.init_gain) == ("lstm", -4.0, 10.0)
    with pytest.raises(ValueError, match="tanh or relu"):
        lab.train_options("rnn", 8, 10, 1.0, "sigmoid")


def test_the_wall_is_where_the_gradient_is_steepest():
    b = cliff.wall(cliff.START[0])
    assert b == pytest.approx(cliff.START[1], abs=0.002)
    assert np.hypot(*cliff.gradient(cliff.START[0], b)) > 50


def test_cliff_axes_cover_the_usual_window_and_the_paths_within_reach():
    ws, bs = cliff.axes([np.array([[4.0, -2.0], [8.3, 4.3]])])
    assert ws[0] == cliff.GRID["w"][0] and ws[-1] == pytest.approx(8.8)
    assert bs[0] == cliff.GRID["b"][0] and bs[-1] == pytest.approx(4.8)
    ws, bs = cliff.axes([np.array([[1e6, -1e6], [np.nan, 0.0]])])
    assert (ws[-1], bs[0]) == (cliff.REACH["w"][1], cliff.REACH["b"][0])


# --- lessons and theory data ---------------------------------------------------------------------------


def test_lessons_refer_to_presets_pages_and_lab_settings_that_exist():
    from rnnviz.ui import lab as page  # the lab's widget keys and their values

    options = {"view": page.VIEWS, "lab_T": page.SEQ_LEN, "lab_rho": page.RHO, "lab_in": page.INPUT_SCALE,
               "lstm_bf": page.FORGET_BIAS}
    pages = {p.stem for p in (ROOT / "views").glob("*.py")}
    steps = [s for item in curriculum.LESSONS for s in item.steps]
    links = [link for section in curriculum.THEORY_SECTIONS for link in section.links]
    assert len(curriculum.LESSONS) >= 6
    for thing in steps + links:
        assert thing.page is None or thing.page in pages
        assert thing.preset is None or thing.preset in PRESETS
        for key, value in thing.lab.items():
            assert value in options[key], (key, value)
    for step in steps:
        assert step.action in ("train", "compare", "load")
        if step.action == "compare":
            assert len(PRESETS[step.preset].compare) > 1


def test_lesson_two_is_the_adding_task_as_t_grows():
    presets = [s.preset for s in curriculum.lesson("vanishing").steps if s.preset]
    cfgs = [PRESETS[p].config() for p in presets]
    assert [c.task.seq_len for c in cfgs] == [10, 50, 100]
    assert all(c.task.name == "adding" and PRESETS[p].compare == ("rnn", "lstm", "gru") for p, c in zip(presets, cfgs))


@pytest.mark.parametrize("lang", LANGS)
def test_every_learn_text_exists(lang):
    found = texts(lang)
    missing = [k for k in curriculum.text_keys() if not found.get(k)]
    assert not missing


def test_both_languages_have_the_same_learn_keys_and_placeholders():
    en, zh = texts("en"), texts("zh")
    mine = lambda keys: {k for k in keys if k.split(".")[0] in MY_TABLES or k.startswith("presets.adding_")}  # noqa: E731
    assert mine(en) == mine(zh)
    fields = lambda s: sorted(f for _, f, _, _ in string.Formatter().parse(s) if f)  # noqa: E731
    for key in mine(en):
        assert fields(en[key]) == fields(zh[key]), key


def test_the_exploding_run_is_probed_every_2_steps_until_it_stops_so_the_blow_up_shows():
    """Lesson 3's key moment: the run stops on a non-finite gradient within about 30 steps, at the app's usual
    probe share, and its probes show ‖∂L/∂h_t‖ growing by orders of magnitude from one probe to the next."""
    trainer = Trainer(PRESETS["exploding"].config(device="cpu"))
    status = trainer.run()
    assert status.reason == "non_finite" and status.step <= 45
    steps = [p["step"] for p in trainer.probes]
    assert steps[:-1] == list(range(0, steps[-2] + 1, 2)) and len(steps) >= 12
    peaks = np.array([np.max(p["grad.h.0"]) for p in trainer.probes])
    assert np.isfinite(peaks).all() and peaks[-1] > 1e15 * peaks[0]
    assert np.sum(np.diff(np.log10(peaks)) > 0.5) >= 6  # grows probe after probe, not in one jump
