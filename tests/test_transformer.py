"""The self-attention encoder: attention weights, causal and padding masks, recorded states and their
gradients, seeded initialisation that leaves the global RNG alone, and learning the adding task; then as
SeqModel's cell "transformer": causality from the task, its Trace and summary, what it refuses, and training."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz.config import ModelConfig, RunConfig, TaskConfig
from rnnviz.models import make_model
from rnnviz.probe import make_twin, record_trace, summarize
from rnnviz.tasks import make_task
from rnnviz.tasks.charlm import sample_text
from rnnviz.train import Trainer
from rnnviz.transformer import Transformer, visible_keys

B, T, F, D = 3, 7, 4, 8


def encoder(layers=2, heads=2, causal=False, seed=0) -> Transformer:
    return Transformer(F, D, layers=layers, heads=heads, causal=causal, generator=torch.Generator().manual_seed(seed))


def inputs(seed=1) -> torch.Tensor:
    return torch.randn(B, T, F, generator=torch.Generator().manual_seed(seed))  # (B, T, F)


def left_padding(lengths) -> torch.Tensor:
    """(B, T) bool, True at the last `length` positions (the sentiment task pads on the left)."""
    return torch.arange(T)[None, :] >= T - torch.tensor(lengths)[:, None]


def test_parameter_names_are_readable():
    names = {name for name, _ in encoder(layers=2).named_parameters()}
    assert {"input.weight", "input.bias", "position", "layers.0.attn.q.weight", "layers.0.attn.k.weight",
            "layers.0.attn.v.weight", "layers.0.attn.out.weight", "layers.1.attn_norm.weight",
            "layers.1.mlp_norm.bias", "layers.1.mlp.up.weight", "layers.1.mlp.down.bias"} <= names
    assert encoder().position.shape == (1000, D)  # the longest sequence a run may use


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_attention_rows_sum_to_one_and_record_has_every_layer(causal):
    model, record = encoder(layers=2, heads=4, causal=causal), {}
    hs, state = model(inputs(), record=record)
    assert hs.shape == (B, T, D) and state is None
    assert set(record) == {"h.input", "h.0", "h.1", "attn.self.0", "attn.self.1"}
    for l in range(2):
        alpha = record[f"attn.self.{l}"]
        assert alpha.shape == (B, 4, T, T)
        torch.testing.assert_close(alpha.sum(-1), torch.ones(B, 4, T))
        future = torch.ones(T, T, dtype=torch.bool).triu(1)  # key after query
        assert (alpha[..., future] == 0).all() == causal


def test_causal_output_at_t_ignores_later_inputs():
    model, x = encoder(causal=True), inputs()
    changed = x.clone()
    changed[:, 4:] = torch.randn(B, T - 4, F, generator=torch.Generator().manual_seed(5))
    before, _ = model(x)
    after, _ = model(changed)
    torch.testing.assert_close(after[:, :4], before[:, :4], rtol=0, atol=0)
    assert not torch.allclose(after[:, 4:], before[:, 4:])


def test_full_attention_sees_later_inputs():
    model, x = encoder(causal=False), inputs()
    changed = x.clone()
    changed[:, -1] += 1.0
    assert not torch.allclose(model(changed)[0][:, 0], model(x)[0][:, 0])


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_padding_gets_no_weight_and_does_not_change_real_positions(causal):
    model, x, mask = encoder(causal=causal), inputs(), left_padding([7, 4, 2])
    record = {}
    hs, _ = model(x, mask, record=record)
    alpha = record["attn.self.1"]  # (B, heads, T, T)
    keys = mask[:, None, None, :].expand_as(alpha)
    assert (alpha[~keys] == 0).all()
    assert torch.isfinite(hs).all()  # under a causal mask, left padding has queries that see no key at all
    rows = alpha.sum(-1)  # (B, heads, T): 1 where the query sees a real key, 0 where it sees none
    sees_a_key = mask.cumsum(1) > 0 if causal else torch.ones_like(mask)
    torch.testing.assert_close(rows, sees_a_key[:, None, :].expand_as(rows).float())
    noisy = x.masked_fill(~mask.unsqueeze(-1), 0.0) + (~mask).unsqueeze(-1) * 100.0  # different padding values
    again, _ = model(noisy, mask)
    torch.testing.assert_close(again[mask], hs[mask])


def test_recorded_states_are_the_residual_stream():
    model, x = encoder(layers=2), inputs()
    record = {}
    hs, _ = model(x, record=record)
    assert len(record["h.0"]) == T and record["h.0"][0].shape == (B, D)  # T tensors (B, d), as UnrolledRNN keeps
    torch.testing.assert_close(torch.stack(record["h.1"], dim=1), hs, rtol=0, atol=0)
    allowed = torch.ones(1, 1, T, T, dtype=torch.bool)
    direct = model.layers[0](model.input(x) + model.position[:T], allowed)[0]  # layer 0 by hand
    torch.testing.assert_close(torch.stack(record["h.0"], dim=1), direct)
    plain, _ = model(x)  # recording does not change the output
    torch.testing.assert_close(plain, hs, rtol=0, atol=0)


def test_gradients_of_recorded_states_are_dL_dh():
    model, x = encoder(layers=2), inputs()
    readout = torch.randn(T, D, generator=torch.Generator().manual_seed(3))
    loss_of = lambda hs: (hs * readout).sum()  # a loss reading every position
    record = {}
    loss = loss_of(model(x, record=record)[0])
    grads = torch.autograd.grad(loss, record["h.0"], retain_graph=True)  # as probe.record_trace asks for them
    recorded = torch.stack(grads, dim=1)  # (B, T, D)

    allowed = torch.ones(1, 1, T, T, dtype=torch.bool)
    h0 = model.layers[0](model.input(x) + model.position[:T], allowed)[0].detach().requires_grad_(True)
    (direct,) = torch.autograd.grad(loss_of(model.layers[1](h0, allowed)[0]), h0)
    torch.testing.assert_close(recorded, direct)
    last = torch.stack(torch.autograd.grad(loss, record["h.1"]), dim=1)
    torch.testing.assert_close(last, readout.expand(B, T, D))  # the last layer's stream is the output


def test_seeded_initialisation_is_repeatable_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    first, second, other = encoder(seed=4), encoder(seed=4), encoder(seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (name, a), (_, b), (_, c) in zip(first.named_parameters(), second.named_parameters(), other.named_parameters()):
        assert torch.equal(a, b), name
        if name.endswith("weight") and "norm" not in name:
            assert not torch.equal(a, c), name


@pytest.mark.parametrize("heads", [3, 0])
def test_heads_must_divide_hidden(heads):
    with pytest.raises(ValueError, match="heads must divide hidden"):
        Transformer(F, D, heads=heads)


def test_too_long_sequences_are_refused():
    with pytest.raises(ValueError, match="longer than the 5 positions"):
        Transformer(F, D, max_len=5)(inputs())


@pytest.mark.slow  # trains for 200 steps
def test_learns_the_adding_task_in_a_few_hundred_steps():
    """1 layer, 2 heads, d=64, read at the last position: far below the baseline 1/6 within 200 steps, where an
    LSTM needs about 1,100 steps to leave it (about 6 s on one idle thread)."""
    task = make_task(TaskConfig("adding", 50))
    model = Transformer(2, 64, layers=1, heads=2, generator=torch.Generator().manual_seed(0))
    with torch.random.fork_rng(devices=[]):  # the head's default init draws from the global RNG
        torch.manual_seed(0)
        head = nn.Linear(64, 1)
    params = [*model.parameters(), *head.parameters()]
    optimiser = torch.optim.Adam(params, lr=3e-3)
    data = torch.Generator().manual_seed(1)
    predict = lambda x: head(model(x)[0][:, -1])  # as SeqModel reads a recurrent stack
    for _ in range(200):
        batch = task.sample(50, data)
        loss = task.loss(predict(batch.x), batch.y)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
    val = task.sample(500, torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert task.loss(predict(val.x), val.y).item() < 0.01


# ---- as a model family of SeqModel (cell="transformer") ---------------------------------------------
def transformer_model(task_name: str, seq_len: int = 6, layers: int = 2, heads: int = 2, **model):
    task = make_task(TaskConfig(task_name, seq_len))
    cfg = ModelConfig(cell="transformer", hidden=D, layers=layers, heads=heads, embed_dim=5, **model)
    return task, make_model(cfg, task.io, seed=0)


def test_seqmodel_holds_one_transformer_for_training_and_probes():
    task, model = transformer_model("adding")
    assert model.rnn is None and model.recurrent_stacks() == {}
    assert model.encoder.input.in_features == 2 and len(model.encoder.layers) == 2
    assert model.encoder.layers[0].attn.heads == 2
    assert {name.split(".")[0] for name in model.state_dict()} == {"encoder", "head"}
    twin = make_twin(model)
    assert type(twin.encoder) is Transformer
    x = task.sample(3, torch.Generator().manual_seed(1)).x
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), rtol=0, atol=0)
        torch.testing.assert_close(model(x), model.head(model.encoder(x)[0][:, -1]))  # the last position's stream


@pytest.mark.parametrize("task_name,causal", [("charlm", True), ("sine", True), ("tagging", False), ("copy", False),
                                              ("adding", False), ("sentiment", False)])
def test_causal_attention_comes_from_the_task(task_name, causal):
    """Only tasks whose target at t is a later input (charlm, sine) hide later positions; tagging needs them."""
    task, model = transformer_model(task_name, seq_len=14)
    assert task.causal == causal and model.encoder.causal == causal


def test_running_parity_is_not_causal():
    task = make_task(TaskConfig("parity", 6, variant="running"))
    assert task.output == "per_step" and not task.io.causal


def test_trace_holds_the_residual_stream_self_attention_and_dL_dh():
    task, model = transformer_model("sentiment", seq_len=14, heads=4)
    data = task.sample(3, torch.Generator().manual_seed(1), "val")
    trace = record_trace(make_twin(model), task, data, step=2)
    per_layer = {f"{kind}.{l}" for l in range(2) for kind in ("h", "grad.h", "attn.self")}
    assert set(trace.names()) == {"x", "y", "pred", "loss", "mask", "h.input", "grad.h.input"} | per_layer
    assert trace.layers() == 2
    for l in range(2):
        assert trace[f"h.{l}"].shape == trace[f"grad.h.{l}"].shape == (3, 14, D)
        alpha = trace[f"attn.self.{l}"]
        assert alpha.shape == (3, 4, 14, 14)
        np.testing.assert_allclose(alpha.sum(-1), 1, atol=1e-6)
        assert (alpha[~np.broadcast_to(trace["mask"][:, None, None, :], alpha.shape)] == 0).all()

    # grad.h.0 against autograd through the model's own modules, h.0 made a leaf
    x = model.embed(data.x)
    allowed = visible_keys(14, data.mask, False, "cpu")
    h0 = model.encoder.layers[0](model.encoder.input(x) + model.encoder.position[:14], allowed)[0]
    np.testing.assert_allclose(trace["h.0"], h0.detach().numpy(), atol=1e-6)
    leaf = h0.detach().requires_grad_(True)
    pred = model.head(model.encoder.layers[1](leaf, allowed)[0][:, -1])
    (want,) = torch.autograd.grad(task.loss(pred, data.y), leaf)
    np.testing.assert_allclose(trace["grad.h.0"], want.numpy(), rtol=1e-4, atol=1e-8)

    summary = summarize(trace, make_twin(model))
    assert not any(k.startswith("sigma_max") for k in summary)  # no W_hh, no recurrence bound
    assert summary["grad.h.1"].shape == (14,)


@pytest.mark.parametrize("make,message", [
    (lambda: ModelConfig(cell="transformer", attention="dot"), "the transformer is attention already"),
    (lambda: ModelConfig(cell="transformer", bidirectional=True), "bidirectional is for rnn, lstm and gru"),
    (lambda: ModelConfig(cell="transformer", hidden=6, heads=4), "heads must divide hidden: 6 units"),
    (lambda: ModelConfig(cell="transformer", heads=5), "heads must be between 1 and 4"),
    (lambda: ModelConfig(cell="lstm", heads=0), "heads must be between 1 and 4"),
    (lambda: transformer_model("reversal"), "the transformer has no decoder"),
])
def test_what_the_transformer_refuses(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_recurrent_initialisation_options_leave_the_transformer_alone():
    """init, init_gain, forget_bias and nonlinearity concern W_hh, which the transformer has not: ignored."""
    _, plain = transformer_model("adding")
    _, other = transformer_model("adding", init="orthogonal", init_gain=2.0, forget_bias=3.0, nonlinearity="relu")
    for (name, a), b in zip(plain.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), name


def test_charlm_samples_from_a_transformer_with_a_window_of_seq_len_characters():
    task, model = transformer_model("charlm", seq_len=8)
    model.eval()
    text = sample_text(model, task, 20, temperature=1.0, gen=torch.Generator().manual_seed(3), prime="the ")
    assert len(text) == 20 and set(text) <= set(task.in_vocab)
    g, ids, written = torch.Generator().manual_seed(3), task.encode("the "), []
    with torch.no_grad():
        while len(written) < 20:
            logits = model(ids[-8:][None])[0, -1]  # the whole model on the last T characters
            nxt = torch.multinomial(torch.softmax(torch.log_softmax(logits, -1), -1), 1, generator=g)
            ids = torch.cat([ids, nxt])
            written.append(nxt.item())
    assert text == task.decode(written)


@pytest.mark.slow
def test_learns_the_adding_task_through_the_trainer():
    """The author's setting through the project's Trainer: eval MSE far below the baseline 1/6 within 300 steps."""
    cfg = RunConfig.from_flat({"task": "adding", "seq_len": 50, "cell": "transformer", "hidden": 64, "layers": 1,
                               "heads": 2, "optimizer": "adam", "lr": 3e-3, "batch": 50, "steps": 300, "clip": 1.0,
                               "device": "cpu", "seed": 0, "probe_every": 100})
    trainer = Trainer(cfg)
    start = time.perf_counter()
    assert trainer.run().kind == "completed"
    mse = trainer.evaluate(n=1000)["loss"]
    print(f"transformer on adding T=50: eval MSE {mse:.2e} after 300 steps ({time.perf_counter() - start:.1f} s), "
          f"baseline {trainer.task.baseline_loss:.3f}")
    assert mse < 0.01
