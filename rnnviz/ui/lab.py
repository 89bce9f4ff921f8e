"""The gradient lab's widgets and views. Every setting is in the page address, so a lesson (or a teacher)
can link to one exact setting; results are cached, so going back to a setting is instant.

Bound select widgets write their *displayed* option into the address, so the widgets here show
language-independent values (numbers, activation names); the view, whose names are translated, is kept
in the address by hand as `view`."""
from __future__ import annotations

import numpy as np
import streamlit as st

from .. import learn, theory
from ..figures import lab as figs
from ..figures.common import note
from .controls import load_options
from .i18n import lang, t, texts

HIDDEN = (4, 8, 16, 32, 64, 128, 256)
LSTM_HIDDEN = HIDDEN[:-1]  # an LSTM's state (h, c) has 2H numbers: H = 128 is as big as the RNN's 256
SEQ_LEN = (10, 20, 50, 100, 200, 500, 1000)
RHO = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
INPUT_SCALE = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
FORGET_BIAS = tuple(float(b) for b in np.arange(-4.0, 8.5, 0.5))
CLIFF_LR = (0.01, 0.03, 0.1, 0.3)
CLIFF_STEPS = (20, 50, 100, 200)
VIEWS = ("rnn", "lstm", "cliff")
REGIME_COLOUR = {"vanishing": "blue", "edge": "green", "exploding": "red"}


def fig_labels() -> dict[str, str]:
    """The figures' axis titles and legend names in the reader's language (the [lab.fig] table)."""
    prefix = "lab.fig."
    return {k[len(prefix):]: v for k, v in texts(lang()).items() if k.startswith(prefix)}


# Any client can clear st.cache_data for every tab (Streamlit's clear-cache message). The lab's caches hold only
# pure results of their arguments, shared by every tab, so a clear costs each a recomputation and nothing more.
@st.cache_data(max_entries=64, show_spinner=False)
def rnn_result(hidden, seq_len, rho, activation, init, input_scale) -> theory.LabResult:
    return theory.lab_rnn(hidden=hidden, seq_len=seq_len, rho=rho, activation=activation, init=init,
                          input_scale=input_scale)


@st.cache_data(max_entries=64, show_spinner=False)
def lstm_result(hidden, seq_len, rho, forget_bias, input_scale) -> theory.LabResult:
    return theory.lab_lstm(hidden=hidden, seq_len=seq_len, forget_bias=forget_bias, rho=rho, input_scale=input_scale)


def view_picker() -> str:
    if "lab_view" not in st.session_state:  # arriving (from a link, a lesson): take the view from the address
        asked = st.query_params.get("view")
        st.session_state["lab_view"] = asked if asked in VIEWS else VIEWS[0]
    view = st.segmented_control(t("lab.view"), VIEWS, required=True, key="lab_view",
                                format_func=lambda v: t(f"lab.view_{v}"))
    st.query_params["view"] = view
    return view


def _slider(key: str, options, default, label: str, help_key: str | None = None):
    """A select slider over fixed values, bound to the address as `key` (the value as str(), e.g. 0.25)."""
    return st.select_slider(t(label), options, value=default, key=key, bind="query-params",
                            help=t(help_key) if help_key else None)


def rnn_controls() -> dict:
    act = st.selectbox(t("lab.activation"), list(theory.GAMMA), key="lab_act", bind="query-params",
                       help=t("lab.activation_help"))
    gaussian = st.toggle(t("lab.gaussian"), value=False, key="lab_gauss", bind="query-params",
                         help=t("lab.gaussian_help"))
    return dict(activation=act, init="gaussian" if gaussian else "orthogonal",
                hidden=_slider("lab_H", HIDDEN, 64, "lab.hidden"),
                seq_len=_slider("lab_T", SEQ_LEN, 100, "lab.seq_len"),
                rho=_slider("lab_rho", RHO, 1.0, "lab.rho", "lab.rho_help"),
                input_scale=_slider("lab_in", INPUT_SCALE, 0.25, "lab.input_scale", "lab.input_scale_help"))


def lstm_controls() -> dict:
    return dict(forget_bias=_slider("lstm_bf", FORGET_BIAS, 1.0, "lab.forget_bias", "lab.forget_bias_help"),
                hidden=_slider("lstm_H", LSTM_HIDDEN, 64, "lab.hidden", "lab.lstm_hidden_help"),
                seq_len=_slider("lstm_T", SEQ_LEN, 100, "lab.seq_len"),
                rho=_slider("lstm_rho", RHO, 0.5, "lab.rho", "lab.rho_lstm_help"),
                input_scale=_slider("lstm_in", INPUT_SCALE, 0.25, "lab.input_scale", "lab.input_scale_help"))


def regime(result: theory.LabResult, seq_len: int) -> None:
    """The regime as a large coloured word, and why in one or two sentences."""
    total = float(result.log10_norm[0])
    st.markdown(f"### :{REGIME_COLOUR[result.regime]}[{t(f'lab.regime_{result.regime}')}]")
    if result.cell == "rnn":
        product = result.sigma_max * result.gamma
        case = "sufficient" if product < 1 - 1e-9 else {"exploding": "exploding", "vanishing": "anyway",
                                                        "edge": "edge"}[result.regime]
        st.markdown(t(f"lab.rnn_{case}", product=product, total=total, T=seq_len))
    else:
        carousel = seq_len * np.log10(result.mean_forget) if result.mean_forget > 0 else theory.LOG10_FLOOR
        st.markdown(t(f"lab.lstm_{result.regime}", forget=result.mean_forget, total=total, T=seq_len,
                      carousel=max(carousel, theory.LOG10_FLOOR)))


def notes(result: theory.LabResult, seq_len: int) -> str:
    """The result's caveats (sampling, sketching, overflow, clamping) in the reader's language."""
    parts = []
    if len(result.t) < seq_len + 1:
        parts.append(t("lab.note_sampled", n=len(result.t), total=seq_len + 1))
    if result.sketched_from is not None:
        parts.append(t("lab.note_sketched", k=result.sketched_from, rows=theory.SKETCH_ROWS))
    if result.overflow_step is not None:
        parts.append(t("lab.note_overflow", step=result.overflow_step))
    curves = [result.log10_norm, result.log10_reference] + ([result.log10_norm_h] if result.cell == "lstm" else [])
    if any((c <= theory.LOG10_FLOOR).any() for c in curves):
        parts.append(t("lab.note_clamped"))
    return " · ".join(parts)


def figures(result: theory.LabResult, seq_len: int) -> None:
    L, lstm = fig_labels(), result.cell == "lstm"
    fig = figs.gradient_norms(result, labels=L, title=t("lab.fig_norms_title_lstm" if lstm else "lab.fig_norms_title"))
    caveats = notes(result, seq_len)
    if caveats:
        fig = note(fig, caveats)
        fig.update_layout(margin=dict(b=90))
    st.plotly_chart(fig, width="stretch")
    left, right = st.columns(2)
    which = "lstm" if lstm else "rnn"
    left.plotly_chart(figs.singular_values(result, labels=L, title=t(f"lab.fig_sv_title_{which}")), width="stretch")
    right.plotly_chart(figs.eigenvalues(result, labels=L, title=t(f"lab.fig_ev_title_{which}")), width="stretch")
    if not lstm:  # the conditions the regime above was judged by
        st.caption(t("lab.numbers", sigma=result.sigma_max, gamma=result.gamma, radius=result.spectral_radius))
        st.info(t("lab.pascanu"), icon=":material/menu_book:")


def train_this(cell: str, settings: dict) -> None:
    """The button that opens the Train page with this setting on the adding task."""
    try:
        options = learn.train_options(cell, settings["hidden"], settings["seq_len"], settings["rho"],
                                      settings.get("activation", "tanh"), settings.get("forget_bias", 1.0))
    except ValueError:
        st.button(t("lab.train_this"), disabled=True, icon=":material/model_training:")
        st.caption(t("lab.train_no_activation"))
        return
    if st.button(t("lab.train_this"), icon=":material/model_training:", help=t("lab.train_this_help")):
        load_options(options)
    extra = t("lab.train_gaussian") if settings.get("init") == "gaussian" else ""
    st.caption(t("lab.train_caption", cell=cell.upper(), hidden=settings["hidden"], seq_len=settings["seq_len"],
                 rho=settings["rho"], extra=extra))


# --- the cliff --------------------------------------------------------------------------------------


@st.cache_data(max_entries=64, show_spinner=False)
def cliff_data(w0: float, b0: float, lr: float, steps: int, clip: float) -> dict:
    """Both descent paths from (w0, b0) and the loss surface on a window that holds them."""
    plain, plain_loss = theory.cliff_descent(w0, b0, lr, steps, None)
    clipped, clipped_loss = theory.cliff_descent(w0, b0, lr, steps, clip)
    ws, bs = learn.cliff_axes([plain, clipped])
    zw, zb = learn.cliff_zoom((w0, b0))
    dw, db = theory.cliff_grad(w0, b0)
    return dict(paths={"plain": plain, "clipped": clipped}, losses={"plain": plain_loss, "clipped": clipped_loss},
                ws=ws, bs=bs, surface=theory.cliff_loss(ws[None, :], bs[:, None]), grad=float(np.hypot(dw, db)),
                zoom=(zw, zb, theory.cliff_loss(zw[None, :], zb[:, None])))


def _to_wall() -> None:
    st.session_state["cliff_b"] = round(learn.cliff_wall(st.session_state.get("cliff_w", theory.CLIFF_START[0])), 3)


def cliff_controls() -> dict:
    w_lo, w_hi = theory.CLIFF_GRID["w"]
    b_lo, b_hi = theory.CLIFF_GRID["b"]
    w0 = st.slider(t("lab.w0"), w_lo, w_hi, theory.CLIFF_START[0], 0.05, key="cliff_w", bind="query-params")
    b0 = st.slider(t("lab.b0"), b_lo, b_hi, theory.CLIFF_START[1], 0.001, format="%.3f", key="cliff_b",
                   bind="query-params", help=t("lab.b0_help"))
    st.button(t("lab.to_wall"), on_click=_to_wall, help=t("lab.to_wall_help"), icon=":material/vertical_align_center:")
    lr = _slider("cliff_lr", CLIFF_LR, theory.CLIFF_LR, "lab.lr")
    steps = _slider("cliff_steps", CLIFF_STEPS, theory.CLIFF_DESCENT_STEPS, "lab.steps")
    clipping = st.toggle(t("lab.clip"), value=True, key="cliff_clip", bind="query-params", help=t("lab.clip_help"))
    return dict(w0=w0, b0=b0, lr=lr, steps=steps, clip=theory.CLIFF_CLIP, clipping=clipping)


def cliff_view(c: dict) -> None:
    data = cliff_data(c["w0"], c["b0"], c["lr"], c["steps"], c["clip"])
    shown = ("plain", "clipped") if c["clipping"] else ("plain",)
    L = fig_labels()
    st.plotly_chart(figs.cliff_surface(data["ws"], data["bs"], data["surface"], {k: data["paths"][k] for k in shown},
                                       start=(c["w0"], c["b0"]), labels=L, title=t("lab.fig_cliff_title")),
                    width="stretch")
    loss = data["losses"]
    st.markdown(t("lab.cliff_start", loss=loss["plain"][0], grad=data["grad"], jump=c["lr"] * data["grad"],
                  clipped=c["lr"] * min(data["grad"], c["clip"]), clip=c["clip"]))
    if c["clipping"]:
        st.markdown(t("lab.cliff_result", steps=c["steps"], plain=loss["plain"][-1], clipped=loss["clipped"][-1]))
    close, along = st.columns(2)
    close.plotly_chart(figs.cliff_surface(*data["zoom"], {k: data["paths"][k] for k in shown}, start=(c["w0"], c["b0"]),
                                          labels=L, title=t("lab.fig_cliff_zoom_title"), height=400, legend=False),
                       width="stretch")
    along.plotly_chart(figs.cliff_losses({k: loss[k] for k in shown}, labels=L, title=t("lab.fig_cliff_loss_title"),
                                         height=400), width="stretch")
