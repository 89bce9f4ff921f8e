"""rnnviz.trace on your own torch.nn modules: equal to the module's outputs, its gradients checked against the
module's own autograd, integrated gradients complete, refusals named, the module left as it was, and the README's
notebook example run as a script."""
from __future__ import annotations

import re

import numpy as np
import plotly.io as pio
import pytest
import torch
from conftest import ROOT
from torch import nn

import rnnviz
from rnnviz.figures.common import time_unit_heatmap

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
GATES = {"rnn": "", "lstm": "ifgo", "gru": "rzn"}
B, T, F, H = 3, 7, 2, 5


def module_and_input(cell: str, layers: int, batch_first: bool, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    module = CELLS[cell](F, H, layers, batch_first=batch_first, **kwargs)
    x = torch.randn(B, T, F) if batch_first else torch.randn(T, B, F)
    return module, x


def batch_first(module, t: torch.Tensor) -> np.ndarray:
    return (t if module.batch_first else t.transpose(0, 1)).detach().numpy()


@pytest.mark.parametrize("batch_first_", [True, False])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_trace_equals_the_modules_outputs(cell, layers, batch_first_):
    module, x = module_and_input(cell, layers, batch_first_)
    tr = rnnviz.trace(module, x)
    output, last = module(x)
    h_n, c_n = last if cell == "lstm" else (last, None)
    expected = {"x"} | {f"h.{l}" for l in range(layers)} | {f"gate.{l}.{g}" for l in range(layers) for g in GATES[cell]}
    expected |= {f"c.{l}" for l in range(layers)} if cell == "lstm" else set()
    assert set(tr.names()) == expected
    np.testing.assert_array_equal(tr["x"], batch_first(module, x))
    np.testing.assert_allclose(tr[f"h.{layers - 1}"], batch_first(module, output), rtol=0, atol=1e-5)
    for l in range(layers):
        assert tr[f"h.{l}"].shape == (B, T, H) and tr[f"h.{l}"].dtype == np.float32
        np.testing.assert_allclose(tr[f"h.{l}"][:, -1], h_n[l].detach().numpy(), rtol=0, atol=1e-5)
        if c_n is not None:
            np.testing.assert_allclose(tr[f"c.{l}"][:, -1], c_n[l].detach().numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_gradients_match_the_modules_own_autograd(cell):
    module, x = module_and_input(cell, 2, batch_first=False)
    weights = torch.randn(H)
    loss = lambda out: (out[0][-1] * weights).sum()  # noqa: E731  the last step's output, time first
    tr = rnnviz.trace(module, x, loss=loss)
    x_leaf = x.clone().requires_grad_(True)
    value = loss(module(x_leaf))
    (grad_x,) = torch.autograd.grad(value, x_leaf)
    assert tr["loss"].shape == () and tr["loss"] == pytest.approx(value.item(), abs=1e-5)
    np.testing.assert_allclose(tr["grad.x"], batch_first(module, grad_x), rtol=0, atol=1e-5)  # batch first, like x
    # dL/dh_t of the top layer at the last step is the loss's own weights; earlier steps reach it through the recurrence
    np.testing.assert_allclose(tr["grad.h.1"][:, -1], weights.expand(B, H).numpy(), rtol=0, atol=1e-6)
    assert np.abs(tr["grad.h.0"][:, 0]).max() > 0
    if cell == "lstm":
        assert tr["grad.c.1"].shape == (B, T, H)


@pytest.mark.parametrize("baseline", [None, "random"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_integrated_gradients_are_complete_at_64_steps(cell, baseline):
    module, x = module_and_input(cell, 2, batch_first=True, seed=3)

    def loss(out):
        output, last = out
        final = last[1] if cell == "lstm" else last  # c_n or h_n, (layers, B, H)
        return output[:, -1].pow(2).mean() + final[0].sum()  # a mean: each point of the path needs its own loss

    base = None if baseline is None else 0.5 * torch.randn_like(x)
    tr = rnnviz.trace(module, x, loss=loss, ig_steps=64, baseline=base)
    with torch.no_grad():
        gap = loss(module(x)).item() - loss(module(torch.zeros_like(x) if base is None else base)).item()
    assert tr["saliency.ig"].shape == tr["saliency.grad_x"].shape == (B, T)
    assert abs(tr["saliency.ig"].sum() - gap) <= 0.01 * abs(gap), (tr["saliency.ig"].sum(), gap)
    np.testing.assert_allclose(tr["saliency.grad_x"], (tr["grad.x"] * tr["x"]).sum(-1), rtol=1e-6, atol=1e-6)


def test_a_module_without_biases_or_in_eval_mode_with_dropout_is_traced():
    module, x = module_and_input("gru", 2, batch_first=True, bias=False, dropout=0.5)
    module.eval()
    np.testing.assert_allclose(rnnviz.trace(module, x)["h.1"], module(x)[0].detach().numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("make, message", [
    (lambda: nn.LSTM(F, H, bidirectional=True), "bidirectional modules: not yet"),
    (lambda: nn.LSTM(F, H, proj_size=2), "projections are not supported"),
    (lambda: nn.GRU(F, H, 2, dropout=0.2), "call module.eval"),
])
def test_what_the_twin_cannot_mirror_is_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        rnnviz.trace(make(), torch.randn(T, B, F))


def test_bad_modules_inputs_and_losses_are_refused():
    module = nn.LSTM(F, H, batch_first=True)
    with pytest.raises(TypeError, match="torch.nn.RNN, LSTM or GRU"):
        rnnviz.trace(nn.Linear(F, H), torch.randn(B, T, F))
    with pytest.raises(ValueError, match=r"\(batch, time, features\) with 2 features"):
        rnnviz.trace(module, torch.randn(T, F))
    with pytest.raises(TypeError, match="float tensor"):
        rnnviz.trace(module, torch.zeros(B, T, F, dtype=torch.long))
    with pytest.raises(ValueError, match="scalar"):
        rnnviz.trace(module, torch.randn(B, T, F), loss=lambda out: out[0])
    with pytest.raises(ValueError, match="need a loss"):
        rnnviz.trace(module, torch.randn(B, T, F), ig_steps=8)
    with pytest.raises(ValueError, match="whole number of steps"):
        rnnviz.trace(module, torch.randn(B, T, F), loss=lambda out: out[0].sum(), ig_steps=-1)


def test_the_module_and_the_random_state_are_left_as_they_were():
    module, x = module_and_input("lstm", 2, batch_first=True, dropout=0.3)
    module.eval()
    module.double()  # any dtype: the twin computes in float32 on the CPU
    before = {k: v.clone() for k, v in module.state_dict().items()}
    rng = torch.get_rng_state()
    rnnviz.trace(module, x.double(), loss=lambda out: out[0].sum(), ig_steps=4)
    assert torch.equal(torch.get_rng_state(), rng)
    assert not module.training and all(p.grad is None for p in module.parameters())
    assert all(torch.equal(v, before[k]) and v.dtype == torch.float64 for k, v in module.state_dict().items())


def test_a_figure_builder_draws_a_trace_for_jupyter(monkeypatch):
    module, x = module_and_input("lstm", 1, batch_first=True)
    tr = rnnviz.trace(module, x)
    fig = time_unit_heatmap(tr["h.0"][0], title="h")
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")  # what JupyterLab's kernel selects
    bundle = fig._repr_mimebundle_()  # what Jupyter calls to show the figure
    assert bundle["application/vnd.plotly.v1+json"]["data"][0]["type"] == "heatmap"
    assert np.shape(fig.data[0].z) == (H, T)  # units down, time across


def readme_notebook_code() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## In a notebook", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readmes_notebook_example_runs_as_a_script(capsys):
    code = readme_notebook_code()
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    tr, fig = scope["tr"], scope["fig"]
    assert {"h.0", "gate.0.f", "grad.h.0", "saliency.ig"} <= set(tr.names())
    assert fig.data[0].type == "heatmap"
    ig, gap = map(float, capsys.readouterr().out.split(" = "))  # what it prints: IG's sum = loss(x) - loss(0)
    assert ig == pytest.approx(gap, rel=0.01)
