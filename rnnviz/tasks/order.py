"""Temporal order (Hochreiter & Schmidhuber 1997, task 6a): which of X / Y came first, among distractors.

Encoding: token ids 0..3 are the distractors a b c d, 4 is X, 5 is Y, 6 the start marker B and
7 the end marker E. A sequence of length T is B, then distractors, then E at the last step,
except at two positions that hold X or Y (each a fair coin): t1 drawn from an early window
[0.1 T, 0.2 T] and t2 from a later one [0.5 T, 0.6 T] (rounded down, and kept off the markers,
so for small T the windows shrink to single positions). x is (B, T) token ids.
Target: the class of the pair in order, XX, XY, YX or YY (ids 0..3), y of shape (B,), predicted
from the last step (or an attention-pooled state). The network must store the first symbol for
about 0.4 T steps while ignoring everything else.
Loss: cross-entropy over the 4 classes.
Baseline: the classes are equally likely and no distractor says anything about them: ln 4 ≈ 1.386 nats.
"""
from __future__ import annotations

import math

import torch

from .base import Batch, Task

DISTRACTORS, X, Y, START, END = 4, 4, 5, 6, 7
MIN_LEN = 6  # B, an early slot, a distractor, a late slot, a distractor, E


def windows(T: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Inclusive position ranges for the first and second relevant symbol in a sequence of length T."""
    early = (max(1, T // 10), max(1, T // 5))
    late = (max(early[1] + 2, T // 2), max(early[1] + 2, 6 * T // 10))
    return early, late


class Order(Task):
    name = "order"
    summary = "Classify the order of two symbols X / Y hidden among distractors far apart: store one, ignore the rest."
    output = "last"
    output_view = "classes"
    loss_kind = "ce"
    attention = ("none", "dot", "additive")
    defaults = {"seq_len": 50, "hidden": 64, "batch": 64, "steps": 1500, "lr": 3e-3, "clip": 1.0, "attention": "none"}
    tokens_in = True
    n_in, n_out = 8, 4
    in_vocab = ["a", "b", "c", "d", "X", "Y", "B", "E"]
    out_vocab = ["XX", "XY", "YX", "YY"]
    baseline_loss = math.log(4)

    def __init__(self, cfg):
        super().__init__(cfg)
        if self.seq_len < MIN_LEN:
            raise ValueError(f"the order task needs a sequence length of at least {MIN_LEN}, got {self.seq_len}")

    def sample(self, n, gen, split="train"):
        T = self.seq_len
        (e0, e1), (l0, l1) = windows(T)
        x = torch.randint(0, DISTRACTORS, (n, T), generator=gen)  # (B, T)
        x[:, 0], x[:, -1] = START, END
        first = torch.randint(e0, e1 + 1, (n,), generator=gen)  # (B,)
        second = torch.randint(l0, l1 + 1, (n,), generator=gen)
        is_y = torch.randint(0, 2, (n, 2), generator=gen)  # (B, 2): 0 = X, 1 = Y for each slot
        rows = torch.arange(n)
        x[rows, first] = X + is_y[:, 0]
        x[rows, second] = X + is_y[:, 1]
        y = 2 * is_y[:, 0] + is_y[:, 1]  # (B,): XX=0, XY=1, YX=2, YY=3
        return Batch(x, y)
