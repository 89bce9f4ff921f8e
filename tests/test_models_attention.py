"""SeqModel and attention: parameter names, torch.nn interchange, initialisation options, attention weights."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rnnviz.attention import AttentionPool, EncoderDecoderAttention
from rnnviz.config import ModelConfig
from rnnviz.models import make_model
from rnnviz.tasks.base import IOSpec

H = 6
NUMERIC_LAST = IOSpec(n_in=2, tokens_in=False, n_out=1, output="last")
TOKENS_SEQ2SEQ = IOSpec(n_in=9, tokens_in=True, n_out=8, output="seq2seq")


def padding_mask(lengths, T):
    """(B, T) bool, True at the last `length` positions (left padding, as the sentiment task pads)."""
    return torch.arange(T)[None, :] >= T - torch.tensor(lengths)[:, None]


# ---- attention -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["dot", "additive"])
def test_attention_pooling_rows_sum_to_one_and_padding_gets_zero(kind):
    torch.manual_seed(0)
    pool = AttentionPool(H, kind)
    hs = torch.randn(4, 7, H)  # (B, T, H)
    mask = padding_mask([7, 5, 1, 3], 7)
    pooled, alpha = pool(hs, mask)
    assert pooled.shape == (4, H) and alpha.shape == (4, 1, 7)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(4, 1))
    assert (alpha[~mask.unsqueeze(1)] == 0).all()
    assert (alpha[mask.unsqueeze(1)] > 0).all()
    torch.testing.assert_close(pooled, torch.einsum("bt,bth->bh", alpha[:, 0], hs))  # h = sum_k alpha_k h_k


def test_dot_pooling_is_softmax_of_omega_times_h():
    pool = AttentionPool(H, "dot")
    hs = torch.randn(2, 5, H)
    _, alpha = pool(hs)
    torch.testing.assert_close(alpha[:, 0], torch.softmax(hs @ pool.omega, dim=1))


@pytest.mark.parametrize("kind", ["dot", "additive"])
def test_encoder_decoder_attention_rows_sum_to_one_and_padding_gets_zero(kind):
    torch.manual_seed(1)
    attn = EncoderDecoderAttention(H, kind)
    dec, enc = torch.randn(3, 4, H), torch.randn(3, 6, H)  # (B, T_out, H), (B, T_in, H)
    mask = padding_mask([6, 2, 4], 6)
    context, alpha = attn(dec, enc, mask)
    assert context.shape == (3, 4, H) and alpha.shape == (3, 4, 6)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(3, 4))
    assert (alpha.masked_select(~mask.unsqueeze(1)) == 0).all()
    torch.testing.assert_close(context, alpha @ enc)
    if kind == "dot":  # Luong's score s_j . h_k
        torch.testing.assert_close(alpha, torch.softmax((dec @ enc.transpose(1, 2)).masked_fill(~mask[:, None], -math.inf), -1))


# ---- SeqModel ------------------------------------------------------------------------------------
def test_parameter_names_follow_torch_nn():
    cfg = ModelConfig(cell="lstm", hidden=H, layers=2, attention="dot")
    names = set(make_model(cfg, TOKENS_SEQ2SEQ, seed=0).state_dict())
    stack = {f"{kind}_{part}_l{l}" for kind in ("weight", "bias") for part in ("ih", "hh") for l in range(2)}
    assert names == ({"embed.weight", "head.weight", "head.bias"} | {f"rnn.{n}" for n in stack}
                     | {f"decoder.{n}" for n in stack})
    additive = make_model(ModelConfig(cell="gru", hidden=H, attention="additive"), NUMERIC_LAST, seed=0)
    assert {n for n in additive.state_dict() if n.startswith("attn.")} == {"attn.proj.weight", "attn.proj.bias", "attn.v"}


@pytest.mark.parametrize("layers", [1, 2])
def test_plain_torch_lstm_state_dict_loads_into_model_rnn_and_back(layers):
    cfg = ModelConfig(cell="lstm", hidden=H, layers=layers)
    model = make_model(cfg, NUMERIC_LAST, seed=0)
    torch.manual_seed(3)
    plain = nn.LSTM(2, H, layers, batch_first=True)
    model.rnn.load_state_dict(plain.state_dict())  # strict
    x = torch.randn(3, 5, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.head(plain(x)[0][:, -1]))
    back = nn.LSTM(2, H, layers, batch_first=True)
    back.load_state_dict(model.rnn.state_dict())
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in plain.state_dict().items())
    twin = make_model(cfg, NUMERIC_LAST, unrolled=True)  # and into the unrolled twin, by the same names
    twin.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("task_io,attention", [
    (NUMERIC_LAST, "none"), (NUMERIC_LAST, "additive"),
    (IOSpec(10, True, 9, "per_step"), "none"),
    (TOKENS_SEQ2SEQ, "dot"), (TOKENS_SEQ2SEQ, "additive"), (TOKENS_SEQ2SEQ, "none")])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_unrolled_model_matches_fused_model(task_io, attention, cell):
    cfg = ModelConfig(cell=cell, hidden=H, layers=2, attention=attention, embed_dim=5)
    fused = make_model(cfg, task_io, seed=0)
    twin = make_model(cfg, task_io, seed=1, unrolled=True)
    twin.load_state_dict(fused.state_dict())
    gen = torch.Generator().manual_seed(0)
    if task_io.tokens_in:
        x, dec_in = torch.randint(0, 9, (3, 5), generator=gen), torch.randint(0, 9, (3, 4), generator=gen)
    else:
        x, dec_in = torch.rand(3, 5, 2, generator=gen), None
    record = {}
    with torch.no_grad():
        out = fused(x, dec_in)
        torch.testing.assert_close(twin(x, dec_in, record=record), out, rtol=0, atol=1e-5)
    expected = {"last": (3, 1), "per_step": (3, 5, 9), "seq2seq": (3, 4, 8)}[task_io.output]
    assert out.shape == expected
    assert ("attn" in record) == (attention != "none")


def test_attention_on_a_per_step_task_is_refused():
    with pytest.raises(ValueError, match="attention"):
        make_model(ModelConfig(attention="dot"), IOSpec(1, False, 1, "per_step"))


def test_seed_gives_the_same_weights_and_leaves_the_global_rng_alone():
    cfg = ModelConfig(cell="gru", hidden=H)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a, b = make_model(cfg, NUMERIC_LAST, seed=7), make_model(cfg, NUMERIC_LAST, seed=7)
    assert torch.equal(torch.rand(1), expected_next)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    c = make_model(cfg, NUMERIC_LAST, seed=8)
    assert not torch.equal(a.rnn.weight_hh_l0, c.rnn.weight_hh_l0)


# ---- initialisation ------------------------------------------------------------------------------
def blocks(w, k):
    """The H x H gate blocks of a stacked (k*H, H) recurrent weight."""
    return [w[i * H:(i + 1) * H] for i in range(k)]


@pytest.mark.parametrize("gain", [0.5, 1.0, 2.5])
@pytest.mark.parametrize("cell,k", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_orthogonal_init_gives_singular_values_equal_to_the_gain(cell, k, gain):
    model = make_model(ModelConfig(cell=cell, hidden=H, layers=2, init="orthogonal", init_gain=gain), NUMERIC_LAST, seed=0)
    for layer in range(2):
        for block in blocks(getattr(model.rnn, f"weight_hh_l{layer}").detach(), k):
            torch.testing.assert_close(torch.linalg.svdvals(block), torch.full((H,), gain), rtol=0, atol=1e-5)
    if cell == "rnn":  # one block: the spectral radius itself is the knob
        eig = torch.linalg.eigvals(model.rnn.weight_hh_l0.detach()).abs()
        torch.testing.assert_close(eig.max(), torch.tensor(gain), rtol=0, atol=1e-5)


def test_identity_init_is_gain_times_identity_with_zero_recurrent_bias():
    model = make_model(ModelConfig(cell="rnn", nonlinearity="relu", hidden=H, init="identity", init_gain=0.9),
                       NUMERIC_LAST, seed=0)
    assert torch.equal(model.rnn.weight_hh_l0.detach(), 0.9 * torch.eye(H))
    assert torch.equal(model.rnn.bias_hh_l0.detach(), torch.zeros(H))
    gru = make_model(ModelConfig(cell="gru", hidden=H, init="identity"), NUMERIC_LAST, seed=0)
    assert all(torch.equal(b, torch.eye(H)) for b in blocks(gru.rnn.weight_hh_l0.detach(), 3))


@pytest.mark.parametrize("init", ["default", "orthogonal", "identity"])
def test_lstm_forget_bias_sums_to_the_option(init):
    cfg = ModelConfig(cell="lstm", hidden=H, layers=2, init=init, forget_bias=2.0)
    model = make_model(cfg, TOKENS_SEQ2SEQ, seed=0)
    for stack in (model.rnn, model.decoder):
        for layer in range(2):
            forget = getattr(stack, f"bias_ih_l{layer}")[H:2 * H] + getattr(stack, f"bias_hh_l{layer}")[H:2 * H]
            assert torch.equal(forget.detach(), torch.full((H,), 2.0))


def test_default_init_is_pytorchs():
    model = make_model(ModelConfig(cell="gru", hidden=H), NUMERIC_LAST, seed=0)
    for name, p in model.rnn.named_parameters():
        assert p.abs().max() <= H ** -0.5 and p.std() > 0, name
