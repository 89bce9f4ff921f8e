"""Figures of the Train and Compare pages: loss, gradient norm, accuracy, and what the model outputs.

Every builder takes plain arrays (a History's columns, a Trace's arrays) and returns a go.Figure;
long histories are bucketed to at most MAX_POINTS points and everything goes out as float32.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .common import bucket, f32, log_axis, note, positive, style

PALETTE = {"rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c"}  # one colour per cell, on every page
RUN_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
BASELINE_STYLE = dict(color="#555", dash="dash", width=2)


def add_baseline(fig: go.Figure, baseline: float | None, label: str, x_range) -> None:
    """A dashed horizontal line at the baseline loss across x_range, named with its value in the legend."""
    if baseline is None or not np.isfinite(baseline) or len(x_range) == 0:
        return
    x = f32([np.min(x_range), np.max(x_range)])
    fig.add_trace(go.Scatter(x=x, y=f32([baseline, baseline]), mode="lines", line=BASELINE_STYLE,
                             name=f"{label} {baseline:.3g}", hoverinfo="name"))


def loss_figure(step, loss, baseline: float | None, *, baseline_label: str = "baseline",
                title: str | None = None, log_y: bool = True, height: int = 360) -> go.Figure:
    """Training loss per step with the task's trivial-predictor loss as a dashed line."""
    x, y = bucket(step, loss)
    fig = go.Figure(go.Scatter(x=x, y=positive(y) if log_y else y, mode="lines", name="loss",
                                 line=dict(color=RUN_COLOURS[0], width=2)))
    add_baseline(fig, baseline, baseline_label, x)
    fig.update_xaxes(title="training step")
    if log_y:
        fig.update_yaxes(title="loss (log scale)", **log_axis([y, [baseline or np.nan]]))
    else:
        fig.update_yaxes(title="loss")
    if len(step) > len(x):
        note(fig, f"{len(step):,} steps shown as {len(x):,} averaged points")
    return style(fig, title, height, legend_on_top=True)


def grad_norm_figure(step, grad_norm, clipped, clip: float, *, title: str | None = None,
                     clip_label: str = "clip threshold", events_label: str = "clipped", height: int = 360) -> go.Figure:
    """Global gradient norm (before clipping) per step, log scale; clipped steps marked, threshold dashed."""
    step, clipped = np.asarray(step), np.asarray(clipped, dtype=bool)
    x, y = bucket(step, grad_norm, how="max")  # the max keeps spikes visible after bucketing
    fig = go.Figure(go.Scatter(x=x, y=positive(y), mode="lines", name="‖∇‖", line=dict(color="#444", width=1.5)))
    if clipped.any():
        cx, cy = bucket(step[clipped], np.asarray(grad_norm)[clipped], how="max")
        fig.add_trace(go.Scatter(x=cx, y=positive(cy), mode="markers", name=events_label,
                                   marker=dict(color="#d62728", size=5, symbol="x")))
    if clip > 0 and len(x):
        fig.add_trace(go.Scatter(x=f32([x[0], x[-1]]), y=f32([clip, clip]), mode="lines", name=f"{clip_label} {clip:g}",
                                 line=dict(color="#d62728", dash="dot", width=1.5), hoverinfo="name"))
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="global gradient norm (log scale)", **log_axis([y]))
    return style(fig, title, height, legend_on_top=True)


def accuracy_figure(step, accuracy, chance: float | None, *, title: str | None = None,
                    chance_label: str = "chance", height: int = 320) -> go.Figure:
    """Training-batch accuracy per step with the chance level dashed."""
    x, y = bucket(step, accuracy)
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines", name="accuracy", line=dict(color=RUN_COLOURS[2], width=2)))
    if chance is not None:
        fig.add_hline(y=chance, line=BASELINE_STYLE, annotation_text=chance_label, annotation_position="bottom right")
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="accuracy (fraction right)", range=[0, 1.02])
    return style(fig, title, height, legend_on_top=True)


def compare_loss_figure(runs: dict[str, tuple], baseline: float | None, *, baseline_label: str = "baseline",
                        colours: dict[str, str] | None = None, title: str | None = None, height: int = 380) -> go.Figure:
    """Loss curves of several runs on one log axis: runs = {label: (step, loss)}."""
    fig = go.Figure()
    for k, (label, (step, loss)) in enumerate(runs.items()):
        x, y = bucket(step, loss)
        colour = (colours or {}).get(label, RUN_COLOURS[k % len(RUN_COLOURS)])
        fig.add_trace(go.Scatter(x=x, y=positive(y), mode="lines", name=label, line=dict(color=colour, width=2.5)))
    add_baseline(fig, baseline, baseline_label, np.concatenate([f32(step) for step, _ in runs.values()]))
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="loss (log scale)", **log_axis([loss for _, loss in runs.values()]))
    return style(fig, title, height, legend_on_top=True)


def compare_grad_figure(curves: dict[str, np.ndarray], *, colours: dict[str, str] | None = None,
                        title: str | None = None, height: int = 380) -> go.Figure:
    """Mean ‖dL/dh_t‖ over time steps t for several runs, log scale: curves = {label: (T,) norms}."""
    fig = go.Figure()
    for k, (label, norms) in enumerate(curves.items()):
        t = np.arange(1, len(norms) + 1, dtype=np.float32)
        colour = (colours or {}).get(label, RUN_COLOURS[k % len(RUN_COLOURS)])
        fig.add_trace(go.Scatter(x=t, y=positive(norms), mode="lines", name=label, line=dict(color=colour, width=2.5)))
    fig.update_xaxes(title="time step t (the loss is read at the last step)")
    fig.update_yaxes(title="‖dL/dh_t‖ (log scale)", **log_axis(list(curves.values())))
    return style(fig, title, height, legend_on_top=True)


# ---- what the model outputs, from the latest probe ------------------------------------------------

def forecast_figure(x, y, pred, *, title: str | None = None, units: str = "value", height: int = 300) -> go.Figure:
    """One series: the input s_1..s_T, the true next values and the model's forecasts (each (T,))."""
    t = np.arange(1, len(y) + 1, dtype=np.float32)
    fig = go.Figure([
        go.Scatter(x=t, y=f32(x), mode="lines", name="input s_t", line=dict(color="#bbb", width=1.5)),
        go.Scatter(x=t, y=f32(y), mode="lines+markers", name="truth s_(t+1)", line=dict(color="#444", width=2),
                   marker=dict(size=4)),
        go.Scatter(x=t, y=f32(pred), mode="lines", name="forecast", line=dict(color=RUN_COLOURS[0], width=2.5)),
    ])
    fig.update_xaxes(title="time step t")
    fig.update_yaxes(title=units)
    return style(fig, title, height, legend_on_top=True)


def regression_scatter(target, pred, *, title: str | None = None, height: int = 300) -> go.Figure:
    """Predicted against true values for the probe batch; the diagonal is a perfect model."""
    target, pred = f32(target).ravel(), f32(pred).ravel()
    lo = float(min(target.min(), pred.min(), 0.0))
    hi = float(max(target.max(), pred.max(), 2.0))
    fig = go.Figure([
        go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="perfect", line=BASELINE_STYLE),
        go.Scatter(x=target, y=pred, mode="markers", name="probe examples", marker=dict(size=10, color=RUN_COLOURS[0])),
    ])
    fig.update_xaxes(title="true value", range=[lo, hi])
    fig.update_yaxes(title="predicted value", range=[lo, hi])
    return style(fig, title, height, legend_on_top=True)


def token_rows_figure(rows: dict[str, list[str]], correct: np.ndarray, *, title: str | None = None,
                      height: int | None = None) -> go.Figure:
    """Token sequences as rows of cells with their text; `correct` (n_rows, L) in {1 right, 0 wrong, nan neutral}
    colours each cell green, red or grey, e.g. rows = {"input": ..., "target": ..., "model": ...}."""
    labels = list(rows)
    length = max(len(r) for r in rows.values())
    text = [[(r[j] if j < len(r) else "") for j in range(length)] for r in rows.values()]
    z = np.full((len(labels), length), 0.5, dtype=np.float32)
    z[:correct.shape[0], :correct.shape[1]] = np.where(np.isnan(correct), 0.5, correct)
    colours = [[0, "#f4a6a6"], [0.5, "#eeeeee"], [1, "#a8dba8"]]
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", textfont=dict(size=16), colorscale=colours,
                               zmin=0, zmax=1, showscale=False, xgap=2, ygap=2, hoverinfo="skip"))
    fig.update_xaxes(title="position", showgrid=False)
    fig.update_yaxes(tickvals=list(range(len(labels))), ticktext=labels, autorange="reversed", showgrid=False)
    return style(fig, title, height or 70 + 45 * len(labels))
