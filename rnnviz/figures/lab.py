"""Figures of the gradient lab: gradient norms through time and the spectrum of W_hh (the cliff's are in cliff.py).

Builders take a rnnviz.theory.lab.LabResult and return a go.Figure. Gradient norms arrive as
log10 values and can span thousands of decades (ρ = 10 over 1000 steps is 10^1000, far beyond any float),
so they are drawn as log10 on a linear axis whose ticks read 10^k; values clamped at rnnviz.theory.jacobians.LOG10_FLOOR
stay finite and the page's note says so. Arrays go to the browser as float32.
Axis titles and legend names come from `labels` (the text files' [lab.fig] table, English by default).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import plotly.graph_objects as go

from .common import add_note, axis, base_layout, f32, labels_with, log_ticks
from .panels import figure, hline, scatter

NORM_COLOURS = {"norm": "#d62728", "h": "#1f77b4", "reference": "#555"}
CIRCLE_POINTS = 181


def _labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return labels_with("lab.fig", labels)


def _log_axis(title: str, *curves) -> dict:
    """A log10-valued y axis labelled in powers of ten (common.log_ticks), padded so flat curves stay readable."""
    values = np.concatenate([np.ravel(c) for c in curves])
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = max(0.5, 0.05 * (hi - lo))
    vals, texts = log_ticks(lo - pad, hi + pad)
    return axis(title, range=[lo - pad, hi + pad], tickmode="array", tickvals=vals, ticktext=texts, zeroline=False)


def gradient_norms(result, *, labels=None, title: str | None = None, height: int = 380,
                   note: str = "") -> go.Figure:
    """‖∂h_T/∂h_t‖ against t (log10) with the bound (σ_max·γ)^(T−t) for a vanilla RNN; for an LSTM the cell
    path ‖∂c_T/∂c_t‖, the hidden path ‖∂h_T/∂h_t‖ and the forget gates' product alone; `note` (the page's
    caveats) under the plot when not empty. Made in one go (rnnviz.figures.panels says why): a new setting
    on the lab's sliders redraws it."""
    L = _labels(labels)
    t = f32(result.t)
    lstm = result.cell == "lstm"
    curves = [("norm", L["cell_path"] if lstm else L["norm"], result.log10_norm, "solid")]
    if lstm:
        curves.append(("h", L["h_path"], result.log10_norm_h, "solid"))
    curves.append(("reference", L["forget_product"] if lstm else L["bound"], result.log10_reference, "dash"))
    traces = [scatter(x=t, y=f32(y), mode="lines", name=name, line=dict(color=NORM_COLOURS[key], width=3, dash=dash),
                      hovertemplate=f"t = %{{x}}<br>{name} = 10^%{{y:.1f}}<extra></extra>")
              for key, name, y, dash in curves]
    layout = base_layout(
        title, height, legend_on_top=True,
        shapes=[hline(0, dict(color="#999", width=1))],  # a norm of 1: neither shrinking nor growing
        xaxis=axis(L["t"], range=[float(t[0]), float(t[-1])]),
        yaxis=_log_axis(L["norm_axis_lstm" if lstm else "norm_axis"], *[c[2] for c in curves]))
    if note:
        add_note(layout, note)
    return figure(traces, layout)


def singular_values(result, *, labels=None, title: str | None = None, height: int = 300) -> go.Figure:
    """The singular values, largest first, against the line 1/γ: λ₁ = σ_max above it is necessary for
    exploding gradients, below it sufficient for vanishing (Pascanu et al. 2013; 1 for an LSTM's step Jacobian)."""
    L = _labels(labels)
    sv = f32(result.singular_values)
    threshold = 1.0 / result.gamma if result.gamma else 1.0
    bars = dict(type="bar", x=f32(np.arange(1, len(sv) + 1)), y=sv, marker_color="#1f77b4", name="σᵢ",
                hovertemplate="i = %{x}<br>σ = %{y:.3g}<extra></extra>")
    label = dict(text=L["threshold"].format(value=threshold), showarrow=False, xref="x domain", x=1, xanchor="right",
                 yref="y", y=threshold, yanchor="bottom")  # where add_hline's "top right" puts it
    return figure([bars], base_layout(
        title, height, bargap=0.05, showlegend=False, annotations=[label],
        shapes=[hline(threshold, dict(color="#d62728", dash="dash", width=2))],
        xaxis=axis(L["index"]), yaxis=axis(L["singular_axis"], rangemode="tozero")))


def _circle(radius: float) -> tuple[np.ndarray, np.ndarray]:
    angle = np.linspace(0, 2 * np.pi, CIRCLE_POINTS)
    return f32(radius * np.cos(angle)), f32(radius * np.sin(angle))


def eigenvalues(result, *, labels=None, title: str | None = None, height: int = 300) -> go.Figure:
    """The eigenvalues on the complex plane with the unit circle (and the circle of radius 1/γ when γ ≠ 1):
    the spectral radius is how far out the farthest one lies."""
    L = _labels(labels)
    ev = np.asarray(result.eigenvalues)
    x, y = _circle(1.0)
    traces = [scatter(x=x, y=y, mode="lines", name=L["unit_circle"], line=dict(color="#999", width=1.5),
                      hoverinfo="skip")]
    if result.gamma and result.gamma != 1:
        x, y = _circle(1.0 / result.gamma)
        traces.append(scatter(x=x, y=y, mode="lines", name=L["gamma_circle"], hoverinfo="skip",
                              line=dict(color="#d62728", width=1.5, dash="dash")))
    traces.append(scatter(x=f32(ev.real), y=f32(ev.imag), mode="markers", name=L["eigenvalues"],
                          marker=dict(color="#1f77b4", size=7), hovertemplate="%{x:.3g} %{y:+.3g}i<extra></extra>"))
    reach = 1.1 * max(1.0, result.spectral_radius, 1.0 / result.gamma if result.gamma else 1.0)
    return figure(traces, base_layout(
        title, height, legend_on_top=True,
        xaxis=axis(L["real"], range=[-reach, reach], zeroline=True),
        yaxis=axis(L["imag"], range=[-reach, reach], zeroline=True, scaleanchor="x", scaleratio=1)))
