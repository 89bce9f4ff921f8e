"""Figures of the gradient lab: gradient norms through time, the spectrum of W_hh, and Pascanu's cliff.

Builders take a theory.LabResult (or the cliff's arrays) and return a go.Figure. Gradient norms arrive as
log10 values and can span thousands of decades (ρ = 10 over 1000 steps is 10^1000, far beyond any float),
so they are drawn as log10 on a linear axis whose ticks read 10^k; values clamped at theory.LOG10_FLOOR
stay finite and the page's note says so. Arrays go to the browser as float32.
Axis titles and legend names come from `labels` (the text files' [lab.fig] table, English by default).
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import plotly.graph_objects as go

from .common import english_labels, f32, labels_with, style

NORM_COLOURS = {"norm": "#d62728", "h": "#1f77b4", "reference": "#555"}
CIRCLE_POINTS = 181
LOSS_FLOOR = 1e-8  # the cliff's loss is shown in log10, and exact zeros would be -inf
PATH_COLOURS = {"plain": "#ff1f1f", "clipped": "#ffffff"}  # on the map: red and white, outlined, stand out on Viridis
LOSS_COLOURS = {"plain": "#d62728", "clipped": "#1f77b4"}  # on a white chart
SURFACE_SCALE = "Viridis"
SURFACE_FLOOR = -4.0  # colours span log10 L from here to 0: the wall and the valley get most of the range
DECADE_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)


def default_labels() -> dict[str, str]:
    """The English axis titles and legend names, from rnnviz/text/en.toml [lab.fig]."""
    return english_labels("lab.fig")


def _labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return labels_with("lab.fig", labels)


def power_ticks(lo: float, hi: float, most: int = 7) -> tuple[list[float], list[str]]:
    """Tick positions (whole log10 values) and their texts 10^k for a log10 axis from lo to hi."""
    span = max(hi - lo, 1.0)
    step = next((s for s in DECADE_STEPS if span / s <= most), DECADE_STEPS[-1])
    values = [float(k) for k in range(math.ceil(lo / step) * step, math.floor(hi / step) * step + 1, step)]
    return values, ["1" if k == 0 else f"10<sup>{k:g}</sup>" for k in values]


def _log_axis(fig: go.Figure, title: str, *curves) -> None:
    """A log10-valued y axis labelled in powers of ten, padded so flat curves stay readable."""
    values = np.concatenate([np.ravel(c) for c in curves])
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = max(0.5, 0.05 * (hi - lo))
    vals, texts = power_ticks(lo - pad, hi + pad)
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
    return _top_legend(style(fig, title, height))


def _top_legend(fig: go.Figure) -> go.Figure:
    """The legend in one row between the title and the plot, with room so the two never overlap."""
    fig.update_layout(legend=dict(orientation="h", x=0, xanchor="left", y=1.02, yanchor="bottom"),
                      title=dict(y=0.98, yanchor="top"), margin=dict(t=90 if fig.layout.title.text else 50))
    return fig


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
    return _top_legend(style(fig, title, height))


def cliff_surface(ws, bs, loss, paths: Mapping[str, np.ndarray], *, start=None, labels=None,
                  title: str | None = None, height: int = 460, legend: bool = True) -> go.Figure:
    """log10 of the cliff's loss over (w, b) (loss (n_b, n_w) on axes ws, bs) with gradient-descent paths
    drawn on it (paths: {"plain" | "clipped": (steps+1, 2) of (w, b)}); points off the map are cut at its edge."""
    L = _labels(labels)
    ws, bs = np.asarray(ws), np.asarray(bs)
    z = f32(np.log10(np.maximum(np.asarray(loss, dtype=np.float64), LOSS_FLOOR)))
    fig = go.Figure(go.Heatmap(
        x=f32(ws), y=f32(bs), z=z, colorscale=SURFACE_SCALE, zmin=SURFACE_FLOOR, zmax=0.0,
        colorbar=dict(title=dict(text=L["log_loss"], side="right"), thickness=14),
        hovertemplate="w = %{x:.2f}<br>b = %{y:.3f}<br>log₁₀ L = %{z:.2f}<extra></extra>"))
    if start is not None:  # drawn first, so the paths leaving it stay visible
        fig.add_trace(go.Scatter(x=f32([start[0]]), y=f32([start[1]]), mode="markers", name=L["start"],
                                 marker=dict(symbol="star", size=18, color="#ffd400",
                                             line=dict(color="black", width=1.5))))
    box = (ws[0], ws[-1], bs[0], bs[-1])
    for key, path in paths.items():
        w, b = _inside(np.asarray(path, dtype=np.float64), box)
        fig.add_trace(go.Scatter(x=f32(w), y=f32(b), mode="lines+markers", name=L[f"path_{key}"],
                                 line=dict(color=PATH_COLOURS[key], width=4),
                                 marker=dict(size=7, line=dict(color="black", width=1.5))))
    fig.update_xaxes(title="w", range=[float(ws[0]), float(ws[-1])])
    fig.update_yaxes(title="b", range=[float(bs[0]), float(bs[-1])])
    fig.update_layout(showlegend=legend)
    return _top_legend(style(fig, title, height))


def _inside(path: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
    """A path's points clipped onto the box (w_lo, w_hi, b_lo, b_hi), so a step that flies off shows at the edge."""
    w_lo, w_hi, b_lo, b_hi = box
    return np.clip(path[:, 0], w_lo, w_hi), np.clip(path[:, 1], b_lo, b_hi)


def cliff_losses(losses: Mapping[str, np.ndarray], *, labels=None, title: str | None = None,
                 height: int = 300) -> go.Figure:
    """The loss along each descent path, step by step, on a log axis: the unclipped jump shows as a plateau."""
    L = _labels(labels)
    fig = go.Figure()
    for key, loss in losses.items():
        loss = np.maximum(np.asarray(loss, dtype=np.float64), LOSS_FLOOR)
        fig.add_trace(go.Scatter(x=f32(np.arange(len(loss))), y=f32(loss), mode="lines", name=L[f"path_{key}"],
                                 line=dict(color=LOSS_COLOURS[key], width=3)))
    fig.update_xaxes(title=L["descent_step"])
    fig.update_yaxes(title=L["loss"], type="log", exponentformat="power")
    return _top_legend(style(fig, title, height))

