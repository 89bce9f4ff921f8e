"""Figures of the Attention page: encoder-decoder attention matrices at several training steps, a transformer's
self-attention per head, and attention pooling's weight on each word. Builders take plain arrays from a Trace
and return a go.Figure; arrays go out as float32.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import (MAX_STEPS, MAX_UNITS, SEQUENTIAL, downsample_note, f32, inside_labels, pool_time, projector_style,
                     time_axis)

ATTENTION_CELLS = MAX_UNITS * MAX_STEPS  # all attention panels together: no more than one state heatmap


def attention_steps(mats: list[tuple[int, np.ndarray]], *, in_tokens: list[str] | None = None,
                    out_tokens: list[str] | None = None, title: str | None = None, height: int = 400,
                    labels=None) -> go.Figure:
    """Attention matrices (output step down, input step across), side by side for several training steps:
    mats = [(step, (T_out, T_in))], oldest first, all on the fixed scale 0..1."""
    L = inside_labels(labels)
    return matrix_panels([(L["step_named"].format(step=s), a) for s, a in mats], in_tokens=in_tokens,
                         out_tokens=out_tokens, title=title, height=height, labels=labels)


def self_attention_heads(maps: np.ndarray, *, tokens: list[str] | None = None, head_names: list[str],
                         title: str | None = None, height: int = 400, labels=None) -> go.Figure:
    """A transformer layer's self-attention, one panel per head: maps (heads, T, T), queries down, keys
    across, each row summing to 1 (a causal layer's upper triangle is 0)."""
    L = inside_labels(labels)
    return matrix_panels(list(zip(head_names, maps)), in_tokens=tokens, out_tokens=tokens, title=title,
                         height=height, labels=labels, axes=(L["key_step"], L["query_step"]))


def matrix_panels(panels: list[tuple[str, np.ndarray]], *, in_tokens: list[str] | None = None,
                  out_tokens: list[str] | None = None, title: str | None = None, height: int = 400,
                  labels=None, axes: tuple[str, str] | None = None) -> go.Figure:
    """Attention matrices side by side, panels = [(panel title, (T_out, T_in))], on the fixed scale 0..1.
    axes: the (across, down) axis titles, by default input and output step. Big matrices are averaged
    over square buckets so all panels together have at most ATTENTION_CELLS cells."""
    L = inside_labels(labels)
    T_out, T_in = panels[0][1].shape
    factor = max(1, math.ceil(math.sqrt(T_out * T_in * len(panels) / ATTENTION_CELLS)))
    f_out = f_in = factor
    x, xaxis = time_axis(T_in, in_tokens, f_in, L)
    y, yaxis = time_axis(T_out, out_tokens, f_out, L)
    across, down = axes or (None, None)
    fig = make_subplots(rows=1, cols=len(panels), horizontal_spacing=0.04, subplot_titles=[name for name, _ in panels])
    for col, (name, a) in enumerate(panels, start=1):
        z = pool_time(pool_time(f32(a), f_in).T, f_out).T  # (rows, columns)
        fig.add_trace(go.Heatmap(
            z=z, x=x, y=y, zmin=0, zmax=1, colorscale=SEQUENTIAL, showscale=(col == len(panels)),
            colorbar=dict(title=dict(text="α", side="right"), thickness=14),
            hovertemplate=(f"{down or L['output_step']}: %{{y}}<br>{across or L['input_step']}: %{{x}}"
                           f"<br>α = %{{z:.3f}}<extra>{name}</extra>")),
            row=1, col=col)
        fig.update_xaxes(xaxis, row=1, col=col)
        fig.update_xaxes(title=across or (L["input_step"] if in_tokens is None or f_in > 1 else L["input_token"]), row=1, col=col)
        fig.update_yaxes(yaxis, tickangle=0, autorange="reversed", showticklabels=(col == 1), row=1, col=col)
        fig.update_yaxes(title=(down or (L["output_step"] if out_tokens is None or f_out > 1 else L["output_token"])) if col == 1 else None,
                         row=1, col=col)
    downsample_note(fig, L, None, factor, max(T_in, T_out))
    return projector_style(fig, title, height)


def attention_sentences(rows: list[tuple[list[str], np.ndarray]], row_names: list[str], *,
                        title: str | None = None, labels=None) -> go.Figure:
    """Attention pooling: one sentence per row, each word shaded by its weight α (fixed scale 0..1),
    rows = [(words, α (len(words),))] without padding; row_names label each row (e.g. the prediction)."""
    L = inside_labels(labels)
    cols = max([len(w) for w, _ in rows] + [1])
    z = np.full((len(rows), cols), np.nan, dtype=np.float32)
    text = [[""] * cols for _ in rows]
    for r, (words, alpha) in enumerate(rows):
        z[r, :len(words)] = alpha
        text[r][:len(words)] = words
    fig = go.Figure(go.Heatmap(
        z=z, text=text, texttemplate="%{text}", textfont=dict(size=15), zmin=0, zmax=1,
        colorscale="Blues", xgap=2, ygap=4, colorbar=dict(title=dict(text="α", side="right"), thickness=14),
        hovertemplate="%{text}<br>α = %{z:.3f}<extra></extra>"))
    fig.update_xaxes(title=L["word_position"], dtick=1, showgrid=False, zeroline=False)
    # rows by number, named by tick labels: equal names (two "positive 99%") must stay two rows
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(rows))), ticktext=row_names, autorange="reversed",
                     showgrid=False, zeroline=False)
    fig = projector_style(fig, title, height=90 + 40 * len(rows))
    fig.update_layout(margin=dict(l=200))
    return fig
