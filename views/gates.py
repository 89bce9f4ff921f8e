"""Gates: LSTM i, f, g, o or GRU r, z, n over time, their saturation over training, and the forget gate
next to the gradient it lets through. The gates come from the run's family: a family without gates
(vanilla RNN, transformer) gets a message saying what to train instead."""
import numpy as np
import streamlit as st

from rnnviz.features import order_units
from rnnviz.figures import gates as figs
from rnnviz.figures.common import DIVERGING, SEQUENTIAL, spread_steps, time_unit_heatmap
from rnnviz.ui import inspect
from rnnviz.ui.i18n import fig_labels, t
from rnnviz.ui.live import live

trainer = inspect.open_page("gates", needs="gates")
L = fig_labels("inspect.fig")
family = inspect.family_of(trainer.cfg.model)
gates = family.gates  # ("i", "f", "g", "o") or ("r", "z", "n")
TANH_GATES = ("g", "n")  # the candidates, in [-1, 1]; every other gate is a sigmoid, in [0, 1]
CARRY_GATES = ("f", "z")  # the gate that keeps the old state: f c_{t-1}, z h_{t-1}
sigmoid = [g for g in gates if g not in TANH_GATES]
carry = next(g for g in gates if g in CARRY_GATES)
GATE_UNITS = 64  # four heatmaps on one page: half the hidden-state page's rows keeps each refresh small


def draw():
    view = inspect.controls(trainer)
    if view is None:
        return
    states = view.trace[view.name("h")]  # (B, T, H)
    order = order_units(states.reshape(-1, states.shape[-1]))  # the hidden-state page's default order
    st.subheader(t("gates.heat_title", step=view.step, example=view.example + 1))
    columns = st.columns(2)
    for k, gate in enumerate(gates):
        zrange, scale = ((0.0, 1.0), SEQUENTIAL) if gate in sigmoid else ((-1.0, 1.0), DIVERGING)
        with columns[k % 2]:
            inspect.show(f"gate-{gate}", view.key, lambda: time_unit_heatmap(
                view.array("gate", gate), inputs=view.inputs(), order=order, zrange=zrange, colorscale=scale,
                value_name=gate, unit_title=t("gates.units_by_variance"), title=t(f"gates.name_{gate}"),
                max_units=GATE_UNITS, height=360, labels=L), data=lambda gate=gate: {f"{gate}[t, unit]": view.array("gate", gate)})

    st.subheader(t("gates.carry_title", gate=carry))
    st.markdown(t(f"gates.carry_{carry}"))
    grads = {f"‖∂L/∂{kind}_t‖": np.linalg.norm(g, axis=-1)  # (T,) for the picked example
             for kind in reversed(family.states) if (g := view.array("grad." + kind)) is not None}
    inspect.show("gate-carry", view.key, lambda: figs.gate_and_gradient(
        view.array("gate", carry), grads, gate_name=carry, labels=L,
        title=t("gates.carry_figure", step=view.step, example=view.example + 1)),
        data=lambda: {f"mean {carry}": view.array("gate", carry).mean(axis=1), **grads})

    st.subheader(t("gates.saturation_title"))
    st.markdown(t("gates.saturation_intro"))
    shown = spread_steps([p["step"] for p in view.snap.probes], view.step, n=3)
    sat = {g: [(s, view.summary(s)["sat." + view.name("gate", g)]) for s in shown] for g in sigmoid}
    inspect.show("gate-sat", (*shown, view.prefix, view.layer), lambda: figs.saturation_scatter(sat, labels=L),
                 data=lambda: {f"{g} {side} step {s}": v[k] for g in sat for s, v in sat[g] for k, side in enumerate(("<0.1", ">0.9"))})
    probes = view.snap.probes
    history = {g: np.stack([p["sat." + view.name("gate", g)] for p in probes]) for g in sigmoid}
    inspect.show("gate-sat-history", (len(probes), view.prefix, view.layer), lambda: figs.saturation_over_training(
        [p["step"] for p in probes], history, labels=L, title=t("gates.saturation_history")))


live(draw)
