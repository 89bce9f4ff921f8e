"""Charts with their data: every plotly figure the app shows can also be taken away as CSV, PNG or SVG.

Plotly's own toolbar saves the image; the CSV button beside it builds the file only when clicked
(Streamlit runs the callable then), so a chart that refreshes twice a second costs nothing extra.

Why one camera with a format picked in the sidebar rather than two buttons: Streamlit hands plotly.js its config
as JSON, so the toolbar can have only plotly's own buttons (a second "save as SVG" button would need a JavaScript
click function), and plotly's camera saves the one format its toImageButtonOptions names. The sidebar's "Chart
images" picker (image_format_switch) sets that format for every chart of the tab: PNG at twice the screen's
resolution pastes into any slide or document, SVG scales for print (its heatmaps stay images inside the SVG).
Each chart's image is named after it (rnnviz-<chart>.png or .svg). The run's HTML report has the same choice.
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
IMAGE_FORMATS = {"png": "PNG", "svg": "SVG"}  # what plotly's camera can save -> its name in the picker
IMAGE_FORMAT_KEY = "chart_image_format"


def image_format() -> str:
    """The tab's choice of format for the charts' camera (png unless the sidebar picked svg)."""
    value = st.session_state.get(IMAGE_FORMAT_KEY)
    return value if value in IMAGE_FORMATS else "png"


def image_format_switch() -> None:
    """The sidebar's picker of the format every chart's camera saves."""
    st.sidebar.segmented_control(t("charts.image_format"), list(IMAGE_FORMATS), format_func=IMAGE_FORMATS.get,
                                 key=IMAGE_FORMAT_KEY, default="png", required=True, help=t("charts.image_format_help"))


def chart_config(key: str) -> dict:
    """PLOTLY_CONFIG with the camera's file named after the chart, in the tab's image format."""
    camera = {**PLOTLY_CONFIG["toImageButtonOptions"], "format": image_format(), "filename": f"rnnviz-{key}"}
    return {**PLOTLY_CONFIG, "toImageButtonOptions": camera}


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
    """fig as this page shows it: a copy restyled for the presenter view while presenting. A copy, since the pages
    keep their figures between reruns (inspect.show): restyled in place, a kept figure's titles would grow by a
    third at every refresh, and stay large once the presenter view is switched off."""
    return for_presenter(go.Figure(fig)) if presenting() else fig


def chart(fig: go.Figure, key: str, data: Callable[[], dict[str, np.ndarray]] | None = None,
          on_click: Callable[[], None] | None = None) -> None:
    """Draw fig (kept mounted across refreshes by its key, restyled while presenting) with a CSV download of data()
    under it. With on_click, clicking points (or dragging a box over them) selects them and calls on_click, which
    reads the selection from st.session_state[key]."""
    if on_click is None:
        st.plotly_chart(presented(fig), key=key, config=chart_config(key))
    else:
        st.plotly_chart(presented(fig), key=key, config=chart_config(key), on_select=on_click,
                        selection_mode=("points", "box"))
    if data is not None:
        st.download_button(t("charts.csv"), data=lambda: csv_text(data()), file_name=f"rnnviz-{key}.csv",
                           mime="text/csv", key=f"{key}-csv", type="tertiary", icon=":material/download:",
                           on_click="ignore")
