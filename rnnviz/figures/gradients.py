"""Figures of the Gradients page: ‖∂L/∂h_t‖ (and an LSTM's ‖∂L/∂c_t‖) through time with the vanilla-RNN bound, the same over training
as a heatmap, and every parameter's gradient norm per training step. Builders take the probe summaries or the
training history and return a go.Figure; arrays go out as float32.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from .common import (BOUND_STYLE, LINE_COLOURS, MAX_STEPS, add_note, axis, base_layout, bucket, downsample_note, f32, inside_labels,
                     log_axis, log_range, note, pool_time, positive, projector_style, sci)
from .panels import figure, scatter

PARAM_POINTS = 400  # points per parameter's gradient-norm line: a dozen lines redrawn live stay light (SVG, no WebGL)
GRADIENT_SCALE = "Plasma"  # log10 gradient norms: dark = vanished, bright = large (Inferno and Magma start at
# "#000004", which the browser draws light purple: the vanished end would look bright)


def decay_bound(last: float, rate: float, T: int) -> np.ndarray:
    """(T,) log10 of last · rate^(T-1-t): the vanilla-RNN bound on how much of the gradient at the
    last step can reach step t (Pascanu et al. 2013), computed in log10 so it never overflows."""
    return math.log10(last) + (T - 1 - np.arange(T)) * math.log10(max(rate, 1e-300))


def gradient_through_time(norms: dict[str, np.ndarray], *, rate: float | None = None, y_range=None,
                          dashed: frozenset[str] | set[str] = frozenset(), title: str | None = None, height: int = 380,
                          labels=None) -> go.Figure:
    """‖∂L/∂h_t‖ against t on a log scale (norms = {legend name: (T,)}), with the bound
    ‖∂L/∂h_T‖ (σ_max(W_hh) γ)^(T−t) where rate = σ_max γ is given (vanilla RNN).
    y_range: (low, high) in log10, fixed by the page so curves of different probes compare.
    dashed: legend names drawn dashed (a bidirectional layer's backward direction); the others are solid.
    Values a log axis cannot show (exactly 0: saturated units pass nothing back; ∞: past float range) are
    gaps, counted in a note; a value between two gaps is drawn as a dot, which a line alone would not show."""
    L = inside_labels(labels)
    traces = []
    T = len(next(iter(norms.values())))
    t = f32(np.arange(T))
    for k, (name, g) in enumerate(norms.items()):
        y = positive(g)
        colour = LINE_COLOURS[k % len(LINE_COLOURS)]
        traces.append(scatter(x=t, y=y, mode="lines+markers", name=name, marker=dict(size=_dots(y), color=colour),
                              line=dict(color=colour, width=2.5, dash="dash" if name in dashed else "solid")))
    first = np.asarray(next(iter(norms.values())), dtype=np.float64)
    if rate is not None and np.isfinite(first[-1]) and first[-1] > 0:
        log_bound = decay_bound(float(first[-1]), rate, T)
        lo, hi = y_range if y_range is not None else (np.log10(first[first > 0]).min() - 2, np.log10(first.max()) + 2)
        shown = (log_bound >= lo - 1) & (log_bound <= hi + 1)  # beyond the axis it is only overflow
        traces.append(scatter(x=t, y=f32(np.where(shown, 10.0 ** np.clip(log_bound, -300, 300), np.nan)),
                              mode="lines", line=BOUND_STYLE, name=L["bound"].format(rate=sci(rate))))
    # made in one go, not by update_* calls (rnnviz.figures.panels says why): the page redraws it at every step
    layout = base_layout(title, height, legend_on_top=True, xaxis=axis(L["time"]),
                         yaxis=axis(L["grad_norm"], **log_axis(list(norms.values()), span=y_range)))
    unshown = unshown_note(np.stack([np.asarray(g, dtype=np.float64) for g in norms.values()]), L)
    if unshown:
        add_note(layout, unshown)
    return figure(traces, layout)


def _dots(y: np.ndarray, size: int = 7) -> np.ndarray:
    """Marker sizes (T,): `size` where a point has no drawn neighbour (a line needs two), 0 elsewhere."""
    drawn = np.isfinite(y)
    before = np.concatenate([[False], drawn[:-1]])
    after = np.concatenate([drawn[1:], [False]])
    return np.where(drawn & ~before & ~after, size, 0).astype(np.uint8)


def unshown_note(values: np.ndarray, L: dict) -> str:
    """The note for a log-scale chart of `values` on how many were exactly 0 or non-finite (not drawn); "" if none."""
    parts = []
    zero, infinite = int(np.sum(values == 0)), int(np.sum(~np.isfinite(values)))
    if zero:
        parts.append(L["note_zero"].format(n=zero, total=values.size))
    if infinite:
        parts.append(L["note_infinite"].format(n=infinite, total=values.size))
    return " · ".join(parts)


def gradient_heatmap(steps, norms: np.ndarray, *, value_name: str = "log₁₀ ‖∂L/∂h_t‖", title: str | None = None,
                     height: int = 380, labels=None) -> go.Figure:
    """log10 ‖∂L/∂h_t‖ over training (rows: probe steps, oldest on top) and time (columns):
    norms (P, T). A vanishing gradient is a band fading to the left, an exploding one a bright blow-up.
    At most MAX_STEPS columns and MAX_STEPS rows (averaged in log space over buckets)."""
    L = inside_labels(labels)
    steps = np.asarray(steps)
    norms = np.asarray(norms, dtype=np.float64)
    P, T = norms.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(np.isfinite(norms) & (norms > 0), np.log10(norms), np.nan)
    rng = log_range([norms]) or (-1.0, 0.0)
    logs = np.clip(logs, rng[0], rng[1])  # exact zeros and underflow sit at the floor colour, overflow at the top
    logs = np.where(norms == 0, rng[0], np.where(np.isposinf(norms), rng[1], logs))
    f_t, f_p = math.ceil(T / MAX_STEPS), math.ceil(P / MAX_STEPS)
    z = pool_time(pool_time(logs, f_t).T, f_p).T  # (rows, columns)
    rows = pool_time(steps[None, :].astype(np.float64), f_p)[0]
    y = [f"{s:.0f}" for s in rows]  # one row per probe, evenly spaced whatever the probe schedule
    x = f32(np.arange(0, T, f_t))
    fig = go.Figure(go.Heatmap(
        z=z, x=x, y=y, zmin=rng[0], zmax=rng[1], colorscale=GRADIENT_SCALE,
        colorbar=dict(title=dict(text=value_name, side="right"), thickness=14),
        hovertemplate=f"{L['training_step']}: %{{y}}<br>{L['time']}: %{{x}}<br>{value_name} = %{{z:.2f}}<extra></extra>"))
    fig.update_xaxes(title=L["time"])
    fig.update_yaxes(title=L["training_step"], type="category", autorange="reversed")
    downsample_note(fig, L, None, max(f_t, f_p), max(T, P))
    return projector_style(fig, title, height)


def parameter_gradients(step, param_norms: dict[str, np.ndarray], *, clipped=None, grad_norm=None, clip: float = 0.0,
                        stopped_at: int | None = None, title: str | None = None, height: int = 420,
                        labels=None) -> go.Figure:
    """Each parameter's gradient norm per training step (log scale, bucketed keeping the maxima so spikes stay),
    the global norm, the clipping threshold, the steps where clipping acted, and the step a non-finite value
    stopped the run."""
    L = inside_labels(labels)
    step = np.asarray(step)
    fig = go.Figure()
    for k, (name, norms) in enumerate(param_norms.items()):
        x, y = bucket(step, _finite_or_nan(norms), PARAM_POINTS, how="max")
        fig.add_trace(go.Scatter(x=x, y=positive(y), mode="lines", name=name,
                                   line=dict(color=LINE_COLOURS[k % len(LINE_COLOURS)], width=1.5)))
    if grad_norm is not None:
        x, y = bucket(step, _finite_or_nan(grad_norm), PARAM_POINTS, how="max")
        fig.add_trace(go.Scatter(x=x, y=positive(y), mode="lines", name=L["global_norm"],
                                   line=dict(color="#222", width=3)))
        if clipped is not None and np.any(clipped):
            hit = np.asarray(clipped, dtype=bool)
            cx, cy = bucket(step[hit], _finite_or_nan(np.asarray(grad_norm)[hit]), PARAM_POINTS, how="max")
            fig.add_trace(go.Scatter(x=cx, y=positive(cy), mode="markers", marker=dict(color="#d62728", symbol="x", size=7),
                                       name=L["clip_events"].format(share=100 * hit.mean())))
    if clip > 0:  # the label by hand: add_hline's would sit at 10^clip on a log axis
        fig.add_hline(y=clip, line=dict(color="#d62728", dash="dot", width=2))
        fig.add_annotation(x=1, xref="paper", xanchor="right", y=math.log10(clip), yref="y", yanchor="top",
                           text=L["clip_line"].format(clip=clip), showarrow=False, font=dict(color="#d62728"),
                           bgcolor="rgba(255,255,255,0.8)")
    if stopped_at is not None:
        fig.add_vline(x=stopped_at, line=dict(color="#d62728", width=2),
                      annotation_text=L["nonfinite_line"].format(step=stopped_at), annotation_position="top left")
    fig.update_xaxes(title=L["training_step"])
    fig.update_yaxes(title=L["param_grad_norm"], **log_axis([*param_norms.values(), *([grad_norm] if grad_norm is not None else [])]))
    if len(step) > PARAM_POINTS:
        note(fig, L["note_bucketed"].format(total=len(step)))
    return projector_style(fig, title, height, legend_on_top=True)


def _finite_or_nan(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan)
