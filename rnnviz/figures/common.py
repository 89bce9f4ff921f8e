"""Shared pieces of the figure builders: readable defaults and keeping what goes over the wire small."""
from __future__ import annotations

import math
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np
import plotly.graph_objects as go

MAX_POINTS = 1500  # points per line sent to the browser
MAX_CELLS = 200 * 256  # heatmap cells sent to the browser
LOG_DECADES = 16  # gradient heatmaps show at most this many decades below their maximum


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


def log_axis(curves: list, labels: int = 8) -> dict:
    """A log y-axis with at most about `labels` labels: every k-th decade over wide ranges, and over
    narrow ones the decades with 2 and 5 between (plotly's default also labels 3, 4, 6, ... and crowds)."""
    span = log_range([np.asarray(c, dtype=np.float64) for c in curves], decades=1000)
    decades = span[1] - span[0] if span is not None else 0
    return dict(type="log", exponentformat="power", dtick=math.ceil(decades / labels) if decades >= 3 else "D2")


def pool2d(z: np.ndarray, max_cells: int = MAX_CELLS):
    """Average-pool a 2-D array along its longer axes until it has at most max_cells cells.
    Returns (pooled float32 array, row factor, column factor) so axes and notes can say so."""
    z = np.asarray(z, dtype=np.float32)
    rows, cols = z.shape
    fr = fc = 1
    while (rows // fr) * (cols // fc) > max_cells:
        if rows // fr >= cols // fc:
            fr += 1
        else:
            fc += 1
    if fr == fc == 1:
        return z, 1, 1
    r, c = rows // fr * fr, cols // fc * fc
    pooled = z[:r, :c].reshape(r // fr, fr, c // fc, fc).mean(axis=(1, 3))
    return pooled.astype(np.float32), fr, fc


AXIS_FONTS = dict(title_font=dict(size=14, color="#31333f"), tickfont=dict(size=12))  # Streamlit's theme: small, pale


def base_layout(title: str | None = None, height: int = 320, legend_on_top: bool = False, **more) -> dict:
    """The layout every figure shares, as one dict: large enough type for a projector, little chrome, a legend
    above the plot (legend_on_top: a one-line legend in its own row under the title, for legends long enough
    to run into it). No template: Streamlit themes the chart, and a template costs ~50 ms a figure.
    `more` adds or replaces layout keys (xaxis=..., annotations=...)."""
    layout = dict(
        title=title, height=height, font=dict(size=14), hoverlabel=dict(font_size=13),
        margin=dict(l=60, r=20, t=50 if title else 20, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1))
    if legend_on_top:
        layout["margin"]["t"] = 95 if title else 45
        layout["legend"] = dict(orientation="h", x=0, xanchor="left", y=1.01, yanchor="bottom", font_size=13)
    return {**layout, **more}


def axis(title: str, **more) -> dict:
    """One axis's layout with readable fonts, for figures made in one go with base_layout."""
    return {**AXIS_FONTS, "title": dict(text=title, font=AXIS_FONTS["title_font"]), **more}


def style(fig: go.Figure, title: str | None = None, height: int = 320, legend_on_top: bool = False) -> go.Figure:
    """base_layout for a figure built step by step (subplots, added traces), every axis given readable fonts.
    Each plotly update_* call costs milliseconds: figures redrawn live are better made in one go."""
    fig.update_layout(base_layout(title, height, legend_on_top))
    fig.update_xaxes(**AXIS_FONTS)
    fig.update_yaxes(**AXIS_FONTS)
    return fig


def top_legend(fig: go.Figure) -> go.Figure:
    """The legend in one row between the title and the plot, with room so the two never overlap."""
    fig.update_layout(legend=dict(orientation="h", x=0, xanchor="left", y=1.02, yanchor="bottom"),
                      title=dict(y=0.98, yanchor="top"), margin=dict(t=90 if fig.layout.title.text else 50))
    return fig


def note_annotation(text: str) -> dict:
    """A small grey note under the plot and its axis title (e.g. that data was downsampled); needs margin b ≥ 80."""
    return dict(text=text, xref="paper", yref="paper", x=0, y=0, yanchor="top", yshift=-62, showarrow=False,
                font=dict(size=11, color="#777"), xanchor="left")


def note(fig: go.Figure, text: str) -> go.Figure:
    """note_annotation added to a figure, with room made for it."""
    fig.add_annotation(note_annotation(text))
    fig.update_layout(margin_b=max(fig.layout.margin.b or 0, 80))
    return fig


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
