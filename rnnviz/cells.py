"""Unrolled RNN / LSTM / GRU: a step-by-step twin of torch.nn.RNN, LSTM and GRU.

The fused torch.nn layers train fast but hide their gates and per-step states. `UnrolledRNN`
has the same parameter names and shapes (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`,
`bias_hh_l0`, ... `_l1`), so a fused layer's state dict loads into it unchanged, and it follows
PyTorch's equations exactly (gate order and meaning as in the torch.nn docs):

    RNN:  h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
    LSTM: i, f, g, o = split(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
          i, f, o = sigmoid(.), g = tanh(.), c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t)
    GRU:  r = sigmoid(W_ir x_t + b_ir + W_hr h + b_hr), z likewise
          n = tanh(W_in x_t + b_in + r * (W_hn h + b_hn)), h_t = (1 - z) * n + z * h_{t-1}

Given a `record` dict, forward stores every h_t, c_t and gate as a list of (B, H) tensors that
stay in the autograd graph, so `torch.autograd.grad(loss, record["h.0"])` is the total
derivative dL/dh_t through the recurrence, the next layer and the head.
"""
from __future__ import annotations

import torch
from torch import nn

from . import seeded

GATES = {"rnn": (), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
GATE_BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}  # rows of W_ih / W_hh are this many H-blocks


class UnrolledRNN(nn.Module):
    """Batch-first recurrent layer stack computed one time step at a time."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 generator: torch.Generator | None = None):
        """generator: where the initial weights are drawn from (None: torch's global generator, as torch.nn)."""
        super().__init__()
        if mode not in GATES:
            raise ValueError(f"unknown cell {mode!r}")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.nonlinearity = nonlinearity
        rows = GATE_BLOCKS[mode] * hidden_size
        for layer in range(num_layers):
            n_in = input_size if layer == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{layer}", nn.Parameter(torch.empty(rows, n_in)))
            self.register_parameter(f"weight_hh_l{layer}", nn.Parameter(torch.empty(rows, hidden_size)))
            self.register_parameter(f"bias_ih_l{layer}", nn.Parameter(torch.empty(rows)))
            self.register_parameter(f"bias_hh_l{layer}", nn.Parameter(torch.empty(rows)))
        seeded.recurrent_uniform_(self, hidden_size, generator)  # torch.nn's default initialisation

    def forward(self, x: torch.Tensor, hx=None, record: dict | None = None, prefix: str = ""):
        """x: (B, T, F). hx as torch.nn: h0 (L, B, H), or (h0, c0) for LSTM. Returns (output (B, T, H), h_n or (h_n, c_n))."""
        B, T, _ = x.shape
        H, L = self.hidden_size, self.num_layers
        zeros = x.new_zeros(L, B, H)
        if self.mode == "lstm":
            h0, c0 = hx if hx is not None else (zeros, zeros)
        else:
            h0, c0 = (hx if hx is not None else zeros), None
        act = torch.tanh if self.nonlinearity == "tanh" else torch.relu
        layer_in = x  # (B, T, F) for layer 0, (B, T, H) above
        h_last, c_last = [], []
        for layer in range(L):
            w_hh = getattr(self, f"weight_hh_l{layer}")
            b_hh = getattr(self, f"bias_hh_l{layer}")
            # Input projections for all steps at once: (B, T, G*H)
            xw = layer_in @ getattr(self, f"weight_ih_l{layer}").T + getattr(self, f"bias_ih_l{layer}")
            h, c = h0[layer], (c0[layer] if c0 is not None else None)
            hs, cs, gates = [], [], {g: [] for g in GATES[self.mode]}
            for t in range(T):
                hw = h @ w_hh.T + b_hh  # (B, G*H)
                if self.mode == "rnn":
                    h = act(xw[:, t] + hw)
                elif self.mode == "lstm":
                    i, f, g, o = (xw[:, t] + hw).chunk(4, dim=1)
                    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
                    c = f * c + i * g
                    h = o * torch.tanh(c)
                    cs.append(c)
                    for name, value in zip("ifgo", (i, f, g, o)):
                        gates[name].append(value)
                else:  # gru
                    xr, xz, xn = xw[:, t].chunk(3, dim=1)
                    hr, hz, hn = hw.chunk(3, dim=1)
                    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                    n = torch.tanh(xn + r * hn)
                    h = (1 - z) * n + z * h
                    for name, value in zip("rzn", (r, z, n)):
                        gates[name].append(value)
                hs.append(h)
            if record is not None:
                record[f"{prefix}h.{layer}"] = hs
                if cs:
                    record[f"{prefix}c.{layer}"] = cs
                for name, values in gates.items():
                    record[f"{prefix}gate.{layer}.{name}"] = values
            layer_in = torch.stack(hs, dim=1)  # (B, T, H)
            h_last.append(h)
            c_last.append(c)
        h_n = torch.stack(h_last)  # (L, B, H)
        if self.mode == "lstm":
            return layer_in, (h_n, torch.stack(c_last))
        return layer_in, h_n


def fused_rnn(mode: str, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
              generator: torch.Generator | None = None) -> nn.RNNBase:
    """The torch.nn layer that `UnrolledRNN(mode, ...)` mirrors (batch first), initialised from generator."""
    if mode == "rnn":
        return seeded.build(nn.RNN, input_size, hidden_size, num_layers, nonlinearity=nonlinearity, batch_first=True,
                            generator=generator)
    layer = {"lstm": nn.LSTM, "gru": nn.GRU}[mode]
    return seeded.build(layer, input_size, hidden_size, num_layers, batch_first=True, generator=generator)
