"""Bidirectional recurrent layers: the unrolled twin against torch.nn's fused layer, their trace names and
gradients, the readout of one-output tasks, initialisation, what they refuse, and the tagging task they are for."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz.cells import GATES, UnrolledRNN, fused_rnn
from rnnviz.config import ModelConfig, RunConfig, TaskConfig
from rnnviz.models import make_model
from rnnviz.probe import make_twin, record_trace, summarize
from rnnviz.tasks import make_task
from rnnviz.tasks.base import IOSpec
from rnnviz.train import Trainer

B, T, F, H = 3, 7, 4, 5
CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]
CELL_IDS = ["rnn-tanh", "rnn-relu", "lstm", "gru"]
PLAIN = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
NUMERIC_LAST = IOSpec(n_in=F, tokens_in=False, n_out=1, output="last")


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---- the twin against the fused layer ------------------------------------------------------------
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("mode,nonlinearity", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("with_hx", [False, True], ids=["zero-state", "given-state"])
def test_unrolled_matches_fused_bidirectional_layer(mode, nonlinearity, layers, with_hx):
    torch.manual_seed(0)
    fused = fused_rnn(mode, F, H, layers, nonlinearity, bidirectional=True)
    twin = UnrolledRNN(mode, F, H, layers, nonlinearity, bidirectional=True)
    twin.load_state_dict(fused.state_dict())  # strict: the same names, *_reverse included
    g = gen(1)
    x = torch.randn(B, T, F, generator=g)
    hx = None
    if with_hx:  # (2L, B, H): layer 0 forward, layer 0 reverse, layer 1 forward, ...
        hx = torch.randn(2 * layers, B, H, generator=g)
        hx = (hx, torch.randn(2 * layers, B, H, generator=g)) if mode == "lstm" else hx
    out_weight = torch.randn(B, T, 2 * H, generator=g)  # a loss reading every output and every final state
    state_weight = torch.randn(2 * layers, B, H, generator=g)

    results = []
    for layer in (fused, twin):
        xi = x.clone().requires_grad_(True)
        out, state = layer(xi, hx)
        loss = (out * out_weight).sum() + sum((s * state_weight).sum() for s in as_tuple(state))
        results.append((out, as_tuple(state), torch.autograd.grad(loss, [xi, *layer.parameters()])))
    (out_f, state_f, grads_f), (out_u, state_u, grads_u) = results
    assert out_u.shape == (B, T, 2 * H)
    names = ["input", *(name for name, _ in fused.named_parameters())]
    differences = {"output": (out_u - out_f).abs().max().item(),
                   "state": max((su - sf).abs().max().item() for su, sf in zip(state_u, state_f)),
                   "gradient": max((gu - gf).abs().max().item() for gu, gf in zip(grads_u, grads_f))}
    print(f"{mode} L={layers} max |twin - fused|: " + ", ".join(f"{k} {v:.1e}" for k, v in differences.items()))
    torch.testing.assert_close(out_u, out_f, rtol=0, atol=1e-5)
    for su, sf in zip(state_u, state_f):
        assert su.shape == (2 * layers, B, H)
        torch.testing.assert_close(su, sf, rtol=0, atol=1e-5)
    assert any(name.endswith("_reverse") for name in names)
    for name, gu, gf in zip(names, grads_u, grads_f):
        torch.testing.assert_close(gu, gf, rtol=1e-4, atol=1e-5, msg=lambda m: f"gradient of {name}: {m}")


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_backward_direction_is_a_one_way_layer_reading_the_sequence_reversed(mode):
    """h.{l}.reverse (and its gates) at t: the reverse weights run over x_{T-1} .. x_t; the layer's output is
    [h.{l}, h.{l}.reverse] side by side, and the layer above reads it."""
    torch.manual_seed(2)
    twin = UnrolledRNN(mode, F, H, 2, bidirectional=True)
    x = torch.randn(B, T, F, generator=gen(3))
    record = {}
    with torch.no_grad():
        out, _ = twin(x, record=record)
    per_layer = {"h"} | ({"c"} if mode == "lstm" else set())
    expected = {f"{kind}.{l}{d}" for kind in per_layer for l in range(2) for d in ("", ".reverse")}
    expected |= {f"gate.{l}{d}.{g}" for l in range(2) for d in ("", ".reverse") for g in GATES[mode]}
    assert set(record) == expected

    def one_way(layer: int, suffix: str) -> UnrolledRNN:
        n_in = F if layer == 0 else 2 * H
        single = UnrolledRNN(mode, n_in, H, 1)
        single.load_state_dict({name.replace(f"_l{layer}{suffix}", "_l0"): value for name, value in twin.state_dict().items()
                                if name.endswith(f"_l{layer}{suffix}")})
        return single

    layer_in = x
    for l in range(2):
        forward, backward = {}, {}
        with torch.no_grad():
            one_way(l, "")(layer_in, record=forward)
            one_way(l, "_reverse")(layer_in.flip(1), record=backward)  # reads x_{T-1} first
        for name, values in backward.items():  # the reversed reader's step s is time T-1-s
            want = torch.stack(values, 1).flip(1)
            got = torch.stack(record[name.replace(".0", f".{l}.reverse", 1)], 1)
            torch.testing.assert_close(got, want, rtol=0, atol=1e-6, msg=name)
        for name, values in forward.items():
            torch.testing.assert_close(torch.stack(record[name.replace(".0", f".{l}", 1)], 1), torch.stack(values, 1))
        layer_in = torch.cat([torch.stack(record[f"h.{l}"], 1), torch.stack(record[f"h.{l}.reverse"], 1)], -1)
    torch.testing.assert_close(out, layer_in, rtol=0, atol=0)


@pytest.mark.parametrize("layers", [1, 2])
def test_plain_bidirectional_torch_lstm_loads_into_the_model_and_its_twin(layers):
    """A one-output model reads the forward direction's last state and the backward direction's first: torch.nn's
    h_n of the top layer."""
    cfg = ModelConfig(cell="lstm", hidden=H, layers=layers, bidirectional=True)
    model = make_model(cfg, NUMERIC_LAST, seed=0)
    torch.manual_seed(3)
    plain = nn.LSTM(F, H, layers, batch_first=True, bidirectional=True)
    model.rnn.load_state_dict(plain.state_dict())  # strict
    assert model.head.in_features == 2 * H
    x = torch.randn(B, T, F)
    with torch.no_grad():
        out, (h_n, _) = plain(x)
        torch.testing.assert_close(model(x), model.head(torch.cat([out[:, -1, :H], out[:, 0, H:]], -1)))
        torch.testing.assert_close(model(x), model.head(torch.cat([h_n[-2], h_n[-1]], -1)))
    twin = make_model(cfg, NUMERIC_LAST, unrolled=True)
    twin.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), rtol=0, atol=1e-5)


def test_backward_half_of_a_padded_sequence_is_read_at_its_first_real_word():
    """Left padding (the sentiment task's) comes last for the backward direction: the readout takes it at the first
    real step, so padding never follows what it read."""
    task = make_task(TaskConfig("sentiment", 14))
    model = make_model(ModelConfig(cell="gru", hidden=H, bidirectional=True, embed_dim=3), task.io, seed=0)
    data = task.sample(6, gen(1), "val")
    assert not data.mask.all()
    with torch.no_grad():
        out, _ = model.rnn(model.embed(data.x))  # (B, T, 2H)
        first = [int(row.nonzero()[0]) for row in data.mask]
        want = torch.stack([torch.cat([out[b, -1, :H], out[b, first[b], H:]]) for b in range(6)])
        torch.testing.assert_close(model(data.x, mask=data.mask), model.head(want))


# ---- initialisation ------------------------------------------------------------------------------
@pytest.mark.parametrize("cell,blocks", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_orthogonal_init_reaches_the_reverse_weights(cell, blocks):
    model = make_model(ModelConfig(cell=cell, hidden=H, layers=2, init="orthogonal", init_gain=1.7, bidirectional=True),
                       NUMERIC_LAST, seed=0)
    for layer in range(2):
        w = getattr(model.rnn, f"weight_hh_l{layer}_reverse").detach()
        for k in range(blocks):
            torch.testing.assert_close(torch.linalg.svdvals(w[k * H:(k + 1) * H]), torch.full((H,), 1.7), rtol=0, atol=1e-5)


def test_identity_init_and_forget_bias_reach_the_reverse_weights():
    cfg = ModelConfig(cell="rnn", hidden=H, init="identity", init_gain=0.9, bidirectional=True)
    rnn = make_model(cfg, NUMERIC_LAST, seed=0)
    assert torch.equal(rnn.rnn.weight_hh_l0_reverse.detach(), 0.9 * torch.eye(H))
    assert torch.equal(rnn.rnn.bias_hh_l0_reverse.detach(), torch.zeros(H))
    lstm = make_model(ModelConfig(cell="lstm", hidden=H, layers=2, forget_bias=2.0, bidirectional=True), NUMERIC_LAST, seed=0)
    for layer in range(2):
        forget = (getattr(lstm.rnn, f"bias_ih_l{layer}_reverse")[H:2 * H]
                  + getattr(lstm.rnn, f"bias_hh_l{layer}_reverse")[H:2 * H])
        assert torch.equal(forget.detach(), torch.full((H,), 2.0))


# ---- what bidirectional layers refuse ------------------------------------------------------------
@pytest.mark.parametrize("task,message", [
    ("charlm", "would see the next inputs"), ("sine", "would see the next inputs"),
    ("reversal", "not available for encoder-decoder tasks")])
def test_tasks_a_bidirectional_model_cannot_do_are_refused(task, message):
    io = make_task(TaskConfig(task, 8)).io
    with pytest.raises(ValueError, match=message):
        make_model(ModelConfig(cell="lstm", hidden=H, bidirectional=True, attention="dot" if task == "reversal" else "none"),
                   io, seed=0)


def test_bidirectional_takes_attention_pooling_over_both_directions():
    task = make_task(TaskConfig("sentiment", 14))
    cfg = ModelConfig(cell="lstm", hidden=H, bidirectional=True, attention="additive", embed_dim=3)
    model = make_model(cfg, task.io, seed=0)
    assert model.attn.proj.in_features == model.head.in_features == 2 * H  # keys and pooled state: both directions
    data = task.sample(3, gen(1), "val")
    trace = record_trace(make_twin(model), task, data)
    assert trace["attn"].shape == (3, 1, 14)
    np.testing.assert_allclose(trace["attn"].sum(-1), 1, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(trace["pred"], torch.softmax(model(data.x, mask=data.mask), -1).numpy(), atol=1e-5)


# ---- the Trace ------------------------------------------------------------------------------------
def bidirectional_trace(task_name: str, cell: str, layers: int, seq_len: int = 5):
    task = make_task(TaskConfig(task_name, seq_len))
    model = make_model(ModelConfig(cell=cell, hidden=4, layers=layers, bidirectional=True, embed_dim=3), task.io, seed=0)
    data = task.sample(3, gen(1), "val")
    return task, model, data, record_trace(make_twin(model), task, data, step=4)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_trace_names_count_layers_not_directions(cell):
    task, model, data, trace = bidirectional_trace("adding", cell, 2)
    per_layer = {"h"} | ({"c"} if cell == "lstm" else set())
    expected = {"x", "y", "pred", "loss"}
    for l in range(2):
        for d in ("", ".reverse"):
            expected |= {f"{kind}.{l}{d}" for kind in per_layer} | {f"grad.{kind}.{l}{d}" for kind in per_layer}
            expected |= {f"gate.{l}{d}.{g}" for g in GATES[cell]}
    assert set(trace.names()) == expected
    assert trace.layers() == 2
    assert all(trace[f"h.{l}{d}"].shape == (3, 5, 4) for l in range(2) for d in ("", ".reverse"))
    with torch.no_grad():
        np.testing.assert_allclose(trace["pred"], model(data.x).numpy(), rtol=0, atol=1e-5)
    s = summarize(trace, make_twin(model))
    for l in range(2):
        for d, suffix in (("", ""), (".reverse", "_reverse")):
            sigma = torch.linalg.matrix_norm(getattr(model.rnn, f"weight_hh_l{l}{suffix}").detach(), ord=2).item()
            assert s[f"sigma_max.{l}{d}"] == pytest.approx(sigma, rel=1e-5)
            norms = np.linalg.norm(trace[f"grad.h.{l}{d}"], axis=-1).mean(0)  # (T,)
            np.testing.assert_allclose(s[f"grad.h.{l}{d}"], norms, rtol=1e-6)
    if cell == "lstm":
        assert s["sat.gate.1.reverse.f"].shape == (2, 4)


def one_way_layer(stack: nn.Module, layer: int, suffix: str) -> nn.Module:
    """One direction ("" or "_reverse") of one layer of a fused bidirectional stack, as a one-way torch.nn layer."""
    return _part(stack, layer, bidirectional=False, names={f"_l{layer}{suffix}": "_l0"})


def bidirectional_layer(stack: nn.Module, layer: int) -> nn.Module:
    """One layer of a fused bidirectional stack, both directions, as its own torch.nn layer."""
    return _part(stack, layer, bidirectional=True, names={f"_l{layer}_reverse": "_l0_reverse", f"_l{layer}": "_l0"})


def _part(stack, layer, bidirectional, names):
    kind = type(stack)
    kwargs = {"nonlinearity": stack.nonlinearity} if kind is nn.RNN else {}
    n_in = stack.input_size if layer == 0 else 2 * stack.hidden_size
    one = kind(n_in, stack.hidden_size, 1, batch_first=True, bidirectional=bidirectional, **kwargs)
    one.load_state_dict({name.removesuffix(ending) + new: value for name, value in stack.state_dict().items()
                         for ending, new in names.items() if name.endswith(ending)})
    return one


def run_with_leaf(layer: nn.Module, seq: torch.Tensor, s: int):
    """A one-way layer's outputs over seq (B, T, F), with its state after step s made a leaf: (outputs, leaf)."""
    before, state = layer(seq[:, :s + 1])
    h, c = state if isinstance(state, tuple) else (state, None)
    leaf = h[0].detach().requires_grad_(True)  # (B, H)
    pieces = [before[:, :s], leaf[:, None]]
    if s + 1 < seq.shape[1]:
        pieces.append(layer(seq[:, s + 1:], (leaf[None], c) if c is not None else leaf[None])[0])
    return torch.cat(pieces, dim=1), leaf


def reference_grad_h(model, task, data, layer: int, t: int, reverse: bool) -> torch.Tensor:
    """dL/dh_t of one direction of `layer`, (B, H), by fused torch.nn layers only: that direction as a one-way
    layer whose state at t is a leaf (the backward one reading the reversed sequence, where time t is its step
    T-1-t), the other direction and the other layers fused, the readout as torch.nn's h_n; then autograd."""
    stack, H = model.rnn, model.cfg.hidden
    inputs = model.embed(data.x) if model.embed is not None else data.x
    T = inputs.shape[1]
    for l in range(model.cfg.layers):
        if l != layer:
            inputs, _ = bidirectional_layer(stack, l)(inputs)
            continue
        forward, backward = one_way_layer(stack, l, ""), one_way_layer(stack, l, "_reverse")
        if reverse:
            own, leaf = run_with_leaf(backward, inputs.flip(1), T - 1 - t)
            inputs = torch.cat([forward(inputs)[0], own.flip(1)], dim=-1)  # (B, T, 2H), forward features first
        else:
            own, leaf = run_with_leaf(forward, inputs, t)
            inputs = torch.cat([own, backward(inputs.flip(1))[0].flip(1)], dim=-1)
    if task.io.output == "last":
        pred = model.head(torch.cat([inputs[:, -1, :H], inputs[:, 0, H:]], dim=-1))
    else:
        pred = model.head(inputs)
    return torch.autograd.grad(task.loss(pred, data.y), leaf)[0]


@pytest.mark.parametrize("task_name", ["adding", "tagging"])  # one output at the end, one per step (words)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_grad_h_reverse_is_the_total_derivative(cell, layers, task_name):
    task, model, data, trace = bidirectional_trace(task_name, cell, layers, seq_len=5)
    for layer in range(layers):
        for reverse in (False, True):
            name = f"grad.h.{layer}" + (".reverse" if reverse else "")
            for t in range(5):
                want = reference_grad_h(model, task, data, layer, t, reverse).numpy()
                np.testing.assert_allclose(trace[name][:, t], want, rtol=1e-4, atol=1e-7, err_msg=f"{name} at t={t}")
    assert np.abs(trace["grad.h.0.reverse"][:, -1]).max() > 0  # reached the backward direction's first step


# ---- the task bidirectional layers are for -------------------------------------------------------
def tagging_accuracy(bidirectional: bool) -> tuple[float, float]:
    """Token accuracy on 1000 fresh windows after the tagging task's defaults through the Trainer, and seconds."""
    cfg = RunConfig.from_flat({**make_task(TaskConfig("tagging")).defaults, "task": "tagging", "cell": "lstm",
                               "bidirectional": bidirectional, "device": "cpu", "seed": 0, "probe_every": 100})
    trainer = Trainer(cfg)
    start = time.perf_counter()
    assert trainer.run().kind == "completed"
    return trainer.evaluate(n=1000)["accuracy"], time.perf_counter() - start


@pytest.mark.slow
def test_tagging_needs_reading_both_ways():
    task = make_task(TaskConfig("tagging", 24))
    (both, both_s), (one, one_s) = tagging_accuracy(True), tagging_accuracy(False)
    print(f"tagging, 300 steps: bidirectional {both:.4f} ({both_s:.1f} s), one-way {one:.4f} ({one_s:.1f} s), "
          f"left-to-right ceiling {task.ceiling:.4f}")
    assert both >= 0.95
    assert abs(one - task.ceiling) < 0.02 and one < 0.93
