"""Shared controls of the Look-inside pages: the run to show, and which probe step, example and layer.

Pages call `current_run()` (None, after a message pointing to the Train page, when the tab has no run),
`lacks(...)` (a message saying what to pick instead when the run has no such data), and inside their
live fragment `controls(trainer)`, which draws the step slider and pickers and returns a `View`.
Pages ask the run's family (rnnviz.families) what it records, never its cell name: a View names Trace
arrays with `families.trace_name`, for the picked stack, layer and reading direction.
The step slider lists the steps whose full Traces the trainer keeps; it follows the newest probe
while the user leaves it at the newest one, and stays where the user put it otherwise.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np
import streamlit as st
import torch

from ..families import ModelFamily, family_of, trace_name
from ..figures.common import describe_inputs
from ..probe import Trace
from ..tasks import Batch
from ..background import BackgroundRun
from ..train import Snapshot
from .charts import chart
from .i18n import lang, t
from .layout import TRAIN_PAGE
from .state import tab

STEP_KEY, FOLLOW_KEY, EXAMPLE_KEY, STACK_KEY = "inspect_step", "inspect_follow", "inspect_example", "inspect_stack"
DIRECTION_KEY = "inspect_direction"
CACHE_KEY, RUN_KEY = "inspect_figures", "inspect_run"
CACHE_SIZE = 24  # figures kept per tab; a few MB at most


@dataclass
class View:
    """What the user picked, and the data to draw it from."""

    trainer: BackgroundRun
    snap: Snapshot
    trace: Trace  # the kept Trace nearest to the picked step
    example: int  # index into the probe batch
    prefix: str  # "" for the (encoder) stack, "dec." for an encoder-decoder's decoder
    layer: int
    direction: str = ""  # "" forward, ".reverse" the backward direction of a bidirectional layer

    @property
    def step(self) -> int:
        return self.trace.step

    @property
    def family(self) -> ModelFamily:
        return family_of(self.trainer.cfg.model)

    @property
    def key(self) -> tuple:
        """What the picked data depends on, for show()'s cache."""
        return self.step, self.example, self.prefix, self.layer, self.direction

    def name(self, kind: str, gate: str = "", direction: str | None = None) -> str:
        """The Trace name for this stack, layer and direction (default: the picked one): name("h") -> "h.0",
        name("gate", "f") -> "dec.gate.0.f", name("h", direction=".reverse") -> "h.0.reverse"."""
        return trace_name(kind, self.layer, gate, self.prefix, self.direction if direction is None else direction)

    def array(self, kind: str, gate: str = "", direction: str | None = None) -> np.ndarray | None:
        """(T, H) for the picked example, or None when the Trace has no such array."""
        name = self.name(kind, gate, direction)
        return self.trace[name][self.example] if name in self.trace else None

    def summary(self, step: int | None = None) -> dict:
        """The probe summary at step (default: the picked one), or the nearest one recorded."""
        step = self.step if step is None else step
        return min(self.snap.probes, key=lambda p: abs(p["step"] - step))

    def inputs(self) -> list[str]:
        """What the stack reads at each step, as short texts: the encoder its input, the decoder the
        output it is asked to write (its own input is that output one step late)."""
        task = self.trainer.task
        if self.prefix == "dec.":
            return ["→ " + s for s in describe_inputs(self.trace["y"][self.example], task.out_vocab)]
        return describe_inputs(self.trace["x"][self.example], task.in_vocab)

    def tokens(self) -> list[str] | None:
        """The raw input tokens of the picked example (token tasks only), for the coloured-text view."""
        vocab, x = self.trainer.task.in_vocab, self.trace["x"][self.example]
        return [vocab[int(i)] for i in x] if vocab is not None and x.ndim == 1 else None


def open_page(stem: str, needs: str | None = None) -> BackgroundRun:
    """A Look-inside page's title and introduction, and this tab's run; the page stops here, after saying
    why, when there is no run or the run has no `needs` ("gates" or "attention")."""
    st.title(t(f"nav.{stem}"))
    st.markdown(t(f"{stem}.intro"))
    trainer = current_run()
    if trainer is None or (needs is not None and lacks(trainer, needs)):
        st.stop()
    return trainer


def current_run() -> BackgroundRun | None:
    """This tab's run, or None after saying there is none yet and linking to the Train page."""
    trainer = tab().trainer
    if trainer is None:
        st.info(t("inspect.no_run"))
        st.page_link(TRAIN_PAGE, label=t("inspect.to_train"), icon=":material/model_training:")
    return trainer


def lacks(trainer: BackgroundRun, what: str) -> bool:
    """True, after explaining what to pick instead, when the run has no `what` ("gates" or "attention")."""
    model, family = trainer.cfg.model, family_of(trainer.cfg.model)
    missing = {"gates": not family.gates, "attention": model.attention == "none" and not family.self_attention}[what]
    if missing:
        st.info(t(f"inspect.no_{what}", cell=t(f"inspect.family.{family.cell}"), task=trainer.cfg.task.name))
        st.page_link(TRAIN_PAGE, label=t("inspect.to_train"), icon=":material/model_training:")
    return missing


def chart_key(slot: str) -> str:
    """The widget key of show()'s chart named slot, under which a clickable chart's selection is kept."""
    return f"inside-{slot}"


def show(slot: str, key: tuple, build: Callable, data: Callable | None = None,
         on_click: Callable[[], None] | None = None) -> None:
    """Draw build()'s figure in the chart named slot (with a CSV of data() under it, and on_click called when
    its points are clicked: charts.chart), building it again only when key (or the run, or the language)
    changes. The pages redraw twice a second while training and most redraws find no new probe: this keeps
    them cheap, and an unchanged figure costs no bytes either (Streamlit re-sends it by reference)."""
    trainer = tab().trainer
    cache = st.session_state.get(CACHE_KEY)
    if cache is None or cache["run"]() is not trainer:
        cache = st.session_state[CACHE_KEY] = {"run": weakref.ref(trainer), "figures": {}}
    figures, full = cache["figures"], (lang(), slot, *key)
    if full not in figures:
        if len(figures) >= CACHE_SIZE:
            figures.clear()
        figures[full] = build()
    chart(figures[full], key=chart_key(slot), data=data, on_click=on_click)


def _follow_choice(latest: int) -> None:
    st.session_state[FOLLOW_KEY] = st.session_state[STEP_KEY] == latest


def step_slider(trainer: BackgroundRun, snap: Snapshot) -> Trace | None:
    """A slider over the kept probe steps; returns the picked Trace (None before the first probe)."""
    steps = snap.trace_steps
    if not steps:
        st.caption(t("inspect.waiting"))
        return None
    seen = st.session_state.get(RUN_KEY)
    if seen is None or seen() is not trainer:  # a new run starts at its newest probe
        st.session_state[RUN_KEY] = weakref.ref(trainer)
        st.session_state[FOLLOW_KEY] = True
    picked = st.session_state.get(STEP_KEY)
    if st.session_state.get(FOLLOW_KEY, True) or picked is None:
        st.session_state[STEP_KEY] = steps[-1]
    elif picked not in steps:  # thinned away: move to the nearest kept step
        st.session_state[STEP_KEY] = min(steps, key=lambda s: abs(s - picked))
    if len(steps) == 1:
        st.caption(t("inspect.one_probe", step=steps[0]))
        return trainer.trace_at(steps[0])
    step = st.select_slider(t("inspect.step"), options=steps, key=STEP_KEY, on_change=_follow_choice,
                            args=(steps[-1],), help=t("inspect.step_help"))
    return trainer.trace_at(step)


def controls(trainer: BackgroundRun, example: bool = True, layer: bool = True) -> View | None:
    """The step slider, example and layer pickers in one row (example and layer greyed out where the
    page does not use them), and a direction picker beside the layer where the family reads both ways;
    None (with a caption) before the first probe."""
    snap = trainer.snapshot()
    directions = family_of(trainer.cfg.model).directions
    two_way = layer and len(directions) > 1
    left, mid, right, *beside = st.columns([4, 1, 1, 1.3] if two_way else [4, 1, 1])
    with left:
        trace = step_slider(trainer, snap)
    if trace is None:
        return None
    stacks = [(prefix, n) for prefix in ("", "dec.") for n in range(trace.layers(prefix))]  # (prefix, layer)
    B = trace["x"].shape[0]
    with mid:
        chosen = st.selectbox(t("inspect.example"), range(B), format_func=lambda i: f"#{i + 1}", key=EXAMPLE_KEY,
                              disabled=not example or B == 1, help=t("inspect.example_help")) or 0
    with right:
        seq2seq = len(stacks) > trace.layers()
        prefix, n = st.selectbox(t("inspect.layer"), stacks, format_func=lambda s: _stack_name(s, seq2seq), key=STACK_KEY,
                                 disabled=not layer or len(stacks) == 1) or stacks[0]
    direction = ""
    if two_way:
        with beside[0]:
            direction = st.selectbox(t("inspect.direction"), directions, key=DIRECTION_KEY, help=t("inspect.direction_help"),
                                     format_func=direction_label) or ""
    return View(trainer, snap, trace, min(chosen, B - 1), prefix, n, direction)


def direction_label(direction: str) -> str:
    """"forward →" or "← backward" (in the user's language)."""
    return t("inspect.direction_backward" if direction else "inspect.direction_forward")


def _stack_name(stack: tuple[str, int], seq2seq: bool) -> str:
    prefix, layer = stack
    key = "inspect.decoder_layer" if prefix else "inspect.encoder_layer" if seq2seq else "inspect.layer_n"
    return t(key, layer=layer)


def state_range(trainer: BackgroundRun, name: str, example: int, bounded: bool, unit: int | None = None) -> tuple[float, float]:
    """A colour range for a state that stays put while the user scrubs: ±1 for tanh-bounded states,
    else ± the largest 99th percentile of |value| over every kept Trace: of the picked example's units,
    or of one unit over all examples (a cell-state counter may range far wider or narrower than the rest)."""
    if bounded:
        return -1.0, 1.0
    pick = (example,) if unit is None else (slice(None), slice(None), unit)
    highs = [np.percentile(np.abs(tr[name][pick]), 99) for s in trainer.snapshot().trace_steps
             if (tr := trainer.trace_at(s)) is not None and name in tr]
    top = float(max(highs, default=1.0)) or 1.0
    return -top, top


def signals(view: View) -> dict[str, np.ndarray]:
    """Signals to sort units by or search units for, id -> (B, T): the time step, each numeric input
    feature, and for character tasks the text features of rnnviz.features."""
    x = view.trace["x"]
    B, T = x.shape[:2]
    out = {"time": np.broadcast_to(np.arange(T, dtype=np.float32), (B, T))}
    if view.prefix:  # the decoder's steps are not the input's steps
        return out
    if x.ndim == 3:
        out.update({f"input_{k}": x[..., k] for k in range(x.shape[2])})
    batch = Batch(torch.as_tensor(x), torch.as_tensor(view.trace["y"]))
    out.update(view.trainer.task.signals(batch))  # what the task's inputs mean, e.g. charlm's brackets
    return out


def signal_label(signal_id: str) -> str:
    kind, _, k = signal_id.partition("_")
    return t("inspect.signal.input", k=k) if kind == "input" and k.isdigit() else t(f"inspect.signal.{signal_id}")
