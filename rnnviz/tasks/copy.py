"""Copy memory task (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016): recall 10 symbols after a long wait.

Encoding: tokens 0..7 are the symbols, 8 is blank and 9 the delimiter. The input is 10 random
symbols, then T - 1 blanks, the delimiter, then 10 blanks: length T + 20. The target is blank
for the first T + 10 steps and the 10 symbols, in order, for the last 10. x and y are (B, T + 20)
token ids; the model outputs a class at every step.
Loss: cross-entropy averaged over all T + 20 steps.
Baseline: predict blank until the delimiter, then a uniform guess over the 8 symbols:
10 ln 8 / (T + 20) nats. Accuracy counts only the 10 recalled symbols (chance 1/8).
"""
from __future__ import annotations

import math

import torch

from .base import Batch, Task

SYMBOLS, BLANK, DELIM, RECALL = 8, 8, 9, 10


class Copy(Task):
    name = "copy"
    summary = "Reproduce 10 symbols after T blank steps: long-range memory (classification at every step)."
    output = "per_step"
    output_view = "tokens"
    loss_kind = "ce"
    defaults = {"seq_len": 10, "hidden": 64, "batch": 64, "steps": 3000, "lr": 3e-3, "clip": 1.0}
    tokens_in = True
    n_in, n_out = 10, 9  # inputs include the delimiter; outputs are symbols or blank
    in_vocab = [*"ABCDEFGH", "·", "|"]
    out_vocab = [*"ABCDEFGH", "·"]

    def __init__(self, cfg):
        super().__init__(cfg)
        self.baseline_loss = RECALL * math.log(SYMBOLS) / (self.seq_len + 2 * RECALL)

    def sample(self, n, gen, split="train"):
        T = self.seq_len
        symbols = torch.randint(0, SYMBOLS, (n, RECALL), generator=gen)
        x = torch.full((n, T + 2 * RECALL), BLANK, dtype=torch.long)
        x[:, :RECALL] = symbols
        x[:, RECALL + T - 1] = DELIM
        y = torch.full_like(x, BLANK)
        y[:, -RECALL:] = symbols
        return Batch(x, y)

    def reference_accuracies(self):
        return {"chance": 1 / SYMBOLS}  # accuracy counts only the recalled symbols

    def shown_steps(self):
        """The symbols to remember at the start, and their recall at the end."""
        return slice(0, RECALL), slice(-RECALL, None)

    def accuracy(self, pred, y):
        return (pred[:, -RECALL:].argmax(-1) == y[:, -RECALL:]).float().mean()
