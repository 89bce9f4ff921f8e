"""Charts with their data: every plotly figure the app shows can also be taken away as CSV.

Plotly's own toolbar exports the PNG; the CSV button beside it builds the file only when clicked
(Streamlit runs the callable then), so a chart that refreshes twice a second costs nothing extra.

Why PNG and not SVG from the camera: Streamlit hands plotly.js its config as JSON, so the toolbar can have only
plotly's own buttons (a second "save as SVG" button would need a JavaScript click function), and the camera saves
one format. PNG at twice the screen's resolution pastes into any slide or document; the heatmaps, most of what the
app draws, are images inside an SVG anyway. The SVG of every chart comes with the run's HTML report (files.py's
"Download report"), whose page adds that button. Each chart's image is named after it (rnnviz-<chart>.png).
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ..figures.common import for_presenter
from .i18n import t
from .presenter import presenting

PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2, "filename": "rnnviz"}}


def chart_config(key: str) -> dict:
    """PLOTLY_CONFIG with the camera's file named after the chart."""
    return {**PLOTLY_CONFIG, "toImageButtonOptions": {**PLOTLY_CONFIG["toImageButtonOptions"], "filename": f"rnnviz-{key}"}}


def csv_text(columns: dict[str, np.ndarray]) -> str:
    """Equal-length 1-D columns, or one 2-D array under a single name (rows, cols), as CSV text."""
    out = io.StringIO()
    if len(columns) == 1 and np.ndim(next(iter(columns.values()))) == 2:
        name, table = next(iter(columns.items()))
        np.savetxt(out, np.asarray(table, dtype=np.float64), delimiter=",", fmt="%.7g",
                   header=",".join(f"{name}[{j}]" for j in range(np.shape(table)[1])), comments="")
        return out.getvalue()
    names = list(columns)
    matrix = np.column_stack([np.asarray(columns[n], dtype=np.float64) for n in names])
    np.savetxt(out, matrix, delimiter=",", fmt="%.7g", header=",".join(names), comments="")
    return out.getvalue()


def presented(fig: go.Figure) -> go.Figure:
    """fig as this page shows it: restyled for the presenter view while presenting."""
    return for_presenter(fig) if presenting() else fig


def chart(fig: go.Figure, key: str, data: Callable[[], dict[str, np.ndarray]] | None = None) -> None:
    """Draw fig (kept mounted across refreshes by its key) with a CSV download of data() under it."""
    st.plotly_chart(presented(fig), key=key, config=chart_config(key))
    if data is not None:
        st.download_button(t("charts.csv"), data=lambda: csv_text(data()), file_name=f"rnnviz-{key}.csv",
                           mime="text/csv", key=f"{key}-csv", type="tertiary", icon=":material/download:",
                           on_click="ignore")
