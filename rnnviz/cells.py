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

Bidirectional (torch.nn's `bidirectional=True`): every layer also has a backward direction with weights
`weight_ih_l0_reverse`, ... that reads x_T down to x_1 from its own initial state; the layer's output at t is
[forward h_t, backward h_t] (2H features), what the layer above and the head read.

Given a `record` dict, forward stores every h_t, c_t and gate as a list of (B, H) tensors that
stay in the autograd graph, so `torch.autograd.grad(loss, record["h.0"])` is the total
derivative dL/dh_t through the recurrence, the next layer and the head. The backward direction's
are named with torch.nn's suffix (h.0.reverse, c.0.reverse, gate.0.reverse.f; see rnnviz.families),
listed in time order like the forward ones.
"""
from __future__ import annotations

import torch
from torch import nn

from . import seeded
from .families import BOTH_WAYS, GATES, ONE_WAY, trace_name, weight_suffix

GATE_BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}  # rows of W_ih / W_hh are this many H-blocks


class UnrolledRNN(nn.Module):
    """Batch-first recurrent layer stack computed one time step at a time, one or both directions."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 generator: torch.Generator | None = None, bidirectional: bool = False):
        """generator: where the initial weights are drawn from (None: torch's global generator, as torch.nn)."""
        super().__init__()
        if mode not in GATES:
            raise ValueError(f"unknown cell {mode!r}")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.nonlinearity, self.bidirectional = nonlinearity, bidirectional
        self.directions = BOTH_WAYS if bidirectional else ONE_WAY  # Trace-name suffixes: "", ".reverse"
        rows = GATE_BLOCKS[mode] * hidden_size
        for layer in range(num_layers):  # registered in torch.nn's order, so one seed draws the same weights
            n_in = input_size if layer == 0 else hidden_size * len(self.directions)
            for direction in self.directions:
                suffix = f"_l{layer}{weight_suffix(direction)}"  # _l0, _l0_reverse
                self.register_parameter(f"weight_ih{suffix}", nn.Parameter(torch.empty(rows, n_in)))
                self.register_parameter(f"weight_hh{suffix}", nn.Parameter(torch.empty(rows, hidden_size)))
                self.register_parameter(f"bias_ih{suffix}", nn.Parameter(torch.empty(rows)))
                self.register_parameter(f"bias_hh{suffix}", nn.Parameter(torch.empty(rows)))
        seeded.recurrent_uniform_(self, hidden_size, generator)  # torch.nn's default initialisation

    def forward(self, x: torch.Tensor, hx=None, record: dict | None = None, prefix: str = ""):
        """x: (B, T, F). hx as torch.nn: h0 (L*D, B, H), or (h0, c0) for LSTM, D = 2 directions if bidirectional.
        Returns (output (B, T, D*H), h_n or (h_n, c_n)), each state (L*D, B, H) in torch.nn's order (layer 0
        forward, layer 0 reverse, layer 1 forward, ...); the reverse direction's final state is the one at t = 0."""
        B, T, _ = x.shape
        H, L, D = self.hidden_size, self.num_layers, len(self.directions)
        zeros = x.new_zeros(L * D, B, H)
        if self.mode == "lstm":
            h0, c0 = hx if hx is not None else (zeros, zeros)
        else:
            h0, c0 = (hx if hx is not None else zeros), None
        layer_in = x  # (B, T, F) for layer 0, (B, T, D*H) above
        h_last: list[torch.Tensor] = []
        c_last: list[torch.Tensor] = []  # LSTM only
        for layer in range(L):
            outputs = []
            for d, direction in enumerate(self.directions):
                k = layer * D + d  # this layer and direction's index into h0 / c0 / h_n
                hs, cs, gates = self._direction(layer_in, f"_l{layer}{weight_suffix(direction)}", h0[k],
                                                c0[k] if c0 is not None else None, reverse=bool(direction))
                if record is not None:
                    record[trace_name("h", layer, prefix=prefix, direction=direction)] = hs
                    if cs:
                        record[trace_name("c", layer, prefix=prefix, direction=direction)] = cs
                    for name, values in gates.items():
                        record[trace_name("gate", layer, name, prefix, direction)] = values
                outputs.append(torch.stack(hs, dim=1))  # (B, T, H)
                final = 0 if direction else -1  # the step each direction reads last
                h_last.append(hs[final])
                if cs:
                    c_last.append(cs[final])
            layer_in = torch.cat(outputs, dim=-1)  # (B, T, D*H): forward features first, as torch.nn
        h_n = torch.stack(h_last)  # (L*D, B, H)
        if self.mode == "lstm":
            return layer_in, (h_n, torch.stack(c_last))
        return layer_in, h_n

    def _direction(self, layer_in: torch.Tensor, suffix: str, h: torch.Tensor, c: torch.Tensor | None, reverse: bool):
        """Run one direction of one layer (weights *{suffix}) over layer_in (B, T, F) from state h (B, H), c.
        Returns hs, cs and {gate: values}, each a list of T tensors (B, H) indexed by time step t (the reverse
        direction's hs[t] has read steps T-1 down to t)."""
        T = layer_in.shape[1]
        w_hh, b_hh = getattr(self, f"weight_hh{suffix}"), getattr(self, f"bias_hh{suffix}")
        xw = layer_in @ getattr(self, f"weight_ih{suffix}").T + getattr(self, f"bias_ih{suffix}")  # (B, T, G*H), all steps
        act = torch.tanh if self.nonlinearity == "tanh" else torch.relu
        hs: list[torch.Tensor] = []
        cs: list[torch.Tensor] = []
        gates: dict[str, list[torch.Tensor]] = {g: [] for g in GATES[self.mode]}
        for t in (reversed(range(T)) if reverse else range(T)):
            hw = h @ w_hh.T + b_hh  # (B, G*H)
            if self.mode == "rnn":
                h = act(xw[:, t] + hw)
            elif self.mode == "lstm":
                i, f, g, o = (xw[:, t] + hw).chunk(4, dim=1)
                i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
                assert c is not None  # forward passes an LSTM's c0
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
        if reverse:  # computed from t = T-1 down: put them in time order
            hs, cs = hs[::-1], cs[::-1]
            gates = {name: values[::-1] for name, values in gates.items()}
        return hs, cs, gates


def fused_rnn(mode: str, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
              generator: torch.Generator | None = None, bidirectional: bool = False) -> nn.RNNBase:
    """The torch.nn layer that `UnrolledRNN(mode, ...)` mirrors (batch first), initialised from generator."""
    if mode == "rnn":
        return seeded.build(nn.RNN, input_size, hidden_size, num_layers, nonlinearity=nonlinearity, batch_first=True,
                            bidirectional=bidirectional, generator=generator)
    layer = {"lstm": nn.LSTM, "gru": nn.GRU}[mode]
    return seeded.build(layer, input_size, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional,
                        generator=generator)
