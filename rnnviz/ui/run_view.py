"""The Train page's run: its buttons, and the live view of loss, gradients, speed and outputs.

Buttons sit outside the live fragment, so each press reruns the whole page and the fragment starts
or stops polling with the run. The view itself reads one Snapshot per refresh and draws from it.
"""
from __future__ import annotations

import math

import numpy as np
import streamlit as st
import torch

from ..background import BackgroundRun
from ..config import LIMITS
from ..figures import training as figs
from ..tasks import Batch
from ..tasks.charlm import sample_text
from ..status import Status
from ..train import Snapshot
from .charts import chart
from .i18n import fig_labels, plain, t
from .live import live
from .presenter import COMPACT_STATUS
from .state import new_run, release, tab, train_in_background

SAMPLE_CHARS = 400
# What the model does changes only at a probe (every 50 steps or more), so it has a fragment of its own that redraws
# every OUTPUT_REFRESH_S: each refresh of the curves then sends a third fewer elements (tools/capacity.py).
OUTPUT_REFRESH_S = 2.0


def run_buttons(config, error: str | None) -> None:
    """Train (a new run from the settings) / Pause / Resume / Reset, and the learning rate while it runs."""
    state = tab()
    trainer = state.trainer
    cols = st.columns([1.2, 1, 1, 1, 2.4], vertical_alignment="bottom")
    going = trainer is not None and not trainer.status.finished  # then a new run replaces it: the button says so
    train = (t("run.restart"), ":material/restart_alt:", t("run.restart_help", step=trainer.step)) if going else (
        t("run.train"), ":material/play_arrow:", t("run.train_help"))
    # A key: without one the button's identity is its label and help, which name the step, so a click would be lost
    if cols[0].button(train[0], type="primary", icon=train[1], disabled=config is None, width="stretch", help=train[2],
                      key="run_train"):
        try:
            new_run(config)
        except ValueError as err:  # e.g. a device this machine lacks; the current run is kept
            state.notice = t("run.bad_settings", error=plain(err))
        st.rerun()
    running = trainer is not None and trainer.status.active
    if cols[1].button(t("run.pause"), icon=":material/pause:", disabled=not running, width="stretch"):
        trainer.pause()
        st.rerun()
    can_resume = trainer is not None and trainer.status.kind == "paused"  # not a finished or failed run
    if cols[2].button(t("run.resume"), icon=":material/resume:", disabled=not can_resume, width="stretch",
                      help=t("run.resume_help")):
        _resume(trainer)
        st.rerun()
    if cols[3].button(t("run.reset"), icon=":material/restart_alt:", disabled=trainer is None, width="stretch",
                      help=t("run.reset_help")):
        release(trainer)
        state.trainer = None
        st.rerun()
    if trainer is not None and not trainer.status.finished:
        now = trainer.snapshot().lr
        with cols[4].container(horizontal=True, vertical_alignment="bottom"):
            lo, hi = LIMITS["lr"]
            lr = st.number_input(t("run.lr_now"), min_value=lo, max_value=hi, format="%g", step=1e-3,
                                 value=min(max(float(now), lo), hi),  # a restored bundle's may be anything
                                 key=f"lr_now_{id(trainer)}")
            if st.button(t("run.apply_lr"), disabled=math.isclose(lr, now)):
                trainer.set_lr(lr)
                st.toast(t("run.lr_set", lr=f"{lr:g}"))
    if error:
        st.error(t("run.bad_settings", error=plain(error)), icon=":material/error:")
    if state.notice:
        st.error(state.notice, icon=":material/error:")
        state.notice = None


def _resume(trainer: BackgroundRun) -> None:
    """Continue a paused run: in its thread, or (a restored one, saved mid-run) in a new one up to its target."""
    alive = trainer.is_alive()
    trainer.resume()
    if not alive:
        train_in_background(trainer, trainer.snapshot().target_steps)


def live_view() -> None:
    """Everything about the tab's run that changes while it trains: its numbers and curves redrawn twice a second,
    what the model does on the latest probe every OUTPUT_REFRESH_S."""
    live(_draw)
    live(_draw_output, interval=OUTPUT_REFRESH_S)


def _draw() -> None:
    trainer = tab().trainer
    if trainer is None:
        st.info(t("run.none"), icon=":material/info:")
        return
    snap = trainer.snapshot()
    hist = snap.history
    smooth = figs.smoothed(hist["loss"])  # (steps,): once a refresh, for the Loss number and the loss chart
    _status_line(trainer, snap, smooth)
    task = trainer.task
    L = fig_labels("run.fig")
    loss_col, grad_col = st.columns(2)
    with loss_col:
        chart(figs.loss_figure(hist["step"], hist["loss"], task.baseline_loss, labels=L, title=t("run.loss_title"),
                               smooth=smooth),
              "loss", lambda: {"step": hist["step"], "loss": hist["loss"]})
    with grad_col:
        chart(figs.grad_norm_figure(hist["step"], hist["grad_norm"], hist["clipped"], trainer.cfg.train.clip,
                                    title=t("run.grad_title"), labels=L),
              "grad_norm", lambda: {"step": hist["step"], "grad_norm": hist["grad_norm"],
                                    "clipped": hist["clipped"].astype(np.float32)})
    if task.loss_kind == "ce" and task.shows_accuracy:
        chart(figs.accuracy_figure(hist["step"], hist["accuracy"], task.reference_accuracies(),
                                   title=t("run.accuracy_title"), labels=L),
              "accuracy", lambda: {"step": hist["step"], "accuracy": hist["accuracy"]})


def _draw_output() -> None:
    trainer = tab().trainer
    if trainer is not None:
        _task_output(trainer, trainer.snapshot(), fig_labels("run.fig"))


def _status_line(trainer: BackgroundRun, snap: Snapshot, smooth) -> None:
    done = min(1.0, max(0.0, snap.step / max(1, snap.target_steps)))  # a restored bundle's step may be anything
    rate = snap.steps_per_second
    left = (snap.target_steps - snap.step) / rate if rate > 0 and not snap.status.finished else 0.0
    with st.container(key=COMPACT_STATUS, gap="small"):
        st.progress(done, text=t("run.progress", step=snap.step, total=snap.target_steps))
        cols = st.columns(5)
        cols[0].metric(t("run.status"), status_word(snap.status))
        cols[1].metric(t("run.loss"), f"{smooth[-1]:.4g}" if len(smooth) else "–",
                       help=t("run.loss_help", steps=figs.SMOOTH_STEPS, baseline=f"{trainer.task.baseline_loss:.4g}"))
        cols[2].metric(t("run.speed"), f"{rate:.1f}")
        cols[3].metric(t("run.elapsed"), _duration(snap.elapsed))
        cols[4].metric(t("run.remaining"), _duration(left) if left else "–", help=t("run.remaining_help"))
    if snap.status.reason == "non_finite":
        st.error(t("run.non_finite", what=t(f"run.non_finite_{snap.status.detail}"), step=snap.status.step),
                 icon=":material/warning:")
    elif snap.status.reason == "error":
        st.error(plain(stop_reason(snap.status)), icon=":material/error:")
    elif snap.status.kind == "queued":
        st.info(t("run.queued"), icon=":material/hourglass_top:")


def status_word(status: Status) -> str:
    """The status's kind ("stopped"), in the reader's language."""
    return t(f"run.status_{status.kind}")


def stop_reason(status: Status) -> str:
    """Why and where a stopped run stopped ("stopped at step 31: the gradient was not finite"), in the reader's language."""
    detail = t(f"run.non_finite_{status.detail}") if status.reason == "non_finite" else status.detail
    return t(f"run.stopped_{status.reason}", step=status.step, detail=detail)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


# ---- what the model does, as the task shows it (Task.output_view) ----------------------------------

def _task_output(trainer: BackgroundRun, snap: Snapshot, L: dict[str, str]) -> None:
    """What the model does on the latest probe, with figure labels L (fig_labels("run.fig"))."""
    task, trace = trainer.task, snap.trace
    if trace is None:
        return
    st.markdown(f"**{t('run.outputs_title', step=trace.step)}**")
    view = task.output_view
    if view == "text":
        _text_sample(trainer, trace.step)
    elif view == "forecast":
        _forecast(task, trace, trainer.probe_batch.start, L)
    elif view == "scatter":
        chart(figs.regression_scatter(trace["y"], trace["pred"], labels=L), "predictions",
              lambda: {"target": trace["y"].ravel(), "predicted": trace["pred"].ravel()})
    elif view == "tokens":
        _token_rows(task, trace, L)
    elif view == "tags":
        _tagged_words(task, trace, L)
    else:
        _class_table(task, trace)


def _forecast(task, trace, starts, labels: dict[str, str]) -> None:
    """The first probe series in its CSV column's own units, on the file's dates where it has a time column."""
    x, y, pred = (task.in_units(trace[name][0, :, 0]) for name in ("x", "y", "pred"))  # (T,) each
    times = task.window_times(int(starts[0])) if starts is not None else None
    chart(figs.forecast_figure(x, y, pred, times=times, time_name=task.time_column, units=task.column, labels=labels),
          "forecast", lambda: {"input": x, "truth": y, "forecast": pred})


def _tokens(vocab, ids) -> list[str]:
    return [vocab[int(i)] for i in np.asarray(ids).ravel()]


def _token_rows(task, trace, labels: dict[str, str]) -> None:
    """Copy, reversal and running parity: the sequence to reproduce next to what the model wrote."""
    x, y, guess = trace["x"][0], trace["y"][0], trace["pred"][0].argmax(-1)  # (T,), (T,), (T,)
    inputs, outputs = task.shown_steps()
    x, y, guess = x[inputs], y[outputs], guess[outputs]
    in_vocab = task.in_vocab or ["0", "1"]
    out_vocab = task.out_vocab or ["0", "1"]
    rows = {t("run.row_input"): _tokens(in_vocab, x if x.ndim == 1 else x[:, 0]),
            t("run.row_target"): _tokens(out_vocab, y), t("run.row_model"): _tokens(out_vocab, guess)}
    correct = np.full((3, len(y)), np.nan, dtype=np.float32)
    correct[2] = (guess == y).astype(np.float32)
    chart(figs.token_rows_figure(rows, correct, labels=labels), "tokens")


TAGGED_EXAMPLES = 3  # probe sentences shown: each takes a few rows of words


def _tagged_words(task, trace, labels: dict[str, str]) -> None:
    """Tagging: a few probe sentences, each word coloured by the model's tag, the true tag under it, mistakes framed."""
    words, tags = (torch.from_numpy(trace[name][:TAGGED_EXAMPLES]) for name in ("x", "y"))  # (examples, T) ids each
    guesses = torch.from_numpy(trace["pred"][:TAGGED_EXAMPLES].argmax(-1))  # (examples, T) tag ids
    rows = task.tagged_rows(Batch(words, tags), guesses)
    chart(figs.tagged_words_figure(rows, task.out_vocab, labels=labels), "tagged")


def _class_table(task, trace) -> None:
    """One-label classifiers: each probe example's input, label and the model's answer with its confidence."""
    probs = trace["pred"]  # (B, classes)
    rows = []
    for b in range(min(8, probs.shape[0])):
        x = trace["x"][b]
        if task.in_vocab is not None:
            text = " ".join(w for w in _tokens(task.in_vocab, x) if w != "<pad>")
        else:
            text = "".join(str(int(v)) for v in np.asarray(x).ravel())
        guess = int(probs[b].argmax())
        rows.append({t("run.col_input"): text, t("run.col_target"): task.out_vocab[int(trace["y"][b])],
                     t("run.col_model"): task.out_vocab[guess], t("run.col_confidence"): float(probs[b, guess])})
    st.dataframe(rows, hide_index=True, width="stretch",
                 column_config={t("run.col_confidence"): st.column_config.ProgressColumn(min_value=0, max_value=1)})


def _text_sample(trainer: BackgroundRun, step: int) -> None:
    """Text written by the character model at the chosen temperature; rewritten after each new probe."""
    temperature = st.slider(t("run.temperature"), 0.1, 2.0, 0.8, 0.1, key="temperature", help=t("run.temperature_help"))
    cache = st.session_state.setdefault("rnnviz_sample", {})
    key = (id(trainer), step, temperature)
    if key not in cache:
        model, _ = trainer.copy_model(unrolled=False)  # the sampler's own: training goes on meanwhile
        text = sample_text(model, trainer.task, SAMPLE_CHARS, temperature, torch.Generator().manual_seed(step))
        cache.clear()
        cache[key] = text
    st.code(cache[key], language=None, wrap_lines=True)
