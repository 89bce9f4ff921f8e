"""Attention over hidden states: pooling for one-label tasks, Luong-style for encoder-decoder tasks.

Both return weights shaped (B, T_out, T_in) whose rows sum to 1 over input positions; that is
the `attn` array of a Trace. Padding positions (mask False) get weight 0.

Scores (h_k an encoder / hidden state, s_j a decoder state):
    pooling, dot:       e_k = w . h_k                      (alpha = softmax(w^T H), pooled = sum_k alpha_k h_k)
    pooling, additive:  e_k = v . tanh(W h_k + b)
    enc-dec, dot:       e_jk = s_j . h_k                   (Luong et al. 2015)
    enc-dec, additive:  e_jk = v . tanh(W_k h_k + W_q s_j) (Bahdanau et al. 2015's score)
The decoder reads the context c_j = sum_k alpha_jk h_k beside s_j, after its own step (no input
feeding), so the decoder stays one fused layer during training.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import seeded


def _softmax_masked(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last axis; mask (B, T_in) True at real positions."""
    if mask is not None:
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
    return torch.softmax(scores, dim=-1)


class AttentionPool(nn.Module):
    """Collapse (B, T, H) hidden states into one (B, H) vector with learned weights over time."""

    def __init__(self, hidden: int, kind: str, generator: torch.Generator | None = None):
        """generator: where the initial weights are drawn from (None: torch's global generator)."""
        super().__init__()
        self.kind = kind
        if kind == "dot":
            self.omega = nn.Parameter(torch.randn(hidden, generator=generator) / math.sqrt(hidden))
        else:
            self.proj = seeded.build(nn.Linear, hidden, hidden, generator=generator)
            self.v = nn.Parameter(torch.randn(hidden, generator=generator) / math.sqrt(hidden))

    def forward(self, hs: torch.Tensor, mask: torch.Tensor | None = None):
        """hs: (B, T, H). Returns pooled (B, H) and weights (B, 1, T)."""
        keys = hs if self.kind == "dot" else torch.tanh(self.proj(hs))
        scores = (keys @ (self.omega if self.kind == "dot" else self.v)).unsqueeze(1)  # (B, 1, T)
        alpha = _softmax_masked(scores, mask)  # (B, 1, T)
        return (alpha @ hs).squeeze(1), alpha


class EncoderDecoderAttention(nn.Module):
    """For each decoder state, a weighted average of encoder states."""

    def __init__(self, hidden: int, kind: str, generator: torch.Generator | None = None):
        """generator: where the initial weights are drawn from (None: torch's global generator)."""
        super().__init__()
        self.kind = kind
        if kind == "additive":
            self.key = seeded.build(nn.Linear, hidden, hidden, bias=False, generator=generator)
            self.query = seeded.build(nn.Linear, hidden, hidden, bias=False, generator=generator)
            self.v = seeded.build(nn.Linear, hidden, 1, bias=False, generator=generator)

    def forward(self, dec: torch.Tensor, enc: torch.Tensor, mask: torch.Tensor | None = None):
        """dec: (B, T_out, H), enc: (B, T_in, H). Returns context (B, T_out, H) and weights (B, T_out, T_in)."""
        if self.kind == "dot":
            scores = dec @ enc.transpose(1, 2)  # (B, T_out, T_in)
        else:
            mixed = torch.tanh(self.key(enc).unsqueeze(1) + self.query(dec).unsqueeze(2))  # (B, T_out, T_in, H)
            scores = self.v(mixed).squeeze(-1)  # (B, T_out, T_in)
        alpha = _softmax_masked(scores, mask)
        return alpha @ enc, alpha
