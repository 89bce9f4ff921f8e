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

from .common import f32, labels_with, log_ticks, style, top_legend

NORM_COLOURS = {"norm": "#d62728", "h": "#1f77b4", "reference": "#555"}
CIRCLE_POINTS = 181


def _labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return labels_with("lab.fig", labels)


def _log_axis(fig: go.Figure, title: str, *curves) -> None:
    """A log10-valued y axis labelled in powers of ten (common.log_ticks), padded so flat curves stay readable."""
    values = np.concatenate([np.ravel(c) for c in curves])
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = max(0.5, 0.05 * (hi - lo))
    vals, texts = log_ticks(lo - pad, hi + pad)
    fig.update_yaxes(title=title, range=[lo - pad, hi + pad], tickmode="array", tickvals=vals, ticktext=texts,
                     zeroline=False)


def gradient_norms(result, *, labels=None, title: str | None = None, height: int = 380) -> go.Figure:
    """‖∂h_T/∂h_t‖ against t (log10) with the bound (σ_max·γ)^(T−t) for a vanilla RNN; for an LSTM the cell
    path ‖∂c_T/∂c_t‖, the hidden path ‖∂h_T/∂h_t‖ and the forget gates' product alone."""
    L = _labels(labels)
    t = f32(result.t)
    lstm = result.cell == "lstm"
    curves = [("norm", L["cell_path"] if lstm else L["norm"], result.log10_norm, "solid")]
    if lstm:
        curves.append(("h", L["h_path"], result.log10_norm_h, "solid"))
    curves.append(("reference", L["forget_product"] if lstm else L["bound"], result.log10_reference, "dash"))
    fig = go.Figure()
    for key, name, y, dash in curves:
        fig.add_trace(go.Scatter(
            x=t, y=f32(y), mode="lines", name=name, line=dict(color=NORM_COLOURS[key], width=3, dash=dash),
            hovertemplate=f"t = %{{x}}<br>{name} = 10^%{{y:.1f}}<extra></extra>"))
    fig.add_hline(y=0, line=dict(color="#999", width=1))  # a norm of 1: neither shrinking nor growing
    fig.update_xaxes(title=L["t"], range=[float(t[0]), float(t[-1])])
    _log_axis(fig, L["norm_axis_lstm" if lstm else "norm_axis"], *[c[2] for c in curves])
    return top_legend(style(fig, title, height))


def singular_values(result, *, labels=None, title: str | None = None, height: int = 300) -> go.Figure:
    """The singular values, largest first, against the line 1/γ: λ₁ = σ_max above it is necessary for
    exploding gradients, below it sufficient for vanishing (Pascanu et al. 2013; 1 for an LSTM's step Jacobian)."""
    L = _labels(labels)
    sv = f32(result.singular_values)
    threshold = 1.0 / result.gamma if result.gamma else 1.0
    fig = go.Figure(go.Bar(x=f32(np.arange(1, len(sv) + 1)), y=sv, marker_color="#1f77b4", name="σᵢ",
                           hovertemplate="i = %{x}<br>σ = %{y:.3g}<extra></extra>"))
    fig.add_hline(y=threshold, line=dict(color="#d62728", dash="dash", width=2),
                  annotation_text=L["threshold"].format(value=threshold), annotation_position="top right")
    fig.update_xaxes(title=L["index"])
    fig.update_yaxes(title=L["singular_axis"], rangemode="tozero")
    fig.update_layout(bargap=0.05, showlegend=False)
    return style(fig, title, height)


def _circle(radius: float) -> tuple[np.ndarray, np.ndarray]:
    angle = np.linspace(0, 2 * np.pi, CIRCLE_POINTS)
    return f32(radius * np.cos(angle)), f32(radius * np.sin(angle))


def eigenvalues(result, *, labels=None, title: str | None = None, height: int = 300) -> go.Figure:
    """The eigenvalues on the complex plane with the unit circle (and the circle of radius 1/γ when γ ≠ 1):
    the spectral radius is how far out the farthest one lies."""
    L = _labels(labels)
    ev = np.asarray(result.eigenvalues)
    fig = go.Figure()
    x, y = _circle(1.0)
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=L["unit_circle"], line=dict(color="#999", width=1.5),
                             hoverinfo="skip"))
    if result.gamma and result.gamma != 1:
        x, y = _circle(1.0 / result.gamma)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=L["gamma_circle"], hoverinfo="skip",
                                 line=dict(color="#d62728", width=1.5, dash="dash")))
    fig.add_trace(go.Scatter(x=f32(ev.real), y=f32(ev.imag), mode="markers", name=L["eigenvalues"],
                             marker=dict(color="#1f77b4", size=7),
                             hovertemplate="%{x:.3g} %{y:+.3g}i<extra></extra>"))
    reach = 1.1 * max(1.0, result.spectral_radius, 1.0 / result.gamma if result.gamma else 1.0)
    fig.update_xaxes(title=L["real"], range=[-reach, reach], zeroline=True)
    fig.update_yaxes(title=L["imag"], range=[-reach, reach], zeroline=True, scaleanchor="x", scaleratio=1)
    return top_legend(style(fig, title, height))
