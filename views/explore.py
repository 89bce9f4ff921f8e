"""Explore your model: which inputs mattered (integrated gradients, gradient x input) and what units mean (the
units on throughout a span of the probe text, picked by clicking its characters or with the slider, where else
they switch on together, and the states nearest to its end)."""
import os

import numpy as np
import streamlit as st

from rnnviz.patterns import nearest_states, search_span
from rnnviz.ui import explore, inspect
from rnnviz.ui.i18n import plain, t
from rnnviz.ui.live import live

trainer = inspect.open_page("explore")
MATCHES_SHOWN, NEIGHBOURS = 10, 8
SPAN_KEY, ANCHOR_KEY = "ex_span", "ex_span_anchor"  # the span (first, last step); the step a next click ends it at
SPAN_CHART = "ex-span"
WORDS_PER_ROW = 10  # cells per row of a word task's text (characters get explore.ROW_CHARS)


def draw():
    view = inspect.controls(trainer)
    if view is None:
        return
    saliency_section(view)
    units_section(view)


def saliency_section(view):
    st.subheader(t("explore.saliency_title"))
    st.caption(t("explore.saliency_intro"))
    left, right = st.columns([3, 2])
    with left:
        method = st.segmented_control(t("explore.method"), ["ig", "grad_x"], default="ig", required=True,
                                      format_func=lambda m: t(f"explore.method_{m}"), key="ex_method")
    with right:
        recompute = st.button(t("explore.recompute", step=trainer.step), key="ex_recompute",
                              icon=":material/refresh:")
    with st.spinner(t("explore.computing")):
        found = explore.cached_attribution(trainer, view.example, recompute)
    values = found.methods[method]  # (T,)
    name = t(f"explore.value_{method}")
    title = t("explore.fig_title", method=t(f"explore.method_{method}"), step=found.step, example=found.example + 1)
    tokens = view.tokens() if not view.prefix else None
    x = view.trace["x"][found.example]
    if tokens is not None:
        build = lambda: explore.text_attribution_figure(tokens, values, name, title)  # noqa: E731
    elif x.ndim == 2:  # (T, F) series
        build = lambda: explore.series_attribution_figure(x, values, name, title, t("explore.input"),  # noqa: E731
                                                          t("explore.time_step"))
    else:
        build = lambda: explore.text_attribution_figure([str(int(i)) for i in x], values, name, title)  # noqa: E731
    inspect.show("ex-saliency", (method, found.step, found.example, trainer.step == found.step), build,
                 data=lambda: {"t": np.arange(len(values)), name: values})
    st.caption(t("explore.completeness", total=f"{found.methods['ig'].sum():.4g}", loss=f"{found.loss:.4g}",
                 baseline=f"{found.baseline_loss:.4g}", diff=f"{found.loss - found.baseline_loss:.4g}"))
    if method == "grad_x":
        st.caption(t("explore.grad_x_note", total=f"{values.sum():.4g}"))


def units_section(view):
    st.subheader(t("explore.units_title"))
    if not explore.has_text_inputs(trainer):
        st.info(t("explore.no_text", task=plain(trainer.cfg.task.name)))
        return
    if view.prefix:
        st.info(t("explore.decoder"))
        return
    st.caption(t("explore.units_intro"))
    states = view.trace[view.name("h")]  # (B, T, H)
    B, T, _ = states.shape
    vocab, joiner = trainer.task.in_vocab, explore.word_joiner(trainer)
    texts = [[vocab[int(i)] for i in row] for row in view.trace["x"]]  # B lists of T tokens
    labels = [t("explore.probe_text", n=b + 1) for b in range(B)]
    start, end, threshold = span_controls(T)
    span_chart(view, texts[view.example], start, end, joiner)
    source = explore.file_text(trainer)
    if source and st.toggle(t("explore.include_file", name=plain(os.path.basename(trainer.cfg.task.data))),
                            key="ex_file"):
        with st.spinner(t("explore.reading_file")):
            own = explore.cached_file_states(trainer, view.layer)
        file_states = own.states[view.name("h")]  # (N, T', H)
        if file_states.shape[1] == T:
            states = np.concatenate([states, file_states])
            texts += [list(text) for text in own.texts]
            labels += [t("explore.file_window", n=n + 1) for n in range(len(own.texts))]
        st.caption(t("explore.file_note", read=f"{own.chars_read:,}", total=f"{own.chars_total:,}", step=trainer.step))
    search = search_span(states, view.example, start, end, threshold)
    if not search.units:
        st.info(t("explore.no_units", threshold=f"{threshold:g}"))
    else:
        st.markdown(t("explore.units", n=len(search.units), units=", ".join(f"u{u}" for u in search.units)))
        st.markdown(f"**{t('explore.matches_title')}**")
        if not search.matches:
            st.caption(t("explore.no_matches"))
        for m in search.matches[:MATCHES_SHOWN]:
            st.markdown(t("explore.match", where=labels[m.text], share=f"{m.share:.0%}", score=f"{m.score:.2f}")
                        + " " + explore.snippet(texts[m.text], m.start, m.end, joiner))
    st.markdown(f"**{t('explore.nearest_title', step=end + 1)}**")
    for n in nearest_states(states, view.example, end, k=NEIGHBOURS):
        st.markdown(t("explore.neighbour", where=labels[n.text], similarity=f"{n.similarity:.2f}")
                    + " " + explore.snippet(texts[n.text], n.step, n.step, joiner))


def span_controls(T: int) -> tuple[int, int, float]:
    """The span (first and last step, inclusive) and the threshold. The slider is the keyboard's way to the span
    that clicks on the text pick too (span_clicked writes the slider's value); a span kept from a longer run is reset.
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


def span_chart(view, tokens: list[str], start: int, end: int, joiner: str) -> None:
    """The probe text with the span on orange; clicking its characters (or dragging over them) picks the span."""
    anchor = st.session_state.get(ANCHOR_KEY)
    row = explore.ROW_CHARS if joiner == "" else WORDS_PER_ROW
    title = t("explore.span_title", n=view.example + 1)
    inspect.show(SPAN_CHART, (start, end, anchor, row, *view.key), lambda: explore.span_figure(tokens, start, end, title, row),
                 on_click=lambda: span_clicked(len(tokens)))
    st.caption(t("explore.span_open", step=anchor) if anchor is not None else t("explore.span_how"))


def span_clicked(T: int) -> None:
    """The span chart's selection changed: move the span (the slider follows) as explore.span_after_click says."""
    steps = explore.clicked_steps(st.session_state.get(inspect.chart_key(SPAN_CHART), {}).get("selection"), T)
    if steps:
        st.session_state[SPAN_KEY], st.session_state[ANCHOR_KEY] = explore.span_after_click(
            steps, st.session_state.get(ANCHOR_KEY))


live(draw)
