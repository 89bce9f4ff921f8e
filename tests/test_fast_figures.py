"""Figures made with panels.figure skip plotly's check of their properties: each builder that uses it must make
exactly the figure the check would, with nothing plotly would reject (a misspelt property raises here)."""
import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from rnnviz.figures import cliff as cliff_figs
from rnnviz.figures import common, gates, gradients, hidden, panels
from rnnviz.figures import lab as lab_figs
from rnnviz.figures import training as figs
from rnnviz.tasks import REGISTRY
from rnnviz.theory import cliff, lab

RNG = np.random.default_rng(0)
T, H = 30, 6
steps, loss = np.arange(2000), RNG.uniform(0.1, 2.0, 2000).astype(np.float32)
clipped = loss > 1.5
saturation = {g: [(0, RNG.uniform(size=(2, H)).astype(np.float32)), (100, RNG.uniform(size=(2, H)).astype(np.float32))]
              for g in "ifo"}
tagged = [[("Jordan", "B-PER", "B-ORG"), ("said", "O", "O"), (".", "O", "O")]]
rnn_lab, lstm_lab = lab.lab_rnn(hidden=8, seq_len=40, rho=1.5), lab.lab_lstm(hidden=8, seq_len=40)
(plain, plain_loss), (clipped_path, clipped_loss) = cliff.descent(clip=None), cliff.descent(clip=1.0)
ws, bs = cliff.axes([plain, clipped_path], n=21)

BUILDERS = {
    "loss": lambda: figs.loss_figure(steps, loss, 0.17, title="Loss"),
    "grad norm": lambda: figs.grad_norm_figure(steps, loss * 3, clipped, 4.0),
    "accuracy": lambda: figs.accuracy_figure(steps, loss / 2, {"chance": 0.25, "one_way_ceiling": 0.8}),
    "scatter, one beyond the edge": lambda: figs.regression_scatter(RNG.uniform(size=(20, 1)), np.r_[RNG.uniform(size=19), 1e11]),
    "token rows": lambda: figs.token_rows_figure({"in": ["a", "b"], "target": ["b", "a"], "model": ["b", "b"]},
                                                 np.array([[np.nan] * 2, [np.nan] * 2, [1, 0]], np.float32)),
    "tagged words": lambda: figs.tagged_words_figure(tagged, REGISTRY["tagging"].out_vocab, per_line=2),
    "saturation scatter": lambda: gates.saturation_scatter(saturation),
    "saturation over training": lambda: gates.saturation_over_training([0, 50, 100], {"f": RNG.uniform(size=(3, 2, 4))}),
    "gate and gradient": lambda: gates.gate_and_gradient(RNG.uniform(size=(T, H)).astype(np.float32),
                                                         {"‖∂L/∂c_t‖": np.geomspace(1e-6, 1, T).astype(np.float32)}),
    "gradient through time": lambda: gradients.gradient_through_time({"g": np.geomspace(1e-4, 1, T).astype(np.float32)},
                                                                     rate=0.5),
    "coloured text, cut short": lambda: hidden.text_heatmap([(list("ab\ncd" * 600), RNG.uniform(-1, 1, 3000))], title="t"),
    "unit ranking": lambda: hidden.unit_ranking(RNG.uniform(-1, 1, H), feature="depth", title="r"),
    "pca paths": lambda: hidden.pca_trajectories([(0, RNG.normal(size=(3, T, H)).astype(np.float32))]),
    "time x unit heatmap, words slanted": lambda: common.time_unit_heatmap(RNG.normal(size=(T, H)).astype(np.float32),
                                                                           inputs=[f"word{k}" for k in range(T)]),
    "lab norms, with a note": lambda: lab_figs.gradient_norms(rnn_lab, title="norms", note="sampled"),
    "lab norms, LSTM": lambda: lab_figs.gradient_norms(lstm_lab),
    "lab singular values": lambda: lab_figs.singular_values(rnn_lab),
    "lab eigenvalues": lambda: lab_figs.eigenvalues(lstm_lab),
    "cliff map": lambda: cliff_figs.loss_map(ws, bs, cliff.loss(ws[None, :], bs[:, None]),
                                             {"plain": plain, "clipped": clipped_path}, start=cliff.START),
    "cliff losses": lambda: cliff_figs.loss_along_paths({"plain": plain_loss, "clipped": clipped_loss}),
}


def as_sent(fig: go.Figure) -> dict:
    return json.loads(pio.to_json(fig, validate=False))


@pytest.mark.parametrize("name", BUILDERS)
def test_an_unchecked_figure_is_the_checked_one(name):
    fig = BUILDERS[name]()
    assert fig._validate is False  # made by panels.figure, or this test checks nothing
    checked = go.Figure(fig.to_dict())  # plotly's check: raises on a property it does not know
    assert as_sent(fig) == as_sent(checked)


def test_figure_skips_the_check_that_go_figure_makes():
    with pytest.raises(ValueError):
        go.Figure(data=[panels.scatter(x=[1], y=[2], colour="red")])
    fig = panels.figure([panels.scatter(x=[1], y=[2], colour="red")], {})
    with pytest.raises(ValueError):
        go.Figure(fig.to_dict())
