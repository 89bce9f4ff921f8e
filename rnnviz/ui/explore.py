"""The Explore page's helpers: which inputs mattered (saliency) and what units mean (LSTMVis-style span search).

Saliency needs gradients through the model, which the probe Traces do not keep, so it is computed on demand, for
one example of the probe batch, with the run's current weights copied (BackgroundRun.copy_model, between two steps)
into a fresh unrolled twin: the trainer's own twin belongs to its training thread's probes. Results are kept in
the tab's state per (run, step, example), so a page refresh during training costs nothing until asked again;
the Hidden states page shows the same results beside the states.

The span of the unit search is picked on span_figure, a chart of the probe text: clicks (or the toolbar's box)
select its cells, and clicked_steps and span_after_click turn the browser's selection into a span.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from plotly.subplots import make_subplots

from ..background import BackgroundRun
from ..figures.common import DIVERGING
from ..patterns import MAX_TEXT_CHARS, TextStates, text_states
from ..saliency import attributed_inputs, loss_at, saliency_arrays
from ..tasks import Batch
from .i18n import plain, t

SALIENCY_KEY, FILE_STATES_KEY = "explore_saliency", "explore_file_states"
IG_STEPS = 64  # the midpoint sum's error falls as 1 / steps^2: within 1 % of complete in tests/test_saliency.py
ROW_CHARS = 32  # characters per row of the attribution strip of a text
KEPT = 16  # saliency results kept per tab
SNIPPET_BEFORE, SNIPPET_AFTER = 24, 8  # characters shown around a matched span


@dataclass
class Attribution:
    step: int  # the training step of the weights it was computed with
    example: int
    methods: dict[str, np.ndarray]  # "ig", "grad_x" -> (T,) attribution per input step
    loss: float  # the task's loss on the example
    baseline_loss: float  # ... with its inputs (features or embeddings) all zero


def example_batch(trainer: BackgroundRun, example: int) -> Batch:
    """One example of the fixed probe batch, as a batch of one."""
    b = trainer.probe_batch
    pick = lambda t: None if t is None else t[example:example + 1]  # noqa: E731
    return Batch(pick(b.x), pick(b.y), pick(b.dec_in), pick(b.mask))


def attribute(trainer: BackgroundRun, example: int) -> Attribution:
    """Integrated gradients and gradient x input of the task's loss on one probe example, at the current weights."""
    twin, step = trainer.copy_model()
    batch = example_batch(trainer, example)
    arrays = saliency_arrays(twin, trainer.task, batch, steps=IG_STEPS)  # (1, T) each
    x = attributed_inputs(twin, batch)  # (1, T, F)
    ends = loss_at(twin, trainer.task, batch, torch.stack([x, torch.zeros_like(x)])).detach()  # (2,): at x, at the baseline
    methods = {"ig": arrays["saliency.ig"][0], "grad_x": arrays["saliency.grad_x"][0]}
    return Attribution(step, example, methods, float(ends[0]), float(ends[1]))


def cached_attribution(trainer: BackgroundRun, example: int, recompute: bool) -> Attribution:
    """The tab's latest attribution of this run's example (computed now when there is none, or when asked)."""
    kept = st.session_state.get(SALIENCY_KEY)
    if kept is None or kept["run"]() is not trainer:
        kept = st.session_state[SALIENCY_KEY] = {"run": weakref.ref(trainer), "results": {}}
    results = kept["results"]
    if recompute or example not in results:
        if len(results) >= KEPT:
            results.clear()
        results[example] = attribute(trainer, example)
    return results[example]


def attribution_now(trainer: BackgroundRun, example: int, button_place, key: str) -> Attribution:
    """cached_attribution with its button, drawn in button_place (a column), to compute it again at the run's step."""
    with button_place:
        recompute = st.button(t("explore.recompute", step=trainer.step), key=key, icon=":material/refresh:")
    with st.spinner(t("explore.computing")):
        return cached_attribution(trainer, example, recompute)


def symmetric_range(values: np.ndarray) -> float:
    top = float(np.max(np.abs(values))) if values.size else 0.0
    return top or 1.0


def text_attribution_figure(tokens: list[str], values: np.ndarray, value_name: str, title: str,
                            row: int = ROW_CHARS) -> go.Figure:
    """Tokens in rows of `row`, each cell coloured by its attribution on a diverging scale centred on 0.
    Tokens are drawn as plotly text, so they are escaped with i18n.plain."""
    T = len(tokens)
    rows = -(-T // row)
    z = np.full((rows, row), np.nan)
    labels = np.full((rows, row), "", dtype=object)
    for step, (token, value) in enumerate(zip(tokens, values)):
        z[step // row, step % row] = value
        labels[step // row, step % row] = plain(_visible(token))
    top = symmetric_range(values)
    fig = go.Figure(go.Heatmap(z=z, text=labels, texttemplate="%{text}", textfont=dict(size=15), colorscale=DIVERGING, zmin=-top, zmax=top,
                               xgap=1, ygap=1, colorbar=dict(title=value_name),
                               hovertemplate="%{text}: %{z:.4g}<extra></extra>"))
    fig.update_layout(title=title, height=100 + 40 * rows, margin=dict(l=20, r=20, t=50, b=20),
                      yaxis=dict(autorange="reversed", visible=False), xaxis=dict(visible=False))
    return fig


def series_attribution_figure(x: np.ndarray, values: np.ndarray, value_name: str, title: str,
                              input_label: str, step_label: str) -> go.Figure:
    """The input features (T, F) as lines, and the attribution per step as bars under them."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4])
    steps = np.arange(len(values))
    for f in range(x.shape[1]):
        fig.add_trace(go.Scatter(x=steps, y=x[:, f], mode="lines+markers", name=f"{input_label} {f}"), row=1, col=1)
    colours = np.where(values >= 0, "#b2182b", "#2166ac")  # the diverging scale's ends: red adds to the loss
    fig.add_trace(go.Bar(x=steps, y=values, marker_color=colours, name=value_name), row=2, col=1)
    fig.update_layout(title=title, height=420, margin=dict(l=40, r=20, t=50, b=40), bargap=0.1)
    fig.update_xaxes(title_text=step_label, row=2, col=1)
    fig.update_yaxes(title_text=value_name, row=2, col=1)
    return fig


SPAN_COLOURS = [[0.0, "#f2f2f2"], [1.0, "#fdae61"]]  # outside the span, inside it (the orange of highlighted())


def span_figure(tokens: list[str], start: int, end: int, title: str, row: int = ROW_CHARS) -> go.Figure:
    """The tokens in rows of `row` cells, start..end (inclusive) on orange, for picking a span by clicking.
    The cells are a heatmap, which plotly cannot select; an invisible marker on each cell, carrying its step,
    is what a click or a dragged box selects (see clicked_steps)."""
    T = len(tokens)
    rows = -(-T // row)
    steps = np.arange(T)
    z = np.full((rows, row), np.nan)
    labels = np.full((rows, row), "", dtype=object)
    z[steps // row, steps % row] = (steps >= start) & (steps <= end)
    labels[steps // row, steps % row] = [plain(_visible(token)) for token in tokens]
    cells = go.Heatmap(z=z, text=labels, texttemplate="%{text}", textfont=dict(size=15), colorscale=SPAN_COLOURS,
                       zmin=0, zmax=1, showscale=False, xgap=1, ygap=1, hoverinfo="skip")
    markers = go.Scatter(x=steps % row, y=steps // row, mode="markers", customdata=steps, text=labels[steps // row, steps % row],
                         marker=dict(size=22, symbol="square", color="rgba(0,0,0,0)"), showlegend=False,
                         hovertemplate="%{text} · t = %{customdata}<extra></extra>")
    fig = go.Figure([cells, markers])
    # no dragmode: Streamlit lets clicks select only while dragging pans (the toolbar's box tool drags a selection)
    fig.update_layout(title=title, height=100 + 40 * rows, margin=dict(l=20, r=20, t=50, b=20),
                      yaxis=dict(autorange="reversed", visible=False, fixedrange=True),
                      xaxis=dict(visible=False, fixedrange=True, range=[-0.5, row - 0.5]))
    return fig


def clicked_steps(selection, T: int) -> list[int]:
    """The steps of the cells a span_figure's selection holds, sorted. The selection comes from the browser, so
    anything but a marker's whole point index in 0..T-1 is dropped."""
    points = selection.get("points") if isinstance(selection, dict) else None
    steps = {p.get("point_index") for p in points if isinstance(p, dict)} if isinstance(points, list) else set()
    return sorted(i for i in steps if type(i) is int and 0 <= i < T)


def span_after_click(steps: list[int], anchor: int | None) -> tuple[tuple[int, int], int | None]:
    """The span a click (one step) or a dragged box (several) selects, and the step a next click completes.
    One click starts a span of one step there, and the next click ends it (either side of it); a box spans
    its first to its last step."""
    if len(steps) == 1 and anchor is not None:
        return (min(anchor, steps[0]), max(anchor, steps[0])), None
    if len(steps) == 1:
        return (steps[0], steps[0]), steps[0]
    return (steps[0], steps[-1]), None


def _visible(token: str) -> str:
    """Whitespace a reader can see: a newline as ↵, a tab as →, a space as a middle dot (in single characters)."""
    return {"\n": "↵", "\t": "→", " ": "·", "\r": "␍"}.get(token, token)


def highlighted(tokens: list[str], start: int, end: int, joiner: str) -> str:
    """Markdown of tokens with start..end (inclusive) on an orange background; every token escaped."""
    shown = lambda part: plain(joiner.join(_visible(s) if joiner == "" else s for s in part))  # noqa: E731
    before, span, after = tokens[:start], tokens[start:end + 1], tokens[end + 1:]
    out = shown(before) + (joiner if before and joiner else "")
    out += f":orange-background[**{shown(span)}**]"
    return out + (joiner if after and joiner else "") + shown(after)


def snippet(tokens: list[str], start: int, end: int, joiner: str) -> str:
    """The matched span with a little context on either side (whole for word tasks, whose texts are short)."""
    if joiner:
        return highlighted(tokens, start, end, joiner)
    first, last = max(0, start - SNIPPET_BEFORE), min(len(tokens), end + 1 + SNIPPET_AFTER)
    prefix, suffix = ("…" if first else ""), ("…" if last < len(tokens) else "")
    return prefix + highlighted(tokens[first:last], start - first, end - first, joiner) + suffix


def file_text(trainer: BackgroundRun) -> str | None:
    """The start of the user's own text file the run was trained on (charlm), enough for text_states, or None."""
    path = trainer.cfg.task.data
    if trainer.cfg.task.name != "charlm" or not path or not Path(path).is_file():
        return None
    with open(path, "rb") as f:
        raw = f.read(4 * MAX_TEXT_CHARS)  # UTF-8 takes at most 4 bytes a character
    return raw.decode("utf-8", errors="ignore")[:MAX_TEXT_CHARS]


def cached_file_states(trainer: BackgroundRun, layer: int) -> TextStates | None:
    """The run's states over its own text file (at the current weights), kept in the tab per (run, step, layer)."""
    text = file_text(trainer)
    if not text:
        return None
    key = (trainer.step, layer)
    kept = st.session_state.get(FILE_STATES_KEY)
    if kept is None or kept["run"]() is not trainer or kept["key"] != key:
        twin, _ = trainer.copy_model()
        kept = st.session_state[FILE_STATES_KEY] = {"run": weakref.ref(trainer), "key": key,
                                                    "states": text_states(twin, trainer.task, text, layer)}
    return kept["states"]


def has_text_inputs(trainer: BackgroundRun) -> bool:
    task = trainer.task
    return task.in_vocab is not None and getattr(task, "tokens_in", False)


def word_joiner(trainer: BackgroundRun) -> str:
    """How tokens join into a text: characters directly, words with a space."""
    return "" if trainer.cfg.task.name == "charlm" else " "
