"""Hidden states: h_t (and the LSTM's c_t) over time, one unit's activation over the text, PCA trajectories.
What is shown follows the run's family: its state kinds, its reading directions (a picker for bidirectional
layers), and whether its states are tanh-bounded (a transformer's residual stream is not).
Asked for, the picked example's integrated gradients sit beside its states (rnnviz.ui.state_attribution)."""
import numpy as np
import streamlit as st

from rnnviz.features import order_units, unit_correlation
from rnnviz.figures import hidden as figs
from rnnviz.figures.common import spread_steps, time_unit_heatmap
from rnnviz.ui import inspect, state_attribution
from rnnviz.ui.i18n import fig_labels, t
from rnnviz.ui.live import live

trainer = inspect.open_page("hidden_states")
L = fig_labels("inspect.fig")
family = inspect.family_of(trainer.cfg.model)
TEXT_WIDTH = 64  # cells per row of the coloured text: long character sequences wrap like a page


def draw():
    view = inspect.controls(trainer)
    if view is None:
        return
    about_the_states()
    states = view.trace[view.name("h")]  # (B, T, H)
    B, T, H = states.shape
    signals = inspect.signals(view)
    sort = st.segmented_control(t("hidden_states.sort"), ["variance", *signals, "index"], default="variance",
                                format_func=lambda s: t(f"hidden_states.sort_{s}") if s in ("variance", "index")
                                else inspect.signal_label(s), key="hs_sort", required=True)
    flat = states.reshape(B * T, H)
    order = None if sort == "index" else order_units(flat, None if sort == "variance" else signals[sort].reshape(-1))
    kinds = [k for k in family.states if view.array(k) is not None]
    by = t(f"hidden_states.sort_{sort}") if sort in ("variance", "index") else inspect.signal_label(sort)
    found = state_attribution.wanted(view)
    tokens = view.tokens()
    for kind, col in zip(kinds, st.columns(len(kinds))):
        with col:
            inspect.show(f"hs-{kind}", (sort, view.snap.trace_steps[-1], *view.key), lambda: time_unit_heatmap(
                view.array(kind), inputs=view.inputs(), order=order, value_name=kind, labels=L,
                zrange=inspect.state_range(trainer, view.name(kind), view.example, family.bounded and kind == "h"),
                unit_title=t("hidden_states.units_by", order=by),
                title=t(f"hidden_states.heat_{kind}", step=view.step, example=view.example + 1)),
                data=lambda kind=kind: {f"{kind}[t, unit]": view.array(kind)})
            if found is not None and tokens is None:
                state_attribution.band(view, found, kind, L)
    if found is not None and tokens is not None:
        state_attribution.text(view, found, tokens)
    if tokens is not None and not view.prefix:
        coloured_text(view, signals)
    pca_section(view)


def about_the_states():
    """What h_t is for this family: one direction of a bidirectional layer, or a residual stream."""
    if family.features > 1:
        st.caption(t("hidden_states.both_ways", forward=inspect.direction_label(""),
                     backward=inspect.direction_label(".reverse")))
    if not family.recurrent:
        st.caption(t("hidden_states.residual"))


def coloured_text(view, signals):
    """The probe texts coloured by one unit of h (or the LSTM's c, where counters tend to live)."""
    st.subheader(t("hidden_states.text_title"))
    kind = "h"
    if len(family.states) > 1:
        kind = st.segmented_control(t("hidden_states.text_state"), family.states, default="h", required=True,
                                    format_func=lambda k: t(f"hidden_states.state_{k}"), key="hs_text_state")
    states = view.trace[view.name(kind)]  # (B, T, H)
    B, T, H = states.shape
    features = [s for s in signals if s != "time"]
    best = int(order_units(states.reshape(B * T, H))[0])
    if features:
        feature = st.segmented_control(t("hidden_states.feature"), features, default=features[0], required=True,
                                       format_func=inspect.signal_label, key="hs_feature")
        r = unit_correlation(states.reshape(B * T, H), signals[feature].reshape(-1))
        best = int(np.argmax(np.abs(r)))
        label = inspect.signal_label(feature)
        inspect.show("hs-rank", (kind, feature, *view.key), lambda: figs.unit_ranking(
            r, feature=label, labels=L, title=t("hidden_states.ranking_title", feature=label, state=kind)),
            data=lambda: {"unit": np.arange(H), "r": r})
    unit = st.selectbox(t("hidden_states.unit"), [-1, *range(H)], key="hs_unit",
                        format_func=lambda u: t("hidden_states.best_unit", unit=best) if u < 0 else f"u{u}")
    unit = best if unit is None or unit < 0 else unit
    vocab, x = view.trainer.task.in_vocab, view.trace["x"]
    examples = [([vocab[int(i)] for i in x[b]], states[b, :, unit]) for b in range(B)]
    width = min(T, TEXT_WIDTH)
    inspect.show("hs-text", (kind, unit, view.snap.trace_steps[-1], *view.key), lambda: figs.text_heatmap(
        examples, zrange=inspect.state_range(trainer, view.name(kind), view.example, family.bounded and kind == "h", unit),
        width=width, value_name=f"{kind}[u{unit}]", labels=L,
        title=t("hidden_states.text_figure", unit=unit, state=kind, step=view.step)),
        data=lambda: {f"{kind}[example, t] of u{unit}": states[:, :, unit]})


def pca_section(view):
    st.subheader(t("hidden_states.pca_title"))
    dims = st.segmented_control(t("hidden_states.pca_dims"), ["2d", "3d"], default="2d", required=True,
                                format_func=lambda d: t(f"hidden_states.pca_{d}"), key="hs_pca")
    name = view.name("h")
    if dims == "3d":
        inspect.show("hs-pca3", view.key, lambda: figs.pca_trajectory_3d(view.trace[name], step=view.step, labels=L))
        return
    steps = spread_steps(view.snap.trace_steps, view.step)
    inspect.show("hs-pca2", (name, *steps), lambda: figs.pca_trajectories(
        [(tr.step, tr[name]) for tr in map(trainer.trace_at, steps)], labels=L))


live(draw)
