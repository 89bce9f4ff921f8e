"""Figures of the Gates page: how often each gate is saturated, over units and over training, and one gate
next to the gradient it lets through. Builders take plain arrays from a Trace or the probe summaries and
return a go.Figure; arrays go out as float32.

Each figure is made in one go (rnnviz.figures.panels says why): the Gates page rebuilds them whenever the user
moves to a probe step not drawn before.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from .common import AXIS_FONTS, BOUND_STYLE, LINE_COLOURS, axis, base_layout, f32, inside_labels, log_axis, positive
from .panels import columns, figure, scatter, title_above

STEP_COLOURS = ("#d0d0d0", "#9ecae1", "#3182bd", "#d62728")  # earlier -> later training steps; the last pops
PANEL_SPACING = 0.05  # between the saturation scatter's panels, as a share of the figure's width
ROW_SPACING = 0.08  # between gate_and_gradient's two rows, as a share of the figure's height
ROW_HEIGHTS = (0.4, 0.6)  # gate_and_gradient's rows, top first, as shares of the height they share


def saturation_scatter(gates: dict[str, list[tuple[int, np.ndarray]]], *, title: str | None = None,
                       height: int = 380, labels=None) -> go.Figure:
    """Karpathy et al. (2015): one point per unit, x = share of time the gate is below 0.1, y = above 0.9.
    gates = {gate name: [(training step, (2, H) fractions)]}, steps oldest first; later steps drawn darker."""
    L = inside_labels(labels)
    names = list(gates)
    traces, titles = [], []
    axes: dict[str, Any] = {}  # xaxis, yaxis, xaxis2, ...
    for col, (suffix, domain) in enumerate(columns(max(1, len(names)), PANEL_SPACING)):
        x, y = "x" + suffix, "y" + suffix
        axes["xaxis" + suffix] = axis(L["left_saturated"], anchor=y, domain=domain, range=[-0.03, 1.03])
        yaxis = dict(anchor=x, domain=[0.0, 1.0], range=[-0.03, 1.03])
        axes["yaxis" + suffix] = axis(L["right_saturated"], **yaxis) if col == 0 else {**AXIS_FONTS, **yaxis}
        if col == len(names):  # no gates: one empty panel
            break
        name = names[col]
        titles.append(title_above(L["gate_named"].format(gate=name), domain))
        series = gates[name]
        for k, (step, sat) in enumerate(series):
            colour = STEP_COLOURS[max(0, len(STEP_COLOURS) - len(series) + k)]
            traces.append(scatter(
                x=f32(sat[0]), y=f32(sat[1]), xaxis=x, yaxis=y, mode="markers", name=L["step_named"].format(step=step),
                legendgroup=str(step), showlegend=(col == 0),
                marker=dict(color=colour, size=8 if k == len(series) - 1 else 6, line=dict(width=0)),
                hovertemplate=f"{L['unit']} %{{pointNumber}}<br>< 0.1: %{{x:.2f}}<br>> 0.9: %{{y:.2f}}<extra>{step}</extra>"))
        traces.append(scatter(x=[0, 1], y=[1, 0], xaxis=x, yaxis=y, mode="lines", line=dict(color="#bbb", dash="dot"),
                              showlegend=False, hoverinfo="skip"))
    legend = dict(orientation="v", x=1.01, xanchor="left", y=1, yanchor="top")
    return figure(traces, base_layout(title, height, legend=legend, annotations=titles, **axes))


def saturation_over_training(steps, gates: dict[str, np.ndarray], *, title: str | None = None, height: int = 320,
                             labels=None) -> go.Figure:
    """Mean over units of the share of time each gate is saturated, per probe: gates = {name: (P, 2, H)}.
    Solid: above 0.9 (open), dashed: below 0.1 (shut)."""
    L = inside_labels(labels)
    traces = []
    for k, (name, sat) in enumerate(gates.items()):
        colour = LINE_COLOURS[k % len(LINE_COLOURS)]
        means = np.asarray(sat, dtype=np.float64).mean(axis=-1)  # (P, 2)
        for side, dash, key in ((1, "solid", "open_named"), (0, "dash", "shut_named")):
            traces.append(scatter(x=f32(steps), y=f32(means[:, side]), mode="lines+markers", name=L[key].format(gate=name),
                                  line=dict(color=colour, dash=dash, width=2), marker=dict(size=5)))
    return figure(traces, base_layout(title, height, legend_on_top=True, xaxis=axis(L["training_step"]),
                                         yaxis=axis(L["saturated_share"], range=[0, 1])))


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
    lo, hi = np.percentile(gate, [10, 90], axis=1)
    mean_gate = gate.mean(axis=1)
    top = dict(xaxis="x", yaxis="y")  # the gate's panel; the gradients' is x2, y2, sharing its time axis
    traces = [
        scatter(x=t, y=f32(hi), **top, mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip"),
        scatter(x=t, y=f32(lo), **top, mode="lines", line=dict(width=0), fill="tonexty",
                fillcolor="rgba(44,160,44,0.2)", name=L["band"], hoverinfo="skip"),
        scatter(x=t, y=f32(mean_gate), **top, mode="lines", line=dict(color="#2ca02c", width=2.5),
                name=L["gate_mean"].format(gate=gate_name))]
    for k, (name, g) in enumerate(grads.items()):
        traces.append(scatter(x=t, y=positive(g), xaxis="x2", yaxis="y2", mode="lines", name=name,
                              line=dict(color=LINE_COLOURS[k % len(LINE_COLOURS)], width=2.5)))
    first = next(iter(grads.values()), None)
    if first is not None and np.isfinite(first[-1]) and first[-1] > 0:
        # ∏_{s=t+1}^{T-1} gate_s: the cell path's share of the gradient at the last step that reaches t
        log_keep = np.concatenate([np.cumsum(np.log10(np.clip(mean_gate[:0:-1], 1e-30, None)))[::-1], [0.0]])
        traces.append(scatter(x=t, y=f32(first[-1] * 10.0 ** np.clip(log_keep, -30, 0)), xaxis="x2", yaxis="y2",
                              mode="lines", line=BOUND_STYLE, name=L["carry"].format(gate=gate_name)))
    lower = (1 - ROW_SPACING) * ROW_HEIGHTS[1]  # the bottom row's top edge
    return figure(traces, base_layout(
        title, height, legend_on_top=True,
        xaxis={**AXIS_FONTS, "anchor": "y", "domain": [0.0, 1.0], "matches": "x2", "showticklabels": False},
        yaxis=axis(L["gate_value"].format(gate=gate_name), anchor="x", domain=[lower + ROW_SPACING, 1.0], range=[0, 1]),
        xaxis2=axis(L["time"], anchor="y2", domain=[0.0, 1.0]),
        yaxis2=axis(L["grad_norm"], anchor="x2", domain=[0.0, lower], **log_axis(list(grads.values())))))
