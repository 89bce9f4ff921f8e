"""Adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015): add two numbers marked far apart.

Encoding: x is (B, T, 2). Channel 0 holds values drawn from U[0, 1]; channel 1 is a marker that
is 1 at exactly two steps, one in each half of the sequence, and 0 elsewhere.
Target: the sum of the two marked values, y of shape (B, 1). The model predicts from the last
layer's hidden state at the last step (or an attention-pooled state).
Loss: mean squared error.
Baseline: always predicting 1 (the mean of the sum) scores Var(u1 + u2) = 2/12 = 1/6 ≈ 0.167.
A model that beats it must carry the first marked value across about T/2 steps.
"""
from __future__ import annotations

import torch

from .base import Batch, Task


class Adding(Task):
    name = "adding"
    summary = "Add the two marked numbers in a long sequence: memory over about T/2 steps (regression)."
    output = "last"
    output_view = "scatter"
    loss_kind = "mse"
    attention = ("none", "dot", "additive")
    defaults = {"seq_len": 50, "hidden": 64, "batch": 50, "steps": 2000, "lr": 3e-3, "clip": 1.0}
    n_in, n_out = 2, 1
    baseline_loss = 1 / 6

    def sample(self, n, gen, split="train"):
        T = self.seq_len
        if T < 2:
            raise ValueError("the adding task needs a sequence length of at least 2")
        values = torch.rand(n, T, generator=gen)  # (B, T)
        half = T // 2
        first = torch.randint(0, half, (n,), generator=gen)
        second = torch.randint(half, T, (n,), generator=gen)
        marker = torch.zeros(n, T)
        rows = torch.arange(n)
        marker[rows, first] = 1.0
        marker[rows, second] = 1.0
        x = torch.stack([values, marker], dim=-1)  # (B, T, 2)
        y = (values[rows, first] + values[rows, second]).unsqueeze(1)  # (B, 1)
        return Batch(x, y)
