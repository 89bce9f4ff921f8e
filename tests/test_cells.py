"""The unrolled cells against torch.nn, the reference: outputs, final states, gradients, gates, state dicts."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnviz.cells import GATES, UnrolledRNN, fused_rnn

B, T, F, H = 3, 7, 4, 5
CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]
CELL_IDS = ["rnn-tanh", "rnn-relu", "lstm", "gru"]


def pair(mode, nonlinearity, layers, seed=0):
    """A fused torch.nn layer and an unrolled twin holding the same weights."""
    torch.manual_seed(seed)
    fused = fused_rnn(mode, F, H, layers, nonlinearity)
    twin = UnrolledRNN(mode, F, H, layers, nonlinearity)
    twin.load_state_dict(fused.state_dict())
    return fused, twin


def initial_state(mode, layers, gen):
    h0 = torch.randn(layers, B, H, generator=gen)
    return (h0, torch.randn(layers, B, H, generator=gen)) if mode == "lstm" else h0


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("mode,nonlinearity", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("with_hx", [False, True], ids=["zero-state", "given-state"])
def test_unrolled_matches_fused_forward_and_gradients(mode, nonlinearity, layers, with_hx):
    fused, twin = pair(mode, nonlinearity, layers)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(B, T, F, generator=gen)
    hx = initial_state(mode, layers, gen) if with_hx else None
    out_weight = torch.randn(B, T, H, generator=gen)  # a loss that reads every output and the final states
    state_weight = torch.randn(layers, B, H, generator=gen)

    results = []
    for layer in (fused, twin):
        xi = x.clone().requires_grad_(True)
        out, state = layer(xi, hx)
        loss = (out * out_weight).sum() + sum((s * state_weight).sum() for s in as_tuple(state))
        grads = torch.autograd.grad(loss, [xi, *layer.parameters()])
        results.append((out, as_tuple(state), grads, [name for name, _ in layer.named_parameters()]))

    (out_f, state_f, grads_f, names_f), (out_u, state_u, grads_u, names_u) = results
    assert names_u == names_f  # same parameters, same order, same names
    assert out_u.shape == (B, T, H)
    torch.testing.assert_close(out_u, out_f, rtol=0, atol=1e-5)
    assert len(state_u) == len(state_f) == (2 if mode == "lstm" else 1)
    for su, sf in zip(state_u, state_f):
        assert su.shape == (layers, B, H)
        torch.testing.assert_close(su, sf, rtol=0, atol=1e-5)
    for name, gu, gf in zip(["input", *names_f], grads_u, grads_f):
        torch.testing.assert_close(gu, gf, rtol=1e-4, atol=1e-5, msg=lambda m: f"gradient of {name}: {m}")


def _sl(w, k):  # the k-th H-row block of a stacked weight
    return w[k * H:(k + 1) * H]


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_recorded_gates_follow_pytorch_equations(mode, layers):
    """Each recorded gate, recomputed by hand from the docs' equations and the named row blocks."""
    _, twin = pair(mode, "tanh", layers, seed=2)
    x = torch.randn(B, T, F, generator=torch.Generator().manual_seed(3))
    record = {}
    with torch.no_grad():
        out, _ = twin(x, record=record)
    expected = {f"h.{l}" for l in range(layers)} | {f"gate.{l}.{g}" for l in range(layers) for g in GATES[mode]}
    if mode == "lstm":
        expected |= {f"c.{l}" for l in range(layers)}
    assert set(record) == expected
    torch.testing.assert_close(torch.stack(record[f"h.{layers - 1}"], 1), out)

    sig = torch.sigmoid
    for l in range(layers):
        w_ih, w_hh = getattr(twin, f"weight_ih_l{l}"), getattr(twin, f"weight_hh_l{l}")
        b_ih, b_hh = getattr(twin, f"bias_ih_l{l}"), getattr(twin, f"bias_hh_l{l}")
        inp = x if l == 0 else torch.stack(record[f"h.{l - 1}"], 1)
        h_prev, c_prev = torch.zeros(B, H), torch.zeros(B, H)
        for t in range(T):
            xt = inp[:, t]

            def pre(k):
                return xt @ _sl(w_ih, k).T + _sl(b_ih, k) + h_prev @ _sl(w_hh, k).T + _sl(b_hh, k)

            with torch.no_grad():
                if mode == "lstm":
                    want = {"i": sig(pre(0)), "f": sig(pre(1)), "g": torch.tanh(pre(2)), "o": sig(pre(3))}
                    c = want["f"] * c_prev + want["i"] * want["g"]
                    h = want["o"] * torch.tanh(c)
                    torch.testing.assert_close(record[f"c.{l}"][t], c, rtol=0, atol=1e-6)
                    c_prev = c
                else:
                    r, z = sig(pre(0)), sig(pre(1))
                    n = torch.tanh(xt @ _sl(w_ih, 2).T + _sl(b_ih, 2) + r * (h_prev @ _sl(w_hh, 2).T + _sl(b_hh, 2)))
                    want = {"r": r, "z": z, "n": n}
                    h = (1 - z) * n + z * h_prev
            for g, value in want.items():
                torch.testing.assert_close(record[f"gate.{l}.{g}"][t], value, rtol=0, atol=1e-6, msg=f"gate.{l}.{g} t={t}")
            torch.testing.assert_close(record[f"h.{l}"][t], h, rtol=0, atol=1e-6)
            h_prev = h


def test_record_prefix_names_a_second_stack():
    _, twin = pair("gru", "tanh", 1)
    record = {}
    twin(torch.zeros(B, T, F), record=record, prefix="dec.")
    assert sorted(record) == ["dec.gate.0.n", "dec.gate.0.r", "dec.gate.0.z", "dec.h.0"]
    assert all(len(v) == T and v[0].shape == (B, H) for v in record.values())


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("mode,nonlinearity", CELLS, ids=CELL_IDS)
def test_state_dicts_interchange_with_plain_torch_nn(mode, nonlinearity, layers):
    """A plain torch.nn layer's state dict loads into the twin and back (strict), with the same results."""
    torch.manual_seed(4)
    plain = {"rnn": lambda: nn.RNN(F, H, layers, nonlinearity=nonlinearity, batch_first=True),
             "lstm": lambda: nn.LSTM(F, H, layers, batch_first=True),
             "gru": lambda: nn.GRU(F, H, layers, batch_first=True)}[mode]
    source = plain()
    twin = UnrolledRNN(mode, F, H, layers, nonlinearity)
    twin.load_state_dict(source.state_dict())  # strict: raises on any name or shape mismatch
    back = plain()
    back.load_state_dict(twin.state_dict())
    for name, value in source.state_dict().items():
        assert torch.equal(back.state_dict()[name], value)
    x = torch.randn(B, T, F)
    with torch.no_grad():
        torch.testing.assert_close(twin(x)[0], source(x)[0], rtol=0, atol=1e-5)
    assert set(twin.state_dict()) == {f"{kind}_{part}_l{l}" for kind in ("weight", "bias")
                                      for part in ("ih", "hh") for l in range(layers)}


def test_twin_default_init_is_torch_range():
    twin = UnrolledRNN("lstm", F, H, 2)
    bound = H ** -0.5
    for name, p in twin.named_parameters():
        assert p.abs().max() <= bound, name
        assert p.std() > 0.2 * bound, name  # uniform, not constant


def test_unknown_cell_is_a_value_error():
    with pytest.raises(ValueError, match="unknown cell"):
        UnrolledRNN("transformer", F, H)
