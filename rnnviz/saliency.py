"""Which inputs mattered: gradient x input and integrated gradients of a loss, per input step.

For inputs x (B, T, F) and a scalar loss L:
    saliency.grad_x   (B, T)  sum_f x * dL/dx: the first-order guess of each step's share of L
    saliency.ig       (B, T)  sum_f of integrated gradients (Sundararajan et al. 2017) from a baseline b:
                              (x - b) * mean over alpha of dL/dx at b + alpha (x - b)
The path integral is the midpoint Riemann sum over `steps` points, alpha = (k + 1/2) / steps for k < steps: no
point sits on an end of the path, and its error falls as 1 / steps^2. Integrated gradients are complete: summed
over the batch, the steps and the features they equal L(x) - L(b), within 1 % at 64 steps in tests/test_saliency.py.

Token inputs are attributed at the embedding's output (ids are not continuous, embeddings are), from a zero
embedding unless a baseline is given. A SeqModel's examples do not interact, so the points of the path are
stacked along the batch and run together, as many per pass as POINT_STATES allows; each point's loss is
computed on its own slice of the output, so its gradient is exactly that point's.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from .models import SeqModel
from .tasks.base import Batch, Task

# Hidden-state numbers (points x B x T x H x layers) per pass, about 1 MB for each tensor the pass keeps. On a busy
# 2-core machine 64 steps of an LSTM (T 64, H 128, batch 8) took 1.7 s so, 3.2 s one point per pass and 6.1 s all
# 64 points at once (out of cache); an LSTM of H 16 (T 50) took 0.09 s so and 0.75 s one point per pass.
POINT_STATES = 2**18


def points_per_pass(batch: int, steps: int, units: int) -> int:
    """How many points of the path one forward pass takes for a batch of steps x units hidden states."""
    return max(1, POINT_STATES // max(1, batch * steps * units))


def midpoints(steps: int) -> torch.Tensor:
    """The steps alphas of the midpoint Riemann sum over [0, 1], (steps,)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"integrated gradients need a whole number of steps of 1 or more, got {steps!r}")
    return (torch.arange(steps, dtype=torch.float32) + 0.5) / steps


def integrated_gradients(summed_loss: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, baseline: torch.Tensor,
                         steps: int, per_pass: int) -> torch.Tensor:
    """Integrated gradients of a loss at x from baseline, shaped like x (B, T, F).
    summed_loss(points (K, B, T, F)) must return the sum over k of the loss at points[k], each computed from
    points[k] alone; per_pass bounds K."""
    x, baseline = x.detach(), baseline.detach().expand_as(x)
    total = torch.zeros_like(x)  # sum over alphas of dL/dx at each point
    for alphas in midpoints(steps).split(per_pass):
        points = baseline + alphas.view(-1, *[1] * x.dim()).to(x) * (x - baseline)  # (K, B, T, F)
        points.requires_grad_(True)
        (grads,) = torch.autograd.grad(summed_loss(points), points)
        total += grads.sum(0)
    return (x - baseline) * total / steps


def gradient_of(summed_loss: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """dL/dx at x, shaped like x."""
    point = x.detach()[None].clone().requires_grad_(True)  # (1, B, T, F)
    (grad,) = torch.autograd.grad(summed_loss(point), point)
    return grad[0]


# ---- a SeqModel on a task's batch -------------------------------------------------------------------
def attributed_inputs(model: SeqModel, batch: Batch) -> torch.Tensor:
    """What the attribution is over: the features (B, T, F), or for token inputs the embeddings (B, T, E)."""
    device = next(model.parameters()).device
    with torch.no_grad():
        if model.embed is not None:
            return model.embed(batch.x.to(device))
        return batch.x.to(device).float()


def loss_at(model: SeqModel, task: Task, batch: Batch, points: torch.Tensor) -> torch.Tensor:
    """The task's loss on batch with its inputs (features or embeddings) replaced by each of points (K, B, T, F):
    (K,) losses, one per point, from one forward pass of K x B examples."""
    K, B = points.shape[:2]
    device = points.device
    repeat = lambda t: t.to(device).repeat(K, *[1] * (t.dim() - 1))  # noqa: E731  (K*B, ...)
    inputs = points.reshape(K * B, *points.shape[2:])  # point k's example b is row k * B + b
    dec_in = None if batch.dec_in is None else repeat(batch.dec_in)
    mask = None if batch.mask is None else repeat(batch.mask)
    with torch.enable_grad():
        if model.embed is None:
            pred = model(inputs, dec_in, mask)
        else:
            pred = _run_from_embeddings(model, model.embed, repeat(batch.x), inputs, dec_in, mask)
        pred = pred.reshape(K, B, *pred.shape[1:])
        y = batch.y.to(device)
        return torch.stack([task.loss(pred[k], y) for k in range(K)])


def _run_from_embeddings(model: SeqModel, embed: nn.Module, ids: torch.Tensor, embeddings: torch.Tensor, dec_in,
                         mask) -> torch.Tensor:
    """model(ids, ...), whose embedding layer is embed, with embed(ids) replaced by embeddings (K*B, T, E). Only
    the lookup of these very ids is replaced: a decoder's own embedded inputs (dec_in) pass unchanged."""
    swap = lambda module, args, out: embeddings if args[0] is ids else out  # noqa: E731
    handle = embed.register_forward_hook(swap)
    try:
        return model(ids, dec_in, mask)
    finally:
        handle.remove()


def saliency_arrays(model: SeqModel, task: Task, batch: Batch, steps: int = 64,
                    baseline: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """saliency.grad_x and saliency.ig (B, T) float32 of the task's loss on batch; baseline: broadcastable to the
    attributed inputs (B, T, F or E), default zeros. Use the probe's unrolled CPU twin (probe.make_twin): exact,
    and free of cuDNN, whose RNN backward needs train mode."""
    x = attributed_inputs(model, batch)  # (B, T, F)
    base = torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    summed = lambda points: loss_at(model, task, batch, points).sum()  # noqa: E731
    B, T = x.shape[:2]
    per_pass = points_per_pass(B, T, model.cfg.hidden * model.cfg.layers)
    ig = integrated_gradients(summed, x, base, steps, per_pass)
    grad_x = gradient_of(summed, x) * x
    return {"saliency.grad_x": _per_step(grad_x), "saliency.ig": _per_step(ig)}


def _per_step(a: torch.Tensor) -> np.ndarray:
    return a.sum(-1).detach().cpu().numpy().astype(np.float32)  # (B, T)
