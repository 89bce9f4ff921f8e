"""`rnnviz.trace`: the Trace of your own torch.nn.RNN, LSTM or GRU, for a notebook.

    import rnnviz
    tr = rnnviz.trace(lstm, x, loss=lambda out: out[0][:, -1].sum(), ig_steps=64)
    tr["h.0"], tr["gate.0.f"], tr["grad.h.0"], tr["saliency.ig"]

The module's weights are copied to the CPU (as float32) into cells.UnrolledRNN, the exact step-by-step twin
of torch.nn's layers, which runs x and records every state and gate; the module itself is left as it was.
A Trace holds, batch first (B, T, ...) whatever the module's batch_first:
    x                          the input (B, T, F)
    h.{l}, c.{l}, gate.{l}.*   as rnnviz.probe names them, equal to the module's own outputs
with a loss (a function of the module's output tuple, in the module's own layout and on the CPU, returning a scalar):
    loss                       its value (0-d)
    grad.h.{l}, grad.c.{l}     dL/dh_t and dL/dc_t through the recurrence (B, T, H)
    grad.x                     dL/dx_t (B, T, F), like the Trace's x
and with ig_steps=N as well (rnnviz.saliency; from zeros, or baseline shaped like x):
    saliency.ig, saliency.grad_x   (B, T) integrated gradients and gradient x input, summed over features

What the module may be: one direction (bidirectional modules are refused in `check_one_direction`, the one
place that knows); LSTM without projections (proj_size > 0 is refused: the twin has no weight_hr); bias=False is
handled (zero biases compute the same); dropout between layers only in eval mode (in train mode it is random,
so no trace could equal the module's output: refused, call module.eval()).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .cells import UnrolledRNN
from .probe import STATE_KINDS, Trace
from .saliency import gradient_of, integrated_gradients, points_per_pass

MODES = {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "rnn"}


def check_one_direction(bidirectional: bool, found: str) -> None:
    """Refuse a bidirectional recurrent layer (found names it): rnnviz.trace and rnnviz.importer both ask here.
    The twin reads both directions (cells.UnrolledRNN(bidirectional=True)); to take them, twin_of passes
    bidirectional=module.bidirectional and the importer maps the *_reverse weights and a 2H-wide head."""
    if bidirectional:
        raise ValueError(f"{found} is bidirectional; bidirectional modules: not yet (rnnviz reads one direction)")


def mode_of(module: nn.Module) -> str:
    """"rnn", "lstm" or "gru" for a torch.nn.RNN, LSTM or GRU (or a subclass); else a TypeError."""
    for cls, mode in MODES.items():
        if isinstance(module, cls):
            return mode
    raise TypeError(f"rnnviz.trace takes a torch.nn.RNN, LSTM or GRU, not {type(module).__name__}")


def twin_of(module: nn.RNNBase) -> UnrolledRNN:
    """A CPU float32 UnrolledRNN holding a copy of module's weights; refuses what the twin cannot mirror."""
    mode = mode_of(module)
    check_one_direction(module.bidirectional, f"this {type(module).__name__}")
    if getattr(module, "proj_size", 0) > 0:
        raise ValueError(f"this LSTM projects its hidden state (proj_size={module.proj_size}); "
                         "projections are not supported (the unrolled twin has no weight_hr)")
    if module.training and module.dropout > 0 and module.num_layers > 1:
        raise ValueError(f"this {type(module).__name__} drops out between its layers (dropout={module.dropout}) in train "
                         "mode, so its output is random; call module.eval() first")
    nonlinearity = getattr(module, "nonlinearity", "tanh")
    with torch.random.fork_rng(devices=[]):  # the twin's throwaway initial weights leave the caller's RNG alone
        twin = UnrolledRNN(mode, module.input_size, module.hidden_size, module.num_layers, nonlinearity)
    state = {name: p.detach().to("cpu", torch.float32) for name, p in module.named_parameters()}
    for name, p in twin.named_parameters():
        if name not in state and name.startswith("bias_"):  # bias=False: zero biases compute the same
            state[name] = torch.zeros_like(p)
    twin.load_state_dict(state)
    return twin


def _batch_first(module: nn.RNNBase, x: torch.Tensor, what: str = "x") -> torch.Tensor:
    """x as (B, T, F) float32 on the CPU, checked against the module."""
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError(f"{what} must be a float tensor, got {type(x).__name__ if not torch.is_tensor(x) else x.dtype}")
    layout = "(batch, time, features)" if module.batch_first else "(time, batch, features)"
    if x.dim() != 3 or x.shape[-1] != module.input_size:
        raise ValueError(f"{what} must be shaped {layout} with {module.input_size} features, as this module expects; "
                         f"got {tuple(x.shape)} (for one sequence add a batch dimension of 1)")
    x = x.detach().to("cpu", torch.float32)
    return x if module.batch_first else x.transpose(0, 1)


def _module_outputs(module: nn.RNNBase, output: torch.Tensor, last) -> tuple:
    """The twin's (output (B, T, H), h_n or (h_n, c_n)) in the module's own layout."""
    return (output if module.batch_first else output.transpose(0, 1)), last


def _scalar(value, what: str = "loss") -> torch.Tensor:
    if not torch.is_tensor(value) or value.numel() != 1:
        raise ValueError(f"{what}(out) must return a scalar tensor, got "
                         f"{tuple(value.shape) if torch.is_tensor(value) else type(value).__name__}")
    return value.reshape(())


def trace(module: nn.RNNBase, x: torch.Tensor, loss: Callable | None = None, ig_steps: int = 0,
          baseline: torch.Tensor | None = None) -> Trace:
    """The Trace of module (a torch.nn.RNN, LSTM or GRU, on any device) running x, shaped as it expects;
    see the module docstring for the names. loss(out) -> scalar, out being the module's output tuple, adds the
    gradients; ig_steps > 0 adds the saliency arrays, integrated from baseline (default zeros) with that many
    midpoint steps."""
    if (ig_steps or baseline is not None) and loss is None:
        raise ValueError("integrated gradients need a loss: pass loss=lambda out: ...")
    twin = twin_of(module)
    x_bf = _batch_first(module, x)  # (B, T, F)
    record: dict = {}
    arrays = {"x": x_bf}
    with torch.enable_grad():
        inputs = x_bf.clone().requires_grad_(loss is not None)
        output, last = twin(inputs, record=record)
        for name, values in record.items():
            arrays[name] = torch.stack(values, dim=1)  # (B, T, H)
        if loss is not None:
            value = _scalar(loss(_module_outputs(module, output, last)))
            states = [name for name in record if name.split(".")[0] in STATE_KINDS]
            flat = [t for name in states for t in record[name]]  # every h_t / c_t, each (B, H)
            grads = torch.autograd.grad(value, [inputs, *flat], allow_unused=True)
            arrays["loss"] = value
            arrays["grad.x"] = _or_zeros(grads[0], inputs)
            T = x_bf.shape[1]
            for i, name in enumerate(states):
                step_grads = grads[1 + i * T:1 + (i + 1) * T]
                arrays[f"grad.{name}"] = torch.stack([_or_zeros(g, v) for g, v in zip(step_grads, record[name])], dim=1)
    if ig_steps and loss is not None:  # checked above: ig_steps come with a loss
        arrays.update(_saliency(module, twin, loss, x_bf, baseline, ig_steps))
    return Trace(0, {name: a.detach().numpy() for name, a in arrays.items()})


def _or_zeros(grad, like: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(like) if grad is None else grad  # a state the loss does not depend on


def _saliency(module, twin: UnrolledRNN, loss: Callable, x: torch.Tensor, baseline, steps: int) -> dict:
    """saliency.ig and saliency.grad_x (B, T) of loss at x (B, T, F), from baseline (in the module's layout)."""
    base = torch.zeros_like(x) if baseline is None else _batch_first(module, baseline, "baseline")
    if base.shape != x.shape:
        raise ValueError(f"baseline must be shaped like x, {tuple(x.shape)} batch first; got {tuple(base.shape)}")
    B, T = x.shape[:2]

    def summed(points: torch.Tensor) -> torch.Tensor:  # points (K, B, T, F) -> sum of loss at each point
        K = points.shape[0]
        output, last = twin(points.reshape(K * B, T, -1))  # point k's example b is row k * B + b
        total = torch.zeros(())  # 0-d, on the CPU like the twin
        for k in range(K):
            rows = slice(k * B, (k + 1) * B)
            part = (last[0][:, rows], last[1][:, rows]) if isinstance(last, tuple) else last[:, rows]
            total = total + _scalar(loss(_module_outputs(module, output[rows], part)))
        return total

    with torch.enable_grad():
        ig = integrated_gradients(summed, x, base, steps, points_per_pass(B, T, twin.hidden_size * twin.num_layers))
        grad_x = gradient_of(summed, x) * x
    return {"saliency.ig": ig.sum(-1), "saliency.grad_x": grad_x.sum(-1)}  # (B, T) each
