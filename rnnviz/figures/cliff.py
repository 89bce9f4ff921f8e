"""Figures of Pascanu's cliff (rnnviz.theory.cliff): the loss map with descent paths on it, and the loss along them.

The loss is drawn in log10, on the map's colours and on the paths' y axis. Arrays go to the browser as
float32. Axis titles and legend names come from `labels` (the text files' [lab.fig] table,
English by default), as for the lab's other figures. Each figure is made in one go (rnnviz.figures.panels says
why): the cliff view redraws three of them whenever a slider moves.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import plotly.graph_objects as go

from .common import SEQUENTIAL, axis, base_layout, colour_bar, f32, labels_with, log_axis
from .panels import figure, heatmap, scatter

LOSS_FLOOR = 1e-8  # the cliff's loss is shown in log10, and exact zeros would be -inf
PATH_COLOURS = {"plain": "#ff1f1f", "clipped": "#ffffff"}  # on the map: red and white, outlined, stand out on Viridis
LOSS_COLOURS = {"plain": "#d62728", "clipped": "#1f77b4"}  # on a white chart
SURFACE_FLOOR = -4.0  # colours span log10 L from here to 0: the wall and the valley get most of the range


def _labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return labels_with("lab.fig", labels)


def loss_map(ws, bs, loss, paths: Mapping[str, np.ndarray], *, start=None, labels=None,
             title: str | None = None, height: int = 460, legend: bool = True) -> go.Figure:
    """log10 of the cliff's loss over (w, b) (loss (n_b, n_w) on axes ws, bs) with gradient-descent paths
    drawn on it (paths: {"plain" | "clipped": (steps+1, 2) of (w, b)}); points off the map are cut at its edge."""
    L = _labels(labels)
    ws, bs = np.asarray(ws), np.asarray(bs)
    z = f32(np.log10(np.maximum(np.asarray(loss, dtype=np.float64), LOSS_FLOOR)))
    traces = [heatmap(
        x=f32(ws), y=f32(bs), z=z, colorscale=SEQUENTIAL, zmin=SURFACE_FLOOR, zmax=0.0,
        colorbar=colour_bar(L["log_loss"]),
        hovertemplate="w = %{x:.2f}<br>b = %{y:.3f}<br>log₁₀ L = %{z:.2f}<extra></extra>")]
    if start is not None:  # drawn first, so the paths leaving it stay visible
        traces.append(scatter(x=f32([start[0]]), y=f32([start[1]]), mode="markers", name=L["start"],
                              marker=dict(symbol="star", size=18, color="#ffd400", line=dict(color="black", width=1.5))))
    box = (ws[0], ws[-1], bs[0], bs[-1])
    for key, path in paths.items():
        w, b = _inside(np.asarray(path, dtype=np.float64), box)
        traces.append(scatter(x=f32(w), y=f32(b), mode="lines+markers", name=L[f"path_{key}"],
                              line=dict(color=PATH_COLOURS[key], width=4),
                              marker=dict(size=7, line=dict(color="black", width=1.5))))
    return figure(traces, base_layout(title, height, legend_on_top=True, showlegend=legend,
                                         xaxis=axis("w", range=[float(ws[0]), float(ws[-1])]),
                                         yaxis=axis("b", range=[float(bs[0]), float(bs[-1])])))


def _inside(path: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
    """A path's points clipped onto the box (w_lo, w_hi, b_lo, b_hi), so a step that flies off shows at the edge."""
    w_lo, w_hi, b_lo, b_hi = box
    return np.clip(path[:, 0], w_lo, w_hi), np.clip(path[:, 1], b_lo, b_hi)


def loss_along_paths(losses: Mapping[str, np.ndarray], *, labels=None, title: str | None = None,
                     height: int = 300) -> go.Figure:
    """The loss along each descent path, step by step, on a log axis: the unclipped jump shows as a plateau."""
    L = _labels(labels)
    floored = {key: np.maximum(np.asarray(loss, dtype=np.float64), LOSS_FLOOR) for key, loss in losses.items()}
    traces = [scatter(x=f32(np.arange(len(loss))), y=f32(loss), mode="lines", name=L[f"path_{key}"],
                      line=dict(color=LOSS_COLOURS[key], width=3)) for key, loss in floored.items()]
    return figure(traces, base_layout(title, height, legend_on_top=True, xaxis=axis(L["descent_step"]),
                                         yaxis=axis(L["loss"], **log_axis(list(floored.values())))))
