"""The gradient lab's cliff view: where gradient descent starts on Pascanu's cliff, and what a clipped and an
unclipped step do from there (rnnviz.theory.cliff). Settings are in the page address, as for the lab's other views."""
from __future__ import annotations

import streamlit as st

from ..figures import cliff as figs
from ..theory import cliff
from .charts import presented
from .i18n import fig_labels, t
from .lab import slider

LR_OPTIONS = (0.01, 0.03, 0.1, 0.3)
STEP_OPTIONS = (20, 50, 100, 200)


@st.cache_data(max_entries=64, show_spinner=False)
def scene(w0: float, b0: float, lr: float, steps: int, clip: float) -> dict:
    return cliff.scene(w0, b0, lr, steps, clip)


def _to_wall() -> None:
    st.session_state["cliff_b"] = round(cliff.wall(st.session_state.get("cliff_w", cliff.START[0])), 3)


def controls() -> dict:
    w_lo, w_hi = cliff.GRID["w"]
    b_lo, b_hi = cliff.GRID["b"]
    w0 = st.slider(t("lab.w0"), w_lo, w_hi, cliff.START[0], 0.05, key="cliff_w", bind="query-params")
    b0 = st.slider(t("lab.b0"), b_lo, b_hi, cliff.START[1], 0.001, format="%.3f", key="cliff_b",
                   bind="query-params", help=t("lab.b0_help"))
    st.button(t("lab.to_wall"), on_click=_to_wall, help=t("lab.to_wall_help"), icon=":material/vertical_align_center:")
    lr = slider("cliff_lr", LR_OPTIONS, cliff.LR, "lab.lr")
    steps = slider("cliff_steps", STEP_OPTIONS, cliff.DESCENT_STEPS, "lab.steps")
    clipping = st.toggle(t("lab.clip"), value=True, key="cliff_clip", bind="query-params", help=t("lab.clip_help"))
    return dict(w0=w0, b0=b0, lr=lr, steps=steps, clip=cliff.CLIP, clipping=clipping)


def view(c: dict) -> None:
    data = scene(c["w0"], c["b0"], c["lr"], c["steps"], c["clip"])
    shown = ("plain", "clipped") if c["clipping"] else ("plain",)
    L = fig_labels("lab.fig")
    st.plotly_chart(presented(figs.loss_map(data["ws"], data["bs"], data["surface"], {k: data["paths"][k] for k in shown},
                                  start=(c["w0"], c["b0"]), labels=L, title=t("lab.fig_cliff_title"))),
                    width="stretch")
    loss = data["losses"]
    st.markdown(t("lab.cliff_start", loss=loss["plain"][0], grad=data["grad"], jump=c["lr"] * data["grad"],
                  clipped=c["lr"] * min(data["grad"], c["clip"]), clip=c["clip"]))
    if c["clipping"]:
        st.markdown(t("lab.cliff_result", steps=c["steps"], plain=loss["plain"][-1], clipped=loss["clipped"][-1]))
    close, along = st.columns(2)
    close.plotly_chart(presented(figs.loss_map(*data["zoom"], {k: data["paths"][k] for k in shown}, start=(c["w0"], c["b0"]),
                                     labels=L, title=t("lab.fig_cliff_zoom_title"), height=400, legend=False)),
                       width="stretch")
    along.plotly_chart(presented(figs.loss_along_paths({k: loss[k] for k in shown}, labels=L, title=t("lab.fig_cliff_loss_title"),
                                             height=400)), width="stretch")
