"""Sequence reversal with an encoder-decoder: read S letters, then write them back last-first.

Encoding: S = seq_len letters drawn uniformly from a..h (ids 0..7); BOS, id 8, starts the decoder.
Encoder and decoder share one embedding over the 9 input ids; the decoder outputs one of the 8 letters.
x is (B, S) letter ids, y = x reversed, (B, S), and dec_in = [BOS, y_0, ..., y_{S-2}], (B, S): teacher
forcing, the decoder reads the previous correct output. That does not leak the answer: at step j the
decoder has only seen y_0..y_{j-1} (it runs left to right), and because the letters are independent
they say nothing about y_j = x_{S-1-j}; that must come from the encoder.
Without attention the encoder's final state must hold all S letters; with attention, output j can look
straight at input S-1-j, so the learned attention map becomes the anti-diagonal.
Loss: cross-entropy over the 8 letters, averaged over the S output steps.
Baseline: every letter is equally likely whatever came before, so a predictor that ignores the input
scores ln 8 ≈ 2.079 nats.
"""
from __future__ import annotations

import math

import torch

from .base import Batch, Task

LETTERS = "abcdefgh"
BOS = len(LETTERS)


class Reversal(Task):
    name = "reversal"
    summary = "Read a string and write it backwards (encoder-decoder): watch attention become the anti-diagonal."
    output = "seq2seq"
    output_view = "tokens"
    loss_kind = "ce"
    attention = ("dot", "additive", "none")
    defaults = {"seq_len": 8, "hidden": 64, "batch": 64, "steps": 500, "lr": 3e-3, "clip": 1.0, "attention": "dot"}
    tokens_in = True
    n_in, n_out = len(LETTERS) + 1, len(LETTERS)
    in_vocab = [*LETTERS, "<bos>"]
    out_vocab = [*LETTERS]
    baseline_loss = math.log(len(LETTERS))

    def sample(self, n, gen, split="train"):
        x = torch.randint(0, len(LETTERS), (n, self.seq_len), generator=gen)  # (B, S)
        y = x.flip(1)  # (B, S)
        dec_in = torch.cat([torch.full((n, 1), BOS), y[:, :-1]], dim=1)  # (B, S): shifted right behind BOS
        return Batch(x, y, dec_in=dec_in)
