"""The Explore page's span of the probe text: picked with a range slider (the keyboard's way) or by clicking the
characters of a chart of the text (explore.span_figure); both write the same session state, so they agree."""
from __future__ import annotations

import streamlit as st

from . import inspect
from .explore import ROW_CHARS, clicked_steps, span_after_click, span_figure
from .i18n import t

SPAN_KEY, ANCHOR_KEY = "ex_span", "ex_span_anchor"  # the span (first, last step); the step a next click ends it at
SPAN_CHART = "ex-span"
WORDS_PER_ROW = 10  # cells per row of a word task's text (characters get ROW_CHARS)


def controls(T: int) -> tuple[int, int, float]:
    """The span (first and last step, inclusive) and the threshold. The slider is the keyboard's way to the span
    that clicks on the text pick too (clicked writes the slider's value); a span kept from a longer run is reset.
    A first click waits for its second only while the span is still the one step it picked: a slider moved since
    drops it."""
    kept = st.session_state.get(SPAN_KEY)
    if not (isinstance(kept, tuple) and len(kept) == 2 and 0 <= kept[0] <= kept[1] < T):
        st.session_state[SPAN_KEY] = kept = (max(0, T - 6), max(0, T - 3))
    anchor = st.session_state.get(ANCHOR_KEY)
    if anchor is not None and kept != (anchor, anchor):
        del st.session_state[ANCHOR_KEY]
    left, right = st.columns([3, 1])
    with left:
        start, end = st.slider(t("explore.span"), 0, T - 1, key=SPAN_KEY, help=t("explore.span_help"))
    with right:
        threshold = st.slider(t("explore.threshold"), 0.05, 0.95, 0.3, 0.05, key="ex_threshold",
                              help=t("explore.threshold_help"))
    return start, end, threshold


def chart(view, tokens: list[str], start: int, end: int, joiner: str) -> None:
    """The probe text with the span on orange; clicking its characters (or dragging over them) picks the span."""
    anchor = st.session_state.get(ANCHOR_KEY)
    row = ROW_CHARS if joiner == "" else WORDS_PER_ROW
    title = t("explore.span_title", n=view.example + 1)
    inspect.show(SPAN_CHART, (start, end, anchor, row, *view.key), lambda: span_figure(tokens, start, end, title, row),
                 on_click=lambda: clicked(len(tokens)))
    st.caption(t("explore.span_open", step=anchor) if anchor is not None else t("explore.span_how"))


def clicked(T: int) -> None:
    """The span chart's selection changed: move the span (the slider follows) as span_after_click says."""
    steps = clicked_steps(st.session_state.get(inspect.chart_key(SPAN_CHART), {}).get("selection"), T)
    if steps:
        st.session_state[SPAN_KEY], st.session_state[ANCHOR_KEY] = span_after_click(
            steps, st.session_state.get(ANCHOR_KEY))
