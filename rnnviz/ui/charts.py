"""Charts with their data: every plotly figure the app shows can also be taken away as CSV.

Plotly's own toolbar exports the PNG; the CSV button beside it builds the file only when clicked
(Streamlit runs the callable then), so a chart that refreshes twice a second costs nothing extra.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from .i18n import t

PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


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


def chart(fig: go.Figure, key: str, data: Callable[[], dict[str, np.ndarray]] | None = None) -> None:
    """Draw fig (kept mounted across refreshes by its key) with a CSV download of data() under it."""
    st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG)
    if data is not None:
        st.download_button(t("charts.csv"), data=lambda: csv_text(data()), file_name=f"rnnviz-{key}.csv",
                           mime="text/csv", key=f"{key}-csv", type="tertiary", icon=":material/download:",
                           on_click="ignore")
