"""Exact probes: run the unrolled twin of a model on a small batch and record named arrays.

A Trace holds numpy float32 arrays, batch first, under these names (their grammar: rnnviz.families; the
Look-inside pages read them, and `python -m rnnviz probe` writes them to its .npz file):
    x, y, mask        the inputs (B, T, F) or ids (B, T), targets, padding mask where the task pads
    pred              the model's output in the target's terms: values, or class probabilities
    loss              the probe batch's mean loss (0-d)
    h.{l}, c.{l}      hidden state and LSTM cell state of layer l, (B, T, H); the transformer's h.{l} is the
                      residual stream after layer l at each position
    gate.{l}.{g}      LSTM i f g o or GRU r z n, (B, T, H), PyTorch's order and meaning
    grad.h.{l}        dL/dh_t, the total derivative through the recurrence, (B, T, H); grad.c.{l} likewise
    *.{l}.reverse     a bidirectional layer's backward direction: h.0.reverse, c.0.reverse, gate.0.reverse.f,
                      grad.h.0.reverse; h.{l} stays the forward one, and the layer's output is both side by side
    attn              attention weights (B, T_out, T_in), rows sum to 1
    attn.self.{l}     the transformer's self-attention of layer l, (B, heads, T_query, T_key), rows sum to 1
    dec.*             the decoder's states of an encoder-decoder task, named as above (dec.h.0, grad.dec.h.0, ...)
`summarize` boils a Trace down to the small per-time curves kept for every probe of a run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .families import weight_suffix
from .models import SeqModel, make_model, stack_directions
from .tasks.base import Batch, Task

STATE_KINDS = ("h", "c")  # recorded states whose gradients a Trace also holds


@dataclass
class Trace:
    step: int  # training step whose weights were probed
    arrays: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __contains__(self, name: str) -> bool:
        return name in self.arrays

    def names(self) -> list[str]:
        return sorted(self.arrays)

    def layers(self, prefix: str = "") -> int:
        """The stack's layers (h.0, h.1, ...), not its directions: h.0.reverse is layer 0 too."""
        head = f"{prefix}h."
        return sum(1 for n in self.arrays if n.startswith(head) and n[len(head):].isdigit())

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())


def make_twin(model: SeqModel) -> SeqModel:
    """A CPU copy of model with unrolled recurrent stacks (same parameter names, so state dicts match)."""
    twin = make_model(model.cfg, model.io, seed=0, unrolled=True)  # seeded: leaves the global RNG alone
    load_weights(twin, model)
    return twin


def load_weights(twin: SeqModel, model: SeqModel) -> None:
    twin.load_state_dict({k: v.detach().to("cpu") for k, v in model.state_dict().items()})


def _is_state(name: str) -> bool:
    return name.removeprefix("dec.").split(".")[0] in STATE_KINDS


def record_trace(twin: SeqModel, task: Task, batch: Batch, step: int = 0) -> Trace:
    """Run the unrolled twin on batch (on the CPU) and return every named array, with dL/dh_t and dL/dc_t."""
    record: dict = {}
    twin.zero_grad(set_to_none=True)
    with torch.enable_grad():
        pred = twin(batch.x, batch.dec_in, batch.mask, record=record)
        loss = task.loss(pred, batch.y)
        states = [name for name in record if _is_state(name)]
        flat = [t for name in states for t in record[name]]  # every h_t / c_t tensor, each (B, H)
        grads = torch.autograd.grad(loss, flat, allow_unused=True)
    arrays = {"x": batch.x, "y": batch.y, "pred": task.prediction(pred), "loss": loss}
    if batch.mask is not None:
        arrays["mask"] = batch.mask
    offset = 0
    for name, values in record.items():
        if name.startswith("attn"):  # attn, attn.self.{l}: one tensor, not one per step
            arrays[name] = values
            continue
        arrays[name] = torch.stack(values, dim=1)  # (B, T, H)
        if name in states:
            T = len(values)
            step_grads = [g if g is not None else torch.zeros_like(v) for g, v in zip(grads[offset:offset + T], values)]
            arrays[f"grad.{name}"] = torch.stack(step_grads, dim=1)  # (B, T, H)
            offset += T
    return Trace(step, {k: _to_numpy(v) for k, v in arrays.items()})


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    a = t.detach().cpu().numpy()
    return a.astype(np.float32) if a.dtype.kind == "f" else a


def summarize(trace: Trace, model: SeqModel) -> dict:
    """Small per-probe curves kept for the whole run (full Traces are thinned):
    grad.* -> (T,) mean over the batch of ||dL/ds_t||;
    sat.{name} -> (2, H) fraction of steps each unit's gate is below 0.1 / above 0.9;
    sigma_max.{prefix}{l}{direction} -> largest singular value of that layer and direction's W_hh (recurrent
    families only: the transformer has none)."""
    out: dict = {"step": trace.step, "loss": float(trace["loss"])}
    for name, a in trace.arrays.items():
        if name.startswith("grad."):
            norms = np.linalg.norm(a.astype(np.float64), axis=-1).mean(axis=0)  # (T,); float32 squares overflow at 1e19
            with np.errstate(over="ignore"):  # an exploding run's norms beyond float32 become inf, which charts clamp
                out[name] = norms.astype(np.float32)
        elif name.removeprefix("dec.").startswith("gate."):
            g = (a + 1) / 2 if name.endswith((".g", ".n")) else a  # tanh gates mapped to [0, 1] like sigmoid ones
            out[f"sat.{name}"] = np.stack([(g < 0.1).mean(axis=(0, 1)), (g > 0.9).mean(axis=(0, 1))]).astype(np.float32)
    for prefix, stack in model.recurrent_stacks().items():
        for layer in range(model.cfg.layers):
            for direction in stack_directions(stack):
                w = getattr(stack, f"weight_hh_l{layer}{weight_suffix(direction)}").detach().cpu().float()
                out[f"sigma_max.{prefix}{layer}{direction}"] = float(torch.linalg.matrix_norm(w, ord=2))
    return out
