"""Readable numbers on every chart (issue 11): each log axis the figures build labels between 3 and 8 ticks inside
its range whatever the data (a flat parity loss, a charlm loss between 1.5 and 4, an exploding run's 10⁻⁵ to 10²¹,
the lab's 10⁻¹⁰⁰⁰); big numbers read in scientific notation; values a log axis cannot show are noted, not drawn
as garbage; notes under a plot get the room they need."""
from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from rnnviz.figures import cliff, common, gates, gradients, hidden, lab, training
from rnnviz.theory import cliff as cliff_theory
from rnnviz.theory import lab as lab_theory

MOST = common.LOG_LABELS

# (name, values): the kinds of data a log axis meets in the app
DATA = {
    "flat parity loss": np.full(60, 0.6931),
    "charlm loss": np.linspace(4.2, 1.5, 60),
    "narrow": np.linspace(0.52, 0.61, 60),
    "one decade": np.geomspace(0.08, 0.9, 60),
    "vanishing": np.geomspace(1e-9, 0.5, 60),
    "exploding": np.geomspace(1e-5, 8e20, 60),
    "with zeros and inf": np.concatenate([np.zeros(10), np.geomspace(0.1, 5.0, 40), [np.inf]]),
}


def log_axes(fig) -> list:
    """Every axis of a figure drawn on a log scale."""
    layout = fig.layout
    return [layout[name] for name in layout if name.startswith(("xaxis", "yaxis")) and layout[name].type == "log"]


def assert_readable(axis) -> None:
    """3 to MOST labelled ticks, all inside the axis's range, each with its own text."""
    assert axis.tickmode == "array" and axis.range is not None
    lo, hi = axis.range
    positions = np.log10(np.asarray(axis.tickvals, dtype=np.float64))
    assert 3 <= np.sum((positions >= lo - 1e-6) & (positions <= hi + 1e-6)) and len(positions) <= MOST, \
        (axis.range, axis.ticktext)
    assert len(set(axis.ticktext)) == len(positions) and all(axis.ticktext)


def figures_for(values: np.ndarray):
    """Every figure with a log axis, built from one kind of data."""
    steps = np.arange(len(values))
    T = 20
    norms = values[:T]
    yield "loss", training.loss_figure(steps, values, 1 / 6)
    yield "grad norm", training.grad_norm_figure(steps, values, values > 1, 1.0)
    yield "compare loss", training.compare_loss_figure({"RNN": (steps, values), "LSTM": (steps, values[::-1])}, 1 / 6)
    yield "compare grad", training.compare_grad_figure({"RNN": norms, "LSTM": norms[::-1]})
    yield "through time", gradients.gradient_through_time({"‖∂L/∂h_t‖": norms}, rate=1.3)
    span = common.log_range([values])
    yield "through time, page range", gradients.gradient_through_time({"‖∂L/∂h_t‖": norms}, rate=1.3, y_range=span)
    yield "parameters", gradients.parameter_gradients(steps, {"w": values, "b": values / 3}, grad_norm=values)
    gate = np.full((T, 4), 0.9)
    yield "gate carry", gates.gate_and_gradient(gate, {"‖∂L/∂c_t‖": norms, "‖∂L/∂h_t‖": norms / 2})
    yield "cliff loss", cliff.loss_along_paths({"plain": values, "clipped": values[::-1]})


@pytest.mark.parametrize("data", DATA)
def test_every_log_axis_the_figures_build_labels_3_to_8_ticks_in_range(data):
    for name, fig in figures_for(DATA[data]):
        axes = log_axes(fig)
        assert axes, name
        for axis in axes:
            assert_readable(axis)


def test_no_figure_makes_a_log_axis_of_its_own():
    """Every log axis goes through common.log_axis, so the rule above covers all of them."""
    figures = Path(common.__file__).parent
    own = [p.name for p in figures.glob("*.py") if p.name != "common.py" and 'type="log"' in p.read_text()]
    assert own == []


@pytest.mark.parametrize("lo,hi", [(-0.26, -0.24), (-0.2, -0.19), (0.1, 0.5), (0.0, 0.3), (-1.2, 0.8), (-3.0, 0.2),
                                   (-0.5, 1.6), (-2.3, -1.2), (-45.0, -38.0), (-5.3, 21.5), (22.3, 22.4), (-95.0, 3.0),
                                   (-1000.5, 0.5), (-3000.0, 1000.0)])
def test_log_ticks_are_3_to_8_inside_any_range(lo, hi):
    positions, texts = common.log_ticks(lo, hi)
    assert 3 <= len(positions) <= MOST and all(lo - 1e-9 <= p <= hi + 1e-9 for p in positions)
    assert positions == sorted(positions) and len(set(texts)) == len(texts)


def test_wide_ranges_label_whole_decades_in_one_form():
    assert common.log_ticks(-3.2, 0.4) == ([-3.0, -2.0, -1.0, 0.0], ["0.001", "0.01", "0.1", "1"])
    positions, texts = common.log_ticks(-5.3, 21.5)  # an exploding run: every 5th decade
    assert positions == [-5.0, 0.0, 5.0, 10.0, 15.0, 20.0] and texts[:2] == ["10<sup>-5</sup>", "1"]
    assert common.log_ticks(-1000, 0)[0] == [-1000.0, -800.0, -600.0, -400.0, -200.0, 0.0]  # far beyond floats


@pytest.mark.parametrize("rho", [0.5, 0.9, 1.0, 1.25, 1.5, 10.0])
@pytest.mark.parametrize("seq_len", [20, 100, 1000])
@pytest.mark.parametrize("activation", ["tanh", "identity"])  # identity at ρ = 1: a flat line, once labelled "1" alone
def test_the_labs_log10_axis_labels_3_to_8_ticks_in_range(rho, seq_len, activation):
    result = lab_theory.lab_rnn(hidden=16, seq_len=seq_len, rho=rho, activation=activation)
    axis = lab.gradient_norms(result).layout.yaxis
    lo, hi = axis.range
    inside = [v for v in axis.tickvals if lo <= v <= hi]
    assert 3 <= len(inside) and len(axis.tickvals) <= MOST, (axis.range, axis.ticktext)


@pytest.mark.parametrize("x,text", [(624183839031296.0, "6.24×10¹⁴"), (1.3, "1.3"), (0.05, "0.05"), (2000.0, "2,000"),
                                    (1e-50, "10⁻⁵⁰"), (2.5e22, "2.5×10²²"), (-3e-7, "-3×10⁻⁷"), (0.0, "0"),
                                    (math.inf, "∞"), (math.nan, "NaN")])
def test_numbers_beyond_plain_range_read_in_scientific_notation(x, text):
    assert common.sci(x) == text


def test_an_exploded_gradient_is_drawn_where_finite_and_noted_where_not():
    """An exploding run's last probe: 0 at every step but the last (saturated units), 8×10²⁰ at the last."""
    norms = np.zeros(20, np.float32)
    norms[-1] = 8.2e20
    fig = gradients.gradient_through_time({"‖∂L/∂h_t‖": norms}, rate=6.24e14, y_range=(-6.0, 22.0))
    curve = fig.data[0]
    assert np.isnan(curve.y[:-1]).all() and curve.y[-1] == pytest.approx(8.2e20, rel=1e-6)
    assert curve.marker.size[-1] > 0 and not any(curve.marker.size[:-1])  # a lone point is a dot, not nothing
    assert "19 of 20 values are exactly 0" in fig.layout.annotations[0].text
    assert "6.24×10¹⁴" in fig.data[1].name
    assert_readable(fig.layout.yaxis)
    with_inf = gradients.gradient_through_time({"g": np.array([1.0, np.inf, 2.0], np.float32)})
    assert "1 of 3 values were past float range" in with_inf.layout.annotations[0].text


def test_overflowed_norms_sit_at_the_top_colour_of_the_heatmap():
    fig = gradients.gradient_heatmap([0, 2], np.array([[0.1, 1.0, 10.0], [0.0, 1e20, np.inf]]))
    heat = fig.data[0]
    assert heat.z[1, 2] == heat.zmax and heat.z[1, 0] == heat.zmin


def test_notes_keep_their_room_and_break_into_lines():
    states = np.random.default_rng(0).normal(size=(3, 12, 5)).astype(np.float32)
    fig = hidden.pca_trajectories([(0, states), (10, states)])
    note = fig.layout.annotations[-1].text
    assert fig.layout.margin.b >= common.note_margin(note.replace("<br>", " "))  # styling kept the note's room
    long = "norms at 200 evenly spaced t of 1001 · " * 6  # 240 columns
    lines = common.wrap(long)
    assert all(len(line) <= common.NOTE_COLUMNS for line in lines) and len(lines) == -(-len(long.strip()) // common.NOTE_COLUMNS)
    chinese = "每一行是一次探针，每一列是一个时间步" * 8  # 144 wide characters: no spaces to break at
    half = common.NOTE_COLUMNS // 2  # a wide character takes two columns
    assert [len(line) for line in common.wrap(chinese)] == [half] * (144 // half) + ([144 % half] if 144 % half else [])


def test_exploded_predictions_are_drawn_at_the_edge_with_a_note():
    target = np.array([0.5, 1.2, 0.8, 1.6])
    fig = training.regression_scatter(target, np.array([1.6e11, -3e10, 0.7, 1.5]))
    assert tuple(fig.layout.xaxis.range) == tuple(fig.layout.yaxis.range) == (0.0, 2.0)
    edge = fig.data[2]
    assert edge.y.tolist() == [2.0, 0.0] and edge.marker.symbol == "circle-open"
    assert "2 of 4 predictions lie beyond the chart, from -3×10¹⁰ to 1.6×10¹¹" in fig.layout.annotations[0].text
    near = training.regression_scatter(target, np.array([0.4, 2.3, 0.7, 1.5]))  # a little past the targets: shown
    assert len(near.data) == 2 and near.layout.yaxis.range[1] == pytest.approx(2.3)


def test_the_cliff_loss_axis_spans_its_paths():
    plain, plain_loss = cliff_theory.descent(clip=None)
    _, clipped_loss = cliff_theory.descent(clip=1.0)
    assert_readable(cliff.loss_along_paths({"plain": plain_loss, "clipped": clipped_loss}).layout.yaxis)


def test_the_clip_label_sits_on_its_line_on_the_log_axis():
    steps = np.arange(50)
    fig = gradients.parameter_gradients(steps, {"w": np.geomspace(0.1, 100, 50)}, grad_norm=np.geomspace(0.2, 200, 50),
                                        clip=5.0)
    label = next(a for a in fig.layout.annotations if a.text == "clip at 5")
    assert label.yref == "y" and label.y == pytest.approx(math.log10(5.0))  # a log axis places annotations in log10


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_equations_in_texts_are_latex_not_raw_braces(lang):
    """A subscript like c_{t-1} reads as raw braces outside $...$ (markdown shows it as typed)."""
    with open(Path(common.__file__).parents[1] / "text" / f"{lang}.toml", "rb") as f:
        table = tomllib.load(f)

    def texts(node, key=""):
        if isinstance(node, dict):
            for name, value in node.items():
                yield from texts(value, f"{key}.{name}" if key else name)
        else:
            yield key, str(node)

    raw = [key for key, text in texts(table) if re.search(r"[_^]\{", re.sub(r"\$[^$]*\$", "", text))]
    assert raw == []
