"""Figures of the Look-inside pages: hidden states, gates, attention and gradients through time.

Every builder takes plain arrays from a Trace (one example, one layer) or from the per-probe
summaries, and returns a go.Figure. What goes to the browser stays small and fixed:
  - time x unit heatmaps show at most MAX_UNITS units (the first ones of the chosen order) and at
    most MAX_STEPS columns (longer sequences are averaged over buckets of steps), and say so;
  - colour ranges are arguments, so a page can hold them fixed while the user scrubs through training;
  - arrays go out as float32 (or small integers).
Axis titles and legend names come from `labels` (the text files' [inspect.fig] table, English by default).
"""
from __future__ import annotations

import math
import warnings
from typing import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..features import pca
from .common import bucket, english_labels, f32, labels_with, log_axis, log_range, note, positive, style

MAX_UNITS = 128  # heatmap rows: more units than a projector can show apart
MAX_STEPS = 200  # heatmap columns (time steps); longer sequences are averaged over buckets
MAX_TEXT_CHARS = 2400  # characters in the coloured-text view
MAX_PATH_POINTS = 100  # points per PCA trajectory: beyond this a path is a tangle anyway
ATTENTION_CELLS = MAX_UNITS * MAX_STEPS  # all attention panels together: no more than one state heatmap
PARAM_POINTS = 400  # points per parameter's gradient-norm line: a dozen lines redrawn live stay light (SVG, no WebGL)
TOKEN_TICKS = 40  # up to this many columns, the time axis is labelled with the input tokens
DIVERGING = "RdBu_r"  # states and tanh gates: blue negative, white 0, red positive
SEQUENTIAL = "Viridis"  # sigmoid gates and attention weights in [0, 1]
GRADIENT_SCALE = "Plasma"  # log10 gradient norms: dark = vanished, bright = large (Inferno and Magma start at
# "#000004", which the browser draws light purple: the vanished end would look bright)
STEP_COLOURS = ("#d0d0d0", "#9ecae1", "#3182bd", "#d62728")  # earlier -> later training steps; the last pops
LINE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f")
BOUND_STYLE = dict(color="#555", dash="dash", width=2)


def default_labels() -> dict[str, str]:
    """The English axis titles and legend names, from rnnviz/text/en.toml [inspect.fig]."""
    return english_labels("inspect.fig")


def _labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return labels_with("inspect.fig", labels)


# --- inputs and time axes ---------------------------------------------------------------------------------


def describe_inputs(x: np.ndarray, vocab: list[str] | None = None) -> list[str]:
    """One short text per time step for axes and hover: the token (ids (T,) with vocab) or the
    feature values (floats (T, F)). Newlines and spaces are made visible."""
    x = np.asarray(x)
    if vocab is not None and x.ndim == 1:
        return [_visible(vocab[int(i)]) if 0 <= int(i) < len(vocab) else "?" for i in x]
    x = x.reshape(len(x), -1)
    return [", ".join(f"{v:.3g}" for v in row) for row in x]


def _visible(token: str) -> str:
    return token.replace("\n", "↵").replace(" ", "␣") if token.strip() == "" or "\n" in token else token


def _pool_time(z: np.ndarray, factor: int) -> np.ndarray:
    """Average (..., T) over buckets of `factor` steps; the last bucket may be shorter. NaN-aware."""
    if factor <= 1:
        return f32(z)
    T = z.shape[-1]
    pad = -T % factor
    padded = np.concatenate([z, np.full(z.shape[:-1] + (pad,), np.nan, dtype=np.float32)], axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN buckets stay NaN on purpose
        return f32(np.nanmean(padded.reshape(*z.shape[:-1], -1, factor), axis=-1))


def _time_axis(T: int, inputs: list[str] | None, factor: int, L: dict) -> tuple[list[str], dict]:
    """Category labels for T steps shown in buckets of factor, and the x-axis settings.
    Labels carry the step and its input ("12 · (") so hover shows both; few columns are labelled
    with the input tokens themselves, many with every k-th step number."""
    starts = range(0, T, factor)
    if factor == 1:
        labels = [f"{t} · {inputs[t]}" if inputs else str(t) for t in starts]
    else:
        labels = [f"{t}–{min(t + factor, T) - 1}" for t in starts]
    if inputs and factor == 1 and T <= TOKEN_TICKS:
        words = max(len(s) for s in inputs) > 2  # words would overlap side by side: slant them
        return labels, dict(title=L["input_at_t"], type="category", tickmode="array", tickvals=labels,
                            ticktext=[inputs[t] for t in starts], tickangle=-60 if words else 0)
    shown = labels[::_nice_step(len(labels))]
    return labels, dict(title=L["time"], type="category", tickmode="array", tickvals=shown,
                        ticktext=[s.split(" ")[0] for s in shown], tickangle=0)


def _style(fig: go.Figure, title: str | None, height: int, legend_on_top: bool = False) -> go.Figure:
    """common.style, with type a projector can read whatever theme draws the chart (Streamlit's theme
    sets small axis fonts unless each axis names its own), and optionally room above the plot for the
    title and, below it, a one-line legend."""
    fig = style(fig, title, height, legend_on_top)
    fig.update_layout(title_font_size=17)
    fig.update_xaxes(title_font_size=15, tickfont_size=13)
    fig.update_yaxes(title_font_size=15, tickfont_size=13)
    return fig


def _nice_step(n: int, ticks: int = 10) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that labels n columns with at most about `ticks` ticks."""
    step = 1
    while n / step > ticks:
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2
    return step


def _downsample_note(fig: go.Figure, L: dict, units: tuple[int, int] | None, factor: int, T: int) -> None:
    parts = []
    if units and units[0] < units[1]:
        parts.append(L["note_units"].format(shown=units[0], total=units[1]))
    if factor > 1:
        parts.append(L["note_steps"].format(total=T, factor=factor))
    if parts:
        note(fig, " · ".join(parts))


# --- hidden states and gates --------------------------------------------------------------------------------


def time_unit_heatmap(values: np.ndarray, *, inputs: list[str] | None = None, order=None, zrange=(-1.0, 1.0),
                      colorscale: str = DIVERGING, value_name: str = "h", unit_title: str | None = None,
                      max_units: int = MAX_UNITS, title: str | None = None, height: int = 420, labels=None) -> go.Figure:
    """Heatmap of (T, H) values: time across, units down (in `order`, default 0..H-1), colours fixed to zrange.
    Shows the first max_units units of the order and at most MAX_STEPS columns, and notes when it cut."""
    L = _labels(labels)
    values = f32(values)
    T, H = values.shape
    order = np.arange(H) if order is None else np.asarray(order)
    shown = order[:max_units]
    factor = math.ceil(T / MAX_STEPS)
    z = _pool_time(values[:, shown].T, factor)  # (units shown, columns)
    x, xaxis = _time_axis(T, inputs, factor, L)
    y = [f"u{u}" for u in shown]
    mid = 0.0 if zrange[0] < 0 < zrange[1] else None
    fig = go.Figure(go.Heatmap(
        z=z, x=x, y=y, zmin=zrange[0], zmax=zrange[1], zmid=mid, colorscale=colorscale,
        colorbar=dict(title=dict(text=value_name, side="right"), thickness=14),
        hovertemplate=f"{L['time']}: %{{x}}<br>{L['unit']}: %{{y}}<br>{value_name} = %{{z:.3f}}<extra></extra>"))
    fig.update_xaxes(**xaxis)
    fig.update_yaxes(title=unit_title or L["unit"], type="category", autorange="reversed",
                     showticklabels=len(y) <= 48)
    _downsample_note(fig, L, (len(shown), H), factor, T)
    fig = _style(fig, title, height)
    if xaxis["tickangle"]:  # slanted words under the plot: make room so they miss the axis title
        fig.update_layout(margin_b=60 + 7 * max(len(s) for s in xaxis["ticktext"]))
    return fig


def text_heatmap(examples: list[tuple[list[str], np.ndarray]], *, zrange=(-1.0, 1.0), width: int = 64,
                 value_name: str = "h", title: str | None = None, labels=None) -> go.Figure:
    """Karpathy-style coloured text: each character (or token) on a cell coloured by one unit's value.
    examples: [(tokens (T,), values (T,))]; each example starts a new row, rows break at newlines and
    after `width` cells, and one blank row separates examples. At most MAX_TEXT_CHARS cells are shown."""
    L = _labels(labels)
    rows_text, rows_z, rows_t = [], [], []
    used = 0
    for tokens, values in examples:
        if used >= MAX_TEXT_CHARS:
            break
        tokens = tokens[:MAX_TEXT_CHARS - used]
        used += len(tokens)
        if rows_text:
            rows_text.append([]), rows_z.append([]), rows_t.append([])  # a blank row between examples
        rows_text.append([]), rows_z.append([]), rows_t.append([])
        for t, (tok, v) in enumerate(zip(tokens, values)):
            if len(rows_text[-1]) >= width:
                rows_text.append([]), rows_z.append([]), rows_t.append([])
            rows_text[-1].append("↵" if tok == "\n" else tok)
            rows_z[-1].append(v)
            rows_t[-1].append(t)
            if tok == "\n":
                rows_text.append([]), rows_z.append([]), rows_t.append([])
    cols = max([len(r) for r in rows_text] + [1])
    z = np.full((len(rows_text), cols), np.nan, dtype=np.float32)
    step = np.full(z.shape, -1, dtype=np.int16)
    text = [[""] * cols for _ in rows_text]
    for r, (tr, zr, sr) in enumerate(zip(rows_text, rows_z, rows_t)):
        z[r, :len(zr)], step[r, :len(sr)] = zr, sr
        text[r][:len(tr)] = tr
    fig = go.Figure(go.Heatmap(
        z=z, text=text, customdata=step, texttemplate="%{text}", textfont=dict(size=15, family="monospace"),
        zmin=zrange[0], zmax=zrange[1], zmid=0.0 if zrange[0] < 0 < zrange[1] else None,
        colorscale=DIVERGING if zrange[0] < 0 else SEQUENTIAL, xgap=1, ygap=3,
        colorbar=dict(title=dict(text=value_name, side="right"), thickness=14),
        hovertemplate=f"%{{text}}<br>{L['time']}: %{{customdata}}<br>{value_name} = %{{z:.3f}}<extra></extra>"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    if used < sum(len(tok) for tok, _ in examples):
        note(fig, L["note_chars"].format(shown=used))
    return _style(fig, title, height=80 + 26 * len(rows_text))


def unit_ranking(r: np.ndarray, *, k: int = 10, feature: str = "", title: str | None = None, labels=None) -> go.Figure:
    """Horizontal bars: the k units with the largest |Pearson r| with a feature, best on top."""
    L = _labels(labels)
    r = np.nan_to_num(np.asarray(r, dtype=np.float64))
    top = np.argsort(-np.abs(r), kind="stable")[:k]
    fig = go.Figure(go.Bar(
        x=f32(r[top]), y=[f"u{u}" for u in top], orientation="h",
        marker_color=["#d62728" if v > 0 else "#1f77b4" for v in r[top]],
        hovertemplate=f"{L['unit']} %{{y}}<br>r = %{{x:.3f}}<extra>{feature}</extra>"))
    fig.update_xaxes(title=L["correlation"].format(feature=feature), range=[-1, 1], zeroline=True)
    fig.update_yaxes(title=L["unit"], type="category", autorange="reversed")
    return _style(fig, title, height=90 + 28 * len(top))


def pca_trajectories(panels: list[tuple[int, np.ndarray]], *, title: str | None = None, height: int = 360,
                     labels=None) -> go.Figure:
    """Small multiples of 2-D PCA trajectories, one panel per training step: panels = [(step, states (B, T, H))].
    Each panel has its own principal components; markers are coloured by time step on one shared scale."""
    L = _labels(labels)
    T = panels[0][1].shape[1] if panels else 1
    stride = math.ceil(T / MAX_PATH_POINTS)
    titles = []
    projected = []
    for step, states in panels:
        B, _, H = states.shape
        coords, explained = pca(states.reshape(B * T, H), 2)
        projected.append(coords.reshape(B, T, 2)[:, ::stride])
        titles.append(L["pca_panel"].format(step=step, share=100 * explained.sum()))
    fig = make_subplots(rows=1, cols=max(1, len(panels)), subplot_titles=titles, horizontal_spacing=0.04)
    time = f32(np.arange(0, T, stride))
    for col, coords in enumerate(projected, start=1):
        for b, path in enumerate(coords):
            fig.add_trace(go.Scatter(
                x=f32(path[:, 0]), y=f32(path[:, 1]), mode="lines+markers", showlegend=False,
                line=dict(color="rgba(120,120,120,0.35)", width=1),
                marker=dict(size=5, color=time, colorscale=SEQUENTIAL, cmin=0, cmax=max(T - 1, 1),
                            showscale=(col == 1 and b == 0),
                            colorbar=dict(title=dict(text=L["time"], side="right"), thickness=14)),
                hovertemplate=f"{L['time']} %{{marker.color}}<extra>#{b}</extra>"), row=1, col=col)
        fig.update_xaxes(title=L["pc1"], row=1, col=col)
    fig.update_yaxes(title=L["pc2"], row=1, col=1)
    note(fig, " · ".join([L["pca_note"]] + ([L["note_stride"].format(stride=stride)] if stride > 1 else [])))
    return _style(fig, title, height)


def pca_trajectory_3d(states: np.ndarray, *, step: int, title: str | None = None, height: int = 520,
                      labels=None) -> go.Figure:
    """One 3-D PCA trajectory per example of (B, T, H) states, coloured by time step."""
    L = _labels(labels)
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
    fig = _style(fig, title or L["pca_panel"].format(step=step, share=100 * explained.sum()), height)
    note(fig, " · ".join([L["pca_note_3d"]] + ([L["note_stride"].format(stride=stride)] if stride > 1 else [])))
    return fig


def saturation_scatter(gates: dict[str, list[tuple[int, np.ndarray]]], *, title: str | None = None,
                       height: int = 380, labels=None) -> go.Figure:
    """Karpathy et al. (2015): one point per unit, x = share of time the gate is below 0.1, y = above 0.9.
    gates = {gate name: [(training step, (2, H) fractions)]}, steps oldest first; later steps drawn darker."""
    L = _labels(labels)
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
    fig = _style(fig, title, height)
    fig.update_layout(legend=dict(orientation="v", x=1.01, xanchor="left", y=1, yanchor="top"))
    return fig


def saturation_over_training(steps, gates: dict[str, np.ndarray], *, title: str | None = None, height: int = 320,
                             labels=None) -> go.Figure:
    """Mean over units of the share of time each gate is saturated, per probe: gates = {name: (P, 2, H)}.
    Solid: above 0.9 (open), dashed: below 0.1 (shut)."""
    L = _labels(labels)
    fig = go.Figure()
    for k, (name, sat) in enumerate(gates.items()):
        colour = LINE_COLOURS[k % len(LINE_COLOURS)]
        means = np.asarray(sat, dtype=np.float64).mean(axis=-1)  # (P, 2)
        for side, dash, key in ((1, "solid", "open_named"), (0, "dash", "shut_named")):
            fig.add_trace(go.Scatter(x=f32(steps), y=f32(means[:, side]), mode="lines+markers", name=L[key].format(gate=name),
                                     line=dict(color=colour, dash=dash, width=2), marker=dict(size=5)))
    fig.update_xaxes(title=L["training_step"])
    fig.update_yaxes(title=L["saturated_share"], range=[0, 1])
    return _style(fig, title, height, legend_on_top=True)


def gate_and_gradient(gate: np.ndarray, grads: dict[str, np.ndarray], *, gate_name: str = "f",
                      title: str | None = None, height: int = 520, labels=None) -> go.Figure:
    """Two panels over time for one example: the gate's mean over units with its 10-90% band (gate: (T, H)),
    and below, on a log scale, the gradient norms flowing back (grads = {legend name: (T,)}) with the
    product of the mean gate from t+1 to T (how much of ∂L/∂c_T the cell path alone keeps) scaled to
    the first gradient curve's value at T."""
    L = _labels(labels)
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
    return _style(fig, title, height, legend_on_top=True)


# --- attention ------------------------------------------------------------------------------------------------


def attention_steps(mats: list[tuple[int, np.ndarray]], *, in_tokens: list[str] | None = None,
                    out_tokens: list[str] | None = None, title: str | None = None, height: int = 400,
                    labels=None) -> go.Figure:
    """Attention matrices (output step down, input step across), side by side for several training steps:
    mats = [(step, (T_out, T_in))], oldest first, all on the fixed scale 0..1. Big matrices are averaged
    over square buckets so all panels together have at most ATTENTION_CELLS cells."""
    L = _labels(labels)
    T_out, T_in = mats[0][1].shape
    factor = max(1, math.ceil(math.sqrt(T_out * T_in * len(mats) / ATTENTION_CELLS)))
    f_out = f_in = factor
    x, xaxis = _time_axis(T_in, in_tokens, f_in, L)
    y, yaxis = _time_axis(T_out, out_tokens, f_out, L)
    fig = make_subplots(rows=1, cols=len(mats), horizontal_spacing=0.04,
                        subplot_titles=[L["step_named"].format(step=s) for s, _ in mats])
    for col, (step, a) in enumerate(mats, start=1):
        z = _pool_time(_pool_time(f32(a), f_in).T, f_out).T  # (rows, columns)
        fig.add_trace(go.Heatmap(
            z=z, x=x, y=y, zmin=0, zmax=1, colorscale=SEQUENTIAL, showscale=(col == len(mats)),
            colorbar=dict(title=dict(text="α", side="right"), thickness=14),
            hovertemplate=f"{L['output_step']}: %{{y}}<br>{L['input_step']}: %{{x}}<br>α = %{{z:.3f}}<extra>{step}</extra>"),
            row=1, col=col)
        fig.update_xaxes(xaxis, row=1, col=col)
        fig.update_xaxes(title=L["input_step"] if in_tokens is None or f_in > 1 else L["input_token"], row=1, col=col)
        fig.update_yaxes(yaxis, tickangle=0, autorange="reversed", showticklabels=(col == 1), row=1, col=col)
        fig.update_yaxes(title=(L["output_step"] if out_tokens is None or f_out > 1 else L["output_token"]) if col == 1 else None,
                         row=1, col=col)
    _downsample_note(fig, L, None, factor, max(T_in, T_out))
    return _style(fig, title, height)


def attention_sentences(rows: list[tuple[list[str], np.ndarray]], row_names: list[str], *,
                        title: str | None = None, labels=None) -> go.Figure:
    """Attention pooling: one sentence per row, each word shaded by its weight α (fixed scale 0..1),
    rows = [(words, α (len(words),))] without padding; row_names label each row (e.g. the prediction)."""
    L = _labels(labels)
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
    fig = _style(fig, title, height=90 + 40 * len(rows))
    fig.update_layout(margin=dict(l=200))
    return fig


# --- gradients through time -------------------------------------------------------------------------------------


def decay_bound(last: float, rate: float, T: int) -> np.ndarray:
    """(T,) log10 of last · rate^(T-1-t): the vanilla-RNN bound on how much of the gradient at the
    last step can reach step t (Pascanu et al. 2013), computed in log10 so it never overflows."""
    return math.log10(last) + (T - 1 - np.arange(T)) * math.log10(max(rate, 1e-300))


def gradient_through_time(norms: dict[str, np.ndarray], *, rate: float | None = None, y_range=None,
                          title: str | None = None, height: int = 380, labels=None) -> go.Figure:
    """‖∂L/∂s_t‖ against t on a log scale (norms = {legend name: (T,)}), with the bound
    ‖∂L/∂h_T‖ (σ_max(W_hh) γ)^(T−t) where rate = σ_max γ is given (vanilla RNN).
    y_range: (low, high) in log10, fixed by the page so curves of different probes compare."""
    L = _labels(labels)
    fig = go.Figure()
    T = len(next(iter(norms.values())))
    t = f32(np.arange(T))
    for k, (name, g) in enumerate(norms.items()):
        fig.add_trace(go.Scatter(x=t, y=positive(g), mode="lines", name=name,
                                 line=dict(color=LINE_COLOURS[k % len(LINE_COLOURS)], width=2.5)))
    first = np.asarray(next(iter(norms.values())), dtype=np.float64)
    if rate is not None and np.isfinite(first[-1]) and first[-1] > 0:
        log_bound = decay_bound(float(first[-1]), rate, T)
        lo, hi = y_range if y_range is not None else (np.log10(first[first > 0]).min() - 2, np.log10(first.max()) + 2)
        shown = (log_bound >= lo - 1) & (log_bound <= hi + 1)  # beyond the axis it is only overflow
        fig.add_trace(go.Scatter(x=t, y=f32(np.where(shown, 10.0 ** np.clip(log_bound, -300, 300), np.nan)),
                                 mode="lines", line=BOUND_STYLE, name=L["bound"].format(rate=rate)))
    fig.update_xaxes(title=L["time"])
    fig.update_yaxes(title=L["grad_norm"], **log_axis(list(norms.values())),
                     range=list(y_range) if y_range is not None else None)
    return _style(fig, title, height, legend_on_top=True)


def gradient_heatmap(steps, norms: np.ndarray, *, value_name: str = "log₁₀ ‖∂L/∂h_t‖", title: str | None = None,
                     height: int = 380, labels=None) -> go.Figure:
    """log10 ‖∂L/∂s_t‖ over training (rows: probe steps, oldest on top) and time (columns):
    norms (P, T). A vanishing gradient is a band fading to the left, an exploding one a bright blow-up.
    At most MAX_STEPS columns and MAX_STEPS rows (averaged in log space over buckets)."""
    L = _labels(labels)
    steps = np.asarray(steps)
    norms = np.asarray(norms, dtype=np.float64)
    P, T = norms.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(np.isfinite(norms) & (norms > 0), np.log10(norms), np.nan)
    rng = log_range([norms]) or (-1.0, 0.0)
    logs = np.clip(logs, rng[0], rng[1])  # exact zeros and underflow sit at the floor colour
    logs = np.where(norms == 0, rng[0], logs)
    f_t, f_p = math.ceil(T / MAX_STEPS), math.ceil(P / MAX_STEPS)
    z = _pool_time(_pool_time(logs, f_t).T, f_p).T  # (rows, columns)
    rows = _pool_time(steps[None, :].astype(np.float64), f_p)[0]
    y = [f"{s:.0f}" for s in rows]  # one row per probe, evenly spaced whatever the probe schedule
    x = f32(np.arange(0, T, f_t))
    fig = go.Figure(go.Heatmap(
        z=z, x=x, y=y, zmin=rng[0], zmax=rng[1], colorscale=GRADIENT_SCALE,
        colorbar=dict(title=dict(text=value_name, side="right"), thickness=14),
        hovertemplate=f"{L['training_step']}: %{{y}}<br>{L['time']}: %{{x}}<br>{value_name} = %{{z:.2f}}<extra></extra>"))
    fig.update_xaxes(title=L["time"])
    fig.update_yaxes(title=L["training_step"], type="category", autorange="reversed")
    _downsample_note(fig, L, None, max(f_t, f_p), max(T, P))
    return _style(fig, title, height)


def parameter_gradients(step, param_norms: dict[str, np.ndarray], *, clipped=None, grad_norm=None, clip: float = 0.0,
                        stopped_at: int | None = None, title: str | None = None, height: int = 420,
                        labels=None) -> go.Figure:
    """Each parameter's gradient norm per training step (log scale, bucketed keeping the maxima so spikes stay),
    the global norm, the clipping threshold, the steps where clipping acted, and the step a non-finite value
    stopped the run."""
    L = _labels(labels)
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
    if clip > 0:
        fig.add_hline(y=clip, line=dict(color="#d62728", dash="dot", width=2),
                      annotation_text=L["clip_line"].format(clip=clip), annotation_position="bottom right")
    if stopped_at is not None:
        fig.add_vline(x=stopped_at, line=dict(color="#d62728", width=2),
                      annotation_text=L["nonfinite_line"].format(step=stopped_at), annotation_position="top left")
    fig.update_xaxes(title=L["training_step"])
    fig.update_yaxes(title=L["param_grad_norm"], **log_axis([*param_norms.values(), *([grad_norm] if grad_norm is not None else [])]))
    if len(step) > PARAM_POINTS:
        note(fig, L["note_bucketed"].format(total=len(step)))
    return _style(fig, title, height, legend_on_top=True)


def _finite_or_nan(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan)
