"""The Compare page's runs: the same task, seed and budget for several cells, trained side by side.

Each cell gets its own Trainer in its own thread (within the server-wide cap), probing exactly
every `probe_every` steps so that gradient curves can be compared at matching steps.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from ..config import RunConfig
from ..figures import training as figs
from ..presets import PRESETS
from ..train import Trainer
from ..transformer import INPUT_STREAM
from .lifecycle import app_run
from .charts import chart
from .fields import CELL_CHOICES
from .i18n import fig_labels, plain, t
from .layout import page_file
from .run_view import stop_reason
from .live import live
from .presenter import COMPACT_STATUS
from .state import release, tab, train_in_background

COMPARE_PAGE = page_file("compare")
SOURCE, CELLS_KEY = "cmp_source", "cmp_cells"  # the page's address parameters (and widget keys)
CURRENT = "current"  # the source that is the Train page's run
# The cells Compare offers, as (config cell, nonlinearity). Its own list, not the Train page's: the config names
# are all Compare needs, and the transformer trains here whether or not the Train page offers it.
CELLS = CELL_CHOICES  # the Train page's cell codes: a Compare link and a Train link name cells alike
DEFAULT_CELLS = ("RNN", "LSTM", "GRU")
COLOURS = {label: figs.PALETTE[label.lower()] for label in CELLS}  # with a dash each (figs.DASHES)
TRANSFORMER_HEADS = 2


def choice_of(cell: str) -> str:
    """The Compare label of a config cell name ("rnn" -> "RNN", "transformer" -> "Transformer")."""
    return next(label for label, (name, nonlinearity) in CELLS.items() if name == cell and nonlinearity == "tanh")


def cell_config(base: RunConfig, choice: str) -> RunConfig:
    """base with its cell replaced by one of CELLS. The transformer drops what only recurrent cells have
    (a backward direction, attention over hidden states) and gets 2 heads where the hidden size splits in two."""
    cell, nonlinearity = CELLS[choice]
    if cell != "transformer":
        return base.replace(cell=cell, nonlinearity=nonlinearity)
    heads = TRANSFORMER_HEADS if base.model.hidden % TRANSFORMER_HEADS == 0 else 1
    return base.replace(cell=cell, bidirectional=False, attention="none", heads=heads)


def start(base: RunConfig, cells: list[str]) -> None:
    """Replace this tab's comparison with one run per cell, all started now. Raises ValueError, and keeps the
    comparison as it was, when a cell cannot run these settings (the transformer has no decoder, for one)."""
    state = tab()
    trainers = {cell: app_run(Trainer(cell_config(base, cell), probe_fraction=1.0)) for cell in cells}
    for trainer in state.compare.values():
        release(trainer)
    state.compare = trainers
    for trainer in state.compare.values():
        train_in_background(trainer)


def start_compare(preset_key: str) -> None:
    """Train a preset's `compare` cells side by side and open the Compare page showing that preset.
    Call it from a button's `if`, not from a callback (it switches pages)."""
    preset = PRESETS[preset_key]
    cells = [choice_of(cell) for cell in preset.compare]
    start(preset.config(), cells)
    # Explicit parameters: a bare switch_page clears the address, which Streamlit refuses while the calling page has
    # widgets bound to it. The cells as one list: the multi-select reads repeated parameters, and a list of pairs
    # would keep only the last one.
    st.switch_page(COMPARE_PAGE, query_params={SOURCE: preset_key, CELLS_KEY: cells})


def source_picker() -> str:
    """The Experiment box: a preset, or the Train page's run, by its title. The box is not bound to the address,
    where a bound box would write the title it shows (in the reader's language); the address keeps the key."""
    sources = [CURRENT, *PRESETS]
    if SOURCE not in st.session_state:  # arriving (from a link, a lesson): take the source from the address
        asked = st.query_params.get(SOURCE)
        st.session_state[SOURCE] = asked if asked in sources else "vanishing"
    source = st.selectbox(t("compare.source"), sources, key=SOURCE, on_change=_use_preset_cells,
                          format_func=lambda k: t("compare.source_current_title") if k == CURRENT else t(f"presets.{k}.title"))
    st.query_params[SOURCE] = source
    return source


def _use_preset_cells() -> None:
    """A new source brings its own cells."""
    source = st.session_state[SOURCE]
    st.session_state[CELLS_KEY] = [choice_of(c) for c in PRESETS[source].compare] if source in PRESETS else list(DEFAULT_CELLS)


def buttons() -> None:
    state = tab()
    runs = list(state.compare.values())
    running = [r for r in runs if r.is_alive() and r.status.active]
    paused = [r for r in runs if r.status.kind == "paused"]
    left, middle, right = st.columns(3)
    if left.button(t("compare.pause"), icon=":material/pause:", disabled=not running, width="stretch"):
        for r in running:
            r.pause()
        st.rerun()
    if middle.button(t("compare.resume"), icon=":material/resume:", disabled=not paused, width="stretch"):
        for r in paused:
            r.resume()
        st.rerun()
    if right.button(t("compare.reset"), icon=":material/restart_alt:", disabled=not runs, width="stretch"):
        for r in runs:
            release(r)
        state.compare = {}
        st.rerun()


def live_view() -> None:
    live(_draw)


def _draw() -> None:
    runs = tab().compare
    if not runs:
        st.info(t("compare.none"), icon=":material/info:")
        return
    snaps = {cell: trainer.snapshot() for cell, trainer in runs.items()}
    cols = st.container(key=COMPACT_STATUS).columns(len(runs))
    for col, (cell, snap) in zip(cols, snaps.items()):
        loss = snap.history["loss"]
        recent = f"{figs.smoothed(loss)[-1]:.4g}" if len(loss) else "–"
        col.metric(cell, recent, help=t("compare.loss_help", steps=figs.SMOOTH_STEPS))
        rate = snap.steps_per_second
        progress = t("compare.progress", step=snap.step, total=snap.target_steps, rate=f"{rate:.0f}")
        if snap.status.kind == "running" and rate > 0:  # the time left at the current speed
            progress += t("compare.left", seconds=f"{(snap.target_steps - snap.step) / rate:.0f}")
        col.progress(min(1.0, snap.step / max(1, snap.target_steps)), text=progress)
        if snap.status.kind == "stopped":
            col.caption(plain(stop_reason(snap.status)))
    first = next(iter(runs.values()))
    loss_runs = {c: (s.history["step"], s.history["loss"]) for c, s in snaps.items()}
    labels = fig_labels("run.fig")
    chart(figs.compare_loss_figure(loss_runs, first.task.baseline_loss, labels=labels, title=t("compare.loss_title")),
          "compare_loss", lambda: _loss_columns(snaps))
    _gradient_view(snaps, {cell: trainer.cfg for cell, trainer in runs.items()}, labels, first.cfg.model.layers - 1)


def _common_probe_steps(snaps) -> list[int]:
    steps = None
    for snap in snaps.values():
        mine = {p["step"] for p in snap.probes}
        steps = mine if steps is None else steps & mine
    return sorted(steps or [])


def _gradient_view(snaps, cfgs: dict[str, RunConfig], labels: dict[str, str], last_layer: int) -> None:
    steps = _common_probe_steps(snaps)
    if not steps:
        return
    st.markdown(f"**{t('compare.grad_title')}**")
    st.caption(t("compare.grad_help"))
    step = steps[-1]
    if len(steps) > 1:
        following = st.toggle(t("compare.follow"), value=True, key="compare_follow")
        if not following:
            step = st.select_slider(t("compare.probe_step"), steps, value=steps[-1], key="compare_step")
    curves = {c: next(p[_grad_name(cfgs[c], last_layer)] for p in s.probes if p["step"] == step)
              for c, s in snaps.items()}
    chart(figs.compare_grad_figure(curves, labels=labels, title=t("compare.grad_at", step=step)),
          "compare_grad", lambda: {"t": np.arange(1, len(next(iter(curves.values()))) + 1), **curves})


def _grad_name(cfg: RunConfig, last_layer: int) -> str:
    """The probe summary Compare draws: dL/dh_t of the last layer's output, or for the transformer of the stream
    entering it. After a transformer's last layer only the position the head reads gets any gradient (zero
    elsewhere, nothing to draw on a log axis); entering it, every position is one attention step away."""
    if cfg.model.cell == "transformer":
        return f"grad.{INPUT_STREAM}" if last_layer == 0 else f"grad.h.{last_layer - 1}"
    return f"grad.h.{last_layer}"


def _loss_columns(snaps) -> dict[str, np.ndarray]:
    """Per-step losses of every run side by side (shorter runs padded with nan)."""
    n = max(len(s.history["loss"]) for s in snaps.values())
    out = {"step": np.arange(1, n + 1)}
    for cell, snap in snaps.items():
        column = np.full(n, np.nan, dtype=np.float32)
        column[:len(snap.history["loss"])] = snap.history["loss"]
        out[f"loss_{cell}"] = column
    return out
