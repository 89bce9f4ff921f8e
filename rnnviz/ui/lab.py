"""The gradient lab's widgets and views (the cliff's are in cliff.py). Every setting is in the page address,
so a lesson (or a teacher) can link to one exact setting; results are cached, so going back to a setting is
instant.

Bound select widgets write their *displayed* option into the address, so the widgets here show
language-independent values (numbers, activation names); the view, whose names are translated, is kept
in the address by hand as `view`."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ..figures import lab as figs
from ..theory.jacobians import GAMMA
from ..theory.lab import LabResult, lab_lstm, lab_rnn, train_options
from .charts import chart
from .pending import open_train_page
from .i18n import fig_labels, t

HIDDEN = (4, 8, 16, 32, 64, 128, 256)
LSTM_HIDDEN = HIDDEN[:-1]  # an LSTM's state (h, c) has 2H numbers: H = 128 is as big as the RNN's 256
SEQ_LEN = (10, 20, 50, 100, 200, 500, 1000)
RHO = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
INPUT_SCALE = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
FORGET_BIAS = tuple(float(b) for b in np.arange(-4.0, 8.5, 0.5))
VIEWS = ("rnn", "lstm", "cliff")
REGIME_COLOUR = {"vanishing": "blue", "edge": "green", "exploding": "red"}


# Any client can clear st.cache_data for every tab (Streamlit's clear-cache message). The lab's caches hold only
# pure results of their arguments, shared by every tab, so a clear costs each a recomputation and nothing more.
@st.cache_data(max_entries=64, show_spinner=False)
def rnn_result(hidden, seq_len, rho, activation, init, input_scale) -> LabResult:
    return lab_rnn(hidden=hidden, seq_len=seq_len, rho=rho, activation=activation, init=init,
                          input_scale=input_scale)


@st.cache_data(max_entries=64, show_spinner=False)
def lstm_result(hidden, seq_len, rho, forget_bias, input_scale) -> LabResult:
    return lab_lstm(hidden=hidden, seq_len=seq_len, forget_bias=forget_bias, rho=rho, input_scale=input_scale)


def view_picker() -> str:
    if "lab_view" not in st.session_state:  # arriving (from a link, a lesson): take the view from the address
        asked = st.query_params.get("view")
        st.session_state["lab_view"] = asked if asked in VIEWS else VIEWS[0]
    view = st.segmented_control(t("lab.view"), VIEWS, required=True, key="lab_view",
                                format_func=lambda v: t(f"lab.view_{v}"))
    st.query_params["view"] = view
    return view


def slider(key: str, options, default, label: str, help_key: str | None = None):
    """A select slider over fixed values, bound to the address as `key` (the value as str(), e.g. 0.25)."""
    return st.select_slider(t(label), options, value=default, key=key, bind="query-params",
                            help=t(help_key) if help_key else None)


def rnn_controls() -> dict:
    act = st.selectbox(t("lab.activation"), list(GAMMA), key="lab_act", bind="query-params",
                       help=t("lab.activation_help"))
    gaussian = st.toggle(t("lab.gaussian"), value=False, key="lab_gauss", bind="query-params",
                         help=t("lab.gaussian_help"))
    return dict(activation=act, init="gaussian" if gaussian else "orthogonal",
                hidden=slider("lab_H", HIDDEN, 64, "lab.hidden"),
                seq_len=slider("lab_T", SEQ_LEN, 100, "lab.seq_len"),
                rho=slider("lab_rho", RHO, 1.0, "lab.rho", "lab.rho_help"),
                input_scale=slider("lab_in", INPUT_SCALE, 0.25, "lab.input_scale", "lab.input_scale_help"))


def lstm_controls() -> dict:
    return dict(forget_bias=slider("lstm_bf", FORGET_BIAS, 1.0, "lab.forget_bias", "lab.forget_bias_help"),
                hidden=slider("lstm_H", LSTM_HIDDEN, 64, "lab.hidden", "lab.lstm_hidden_help"),
                seq_len=slider("lstm_T", SEQ_LEN, 100, "lab.seq_len"),
                rho=slider("lstm_rho", RHO, 0.5, "lab.rho", "lab.rho_lstm_help"),
                input_scale=slider("lstm_in", INPUT_SCALE, 0.25, "lab.input_scale", "lab.input_scale_help"))


def regime(result: LabResult, seq_len: int) -> None:
    """The regime the lab found, as a large coloured word, and why in one or two sentences."""
    total = float(result.log10_norm[0])
    st.markdown(f"### :{REGIME_COLOUR[result.regime]}[{t(f'lab.regime_{result.regime}')}]")
    if result.cell == "rnn":
        case = "sufficient" if result.bound_decides else result.regime
        st.markdown(t(f"lab.rnn_{case}", product=result.sigma_max * result.gamma, total=total, T=seq_len))
    else:
        st.markdown(t(f"lab.lstm_{result.regime}", forget=result.mean_forget, total=total, T=seq_len,
                      carousel=result.log10_carousel))


def notes(result: LabResult) -> str:
    """The result's caveats (sampling, sketching, overflow, clamping) in the reader's language."""
    return " · ".join(t(f"lab.note_{kind}", **values) for kind, values in result.notes.items())


def figures(result: LabResult) -> None:
    L, lstm = fig_labels("lab.fig"), result.cell == "lstm"
    chart(figs.gradient_norms(result, labels=L, title=t("lab.fig_norms_title_lstm" if lstm else "lab.fig_norms_title"),
                              note=notes(result)), "lab-norms")
    left, right = st.columns(2)
    which = "lstm" if lstm else "rnn"
    with left:
        chart(figs.singular_values(result, labels=L, title=t(f"lab.fig_sv_title_{which}")), "lab-sv")
    with right:
        chart(figs.eigenvalues(result, labels=L, title=t(f"lab.fig_ev_title_{which}")), "lab-ev")
    if not lstm:  # the conditions the regime above was judged by
        st.caption(t("lab.numbers", sigma=result.sigma_max, gamma=result.gamma, radius=result.spectral_radius))
        st.info(t("lab.pascanu"), icon=":material/menu_book:")


def train_this(cell: str, settings: dict) -> None:
    """The button that opens the Train page with this setting on the adding task."""
    try:
        options = train_options(cell, settings["hidden"], settings["seq_len"], settings["rho"],
                                      settings.get("activation", "tanh"), settings.get("forget_bias", 1.0))
    except ValueError:
        st.button(t("lab.train_this"), disabled=True, icon=":material/model_training:")
        st.caption(t("lab.train_no_activation"))
        return
    if st.button(t("lab.train_this"), icon=":material/model_training:", help=t("lab.train_this_help")):
        open_train_page(options)
    extra = t("lab.train_gaussian") if settings.get("init") == "gaussian" else ""
    st.caption(t("lab.train_caption", cell=cell.upper(), hidden=settings["hidden"], seq_len=settings["seq_len"],
                 rho=settings["rho"], extra=extra))
