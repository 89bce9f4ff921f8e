"""Explore your model: which inputs mattered (integrated gradients, gradient x input) and what units mean (the
units on throughout a span of the probe text, picked by clicking its characters or with the slider, where else
they switch on together, and the states nearest to its end)."""
import os

import numpy as np
import streamlit as st

from rnnviz.patterns import nearest_states, search_span
from rnnviz.ui import explore, inspect, span_picker
from rnnviz.ui.i18n import plain, t
from rnnviz.ui.live import live

trainer = inspect.open_page("explore")
MATCHES_SHOWN, NEIGHBOURS = 10, 8


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
    found = explore.attribution_now(trainer, view.example, right, key="ex_recompute")
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
    start, end, threshold = span_picker.controls(T)
    span_picker.chart(view, texts[view.example], start, end, joiner)
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


live(draw)
