"""Parity (XOR) of a bit stream: no single bit says anything about the answer, so the network must keep state.

Encoding: x is (B, T, 1) float, each step a fair random bit 0.0 or 1.0.
Variants:
  final    y is (B,), the class id XOR(x_1, ..., x_T), predicted once from the last step. Flipping any
           bit flips the answer, so the error signal has to reach every step.
  running  y is (B, T) with y_t = XOR(x_1, ..., x_t), a prediction at every step. Each answer is the
           previous answer XOR the current bit: a two-state machine the network must hold.
Loss: cross-entropy over the 2 classes (averaged over steps for running).
Baseline: the best predictor without memory reads at most the current bit. For final (T >= 2) that bit
is independent of the answer, so it can only say 1/2: ln 2 ≈ 0.693 nats. For running it is exact at the
first step (y_1 = x_1) and says 1/2 afterwards: ln 2 * (T - 1) / T.
"""
from __future__ import annotations

import math

import torch

from .base import Batch, Task


class Parity(Task):
    name = "parity"
    summary = "Say whether the bits seen so far hold an odd number of ones: state that every bit flips."
    output = "last"  # the default variant's; __init__ sets it and output_view per variant
    output_view = "classes"
    loss_kind = "ce"
    variants = ("final", "running")
    defaults = {"seq_len": 10, "hidden": 64, "batch": 64, "steps": 1500, "lr": 3e-3, "clip": 1.0}
    n_in, n_out = 1, 2
    out_vocab = ["even", "odd"]

    def __init__(self, cfg):
        super().__init__(cfg)
        T = self.seq_len
        self.output = "last" if self.variant == "final" else "per_step"
        self.output_view = "classes" if self.output == "last" else "tokens"
        self.baseline_loss = math.log(2) if self.variant == "final" else math.log(2) * (T - 1) / T

    def sample(self, n, gen, split="train"):
        bits = torch.randint(0, 2, (n, self.seq_len), generator=gen)  # (B, T)
        running = bits.cumsum(dim=1) % 2  # (B, T): parity of the prefix up to t
        y = running[:, -1] if self.variant == "final" else running  # (B,) or (B, T)
        return Batch(bits.float().unsqueeze(-1), y)  # x: (B, T, 1)
