"""Trace: the exact list of names per cell, shapes, and grad.h checked against an independent computation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz.config import ModelConfig, TaskConfig
from rnnviz.families import family_of, trace_name
from rnnviz.models import make_model
from rnnviz.probe import make_twin, record_trace, summarize
from rnnviz.tasks import make_task

GATE_NAMES = {"rnn": "", "lstm": "ifgo", "gru": "rzn"}


def expected_names(cell: str, layers: int, prefix: str = "") -> set[str]:
    """The per-layer names a Trace holds for one recurrent stack (rnnviz/probe.py; prefix "dec." for a decoder)."""
    names = set()
    for l in range(layers):
        names |= {f"{prefix}h.{l}", f"grad.{prefix}h.{l}"}
        names |= {f"{prefix}gate.{l}.{g}" for g in GATE_NAMES[cell]}
        if cell == "lstm":
            names |= {f"{prefix}c.{l}", f"grad.{prefix}c.{l}"}
    return names


def trace_for(task_name: str, cell: str, layers: int = 1, seq_len: int = 6, attention: str = "none", batch: int = 3, **task):
    task = make_task(TaskConfig(task_name, seq_len, **task))
    model = make_model(ModelConfig(cell=cell, hidden=4, layers=layers, attention=attention, embed_dim=3), task.io, seed=0)
    twin = make_twin(model)
    data = task.sample(batch, torch.Generator().manual_seed(1), "val")
    return task, model, data, record_trace(twin, task, data, step=7)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_trace_names_and_shapes(cell, layers):
    _, model, data, trace = trace_for("adding", cell, layers)
    assert set(trace.names()) == {"x", "y", "pred", "loss"} | expected_names(cell, layers)
    assert trace.step == 7 and trace.layers() == layers
    B, T, H = 3, 6, 4
    assert trace["x"].shape == (B, T, 2) and trace["y"].shape == (B, 1) and trace["pred"].shape == (B, 1)
    assert trace["loss"].shape == () and trace["loss"].dtype == np.float32
    for name in expected_names(cell, layers):
        assert trace[name].shape == (B, T, H) and trace[name].dtype == np.float32, name
    np.testing.assert_array_equal(trace["x"], data.x.numpy())
    with torch.no_grad():  # the twin holds the fused model's weights, so it predicts the same
        np.testing.assert_allclose(trace["pred"], model(data.x).numpy(), rtol=0, atol=1e-5)


def test_trace_of_attention_and_padding_tasks():
    _, _, data, trace = trace_for("sentiment", "gru", seq_len=14, attention="dot")
    assert set(trace.names()) == {"x", "y", "pred", "loss", "mask", "attn"} | expected_names("gru", 1)
    assert trace["x"].dtype == np.int64 and trace["x"].shape == (3, 14)
    assert trace["attn"].shape == (3, 1, 14)
    np.testing.assert_allclose(trace["attn"].sum(-1), 1, atol=1e-6)
    assert (trace["attn"][:, 0][~trace["mask"]] == 0).all()
    np.testing.assert_allclose(trace["pred"].sum(-1), 1, atol=1e-6)  # class probabilities

    _, _, _, trace = trace_for("reversal", "lstm", layers=2, seq_len=5, attention="additive")
    assert set(trace.names()) == ({"x", "y", "pred", "loss", "attn"} | expected_names("lstm", 2)
                                  | expected_names("lstm", 2, "dec."))
    assert trace["attn"].shape == (3, 5, 5) and trace["pred"].shape == (3, 5, 8)
    np.testing.assert_allclose(trace["attn"].sum(-1), 1, atol=1e-6)


# ---- grad.h against an independent computation ---------------------------------------------------
def single_layer(stack: nn.Module, layer: int) -> nn.Module:
    """One layer of a fused torch.nn stack as its own 1-layer torch.nn module."""
    kind = type(stack)
    kwargs = {"nonlinearity": stack.nonlinearity} if kind is nn.RNN else {}
    one = kind(stack.input_size if layer == 0 else stack.hidden_size, stack.hidden_size, 1, batch_first=True, **kwargs)
    one.load_state_dict({name.replace(f"_l{layer}", "_l0"): value for name, value in stack.state_dict().items()
                         if name.endswith(f"_l{layer}")})
    return one


def reference_grad_h(model, task, data, layer: int, t: int) -> torch.Tensor:
    """dL/dh_t of `layer`, (B, H), by fused torch.nn layers only: run the layer up to t, make h_t a leaf, run
    it on from the leaf (and feed the leaf to the layer above as its step-t input), then autograd."""
    layers = [single_layer(model.rnn, l) for l in range(model.cfg.layers)]
    inputs = data.x
    for l, rnn in enumerate(layers):
        if l != layer:
            inputs, _ = rnn(inputs)
            continue
        before, state = rnn(inputs[:, :t + 1])  # (B, t+1, H)
        h, c = state if isinstance(state, tuple) else (state, None)
        leaf = h[0].detach().requires_grad_(True)  # (B, H)
        parts = [before[:, :t], leaf[:, None]]
        if t + 1 < inputs.shape[1]:
            hx = (leaf[None], c) if c is not None else leaf[None]
            parts.append(rnn(inputs[:, t + 1:], hx)[0])
        inputs = torch.cat(parts, dim=1)  # (B, T, H): this layer's outputs, h_t being the leaf
    pred = model.head(inputs[:, -1]) if task.io.output == "last" else model.head(inputs)
    return torch.autograd.grad(task.loss(pred, data.y), leaf)[0]


@pytest.mark.parametrize("task_name", ["adding", "sine"])  # one output at the end, one per step
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_grad_h_is_the_total_derivative_through_the_recurrence(cell, layers, task_name):
    task, model, data, trace = trace_for(task_name, cell, layers, seq_len=5)
    for layer in range(layers):
        for t in range(5):
            want = reference_grad_h(model, task, data, layer, t).numpy()
            np.testing.assert_allclose(trace[f"grad.h.{layer}"][:, t], want, rtol=1e-4, atol=1e-7,
                                       err_msg=f"grad.h.{layer} at t={t}")
    assert np.abs(trace["grad.h.0"][:, 0]).max() > 0  # the first step's gradient reached it


@pytest.mark.parametrize("layers", [1, 2])
def test_grad_c_satisfies_the_lstm_backward_recursion(layers):
    """dL/dc_t = dL/dh_t * o_t * (1 - tanh(c_t)^2) + dL/dc_{t+1} * f_{t+1}: c_t reaches L only through h_t and c_{t+1}."""
    _, _, _, tr = trace_for("adding", "lstm", layers, seq_len=5)
    for l in range(layers):
        via_h = tr[f"grad.h.{l}"] * tr[f"gate.{l}.o"] * (1 - np.tanh(tr[f"c.{l}"]) ** 2)  # (B, T, H)
        via_next = np.zeros_like(via_h)
        via_next[:, :-1] = tr[f"grad.c.{l}"][:, 1:] * tr[f"gate.{l}.f"][:, 1:]
        np.testing.assert_allclose(tr[f"grad.c.{l}"], via_h + via_next, rtol=1e-4, atol=1e-8)


def test_record_trace_leaves_no_gradients_on_the_twin_and_is_repeatable():
    task, model, data, first = trace_for("adding", "gru", 2)
    twin = make_twin(model)
    again = record_trace(twin, task, data, step=7)
    assert all(p.grad is None for p in twin.parameters())
    for name in first.names():
        np.testing.assert_array_equal(first[name], again[name])


def test_summarize_keeps_small_curves():
    task, model, data, trace = trace_for("adding", "lstm", 2)
    s = summarize(trace, make_twin(model))
    assert s["step"] == 7 and s["loss"] == pytest.approx(float(trace["loss"]))
    np.testing.assert_allclose(s["grad.h.1"], np.linalg.norm(trace["grad.h.1"], axis=-1).mean(0), rtol=1e-6)
    assert s["sat.gate.0.f"].shape == (2, 4)
    sigma = torch.linalg.matrix_norm(model.rnn.weight_hh_l1.detach(), ord=2).item()
    assert s["sigma_max.1"] == pytest.approx(sigma, rel=1e-5)


# ---- model families: what a model says it records is what its Trace holds ---------------------------
FAMILY_CASES = [("adding", {"cell": "rnn"}), ("adding", {"cell": "lstm", "bidirectional": True}),
                ("tagging", {"cell": "gru", "bidirectional": True}), ("sine", {"cell": "transformer"}),
                ("reversal", {"cell": "gru", "attention": "dot"})]


@pytest.mark.parametrize("task_name,model_options", FAMILY_CASES, ids=[f"{t}-{'-'.join(map(str, o.values()))}"
                                                                       for t, o in FAMILY_CASES])
def test_the_family_describes_the_trace_and_summary(task_name, model_options):
    task = make_task(TaskConfig(task_name, 5))
    model = make_model(ModelConfig(hidden=4, layers=2, embed_dim=3, **model_options), task.io, seed=0)
    family = model.family
    trace = record_trace(make_twin(model), task, task.sample(3, torch.Generator().manual_seed(1), "val"))
    prefixes = ["", "dec."] if task.io.output == "seq2seq" else [""]
    described, sigmas = set(), set()
    for prefix in prefixes:
        directions = family.directions if not prefix else ("",)  # a decoder reads one way
        for l in range(2):
            for d in directions:
                described |= {trace_name(s, l, prefix=prefix, direction=d) for s in family.states}
                described |= {"grad." + trace_name(s, l, prefix=prefix, direction=d) for s in family.states}
                described |= {trace_name("gate", l, g, prefix, d) for g in family.gates}
                if family.recurrent:
                    sigmas.add(f"sigma_max.{prefix}{l}{d}")
            if family.self_attention:
                described.add(f"attn.self.{l}")
        if family.self_attention:  # the stream entering layer 0: only its gradient reaches every position
            described |= {"h.input", "grad.h.input"}
    assert {n for n in trace.names() if n not in ("x", "y", "pred", "loss", "mask", "attn")} == described
    summary = summarize(trace, make_twin(model))
    assert {k for k in summary if k.startswith("sigma_max.")} == sigmas


def test_family_of_each_cell():
    lstm = family_of(ModelConfig(cell="lstm", bidirectional=True))
    assert (lstm.states, lstm.gates, lstm.directions) == (("h", "c"), ("i", "f", "g", "o"), ("", ".reverse"))
    assert lstm.features == 2
    assert lstm.recurrent and not lstm.self_attention and not lstm.spectral_bound and lstm.bounded
    rnn = family_of(ModelConfig(cell="rnn", nonlinearity="relu"))
    assert rnn.spectral_bound and not rnn.bounded and rnn.directions == ("",) and rnn.gates == ()
    transformer = family_of(ModelConfig(cell="transformer"))
    assert transformer.self_attention and not transformer.recurrent and transformer.gates == ()
    assert transformer.states == ("h",) and not transformer.bounded
