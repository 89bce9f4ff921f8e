"""Shared pieces of the figure builders: readable defaults and keeping what goes over the wire small, and
what the Look-inside pages' figures (hidden, gates, attention, gradients) share: their limits and colours,
time axes labelled with the inputs, and the time x unit heatmap that both the hidden-state and the gate
pages draw."""
from __future__ import annotations

import math
import re
import tomllib
import unicodedata
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale

from .panels import figure

MAX_POINTS = 800  # points per line sent to the browser: about one per pixel of a half-width chart at 1400 px, and
# a live view redraws each line twice a second in every training tab (its JSON, hashing and copying grow with it)
LOG_DECADES = 30  # gradient charts show at most this many decades below their maximum: an exploding run's
# norms span about 27, from 10⁻⁵ at its start to 10²¹ where it stops


def f32(a) -> np.ndarray:
    """float32 for the browser: half the bytes of float64 and all the precision a chart needs."""
    return np.asarray(a, dtype=np.float32)


def bucket(x, y, max_points: int = MAX_POINTS, how: str = "mean"):
    """Shorten a long series to at most max_points by averaging (or taking the max of) equal buckets,
    ignoring non-finite values (a bucket with none is nan). Returns float32 x (each bucket's last x), y;
    short series come back unchanged."""
    x, y = np.asarray(x), np.asarray(y, dtype=np.float64)
    if len(x) <= max_points:
        return f32(x), f32(y)
    starts = np.linspace(0, len(x), max_points + 1).astype(int)[:-1]  # strictly increasing: len(x) > max_points
    finite = np.isfinite(y)
    if how == "mean":
        sums = np.add.reduceat(np.where(finite, y, 0.0), starts)
        counts = np.add.reduceat(finite.astype(np.int64), starts)
        ys = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    elif how == "max":
        ys = np.maximum.reduceat(np.where(finite, y, -np.inf), starts)
        ys[np.isneginf(ys)] = np.nan
    else:
        raise ValueError(f"unknown bucket reduction {how!r}: choose mean or max")
    last = np.append(starts[1:], len(x)) - 1
    return f32(x[last]), f32(ys)


def positive(y) -> np.ndarray:
    """float32 values for a log axis: non-positive and non-finite ones become gaps."""
    y = np.asarray(y, dtype=np.float64)
    return f32(np.where(np.isfinite(y) & (y > 0), y, np.nan))


def log_range(curves: list[np.ndarray], decades: int = LOG_DECADES) -> tuple[float, float] | None:
    """(low, high) log10 range covering every positive finite value of the curves, whole decades,
    at most `decades` deep; None if there is nothing to show."""
    values = np.concatenate([np.ravel(c) for c in curves]) if curves else np.zeros(0)
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        return None
    hi = math.ceil(np.log10(values.max()) + 0.1)
    lo = max(math.floor(np.log10(values.min()) - 0.1), hi - decades)
    return float(lo), float(hi)


LOG_LABELS = 8  # labelled ticks on a log axis, at most: more collide on a narrow chart
MANTISSAS = ((1,), (1, 3), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9))  # ticks within a decade, sparsest first
LINEAR_STEPS = (1, 2, 2.5, 5)  # times a power of ten: ticks for a range narrower than a factor of 3


def log_axis(curves: list, labels: int = LOG_LABELS, span: tuple[float, float] | None = None) -> dict:
    """A log y-axis over every positive finite value of the curves (or over `span`, log10 low and high),
    with between 3 and `labels` labelled ticks inside its range (log_ticks). Plotly's own ticks label none
    of a flat curve and pile minor labels onto a wide one. The range is fixed, so the ticks counted are the
    ticks seen."""
    lo, hi = span if span is not None else padded_log_span(curves)
    positions, texts = log_ticks(lo, hi, labels)
    return dict(type="log", range=[lo, hi], tickmode="array", tickvals=[10.0 ** p for p in positions], ticktext=texts)


def padded_log_span(curves: list, least: float = 0.3) -> tuple[float, float]:
    """(low, high) log10 around every positive finite value of the curves, padded by 5% and at least `least`
    decades wide (a flat curve gets a range around it); (-1, 1) when there is no such value."""
    values = np.concatenate([np.ravel(np.asarray(c, dtype=np.float64)) for c in curves]) if curves else np.zeros(0)
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        return -1.0, 1.0
    lo, hi = float(np.log10(values.min())), float(np.log10(values.max()))
    pad = max(0.05 * (hi - lo), (least - (hi - lo)) / 2, 0.0)
    return lo - pad, hi + pad


def log_ticks(lo: float, hi: float, most: int = LOG_LABELS) -> tuple[list[float], list[str]]:
    """Between 3 and `most` ticks inside log10 values lo..hi, as (log10 positions, texts): the sparsest
    pattern that gives 3 of whole decades (every k-th over wide ranges), then 1-3, 1-2-5 or every mantissa
    within the decades, and over a range narrower than a factor of about 3 evenly spaced round values.
    Positions are log10, so a lab's 10^-1000 is a tick like any other."""
    first, last = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
    stride = next(k for k in _strides() if (last // k - (first - 1) // k) <= most)
    decades = [float(d) for d in range(first, last + 1) if d % stride == 0]
    if len(decades) >= 3:
        plain = all(-3 <= d <= 3 for d in decades)  # one form on one axis: 0.01, 0.1, 1 or 10⁻⁵, 1, 10⁵
        return decades, [sci(10.0 ** d, html=True) if plain or d == 0 else f"10<sup>{d:.0f}</sup>" for d in decades]
    for mantissas in MANTISSAS[1:]:
        positions = [math.log10(m) + d for d in range(first - 1, last + 1) for m in mantissas
                     if lo - 1e-9 <= math.log10(m) + d <= hi + 1e-9]
        if 3 <= len(positions) <= most:
            return positions, [sci(10.0 ** p, html=True) for p in positions]
    values = _linear_ticks(10.0 ** lo, 10.0 ** hi, most)
    return [math.log10(v) for v in values], [sci(v, html=True) for v in values]


def _strides():
    """1, 2, 5, 10, 20, 50, ...: every how many decades a wide axis is labelled."""
    k = 1
    while True:
        yield from (k, 2 * k, 5 * k)
        k *= 10


def _linear_ticks(low: float, high: float, most: int) -> list[float]:
    """The roundest evenly spaced positive values in [low, high] that number at least 3 (at most 8: each finer
    step is at most 2.5 times finer); low, middle and high if even the finest step gives fewer."""
    top = 10.0 ** math.ceil(math.log10(high - low))
    for step in (m * top / 10 ** k for k in range(4) for m in sorted(LINEAR_STEPS, reverse=True)):
        values = [i * step for i in range(max(1, math.ceil(low / step - 1e-9)), math.floor(high / step + 1e-9) + 1)]
        if len(values) >= 3:
            return values[:most]
    return [low, (low + high) / 2, high]


SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def sci(x: float, digits: int = 3, html: bool = False) -> str:
    """A number for people: up to `digits` significant digits, plainly between 0.001 and 10,000
    ("0.25", "1.3", "2,000"), beyond that as a power of ten ("6.24×10¹⁴", "10⁻⁵⁰"); html: the
    exponent as <sup> (sharper in a chart). Infinite and NaN values read "∞", "−∞" and "NaN"."""
    if not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("∞" if x > 0 else "−∞")
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(x)))) if x else 0
        text = f"{x:,.{decimals}f}"
        return text.rstrip("0").rstrip(".") if decimals else text
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    power = f"10<sup>{int(exponent)}</sup>" if html else "10" + str(int(exponent)).translate(SUPERSCRIPTS)
    return power if mantissa == "1" else ("−" + power if mantissa == "-1" else f"{mantissa}×{power}")


# Type a projector can read at the back of a room, set on every axis: Streamlit's theme sets small, pale axis fonts
# unless each axis names its own.
TICK_PX, AXIS_TITLE_PX, TITLE_PX, LEGEND_PX, NOTE_PX = 14, 16, 18, 14, 13
AXIS_TITLE_FONT = dict(size=AXIS_TITLE_PX, color="#31333f")
AXIS_FONTS = dict(title=dict(font=AXIS_TITLE_FONT), tickfont=dict(size=TICK_PX))


def base_layout(title: str | None = None, height: int = 320, legend_on_top: bool = False, **more) -> dict:
    """The layout every figure shares, as one dict: large enough type for a projector, little chrome, a legend
    above the plot (legend_on_top: a one-line legend in its own row under the title, for legends long enough
    to run into it). No template: Streamlit themes the chart from its own, which panels.figure adds as one shared
    dict (a template built into each figure costs ~50 ms).
    `more` adds or replaces layout keys (xaxis=..., annotations=...)."""
    layout: dict[str, Any] = dict(
        title=title_dict(title, font=dict(size=TITLE_PX)), height=height, font=dict(size=LEGEND_PX),
        hoverlabel=dict(font=dict(size=13)),
        margin=dict(l=60, r=20, t=50 if title else 20, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1))
    if legend_on_top:
        layout["title"], layout["legend"], layout["margin"]["t"] = legend_under_title(title, height)
    return {**layout, **more}


def title_dict(text: str | None, **more) -> dict:
    """A title's layout, with no text key for no title (plotly drops a None, and panels.figure would send it)."""
    return {**({"text": text} if text is not None else {}), **more}


def legend_under_title(title: str | None, height: int) -> tuple[dict, dict, int]:
    """(title, legend, top margin) for a legend in its own rows between the title and the plot. Both hang from the
    figure's top edge, not the plot's, so a legend that wraps to a second row grows down towards the plot, never up
    into the title; the margin leaves room for two rows."""
    top = 42 if title else 4  # px from the figure's top edge to the legend's: room for a title of TITLE_PX
    return (title_dict(title, font=dict(size=TITLE_PX), y=1, yref="container", yanchor="top", pad=dict(t=10)),
            dict(orientation="h", x=0, xanchor="left", yref="container", y=1 - top / height, yanchor="top",
                 font=dict(size=LEGEND_PX)),
            top + 52)


def colour_bar(title: str) -> dict:
    """A heatmap's colour bar for figures made in one go: its title upright beside it, fonts as the axes'."""
    return dict(title=dict(text=title, side="right", font=dict(size=AXIS_TITLE_PX)), thickness=14,
                tickfont=dict(size=TICK_PX))


def axis(title: str, **more) -> dict:
    """One axis's layout with readable fonts, for figures made in one go with base_layout."""
    return {**AXIS_FONTS, "title": dict(text=title, font=AXIS_TITLE_FONT), **more}


def style(fig: go.Figure, title: str | None = None, height: int = 320, legend_on_top: bool = False) -> go.Figure:
    """base_layout for a figure built step by step (subplots, added traces), every axis given readable fonts,
    keeping any larger bottom margin a note made room for. Each plotly update_* call costs milliseconds:
    figures redrawn live are better made in one go."""
    room = fig.layout.margin.b or 0
    fig.update_layout(base_layout(title, height, legend_on_top))
    if room > fig.layout.margin.b:
        fig.update_layout(margin_b=room)
    fig.update_xaxes(**AXIS_FONTS)
    fig.update_yaxes(**AXIS_FONTS)
    fig.update_traces(colorbar=dict(tickfont_size=TICK_PX, title_font_size=AXIS_TITLE_PX), selector=dict(type="heatmap"))
    return fig


def top_legend(fig: go.Figure) -> go.Figure:
    """legend_under_title for a figure built step by step."""
    title, legend, top = legend_under_title(fig.layout.title.text, fig.layout.height or 320)
    fig.update_layout(title=title, legend=legend, margin_t=top)
    return fig


NOTE_COLUMNS = 85  # a note's line, in Latin letters (a Chinese character counts two): fits a half-width chart at NOTE_PX
NOTE_LINE = 15  # pixels per line of a note
WIDE = "[\u3000-\u9fff\uff00-\uffef]"  # CJK characters and full-width punctuation: a line may break after any


def note_annotation(text: str) -> dict:
    """A small grey note under the plot and its axis title (e.g. that data was downsampled), broken into lines
    that fit; needs margin b ≥ note_margin(text)."""
    return dict(text="<br>".join(wrap(text)), xref="paper", yref="paper", x=0, y=0, yanchor="top", yshift=-62,
                showarrow=False, font=dict(size=NOTE_PX, color="#666"), xanchor="left", align="left")


def note_margin(text: str) -> int:
    """The bottom margin that fits the x axis's title and note_annotation(text) under it."""
    return 70 + NOTE_LINE * len(wrap(text))


def add_note(layout: dict, text: str) -> dict:
    """note_annotation added to a layout dict (a figure made in one go, base_layout's), with room made for it."""
    layout["annotations"] = [*layout.get("annotations", []), note_annotation(text)]
    layout["margin"]["b"] = max(layout["margin"]["b"], note_margin(text))
    return layout


def note(fig: go.Figure, text: str) -> go.Figure:
    """note_annotation added to a figure, with room made for it."""
    fig.add_annotation(note_annotation(text))
    fig.update_layout(margin_b=max(fig.layout.margin.b or 0, note_margin(text)))
    return fig


def wrap(text: str, columns: int = NOTE_COLUMNS) -> list[str]:
    """text in lines of at most `columns` (a wide character, as in Chinese, counts two), broken at spaces
    and between wide characters."""
    lines, line, width = [], "", 0
    for piece in re.findall(f"{WIDE}|[^\\s{WIDE[1:-1]}]+\\s*|\\s+", text):
        size = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in piece)
        if line and width + size > columns:
            lines.append(line.rstrip())
            line, width = "", 0
        line, width = line + piece, width + size
    return [*lines, line.rstrip()] if line.strip() else lines or [""]


@lru_cache(maxsize=None)
def english_labels(section: str) -> dict[str, str]:
    """Axis titles and legend names of a figure module, in English, from rnnviz/text/en.toml's table
    `section` ("inspect.fig"): the default when a page passes none in the reader's language."""
    with open(Path(__file__).resolve().parents[1] / "text" / "en.toml", "rb") as f:
        table = tomllib.load(f)
    for part in section.split("."):
        table = table[part]
    return dict(table)


def labels_with(section: str, labels: Mapping[str, str] | None) -> dict[str, str]:
    """english_labels(section) with the given ones (a page's, in its language) laid over them."""
    return {**english_labels(section), **(labels or {})}


# --- the Look-inside pages ------------------------------------------------------------------------------
# What goes to the browser stays small and fixed: time x unit heatmaps show at most MAX_UNITS units (the
# first ones of the chosen order) and at most MAX_STEPS columns (longer sequences are averaged over buckets
# of steps), and say so; colour ranges are arguments, so a page can hold them fixed while the user scrubs
# through training. Axis titles and legend names come from `labels` (the text files' [inspect.fig] table).

MAX_UNITS = 128  # heatmap rows: more units than a projector can show apart
MAX_STEPS = 200  # heatmap columns (time steps); longer sequences are averaged over buckets
TOKEN_TICKS = 40  # up to this many columns, the time axis is labelled with the input tokens
# As lists, not plotly's names: plotly.js knows "Viridis" but not plotly's reversed "RdBu_r", and figures made with
# panels.figure go out as they are
DIVERGING = get_colorscale("RdBu_r")  # states and tanh gates: blue negative, white 0, red positive
SEQUENTIAL = get_colorscale("Viridis")  # sigmoid gates and attention weights in [0, 1]
# Okabe & Ito's colour-blind-safe colours (their yellow is too pale on white), then grey
LINE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999")
BOUND_STYLE = dict(color="#555", dash="dash", width=2)


def inside_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """The Look-inside figures' English labels ([inspect.fig]) with a page's own laid over them."""
    return labels_with("inspect.fig", labels)


def spread_steps(steps: list[int], upto: int, n: int = 4) -> list[int]:
    """Up to n of the kept steps, evenly spread from the first to `upto` (included, last)."""
    steps = [s for s in steps if s <= upto] or steps[:1]
    picks = np.linspace(0, len(steps) - 1, min(n, len(steps))).round().astype(int)
    return [steps[i] for i in sorted(set(picks))]


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


def pool_time(z: np.ndarray, factor: int) -> np.ndarray:
    """Average (..., T) over buckets of `factor` steps; the last bucket may be shorter. NaN-aware."""
    if factor <= 1:
        return f32(z)
    T = z.shape[-1]
    pad = -T % factor
    padded = np.concatenate([z, np.full(z.shape[:-1] + (pad,), np.nan, dtype=np.float32)], axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN buckets stay NaN on purpose
        return f32(np.nanmean(padded.reshape(*z.shape[:-1], -1, factor), axis=-1))


def time_axis(T: int, inputs: list[str] | None, factor: int, L: dict) -> tuple[list[str], dict]:
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


def projector_style(fig: go.Figure, title: str | None, height: int, legend_on_top: bool = False) -> go.Figure:
    """The Look-inside figures' name for style: since every figure's type is sized for a projector, the same."""
    return style(fig, title, height, legend_on_top)


def _nice_step(n: int, ticks: int = 10) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that labels n columns with at most about `ticks` ticks."""
    step = 1
    while n / step > ticks:
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2
    return step


def downsample_text(L: dict, units: tuple[int, int] | None, factor: int, T: int) -> str:
    """The note saying what a time x unit figure left out: units beyond the shown ones, steps averaged; "" if nothing."""
    parts = []
    if units and units[0] < units[1]:
        parts.append(L["note_units"].format(shown=units[0], total=units[1]))
    if factor > 1:
        parts.append(L["note_steps"].format(total=T, factor=factor))
    return " · ".join(parts)


def downsample_note(fig: go.Figure, L: dict, units: tuple[int, int] | None, factor: int, T: int) -> None:
    text = downsample_text(L, units, factor, T)
    if text:
        note(fig, text)


def time_unit_heatmap(values: np.ndarray, *, inputs: list[str] | None = None, order=None, zrange=(-1.0, 1.0),
                      colorscale: str = DIVERGING, value_name: str = "h", unit_title: str | None = None,
                      max_units: int = MAX_UNITS, title: str | None = None, height: int = 420, labels=None) -> go.Figure:
    """Heatmap of (T, H) values: time across, units down (in `order`, default 0..H-1), colours fixed to zrange.
    Shows the first max_units units of the order and at most MAX_STEPS columns, and notes when it cut."""
    L = inside_labels(labels)
    values = f32(values)
    T, H = values.shape
    order = np.arange(H) if order is None else np.asarray(order)
    shown = order[:max_units]
    factor = math.ceil(T / MAX_STEPS)
    z = pool_time(values[:, shown].T, factor)  # (units shown, columns)
    x, xaxis = time_axis(T, inputs, factor, L)
    y = [f"u{u}" for u in shown]
    mid = 0.0 if zrange[0] < 0 < zrange[1] else None
    # made in one go, a plain trace dict and a whole layout: style() and update_* calls cost 10 of its 13 ms, and the
    # Look-inside pages draw up to four of these at every step the user moves to
    heatmap = dict(
        type="heatmap", z=z, x=x, y=y, zmin=zrange[0], zmax=zrange[1], zmid=mid, colorscale=colorscale,
        colorbar=colour_bar(value_name),
        hovertemplate=f"{L['time']}: %{{x}}<br>{L['unit']}: %{{y}}<br>{value_name} = %{{z:.3f}}<extra></extra>")
    layout = base_layout(title, height, xaxis=axis(xaxis.pop("title"), **xaxis),
                         yaxis=axis(unit_title or L["unit"], type="category", autorange="reversed", showticklabels=len(y) <= 48))
    text = downsample_text(L, (len(shown), H), factor, T)
    if text:
        add_note(layout, text)
    if xaxis["tickangle"]:  # slanted words under the plot: make room so they miss the axis title
        layout["margin"]["b"] = 60 + 7 * max(len(s) for s in xaxis["ticktext"])
    return figure([heatmap], layout)


# --- the presenter view (?present=1): larger type, thicker lines, black text -------------------------------------
PRESENTER_PX = dict(tick=20, axis_title=22, title=26, legend=20)
PRESENTER_LINE_SCALE = 1.5  # line widths
PRESENTER_MARGIN_LEFT = 100  # px for the larger tick labels and the axis title beside them
PRESENTER_LEGEND_TOP = 60  # px from a figure's top edge to a legend under its title


def for_presenter(fig: go.Figure) -> go.Figure:
    """fig restyled in place for a projector at the front of a class: every font larger and black, lines thicker."""
    px = PRESENTER_PX
    axis_fonts = dict(tickfont=dict(size=px["tick"], color="#000"), title_font=dict(size=px["axis_title"], color="#000"))
    height = fig.layout.height or 320  # no taller: the Train page's charts would leave a 1280x720 screen
    fig.update_layout(title_font=dict(size=px["title"], color="#000"), legend_font_size=px["legend"],
                      font_color="#000", margin_l=PRESENTER_MARGIN_LEFT)
    if fig.layout.legend.yref == "container":  # a legend under the title (legend_under_title): under the larger one
        fig.update_layout(legend_y=1 - PRESENTER_LEGEND_TOP / height, margin_t=PRESENTER_LEGEND_TOP + 70)
    fig.update_xaxes(**axis_fonts)
    fig.update_yaxes(**axis_fonts)
    fig.for_each_annotation(lambda a: a.update(font_size=round((a.font.size or LEGEND_PX) * 1.35), font_color="#000"))
    fig.for_each_trace(_thicker, selector=dict(type="scatter"))
    return fig


def _thicker(trace) -> None:
    if trace.mode and "lines" in trace.mode:
        trace.line.width = (trace.line.width or 2) * PRESENTER_LINE_SCALE
