"""Figures of the Hidden states page: one unit's value over the text, which units track a feature, and
PCA trajectories of the hidden state (the time x unit heatmap is common.time_unit_heatmap, which the Gates
page draws too). Builders take plain arrays from a Trace and return a go.Figure; arrays go out as float32.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ..features import pca
from .common import (AXIS_FONTS, DIVERGING, MAX_STEPS, SEQUENTIAL, add_note, axis, base_layout, colour_bar, f32,
                     inside_labels, note, pool_time, projector_style, time_axis)
from .panels import columns, figure, heatmap, scatter, title_above

MAX_TEXT_CHARS = 2400  # characters in the coloured-text view
MAX_PATH_POINTS = 100  # points per PCA trajectory: beyond this a path is a tangle anyway
PCA_SPACING = 0.04  # between the PCA panels, as a share of the figure's width


def text_heatmap(examples: list[tuple[list[str], np.ndarray]], *, zrange=(-1.0, 1.0), width: int = 64,
                 value_name: str = "h", title: str | None = None, labels=None) -> go.Figure:
    """Karpathy-style coloured text: each character (or token) on a cell coloured by one unit's value.
    examples: [(tokens (T,), values (T,))]; each example starts a new row, rows break at newlines and
    after `width` cells, and one blank row separates examples. At most MAX_TEXT_CHARS cells are shown."""
    L = inside_labels(labels)
    rows_text: list[list[str]] = []
    rows_z: list[list[float]] = []
    rows_t: list[list[int]] = []

    def new_row() -> None:
        rows_text.append([])
        rows_z.append([])
        rows_t.append([])

    used = 0
    for tokens, values in examples:
        if used >= MAX_TEXT_CHARS:
            break
        tokens = tokens[:MAX_TEXT_CHARS - used]
        used += len(tokens)
        if rows_text:
            new_row()  # a blank row between examples
        new_row()
        for t, (tok, v) in enumerate(zip(tokens, values)):
            if len(rows_text[-1]) >= width:
                new_row()
            rows_text[-1].append("↵" if tok == "\n" else tok)
            rows_z[-1].append(v)
            rows_t[-1].append(t)
            if tok == "\n":
                new_row()
    cols = max([len(r) for r in rows_text] + [1])
    z = np.full((len(rows_text), cols), np.nan, dtype=np.float32)
    step = np.full(z.shape, -1, dtype=np.int16)
    text = [[""] * cols for _ in rows_text]
    for r, (tr, zr, sr) in enumerate(zip(rows_text, rows_z, rows_t)):
        z[r, :len(zr)], step[r, :len(sr)] = zr, sr
        text[r][:len(tr)] = tr
    # made in one go: the Hidden states page draws it anew at every step a user moves to
    cells = heatmap(
        z=z, text=text, customdata=step, texttemplate="%{text}", textfont=dict(size=15, family="monospace"),
        zmin=zrange[0], zmax=zrange[1], colorscale=DIVERGING if zrange[0] < 0 else SEQUENTIAL, xgap=1, ygap=3,
        colorbar=colour_bar(value_name),
        hovertemplate=f"%{{text}}<br>{L['time']}: %{{customdata}}<br>{value_name} = %{{z:.3f}}<extra></extra>")
    if zrange[0] < 0 < zrange[1]:
        cells["zmid"] = 0.0
    layout = base_layout(title, 80 + 26 * len(rows_text), xaxis={**AXIS_FONTS, "visible": False},
                         yaxis={**AXIS_FONTS, "visible": False, "autorange": "reversed"})
    if used < sum(len(tok) for tok, _ in examples):
        add_note(layout, L["note_chars"].format(shown=used))
    return figure([cells], layout)


def attribution_band(values: np.ndarray, *, inputs: list[str] | None = None, value_name: str = "IG",
                     title: str | None = None, labels=None) -> go.Figure:
    """One example's attribution per input step (T,) as a band of colour on the time axis of a time x unit
    heatmap (common.time_unit_heatmap), to lie under one: red where an input raised the loss, blue where it
    lowered it. Colours are the attribution over its largest |value| (a note under the band says which), so the
    colour bar reads -1..1 with a short title, like a state's, and is as wide: plots line up only when their colour
    bars are equally wide (a title longer than the bar widens it). Hover shows the value itself. Long sequences
    are averaged over the heatmap's buckets of steps."""
    L = inside_labels(labels)
    T = len(values)
    factor = math.ceil(T / MAX_STEPS)
    z = pool_time(f32(values)[None], factor)  # (1, columns)
    x, xaxis = time_axis(T, inputs, factor, L)
    top = float(np.nanmax(np.abs(z))) if z.size else 0.0
    top = top or 1.0
    fig = go.Figure(go.Heatmap(
        z=f32(z / top), customdata=z, x=x, y=[value_name], zmin=-1.0, zmax=1.0, zmid=0.0, colorscale=DIVERGING,
        colorbar=dict(title=dict(text=value_name, side="right"), thickness=14, len=1.2),
        hovertemplate=f"{L['time']}: %{{x}}<br>{value_name} = %{{customdata:.4g}}<extra></extra>"))
    fig.update_xaxes(**xaxis)
    fig.update_yaxes(type="category")
    fig = projector_style(fig, title, height=220)
    note(fig, L["band_scale"].format(name=value_name, top=f"{top:.2g}"))
    if xaxis["tickangle"]:  # slanted words under the band, as under the heatmap
        fig.update_layout(margin_b=60 + 7 * max(len(s) for s in xaxis["ticktext"]))
    return fig


def unit_ranking(r: np.ndarray, *, k: int = 10, feature: str = "", title: str | None = None, labels=None) -> go.Figure:
    """Horizontal bars: the k units with the largest |Pearson r| with a feature, best on top."""
    L = inside_labels(labels)
    r = np.nan_to_num(np.asarray(r, dtype=np.float64))
    top = np.argsort(-np.abs(r), kind="stable")[:k]
    bars = dict(type="bar", x=f32(r[top]), y=[f"u{u}" for u in top], orientation="h",
                marker=dict(color=["#d62728" if v > 0 else "#1f77b4" for v in r[top]]),
                hovertemplate=f"{L['unit']} %{{y}}<br>r = %{{x:.3f}}<extra>{feature}</extra>")
    return figure([bars], base_layout(  # made in one go: redrawn at every step a user moves to
        title, 90 + 28 * len(top), xaxis=axis(L["correlation"].format(feature=feature), range=[-1, 1], zeroline=True),
        yaxis=axis(L["unit"], type="category", autorange="reversed")))


def pca_trajectories(panels: list[tuple[int, np.ndarray]], *, title: str | None = None, height: int = 360,
                     labels=None) -> go.Figure:
    """Small multiples of 2-D PCA trajectories, one panel per training step: panels = [(step, states (B, T, H))].
    Each panel has its own principal components; markers are coloured by time step on one shared scale.
    Made in one go (rnnviz.figures.panels): the page redraws it at every step the user moves to."""
    L = inside_labels(labels)
    T = panels[0][1].shape[1] if panels else 1
    stride = math.ceil(T / MAX_PATH_POINTS)
    time = f32(np.arange(0, T, stride))
    traces, annotations = [], []
    axes: dict[str, Any] = {}  # xaxis, yaxis, xaxis2, ...
    layout_panels = columns(max(1, len(panels)), PCA_SPACING)
    for col, (suffix, domain) in enumerate(layout_panels):
        axes["xaxis" + suffix] = axis(L["pc1"], anchor="y" + suffix, domain=domain)
        yaxis = dict(anchor="x" + suffix, domain=[0.0, 1.0])
        axes["yaxis" + suffix] = axis(L["pc2"], **yaxis) if col == 0 else {**AXIS_FONTS, **yaxis}
    for col, ((step, states), (suffix, domain)) in enumerate(zip(panels, layout_panels)):
        B, _, H = states.shape
        coords, explained = pca(states.reshape(B * T, H), 2)
        annotations.append(title_above(L["pca_panel"].format(step=step, share=100 * explained.sum()), domain))
        for b, path in enumerate(coords.reshape(B, T, 2)[:, ::stride]):
            traces.append(scatter(
                x=f32(path[:, 0]), y=f32(path[:, 1]), xaxis="x" + suffix, yaxis="y" + suffix, mode="lines+markers",
                showlegend=False, line=dict(color="rgba(120,120,120,0.35)", width=1),
                marker=dict(size=5, color=time, colorscale=SEQUENTIAL, cmin=0, cmax=max(T - 1, 1),
                            showscale=(col == 0 and b == 0),
                            colorbar=dict(title=dict(text=L["time"], side="right"), thickness=14)),
                hovertemplate=f"{L['time']} %{{marker.color}}<extra>#{b}</extra>"))
    text = " · ".join([L["pca_note"]] + ([L["note_stride"].format(stride=stride)] if stride > 1 else []))
    return figure(traces, add_note(base_layout(title, height, annotations=annotations, **axes), text))


def pca_trajectory_3d(states: np.ndarray, *, step: int, title: str | None = None, height: int = 520,
                      labels=None) -> go.Figure:
    """One 3-D PCA trajectory per example of (B, T, H) states, coloured by time step."""
    L = inside_labels(labels)
    B, T, H = states.shape
    stride = math.ceil(T / MAX_PATH_POINTS)
    coords, explained = pca(states.reshape(B * T, H), 3)
    coords = coords.reshape(B, T, 3)[:, ::stride]
    time = f32(np.arange(0, T, stride))
    fig = go.Figure()
    for b, path in enumerate(coords):
        fig.add_trace(go.Scatter3d(
            x=f32(path[:, 0]), y=f32(path[:, 1]), z=f32(path[:, 2]), mode="lines+markers", showlegend=False,
            line=dict(color="rgba(120,120,120,0.5)", width=2),
            marker=dict(size=3, color=time, colorscale=SEQUENTIAL, cmin=0, cmax=max(T - 1, 1), showscale=(b == 0),
                        colorbar=dict(title=dict(text=L["time"], side="right"), thickness=14)),
            hovertemplate=f"{L['time']} %{{marker.color}}<extra>#{b}</extra>"))
    fig.update_layout(scene=dict(xaxis_title=L["pc1"], yaxis_title=L["pc2"], zaxis_title=L["pc3"]))
    fig = projector_style(fig, title or L["pca_panel"].format(step=step, share=100 * explained.sum()), height)
    note(fig, " · ".join([L["pca_note_3d"]] + ([L["note_stride"].format(stride=stride)] if stride > 1 else [])))
    return fig
