"""Gradients through time: ‖∂L/∂h_t‖ against t with the vanilla-RNN bound, the same over training as a
heatmap, and every parameter's gradient norm with clipping and non-finite stops. A bidirectional run shows
both directions' curves on one chart (the backward one dashed); what bound applies comes from the family."""
import numpy as np
import streamlit as st

from rnnviz.figures import gradients as figs
from rnnviz.figures.common import log_range, sci
from rnnviz.theory.jacobians import GAMMA
from rnnviz.ui import inspect
from rnnviz.ui.i18n import fig_labels, t
from rnnviz.ui.live import live

trainer = inspect.open_page("gradients")
L = fig_labels("inspect.fig")
model = trainer.cfg.model
family = inspect.family_of(trainer.cfg.model)


def draw():
    snap = trainer.snapshot()
    if snap.status.reason == "non_finite":
        clip = trainer.cfg.train.clip
        st.error(t("gradients.nonfinite", step=snap.step, lr=snap.lr, clip=f"{clip:g}" if clip > 0 else t("gradients.clip_off")))
    view = inspect.controls(trainer, example=False)
    if view is None:
        return
    kinds = [k for k in family.states if "grad." + view.name(k) in view.trace]
    names = {k: "grad." + view.name(k) for k in kinds}
    probes = view.snap.probes
    curves, dashed = through_time(view, kinds)
    rate = None
    if family.spectral_bound:
        gamma = GAMMA[model.nonlinearity]
        rate = view.summary()[f"sigma_max.{view.prefix}{view.layer}{view.direction}"] * gamma
        st.markdown(t("gradients.bound_rnn", sigma=sci(rate / gamma), gamma=gamma, rate=sci(rate))
                    + " " + t("gradients.bound_below" if rate < 1 else "gradients.bound_above"))
        rate = rate if family.features == 1 else None  # the bound runs back from the end: one direction's only
    else:
        st.markdown(t(f"gradients.bound_{family.cell}"))
    if family.features > 1:
        st.caption(t("gradients.directions_caption"))
    y_range = log_range([p[name] for p in probes for name in curve_names(view, kinds)])
    states = ", ".join(f"‖∂L/∂{k}_t‖" for k in kinds)
    inspect.show("grad-curve", (len(probes), *view.key), lambda: figs.gradient_through_time(
        curves, rate=rate, y_range=y_range, dashed=dashed, labels=L,
        title=t("gradients.curve_title", step=view.step, states=states)),
        data=lambda: curves)

    st.subheader(t("gradients.heat_title"))
    st.markdown(t("gradients.heat_intro"))
    for kind, col in zip(kinds, st.columns(len(kinds))):
        with col:
            norms = np.stack([p[names[kind]] for p in probes])  # (P, T)
            inspect.show(f"grad-heat-{kind}", (len(probes), view.prefix, view.layer), lambda: figs.gradient_heatmap(
                [p["step"] for p in probes], norms, value_name=f"log₁₀ ‖∂L/∂{kind}_t‖", labels=L,
                title=t("gradients.heat_figure", state=kind)), data=lambda kind=kind, norms=norms: {f"{names[kind]}[probe, t]": norms})

    st.subheader(t("gradients.params_title"))
    h = snap.history
    stopped = snap.step if snap.status.reason == "non_finite" else None
    inspect.show("grad-params", (snap.step,), lambda: figs.parameter_gradients(
        h["step"], h["param_norms"], clipped=h["clipped"], grad_norm=h["grad_norm"], clip=trainer.cfg.train.clip,
        stopped_at=stopped, labels=L), data=lambda: {"step": h["step"], "grad_norm": h["grad_norm"], **h["param_norms"]})


def curve_names(view, kinds) -> list[str]:
    """The summaries of ‖∂L/∂h_t‖ (‖∂L/∂c_t‖) drawn on the curve: every state kind, in every direction."""
    return ["grad." + view.name(k, direction=d) for d in family.directions for k in kinds]


def through_time(view, kinds) -> tuple[dict, set]:
    """{legend name: (T,) batch-mean ‖∂L/∂h_t‖ (‖∂L/∂c_t‖)} for every state kind and direction, and the names of the
    backward direction's curves (dashed, so the two directions differ without colour)."""
    curves, dashed = {}, set()
    for direction in family.directions:
        arrow = f" {inspect.direction_label(direction)}" if family.features > 1 else ""
        for k in kinds:
            name = f"‖∂L/∂{k}_t‖{arrow}"
            curves[name] = view.summary()["grad." + view.name(k, direction=direction)]
            if direction:
                dashed.add(name)
    return curves, dashed


live(draw)
