"""Pieces of figures made in one go: traces and a whole layout handed to go.Figure at once. make_subplots and the
update_* calls that usually follow it walk plotly's property tree, and cost several times what the figure's data
does: a figure the Look-inside pages redraw at every step the user moves to is better made this way. Here: panels
side by side, laid out as make_subplots lays them out, and traces as plain dicts."""
from __future__ import annotations

from functools import lru_cache

import plotly.graph_objects as go
import plotly.io as pio

TITLE_PX = 16  # a panel's title above it: make_subplots' size


def figure(data: list, layout: dict) -> go.Figure:
    """go.Figure(data, layout) without plotly's check of every property against its schema: the check costs more
    than everything else a figure's redraw does (a loss chart: 9.5 ms checked, 0.6 ms not), and a Train page redraws
    three such charts per tab twice a second. For complete figures only: an unchecked figure stores later update_*
    arguments as given (xaxis_title="t" stays a bare string where plotly.js wants {"text": "t"}), so whatever
    restyles one copies it first with go.Figure(fig), checked (charts.presented does). tests/test_fast_figures.py
    checks that every builder using this makes exactly the figure plotly's check would. The figure keeps the arrays it
    is given, uncopied: hand it arrays nothing changes afterwards."""
    default = pio.templates.default  # Streamlit's own once it is imported: the frontend themes the chart from it
    if default and "template" not in layout:  # given as a dict, plotly does not copy the template into each figure
        layout = {**layout, "template": _template(default)}
    return go.Figure(data=data, layout=layout, _validate=False)


@lru_cache(maxsize=4)
def _template(name: str) -> dict:
    """The registered plotly template `name` as a plain dict, made once (every figure shares it, uncopied)."""
    return pio.templates[name].to_plotly_json()


def columns(n: int, spacing: float) -> list[tuple[str, list[float]]]:
    """(axis suffix, x domain) of n panels in a row with `spacing` (a share of the width) between them:
    ("", [0, 0.3]), ("2", [0.35, 0.65]), ("3", [0.7, 1]). A panel's axes are xaxis{suffix} and yaxis{suffix}
    in the layout, x{suffix} and y{suffix} in its traces."""
    width = (1 - spacing * (n - 1)) / n
    return [(str(k + 1) if k else "", [k * (width + spacing), k * (width + spacing) + width]) for k in range(n)]


def title_above(text: str, domain: list[float]) -> dict:
    """A panel's title, centred above a panel spanning `domain` across and the full height."""
    return dict(text=text, x=(domain[0] + domain[1]) / 2, y=1.0, xref="paper", yref="paper", xanchor="center",
                yanchor="bottom", showarrow=False, font=dict(size=TITLE_PX))


def scatter(**props) -> dict:
    """A scatter trace as a plain dict: go.Figure builds (and validates) every trace it is handed anew, so a
    go.Scatter made first would be built twice; 32 PCA paths take 14 ms as dicts, 43 ms as go.Scatter."""
    return dict(type="scatter", **props)


def heatmap(**props) -> dict:
    """A heatmap trace as a plain dict, for the reason scatter() gives."""
    return dict(type="heatmap", **props)


def hline(y: float, line: dict) -> dict:
    """A horizontal line at y across the whole plot, as a layout shape: what fig.add_hline adds, without its cost."""
    return dict(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=y, y1=y, line=line)
