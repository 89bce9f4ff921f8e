"""Gradients through time: ‖∂L/∂h_t‖ against t with the vanilla-RNN bound, the same over training as a
heatmap, and every parameter's gradient norm with clipping and non-finite stops."""
import numpy as np
import streamlit as st

from rnnviz.figures import inside
from rnnviz.theory import GAMMA
from rnnviz.ui import inspect
from rnnviz.ui.i18n import t
from rnnviz.ui.live import live

trainer = inspect.open_page("gradients")
L = inspect.fig_labels()
model = trainer.cfg.model


def draw():
    snap = trainer.snapshot()
    if snap.status.reason == "non_finite":
        clip = trainer.cfg.train.clip
        st.error(t("gradients.nonfinite", step=snap.step, lr=snap.lr, clip=f"{clip:g}" if clip > 0 else t("gradients.clip_off")))
    view = inspect.controls(trainer, example=False)
    if view is None:
        return
    kinds = [k for k in ("h", "c") if "grad." + view.name(k) in view.trace]
    names = {k: "grad." + view.name(k) for k in kinds}
    probes = view.snap.probes
    curves = {f"‖∂L/∂{k}_t‖": view.summary()[name] for k, name in names.items()}  # batch means, (T,)
    rate = None
    if model.cell == "rnn":
        rate = view.summary()[f"sigma_max.{view.prefix}{view.layer}"] * GAMMA[model.nonlinearity]
        st.markdown(t("gradients.bound_rnn", sigma=rate / GAMMA[model.nonlinearity], gamma=GAMMA[model.nonlinearity], rate=rate)
                    + " " + t("gradients.bound_below" if rate < 1 else "gradients.bound_above"))
    else:
        st.markdown(t(f"gradients.bound_{model.cell}"))
    y_range = inside.log_range([p[name] for p in probes for name in names.values()])
    inspect.show("grad-curve", (len(probes), *view.key), lambda: inside.gradient_through_time(
        curves, rate=rate, y_range=y_range, labels=L, title=t("gradients.curve_title", step=view.step)),
        data=lambda: curves)

    st.subheader(t("gradients.heat_title"))
    st.markdown(t("gradients.heat_intro"))
    for kind, col in zip(kinds, st.columns(len(kinds))):
        with col:
            norms = np.stack([p[names[kind]] for p in probes])  # (P, T)
            inspect.show(f"grad-heat-{kind}", (len(probes), view.prefix, view.layer), lambda: inside.gradient_heatmap(
                [p["step"] for p in probes], norms, value_name=f"log₁₀ ‖∂L/∂{kind}_t‖", labels=L,
                title=t("gradients.heat_figure", state=kind)), data=lambda kind=kind, norms=norms: {f"{names[kind]}[probe, t]": norms})

    st.subheader(t("gradients.params_title"))
    h = snap.history
    stopped = snap.step if snap.status.reason == "non_finite" else None
    inspect.show("grad-params", (snap.step,), lambda: inside.parameter_gradients(
        h["step"], h["param_norms"], clipped=h["clipped"], grad_norm=h["grad_norm"], clip=trainer.cfg.train.clip,
        stopped_at=stopped, labels=L), data=lambda: {"step": h["step"], "grad_norm": h["grad_norm"], **h["param_norms"]})


live(draw)
