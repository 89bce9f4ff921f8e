"""Integrated gradients beside the Hidden states page's heatmaps: the toggle that asks for them, and how they are
drawn, as coloured characters under the heatmaps of a text or as a band under each heatmap of a series. They are
computed when first asked and kept in the tab (rnnviz.ui.explore's cache, which the Explore page shares), so the
page's reruns cost nothing for them."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ..figures import hidden as figs
from . import explore, inspect
from .i18n import t


def wanted(view: inspect.View) -> explore.Attribution | None:
    """The picked example's attributions, once the toggle asks for them (they cost a backward pass per point of
    the integrated-gradient path, so not on every visit); None for the decoder, whose steps are not the input's."""
    if view.prefix:
        return None
    left, right = st.columns([3, 2])
    with left:
        asked = st.toggle(t("hidden_states.attribution"), key="hs_attribution", help=t("hidden_states.attribution_help"))
    if not asked:
        return None
    return explore.attribution_now(view.trainer, view.example, right, key="hs_recompute")


def band(view: inspect.View, found: explore.Attribution, kind: str, labels: dict[str, str]) -> None:
    """Integrated gradients per input step as a band under the heatmap of kind, on its time axis."""
    values, name = found.methods["ig"], t("explore.value_ig")  # (T,)
    inspect.show(f"hs-band-{kind}", (found.step, found.example, *view.key), lambda: figs.attribution_band(
        values, inputs=view.inputs(), value_name=name, labels=labels,
        title=t("hidden_states.band_title", step=found.step, example=found.example + 1)),
        data=lambda: {"t": np.arange(len(values)), name: values})


def text(view: inspect.View, found: explore.Attribution, tokens: list[str]) -> None:
    """Integrated gradients per input token as the coloured characters of the example's text (as on Explore)."""
    values, name = found.methods["ig"], t("explore.value_ig")  # (T,)
    title = t("explore.fig_title", method=t("explore.method_ig"), step=found.step, example=found.example + 1)
    inspect.show("hs-attribution-text", (found.step, found.example, *view.key), lambda: explore.text_attribution_figure(
        tokens, values, name, title), data=lambda: {"t": np.arange(len(values)), name: values})
