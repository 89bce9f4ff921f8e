"""Saliency of a SeqModel's probe batch: integrated gradients complete at 64 steps for numeric and token inputs
(attributed at the embedding), every point of the path its own loss however many share a pass, and gradient x
input checked against a computation by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnviz import saliency
from rnnviz.config import ModelConfig, TaskConfig
from rnnviz.models import make_model
from rnnviz.probe import make_twin
from rnnviz.saliency import attributed_inputs, loss_at, midpoints, saliency_arrays
from rnnviz.tasks import make_task

CASES = {  # task, cell, attention, seq_len: numbers and tokens, one output, one per step, padding, a decoder
    "adding": ("lstm", "none", 8), "sine": ("gru", "none", 8), "charlm": ("rnn", "none", 8),
    "sentiment": ("gru", "dot", 14), "reversal": ("lstm", "dot", 5),
}


def setup(task_name: str, batch: int = 4):
    cell, attention, seq_len = CASES[task_name]
    task = make_task(TaskConfig(task_name, seq_len))
    model = make_model(ModelConfig(cell=cell, hidden=6, attention=attention, embed_dim=4), task.io, seed=1)
    data = task.sample(batch, torch.Generator().manual_seed(2), "val")
    return task, make_twin(model), model, data


@pytest.mark.parametrize("task_name", list(CASES))
def test_integrated_gradients_sum_to_the_loss_difference_at_64_steps(task_name):
    task, twin, _, data = setup(task_name)
    x = attributed_inputs(twin, data)  # (B, T, F or E)
    arrays = saliency_arrays(twin, task, data, steps=64)
    assert arrays["saliency.ig"].shape == arrays["saliency.grad_x"].shape == data.x.shape[:2]
    assert all(a.dtype == np.float32 for a in arrays.values())
    with torch.no_grad():
        gap = (loss_at(twin, task, data, x[None]) - loss_at(twin, task, data, torch.zeros_like(x)[None])).item()
    assert abs(gap) > 1e-3  # a test of completeness needs a difference to complete
    assert abs(arrays["saliency.ig"].sum() - gap) <= 0.01 * abs(gap), (arrays["saliency.ig"].sum(), gap)


def test_a_chosen_baseline_and_the_fused_model_give_the_same_story():
    task, twin, model, data = setup("sine")
    base = torch.full_like(data.x, 0.3)
    from_twin = saliency_arrays(twin, task, data, steps=64, baseline=base)
    with torch.no_grad():
        gap = (loss_at(twin, task, data, data.x[None]) - loss_at(twin, task, data, base[None])).item()
    assert abs(from_twin["saliency.ig"].sum() - gap) <= 0.01 * abs(gap)
    from_fused = saliency_arrays(model, task, data, steps=64, baseline=base)  # the torch.nn layer, on the CPU
    for name in from_twin:
        np.testing.assert_allclose(from_fused[name], from_twin[name], rtol=0, atol=1e-5)


@pytest.mark.parametrize("task_name", ["adding", "reversal"])
def test_each_point_gets_its_own_loss_however_many_share_a_pass(task_name, monkeypatch):
    task, twin, _, data = setup(task_name)
    together = saliency_arrays(twin, task, data, steps=8)  # all 8 points in one pass
    monkeypatch.setattr(saliency, "POINT_STATES", 1)  # one point per pass
    assert saliency.points_per_pass(4, 8, 6) == 1
    apart = saliency_arrays(twin, task, data, steps=8)
    np.testing.assert_allclose(together["saliency.ig"], apart["saliency.ig"], rtol=1e-5, atol=1e-7)


def test_gradient_x_input_at_the_embedding_matches_a_computation_by_hand():
    task, twin, model, data = setup("charlm")
    embedded = model.embed(data.x).detach().requires_grad_(True)  # (B, T, E)
    hs, _ = model.rnn(embedded)
    loss = task.loss(model.head(hs), data.y)
    (grad,) = torch.autograd.grad(loss, embedded)
    expected = (grad * embedded).sum(-1).detach().numpy()  # (B, T)
    np.testing.assert_allclose(saliency_arrays(twin, task, data, steps=2)["saliency.grad_x"], expected, rtol=0, atol=1e-6)
    assert all(p.grad is None for p in twin.parameters())  # only the inputs' gradients were taken


def test_the_midpoint_rule_and_its_step_count():
    np.testing.assert_allclose(midpoints(4).numpy(), [0.125, 0.375, 0.625, 0.875])
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="whole number of steps"):
            midpoints(bad)
