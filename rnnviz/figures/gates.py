"""Figures of the Gates page: how often each gate is saturated, over units and over training, and one gate
next to the gradient it lets through. Builders take plain arrays from a Trace or the probe summaries and
return a go.Figure; arrays go out as float32.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import BOUND_STYLE, LINE_COLOURS, f32, inside_labels, log_axis, positive, projector_style

STEP_COLOURS = ("#d0d0d0", "#9ecae1", "#3182bd", "#d62728")  # earlier -> later training steps; the last pops


def saturation_scatter(gates: dict[str, list[tuple[int, np.ndarray]]], *, title: str | None = None,
                       height: int = 380, labels=None) -> go.Figure:
    """Karpathy et al. (2015): one point per unit, x = share of time the gate is below 0.1, y = above 0.9.
    gates = {gate name: [(training step, (2, H) fractions)]}, steps oldest first; later steps drawn darker."""
    L = inside_labels(labels)
    names = list(gates)
    fig = make_subplots(rows=1, cols=max(1, len(names)), subplot_titles=[L["gate_named"].format(gate=g) for g in names],
                        horizontal_spacing=0.05)
    for col, name in enumerate(names, start=1):
        series = gates[name]
        for k, (step, sat) in enumerate(series):
            colour = STEP_COLOURS[max(0, len(STEP_COLOURS) - len(series) + k)]
            fig.add_trace(go.Scatter(
                x=f32(sat[0]), y=f32(sat[1]), mode="markers", name=L["step_named"].format(step=step),
                legendgroup=str(step), showlegend=(col == 1),
                marker=dict(color=colour, size=8 if k == len(series) - 1 else 6, line=dict(width=0)),
                hovertemplate=f"{L['unit']} %{{pointNumber}}<br>< 0.1: %{{x:.2f}}<br>> 0.9: %{{y:.2f}}<extra>{step}</extra>"),
                row=1, col=col)
        fig.add_trace(go.Scatter(x=[0, 1], y=[1, 0], mode="lines", line=dict(color="#bbb", dash="dot"),
                                 showlegend=False, hoverinfo="skip"), row=1, col=col)
        fig.update_xaxes(title=L["left_saturated"], range=[-0.03, 1.03], row=1, col=col)
        fig.update_yaxes(range=[-0.03, 1.03], row=1, col=col)
    fig.update_yaxes(title=L["right_saturated"], row=1, col=1)
    fig = projector_style(fig, title, height)
    fig.update_layout(legend=dict(orientation="v", x=1.01, xanchor="left", y=1, yanchor="top"))
    return fig


def saturation_over_training(steps, gates: dict[str, np.ndarray], *, title: str | None = None, height: int = 320,
                             labels=None) -> go.Figure:
    """Mean over units of the share of time each gate is saturated, per probe: gates = {name: (P, 2, H)}.
    Solid: above 0.9 (open), dashed: below 0.1 (shut)."""
    L = inside_labels(labels)
    fig = go.Figure()
    for k, (name, sat) in enumerate(gates.items()):
        colour = LINE_COLOURS[k % len(LINE_COLOURS)]
        means = np.asarray(sat, dtype=np.float64).mean(axis=-1)  # (P, 2)
        for side, dash, key in ((1, "solid", "open_named"), (0, "dash", "shut_named")):
            fig.add_trace(go.Scatter(x=f32(steps), y=f32(means[:, side]), mode="lines+markers", name=L[key].format(gate=name),
                                     line=dict(color=colour, dash=dash, width=2), marker=dict(size=5)))
    fig.update_xaxes(title=L["training_step"])
    fig.update_yaxes(title=L["saturated_share"], range=[0, 1])
    return projector_style(fig, title, height, legend_on_top=True)


def gate_and_gradient(gate: np.ndarray, grads: dict[str, np.ndarray], *, gate_name: str = "f",
                      title: str | None = None, height: int = 520, labels=None) -> go.Figure:
    """Two panels over time for one example: the gate's mean over units with its 10-90% band (gate: (T, H)),
    and below, on a log scale, the gradient norms flowing back (grads = {legend name: (T,)}) with the
    product of the mean gate from t+1 to T (how much of ∂L/∂c_T the cell path alone keeps) scaled to
    the first gradient curve's value at T."""
    L = inside_labels(labels)
    gate = np.asarray(gate, dtype=np.float64)
    T = gate.shape[0]
    t = f32(np.arange(T))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.4, 0.6])
    lo, hi = np.percentile(gate, [10, 90], axis=1)
    fig.add_trace(go.Scatter(x=t, y=f32(hi), mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Scatter(x=t, y=f32(lo), mode="lines", line=dict(width=0), fill="tonexty",
                             fillcolor="rgba(44,160,44,0.2)", name=L["band"], hoverinfo="skip"), row=1, col=1)
    mean_gate = gate.mean(axis=1)
    fig.add_trace(go.Scatter(x=t, y=f32(mean_gate), mode="lines", line=dict(color="#2ca02c", width=2.5),
                             name=L["gate_mean"].format(gate=gate_name)), row=1, col=1)
    for k, (name, g) in enumerate(grads.items()):
        fig.add_trace(go.Scatter(x=t, y=positive(g), mode="lines", name=name,
                                 line=dict(color=LINE_COLOURS[k % len(LINE_COLOURS)], width=2.5)), row=2, col=1)
    first = next(iter(grads.values()), None)
    if first is not None and np.isfinite(first[-1]) and first[-1] > 0:
        # ∏_{s=t+1}^{T-1} gate_s: the cell path's share of the gradient at the last step that reaches t
        log_keep = np.concatenate([np.cumsum(np.log10(np.clip(mean_gate[:0:-1], 1e-30, None)))[::-1], [0.0]])
        fig.add_trace(go.Scatter(x=t, y=f32(first[-1] * 10.0 ** np.clip(log_keep, -30, 0)), mode="lines",
                                 line=BOUND_STYLE, name=L["carry"].format(gate=gate_name)), row=2, col=1)
    fig.update_yaxes(title=L["gate_value"].format(gate=gate_name), range=[0, 1], row=1, col=1)
    fig.update_yaxes(title=L["grad_norm"], **log_axis(list(grads.values())), row=2, col=1)
    fig.update_xaxes(title=L["time"], row=2, col=1)
    return projector_style(fig, title, height, legend_on_top=True)
