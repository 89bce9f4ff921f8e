"""Pascanu's cliff: the loss surface of one recurrent unit, gradient descent on it with and without clipping,
and the windows the lab draws it in.

Pascanu, Mikolov & Bengio (2013) draw the loss of x_t = w σ(x_{t-1}) + b, x_0 = 0.5, after 50 steps,
L = (σ(x_50) − 0.7)². For w above about 4 the map has two attractors, and where the starting point
changes basin the loss drops by ~0.3 across a wall thinner than 0.01 in b, on which the gradient is in
the hundreds to thousands: an unclipped step there throws the parameters far away, a step clipped to
norm `clip` does not (gradient clipping).
"""
from __future__ import annotations

import numpy as np

from .jacobians import sigmoid

STEPS, X0, TARGET = 50, 0.5, 0.7
# The wall runs from the cusp near (w, b) = (4, -2) down to (8, -4.5); the low-loss valley b ≈ 0.85 - 0.7 w
# ends at it. Above w ≈ 5 the wall is thinner than a grid cell and shows as a sharp edge.
GRID = {"w": (2.0, 8.0), "b": (-5.0, 1.0)}
# A start on the wall's face (‖∇‖ ≈ 76): the unclipped first step flies ≈ 7.6 to (8.3, 4.3), onto a flat
# plateau (loss 0.09) where descent stalls; clipped to norm 1 it moves 0.1 and reaches loss < 1e-3.
START, LR, CLIP, DESCENT_STEPS = (4.4, -2.242), 0.1, 1.0, 100
MARGIN = 0.5  # room around the descent paths in the lab's map
REACH = {"w": (-4.0, 16.0), "b": (-12.0, 10.0)}  # the map never grows beyond this, however far a step flies
ZOOM_HALF_WIDTH = 0.25  # of the close-up around the start: 100 clipped steps from the wall stay within ±0.1


def _forward(w, b) -> np.ndarray:
    """States x_0..x_50 for every (w, b): (51, *broadcast shape)."""
    w, b = np.broadcast_arrays(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
    xs = np.empty((STEPS + 1, *w.shape))
    xs[0] = X0
    for t in range(STEPS):
        xs[t + 1] = w * sigmoid(xs[t]) + b
    return xs


def loss(w, b) -> np.ndarray:
    """(σ(x_50) − 0.7)² for x_t = w σ(x_{t−1}) + b, x_0 = 0.5; w and b broadcast (numpy grids)."""
    return (sigmoid(_forward(w, b)[-1]) - TARGET) ** 2


def gradient(w, b) -> tuple[np.ndarray, np.ndarray]:
    """Exact (∂L/∂w, ∂L/∂b) by backpropagation through the 50 steps, vectorised over w and b."""
    w = np.asarray(w, dtype=np.float64)
    xs = _forward(w, b)
    s = sigmoid(xs)  # (51, ...)
    delta = 2 * (s[-1] - TARGET) * s[-1] * (1 - s[-1])  # ∂L/∂x_50
    dw, db = np.zeros_like(delta), np.zeros_like(delta)
    for t in range(STEPS, 0, -1):  # x_t = w σ(x_{t−1}) + b
        dw += delta * s[t - 1]
        db += delta
        delta = delta * w * s[t - 1] * (1 - s[t - 1])  # ∂L/∂x_{t−1}
    return dw, db


def descent(w0: float = START[0], b0: float = START[1], lr: float = LR, steps: int = DESCENT_STEPS,
            clip: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Plain gradient descent on the cliff: path (steps+1, 2) of (w, b) and the loss at each point (steps+1,).
    With clip, a gradient whose norm exceeds clip is rescaled to norm clip, so no step is longer than lr·clip."""
    path = np.empty((steps + 1, 2))
    path[0] = w0, b0
    for k in range(steps):
        g = np.array(gradient(*path[k]))
        norm = np.hypot(*g)
        if clip is not None and norm > clip:
            g *= clip / norm
        path[k + 1] = path[k] - lr * g
    return path, loss(path[:, 0], path[:, 1])


# --- the lab's view of it ----------------------------------------------------------------------------


def wall(w: float, lo: float = GRID["b"][0], hi: float = GRID["b"][1], n: int = 6001) -> float:
    """The b in [lo, hi] where the cliff's gradient is steepest for this w (on a grid of n points):
    a start on the wall's face, where an unclipped step jumps."""
    bs = np.linspace(lo, hi, n)
    dw, db = gradient(np.full(n, float(w)), bs)
    return float(bs[np.nanargmax(np.hypot(dw, db))])


def axes(paths, n: int = 201) -> tuple[np.ndarray, np.ndarray]:
    """w and b axes (n,) covering the cliff's usual window and every path point, within REACH."""
    points = np.concatenate([np.asarray(p, dtype=np.float64) for p in paths])  # (N, 2) of (w, b)
    points = points[np.isfinite(points).all(axis=1)]
    found = []
    for k, name in enumerate(("w", "b")):
        lo = min(GRID[name][0], points[:, k].min() - MARGIN)
        hi = max(GRID[name][1], points[:, k].max() + MARGIN)
        found.append(np.linspace(max(lo, REACH[name][0]), min(hi, REACH[name][1]), n))
    return found[0], found[1]


def zoom(start, half: float = ZOOM_HALF_WIDTH, n: int = 161) -> tuple[np.ndarray, np.ndarray]:
    """w and b axes (n,) of a small window around the start, where clipped steps (at most lr · clip long) stay."""
    w0, b0 = start
    return np.linspace(w0 - half, w0 + half, n), np.linspace(b0 - half, b0 + half, n)


def scene(w0: float, b0: float, lr: float, steps: int, clip: float) -> dict:
    """Everything the lab draws for one start: both descent paths from (w0, b0) ("plain" and "clipped") and
    their losses, the loss surface on a window that holds them (ws, bs, surface), the gradient's norm at the
    start, and a close-up around the start (zoom: its w and b axes and the loss there)."""
    plain, plain_loss = descent(w0, b0, lr, steps, None)
    clipped, clipped_loss = descent(w0, b0, lr, steps, clip)
    ws, bs = axes([plain, clipped])
    zw, zb = zoom((w0, b0))
    dw, db = gradient(w0, b0)
    return dict(paths={"plain": plain, "clipped": clipped}, losses={"plain": plain_loss, "clipped": clipped_loss},
                ws=ws, bs=bs, surface=loss(ws[None, :], bs[:, None]), grad=float(np.hypot(dw, db)),
                zoom=(zw, zb, loss(zw[None, :], zb[:, None])))
