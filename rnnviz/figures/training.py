"""Figures of the Train and Compare pages: loss, gradient norm, accuracy, and what the model outputs.

Every builder takes plain arrays (a History's columns, a Trace's arrays) and returns a go.Figure;
long histories are bucketed to at most MAX_POINTS points and everything goes out as float32.
Axis titles and legend names come from `labels` (a page's, in its language) over the English ones of
rnnviz/text/en.toml's [run.fig] table.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .common import add_note, axis, base_layout, bucket, f32, labels_with, log_axis, positive, sci
from .panels import figure, heatmap, scatter

# One colour and one line style per cell, keyed by the Compare page's labels in lower case. The colours are Okabe &
# Ito's, which stay apart under the common colour-vision deficiencies; the dashes tell the cells apart without colour
# (a projector's washed-out colours, grey print).
PALETTE = {"rnn": "#D55E00", "rnn-relu": "#E69F00", "lstm": "#0072B2", "gru": "#009E73", "transformer": "#CC79A7"}
DASHES = {"rnn": "solid", "rnn-relu": "longdash", "lstm": "dash", "gru": "dot", "transformer": "dashdot"}
RUN_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
BASELINE_STYLE = dict(color="#555", dash="dash", width=2)
SMOOTH_STEPS = 50  # the smoothed loss averages about the last this many steps' batch losses
RAW_OPACITY = 0.3  # the raw batch losses, faint under the smoothed curve so the baseline stays visible


def smoothed(loss, span: int = SMOOTH_STEPS, block: int = 256) -> np.ndarray:
    """An exponential moving average of the finite losses (decay β = 1 - 2/(span + 1) a step, so about the last `span`
    steps count), divided by the weights it has seen so far: no pull towards 0 at the start, and no step in the curve
    when an early high loss leaves a window. nan until the first finite loss. (n,) -> (n,) float64; the Train page's
    Loss number is its last value."""
    x = np.asarray(loss, dtype=np.float64)
    finite = np.isfinite(x)
    n, beta = len(x), 1 - 2 / (span + 1)
    rows = -(-n // block)
    flat = np.zeros((2, rows * block))
    flat[0, :n], flat[1, :n] = np.where(finite, x, 0.0), finite  # losses and their weights
    both = flat.reshape(2, rows, block)
    # s_j = β s_(j-1) + x_j, one block at a time: s_j = β^(j+1) s_(-1) + β^j Σ_(i≤j) β^-i x_i, with β^-i kept well
    # inside float64 by the block's length
    j = np.arange(block)
    local = beta ** j * np.cumsum(beta ** -j.astype(np.float64) * both, axis=2)  # (2, rows, block): from 0 at each start
    carried = np.zeros((2, rows))  # each block's s_(-1): the previous block's last value
    for r in range(1, rows):
        carried[:, r] = beta ** block * carried[:, r - 1] + local[:, r - 1, -1]
    sums = (local + beta ** (j + 1) * carried[:, :, None]).reshape(2, -1)[:, :n]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sums[1] > 0, sums[0] / sums[1], np.nan)


def level_line(value: float | None, x_range, name: str, line: dict) -> list[dict]:
    """A horizontal line at value across x_range, named (with its value) in the legend; none for a missing value."""
    if value is None or not np.isfinite(value) or len(x_range) == 0:
        return []
    x = f32([np.min(x_range), np.max(x_range)])
    return [scatter(x=x, y=f32([value, value]), mode="lines", line=line, name=f"{name} {value:.3g}", hoverinfo="name")]


def _figure(traces: list, title: str | None, height: int, x_title: str, y_axis: dict, notes=()) -> go.Figure:
    """A one-axis figure made in one go: these redraw twice a second, and each plotly update_* call costs ms."""
    layout = base_layout(title, height, legend_on_top=True, xaxis=axis(x_title), yaxis=y_axis)
    for text in notes:
        add_note(layout, text)
    return figure(traces, layout)


def _log_y(title: str, curves: list) -> dict:
    return axis(title, **log_axis(curves))


def _thinned(step, x, L: dict) -> list[str]:
    return [L["thinned"].format(steps=f"{len(step):,}", points=f"{len(x):,}")] if len(step) > len(x) else []


def loss_figure(step, loss, baseline: float | None, *, labels: Mapping[str, str] | None = None,
                title: str | None = None, log_y: bool = True, height: int = 340, smooth=None) -> go.Figure:
    """Training loss per step: the smoothed curve (smoothed(loss), or `smooth` where the caller has it already)
    over the faint raw batch losses, with the task's trivial-predictor loss as a dashed line."""
    L = labels_with("run.fig", labels)
    x, y = bucket(step, loss)
    _, smooth = bucket(step, smoothed(loss) if smooth is None else smooth)
    shown = positive if log_y else f32
    traces = [scatter(x=x, y=shown(y), mode="lines", name=L["loss_raw"], showlegend=False, opacity=RAW_OPACITY,
                      line=dict(color=RUN_COLOURS[0], width=1), hoverinfo="skip"),
              scatter(x=x, y=shown(smooth), mode="lines", name=L["loss_smoothed"].format(steps=SMOOTH_STEPS),
                      line=dict(color=RUN_COLOURS[0], width=3)),
              *level_line(baseline, x, L["baseline"], BASELINE_STYLE)]
    y_axis = _log_y(L["loss_log"], [y, [baseline or np.nan]]) if log_y else axis(L["loss"])
    return _figure(traces, title, height, L["training_step"], y_axis, _thinned(step, x, L))


def grad_norm_figure(step, grad_norm, clipped, clip: float, *, title: str | None = None,
                     labels: Mapping[str, str] | None = None, height: int = 340) -> go.Figure:
    """Global gradient norm (before clipping) per step, log scale; clipped steps marked, threshold dashed."""
    L = labels_with("run.fig", labels)
    step, clipped = np.asarray(step), np.asarray(clipped, dtype=bool)
    x, y = bucket(step, grad_norm, how="max")  # the max keeps spikes visible after bucketing
    traces = [scatter(x=x, y=positive(y), mode="lines", name="‖∇‖", line=dict(color="#444", width=1.5))]
    if clipped.any():
        cx, cy = bucket(step[clipped], np.asarray(grad_norm)[clipped], how="max")
        traces.append(scatter(x=cx, y=positive(cy), mode="markers", name=L["clipped"],
                              marker=dict(color="#d62728", size=5, symbol="x")))
    if clip > 0:
        traces += level_line(clip, x, L["clip_threshold"], dict(color="#d62728", dash="dot", width=1.5))
    return _figure(traces, title, height, L["training_step"], _log_y(L["grad_log"], [y]))


REFERENCE_STYLES = {"chance": BASELINE_STYLE, "one_way_ceiling": dict(color="#9467bd", dash="dot", width=2)}


def accuracy_figure(step, accuracy, references: Mapping[str, float], *, title: str | None = None,
                    labels: Mapping[str, str] | None = None, height: int = 320) -> go.Figure:
    """Training-batch accuracy per step with the task's reference levels dashed (Task.reference_accuracies:
    {"chance": 0.25}, and e.g. "one_way_ceiling"), each named by labels[its name]."""
    L = labels_with("run.fig", labels)
    x, y = bucket(step, accuracy)
    traces = [scatter(x=x, y=y, mode="lines", name=L["accuracy"], line=dict(color=RUN_COLOURS[2], width=2))]
    for name, value in references.items():
        traces += level_line(value, x, L[name], REFERENCE_STYLES.get(name, BASELINE_STYLE))
    return _figure(traces, title, height, L["training_step"], axis(L["accuracy_axis"], range=[0, 1.02]))


def cell_line(label: str, k: int, width: float = 2.5) -> dict:
    """The line of a run named by a Compare label ("LSTM"): its cell's colour and dash, else the k-th run colour."""
    cell = label.lower()
    return dict(color=PALETTE.get(cell, RUN_COLOURS[k % len(RUN_COLOURS)]), dash=DASHES.get(cell, "solid"), width=width)


def compare_loss_figure(runs: dict[str, tuple], baseline: float | None, *, labels: Mapping[str, str] | None = None,
                        title: str | None = None, height: int = 340) -> go.Figure:
    """Smoothed loss curves (smoothed()) of several runs on one log axis, each in its cell's colour and dash:
    runs = {label: (step, loss)}."""
    L = labels_with("run.fig", labels)
    traces, losses, steps = [], [], []
    for k, (label, (step, loss)) in enumerate(runs.items()):
        x, y = bucket(step, smoothed(loss))
        traces.append(scatter(x=x, y=positive(y), mode="lines", name=label, line=cell_line(label, k)))
        losses.append(y)
        steps.append(x)
    traces += level_line(baseline, np.concatenate(steps) if steps else [], L["baseline"], BASELINE_STYLE)
    return _figure(traces, title, height, L["training_step"], _log_y(L["loss_log"], losses))


def compare_grad_figure(curves: dict[str, np.ndarray], *, labels: Mapping[str, str] | None = None,
                        title: str | None = None, height: int = 340) -> go.Figure:
    """Mean ‖∂L/∂h_t‖ over time steps t for several runs, log scale, each in its cell's colour and dash:
    curves = {label: (T,) norms}."""
    L = labels_with("run.fig", labels)
    traces = []
    for k, (label, norms) in enumerate(curves.items()):
        t = np.arange(len(norms), dtype=np.float32)  # t = 0 .. T-1, as on the Gradients page
        traces.append(scatter(x=t, y=positive(norms), mode="lines", name=label, line=cell_line(label, k)))
    return _figure(traces, title, height, L["time_loss_last"], _log_y(L["grad_h_log"], list(curves.values())))


# ---- what the model outputs, from the latest probe ------------------------------------------------

def forecast_figure(x, y, pred, *, times: Sequence[str] | None = None, time_name: str | None = None,
                    title: str | None = None, units: str | None = None, labels: Mapping[str, str] | None = None,
                    height: int = 300) -> go.Figure:
    """One series: the input s_1..s_T, the true next values s_2..s_(T+1) and the model's forecasts of them (each
    (T,)), each drawn at its own time: the file's dates or date-times where `times` gives those of s_1..s_(T+1)
    (ISO strings; the axis titled time_name), else steps 1..T+1. The value axis is titled `units` (by default the
    labels' "value"). Both titles may be a user's CSV headers: they are shown as text, never read as markup."""
    L = labels_with("run.fig", labels)
    if times is not None and len(times) == len(y) + 1:
        t: list[str] | np.ndarray = list(times)
        time_title = plain_text(time_name) if time_name else L["time"]
    else:
        t, time_title = np.arange(1, len(y) + 2, dtype=np.float32), L["time"]
    traces = [
        scatter(x=t[:-1], y=f32(x), mode="lines", name=L["input"], line=dict(color="#bbb", width=1.5)),
        scatter(x=t[1:], y=f32(y), mode="lines+markers", name=L["truth"], line=dict(color="#444", width=2),
                marker=dict(size=4)),
        scatter(x=t[1:], y=f32(pred), mode="lines", name=L["forecast"], line=dict(color=RUN_COLOURS[0], width=2.5)),
    ]
    return _figure(traces, title, height, time_title, axis(plain_text(units) if units else L["value"]))


def plain_text(text: str) -> str:
    """User text for a plotly title or label, which would otherwise read <b>, <a href=...> and &...; as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def regression_scatter(target, pred, *, title: str | None = None, labels: Mapping[str, str] | None = None,
                       height: int = 300) -> go.Figure:
    """Predicted against true values for the probe batch; the diagonal is a perfect model. Both axes span the
    targets (and 0 to 2) and the predictions up to that span again beyond them; predictions further out (an
    exploding run's reach 10¹¹) are drawn as open markers at the edge, and a note says how far they went."""
    L = labels_with("run.fig", labels)
    target, pred = f32(target).ravel(), f32(pred).ravel()
    lo, hi = float(min(target.min(), 0.0)), float(max(target.max(), 2.0))
    near = pred[np.isfinite(pred) & (pred >= lo - (hi - lo)) & (pred <= hi + (hi - lo))]
    lo, hi = float(min(lo, near.min(initial=lo))), float(max(hi, near.max(initial=hi)))
    far = ~((pred >= lo) & (pred <= hi))  # beyond the axes, or not finite
    traces = [
        scatter(x=f32([lo, hi]), y=f32([lo, hi]), mode="lines", name=L["perfect"], line=BASELINE_STYLE),
        scatter(x=target[~far], y=pred[~far], mode="markers", name=L["probe_examples"],
                marker=dict(size=10, color=RUN_COLOURS[0])),
    ]
    notes = []
    if far.any():
        edge = f32(np.clip(np.nan_to_num(pred[far], nan=hi), lo, hi))
        traces.append(scatter(x=target[far], y=edge, mode="markers", name=L["beyond_edge"], customdata=pred[far],
                              marker=dict(size=10, color=RUN_COLOURS[1], symbol="circle-open", line=dict(width=2)),
                              cliponaxis=False,  # whole circles on the edge
                              hovertemplate="%{x:.3g} → %{customdata:.3g}<extra></extra>"))
        notes.append(L["note_beyond"].format(n=int(far.sum()), total=len(pred), low=sci(float(np.min(pred[far]))),
                                             high=sci(float(np.max(pred[far])))))
    fig = _figure(traces, title, height, L["true_value"], axis(L["predicted_value"], range=[lo, hi]), notes)
    fig.layout.xaxis.range = [lo, hi]
    return fig


def token_rows_figure(rows: dict[str, list[str]], correct: np.ndarray, *, title: str | None = None,
                      labels: Mapping[str, str] | None = None, height: int | None = None) -> go.Figure:
    """Token sequences as rows of cells with their text; `correct` (n_rows, L) in {1 right, 0 wrong, nan neutral}
    colours each cell green, red or grey, e.g. rows = {"input": ..., "target": ..., "model": ...}."""
    L = labels_with("run.fig", labels)
    names = list(rows)
    length = max(len(r) for r in rows.values())
    text = [[(r[j] if j < len(r) else "") for j in range(length)] for r in rows.values()]
    z = np.full((len(names), length), 0.5, dtype=np.float32)
    z[:correct.shape[0], :correct.shape[1]] = np.where(np.isnan(correct), 0.5, correct)
    colours = [[0, "#f4a6a6"], [0.5, "#eeeeee"], [1, "#a8dba8"]]
    cells = heatmap(z=z, text=text, texttemplate="%{text}", textfont=dict(size=16), colorscale=colours,
                    zmin=0, zmax=1, showscale=False, xgap=2, ygap=2, hoverinfo="skip")
    rows_axis = axis("", tickvals=list(range(len(names))), ticktext=names, autorange="reversed", showgrid=False)
    layout = base_layout(title, height or 70 + 45 * len(names), xaxis=axis(L["position"], showgrid=False), yaxis=rows_axis)
    return figure([cells], layout)


OUTSIDE_COLOUR = "#eeeeee"  # the O tag: not part of a name
TAG_COLOURS = {"PER": ("#1f77b4", "#a6cbe8"), "ORG": ("#2ca02c", "#a8dba8"),
               "LOC": ("#ff7f0e", "#fdc89a")}  # an entity type's B- tag dark, its I- tag light
MISTAKE_STYLE = dict(color="#d62728", width=3)


def tag_colour(tag: str) -> str:
    """"O" -> grey, "B-PER" -> dark blue, "I-PER" -> light blue, ..."""
    if tag == "O":
        return OUTSIDE_COLOUR
    edge, kind = tag.split("-", 1)
    return TAG_COLOURS[kind][0 if edge == "B" else 1]


def tagged_words_figure(examples: list[list[tuple[str, str, str]]], tags: Sequence[str], *, per_line: int = 12,
                        title: str | None = None, labels: Mapping[str, str] | None = None) -> go.Figure:
    """Tagged sentences: each example's (word, true tag, predicted tag) rows (Tagging.tagged_rows) as lines of at
    most per_line words, each word coloured by the model's tag, with the true tag in the row below it, coloured by
    itself; a wrong word is framed in red. tags (all tag names, "O" first) make the legend."""
    L = labels_with("run.fig", labels)
    tag_id = {tag: i for i, tag in enumerate(tags)}
    z: list[list[float]] = []  # per figure row, like text, hover and names
    text: list[list[str]] = []
    hover: list[list[str]] = []
    names: list[str] = []
    frames: list[tuple[int, int]] = []  # (row, column) of wrong words
    for k, rows in enumerate(examples):
        for start in range(0, len(rows), per_line):
            line = rows[start:start + per_line]
            frames += [(len(z), j) for j, (_, tag, guess) in enumerate(line) if tag != guess]
            pad = [""] * (per_line - len(line))
            z.append([tag_id[guess] for _, _, guess in line] + [np.nan] * len(pad))
            text.append([plain_text(word) for word, _, _ in line] + pad)
            hover.append([L["tag_hover"].format(word=plain_text(word), truth=tag, model=guess) for word, tag, guess in line] + pad)
            names.append(f"#{k + 1}" if start == 0 else "")
            z.append([tag_id[tag] for _, tag, _ in line] + [np.nan] * len(pad))
            text.append([tag if tag != "O" else "·" for _, tag, _ in line] + pad)
            hover.append(hover[-1])
            names.append(L["true_tag"])
    n = len(tags)
    scale = [[edge / n, tag_colour(tag)] for i, tag in enumerate(tags) for edge in (i, i + 1)]
    cells = heatmap(z=f32(z), text=text, customdata=hover, texttemplate="%{text}", textfont=dict(size=13),
                    colorscale=scale, zmin=-0.5, zmax=n - 0.5, showscale=False, xgap=2, ygap=2,
                    hovertemplate="%{customdata}<extra></extra>", showlegend=False)
    swatches = [scatter(x=[None], y=[None], mode="markers", name=tag, marker=dict(symbol="square", size=14,
                                                                                   color=tag_colour(tag)))
                for tag in tags]
    mistake = scatter(x=[None], y=[None], mode="markers", name=L["tag_mistake"],
                      marker=dict(symbol="square-open", size=14, line=MISTAKE_STYLE, color=MISTAKE_STYLE["color"]))
    shapes = [dict(type="rect", x0=j - 0.5, x1=j + 0.5, y0=row - 0.5, y1=row + 0.5, line=MISTAKE_STYLE)
              for row, j in frames]
    rows_axis = axis("", tickvals=list(range(len(names))), ticktext=names, autorange="reversed", showgrid=False,
                     zeroline=False)
    words_axis = axis("", showgrid=False, zeroline=False, showticklabels=False, range=[-0.5, per_line - 0.5])
    layout = base_layout(title, 90 + 30 * len(names), legend_on_top=True, xaxis=words_axis, yaxis=rows_axis,
                         shapes=shapes)
    return figure([cells, *swatches, mistake], layout)
