"""Take a run home: one standalone HTML file with its settings, training curves and Look-inside figures.

`report_html(trainer_or_saved, step=None)` returns the page; `python -m rnnviz report DIR --out report.html`
writes it for a saved run. The page works offline and loads nothing: plotly.js is inlined once, every figure is
drawn by a small script from its JSON, and a Content-Security-Policy forbids any request (no CDN, no MathJax,
no fonts). Each chart's toolbar downloads a PNG (plotly's camera) and an SVG (a button added here: plotly.js
takes custom buttons only as JavaScript objects with a click function, which a JSON config cannot carry).

What is at which step: a run directory keeps only its final weights, so for a saved run the hidden states,
gates and attention are recomputed at the end of training; a live Trainer also has the Traces it kept, and
`step` picks the one nearest to it. `step` also picks the probe summary nearest to it (run.json keeps one per
probe) for the gradient-through-time curve and the gate saturation; the page says which step each shows.
User strings (config values, file names) are escaped. Like rnnviz.figures this module needs plotly; it never
imports streamlit. Text is in English (the app's text files belong to rnnviz.ui).
"""
from __future__ import annotations

import html
import json
import math
import os
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from .families import family_of
from .features import order_units
from .figures import attention, gates, gradients, hidden, training
from .figures.common import DIVERGING, SEQUENTIAL, describe_inputs, spread_steps, time_unit_heatmap
from .probe import Trace
from .runs import SavedRun, restore_trainer
from .theory.jacobians import GAMMA
from .train import RunReader, Snapshot, describe_device

EXAMPLE = 0  # the probe example the per-example figures show, as the pages do by default
GATE_UNITS = 64  # units per gate heatmap, as on the Gates page
MAX_PANELS = 4  # training steps side by side in the PCA and attention figures
# Plotly.js's config for every chart; the page adds the SVG button and each chart's file name.
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"format": "png", "scale": 2}}
# Scripts and styles are inline; images only from data: and blob: URLs (plotly's PNG export); nothing else loads.
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:"


@dataclass
class Section:
    title: str
    intro: str
    figures: list[tuple[str, go.Figure]] = field(default_factory=list)  # (the figure's div id, figure)


@dataclass
class Page:
    """What one report shows: the run, and the Trace and probe summary picked for its step."""

    trainer: RunReader
    snap: Snapshot
    trace: Trace
    summary: dict  # the probe summary nearest to the asked step
    saved: bool  # from a run directory: only the final weights


def report_html(source: RunReader | SavedRun, step: int | None = None) -> str:
    """The standalone HTML report of a live run (a Trainer or a BackgroundRun) or a saved run (see the module
    docstring for `step`).
    A saved run is rebuilt on the CPU with rnnviz.runs.restore_trainer, which raises RunFileError."""
    saved = isinstance(source, SavedRun)
    trainer = restore_trainer(source, device="cpu") if isinstance(source, SavedRun) else source
    snap = trainer.snapshot()
    wanted = snap.step if step is None else step
    trace = trainer.trace_at(wanted)  # None: no Trace kept yet
    if trace is None or not snap.probes:
        raise ValueError("this run has not been probed yet: a report needs at least one probe")
    summary = min(snap.probes, key=lambda p: abs(p["step"] - wanted))
    page = Page(trainer, snap, trace, summary, saved)
    sections = [training_section(page), hidden_section(page)]
    if family_of(trainer.cfg.model).gates:
        sections.append(gates_section(page))
    if "attn" in trace:
        sections.append(attention_section(page))
    sections.append(gradients_section(page))
    return render(page, step, sections)


# ---- sections ------------------------------------------------------------------------------------
def stacks(trace: Trace) -> list[tuple[str, int]]:
    """(prefix, layer) of the top layer of each recurrent stack: the encoder (or only one), then a decoder."""
    return [(prefix, trace.layers(prefix) - 1) for prefix in ("", "dec.") if trace.layers(prefix)]


def stack_name(prefix: str, layer: int, trace: Trace) -> str:
    if trace.layers("dec."):
        return f"{'decoder' if prefix else 'encoder'} layer {layer}"
    return f"layer {layer}"


def slug(prefix: str) -> str:
    return "dec-" if prefix else ""


def step_inputs(page: Page, prefix: str) -> list[str]:
    """What the stack reads at each step of the example: the encoder its input, the decoder the output it writes."""
    task, trace = page.trainer.task, page.trace
    if prefix:
        return ["→ " + s for s in describe_inputs(trace["y"][EXAMPLE], task.out_vocab)]
    return describe_inputs(trace["x"][EXAMPLE], task.in_vocab)


def colour_range(values: np.ndarray, bounded: bool) -> tuple[float, float]:
    """±1 for tanh-bounded states, else ± the 99th percentile of |value| (an LSTM's cell state, a ReLU RNN's h)."""
    if bounded:
        return -1.0, 1.0
    top = float(np.percentile(np.abs(values), 99)) or 1.0
    return -top, top


def kept_traces(page: Page, steps: list[int]) -> list[Trace]:
    """The run's kept Traces nearest to each of steps (steps from the snapshot's trace_steps: each is kept)."""
    return [tr for tr in map(page.trainer.trace_at, steps) if tr is not None]


def training_section(page: Page) -> Section:
    h, cfg = page.snap.history, page.trainer.cfg
    return Section("Training", "The training batch's loss at every step, and the gradient's global norm before clipping.", [
        ("fig-loss", training.loss_figure(h["step"], h["loss"], page.trainer.task.baseline_loss, title="Loss")),
        ("fig-grad-norm", training.grad_norm_figure(h["step"], h["grad_norm"], h["clipped"], cfg.train.clip,
                                                    title="Gradient norm")),
    ])


def hidden_section(page: Page) -> Section:
    trace, model = page.trace, page.trainer.cfg.model
    bounded = family_of(model).bounded
    section = Section("Hidden states", f"The states of example {EXAMPLE + 1} of the probe batch at step {trace.step}, "
                      "units sorted by their variance over the batch (most variable on top).")
    for prefix, layer in stacks(trace):
        states = trace[f"{prefix}h.{layer}"]  # (B, T, H)
        order = order_units(states.reshape(-1, states.shape[-1]))
        for kind in ("h", "c"):
            name = f"{prefix}{kind}.{layer}"
            if name not in trace:
                continue
            values = trace[name][EXAMPLE]  # (T, H)
            section.figures.append((f"fig-{slug(prefix)}hidden-{kind}", time_unit_heatmap(
                values, inputs=step_inputs(page, prefix), order=order, value_name=kind,
                zrange=colour_range(values, bounded and kind == "h"),
                title=f"{kind}_t, {stack_name(prefix, layer, trace)}, step {trace.step}")))
    if page.trainer.cfg.task.name == "charlm":
        section.figures.append(("fig-hidden-text", coloured_text(page, bounded)))
    name = f"h.{stacks(trace)[0][1]}"
    steps = spread_steps(page.snap.trace_steps, trace.step, MAX_PANELS)
    section.figures.append(("fig-hidden-pca", hidden.pca_trajectories(
        [(tr.step, tr[name]) for tr in kept_traces(page, steps)], title="PCA trajectories of h_t")))
    return section


def coloured_text(page: Page, bounded: bool) -> go.Figure:
    """The probe texts coloured by the top layer's most variable unit."""
    trace = page.trace
    vocab = cast(list[str], page.trainer.task.in_vocab)  # called for charlm, whose characters are its vocabulary
    layer = stacks(trace)[0][1]
    states = trace[f"h.{layer}"]  # (B, T, H)
    unit = int(order_units(states.reshape(-1, states.shape[-1]))[0])
    examples = [([vocab[int(i)] for i in row], states[b, :, unit]) for b, row in enumerate(trace["x"])]
    return hidden.text_heatmap(examples, zrange=colour_range(states[:, :, unit], bounded), value_name=f"h[u{unit}]",
                               title=f"The probe texts coloured by unit {unit} of h (layer {layer}), step {trace.step}")


def gates_section(page: Page) -> Section:
    trace, summary = page.trace, page.summary
    names = family_of(page.trainer.cfg.model).gates
    sigmoid = [g for g in names if g not in ("g", "n")]  # in [0, 1]; g and n are tanh, in [-1, 1]
    carry = "f" if "f" in names else "z"  # the gate that keeps the old state: LSTM's forget gate, GRU's update gate
    section = Section("Gates", f"Each gate of example {EXAMPLE + 1} at step {trace.step}; the carry gate {carry} next to "
                      f"the gradient it lets through; how often each gate is saturated (probe at step {summary['step']}, "
                      "and over training).")
    probes = page.snap.probes
    shown = spread_steps([p["step"] for p in probes], summary["step"], n=3)
    for prefix, layer in stacks(trace):
        base, where = f"{prefix}gate.{layer}", stack_name(prefix, layer, trace)
        states = trace[f"{prefix}h.{layer}"]
        order = order_units(states.reshape(-1, states.shape[-1]))
        for gate in names:
            zrange, scale = ((0.0, 1.0), SEQUENTIAL) if gate in sigmoid else ((-1.0, 1.0), DIVERGING)
            section.figures.append((f"fig-{slug(prefix)}gate-{gate}", time_unit_heatmap(
                trace[f"{base}.{gate}"][EXAMPLE], inputs=step_inputs(page, prefix), order=order, zrange=zrange,
                colorscale=scale, value_name=gate, max_units=GATE_UNITS, height=360,
                title=f"gate {gate}, {where}, step {trace.step}")))
        grads = {f"‖∂L/∂{kind}_t‖": np.linalg.norm(trace[f"grad.{prefix}{kind}.{layer}"][EXAMPLE], axis=-1)
                 for kind in ("c", "h") if f"grad.{prefix}{kind}.{layer}" in trace}  # (T,) each
        section.figures.append((f"fig-{slug(prefix)}gate-carry", gates.gate_and_gradient(
            trace[f"{base}.{carry}"][EXAMPLE], grads, gate_name=carry,
            title=f"Gate {carry} and the gradient, {where}, step {trace.step}")))
        by_probe = {p["step"]: p for p in probes}
        sat = {g: [(s, by_probe[s][f"sat.{base}.{g}"]) for s in shown] for g in sigmoid}
        section.figures.append((f"fig-{slug(prefix)}gate-saturation", gates.saturation_scatter(
            sat, title=f"Saturation per unit, {where}")))
        history = {g: np.stack([p[f"sat.{base}.{g}"] for p in probes]) for g in sigmoid}
        section.figures.append((f"fig-{slug(prefix)}gate-saturation-history", gates.saturation_over_training(
            [p["step"] for p in probes], history, title=f"Saturation over training, {where}")))
    return section


def attention_section(page: Page) -> Section:
    trace, task = page.trace, page.trainer.task
    if task.output == "seq2seq":
        steps = spread_steps(page.snap.trace_steps, trace.step, MAX_PANELS)
        mats = [(tr.step, tr["attn"][EXAMPLE]) for tr in kept_traces(page, steps)]
        fig = attention.attention_steps(mats, in_tokens=describe_inputs(trace["x"][EXAMPLE], task.in_vocab),
                                        out_tokens=describe_inputs(trace["y"][EXAMPLE], task.out_vocab),
                                        title=f"Attention of example {EXAMPLE + 1}")
        return Section("Attention", "Where each output step looks among the input steps (rows sum to 1).",
                       [("fig-attention", fig)])
    rows, names = [], []
    for b in range(trace["x"].shape[0]):
        keep = trace["mask"][b] if "mask" in trace else slice(None)  # drop the padding
        words = describe_inputs(trace["x"][b][keep], task.in_vocab)
        rows.append((words if task.in_vocab is not None else [""] * len(words), trace["attn"][b, 0][keep]))
        names.append(prediction(task, trace["pred"][b], trace["y"][b]))
    fig = attention.attention_sentences(rows, names, title=f"Attention pooling, step {trace.step}")
    return Section("Attention", "The weight attention pooling gives each input step, with the model's answer.",
                   [("fig-attention", fig)])


def prediction(task, pred: np.ndarray, y: np.ndarray) -> str:
    """"positive 93% ✓" for classes, "1.02 (target 1.05)" for values."""
    if task.out_vocab is None:
        return f"{float(pred.ravel()[0]):.3g} (target {float(y.ravel()[0]):.3g})"
    k = int(pred.argmax())
    return f"{task.out_vocab[k]} {100 * float(pred[k]):.0f}% {'✓' if k == int(y) else '✗'}"


def gradients_section(page: Page) -> Section:
    trace, summary, model = page.trace, page.summary, page.trainer.cfg.model
    probes = page.snap.probes
    section = Section("Gradients through time", f"‖∂L/∂h_t‖ averaged over the probe batch at step {summary['step']}, "
                      "the same over every probe, and each parameter's gradient norm at every step.")
    for prefix, layer in stacks(trace):
        where = stack_name(prefix, layer, trace)
        names = {kind: f"grad.{prefix}{kind}.{layer}" for kind in ("h", "c") if f"grad.{prefix}{kind}.{layer}" in trace}
        curves = {f"‖∂L/∂{kind}_t‖": summary[name] for kind, name in names.items()}  # (T,) batch means
        bound = family_of(model).spectral_bound  # the vanilla RNN's: its forward direction's W_hh
        rate = summary[f"sigma_max.{prefix}{layer}"] * GAMMA[model.nonlinearity] if bound else None
        y_range = gradients.log_range([p[name] for p in probes for name in names.values()])
        section.figures.append((f"fig-{slug(prefix)}gradient-curve", gradients.gradient_through_time(
            curves, rate=rate, y_range=y_range, title=f"Gradient through time, {where}, step {summary['step']}")))
        for kind, name in names.items():
            norms = np.stack([p[name] for p in probes])  # (P, T)
            section.figures.append((f"fig-{slug(prefix)}gradient-heat-{kind}", gradients.gradient_heatmap(
                [p["step"] for p in probes], norms, value_name=f"log₁₀ ‖∂L/∂{kind}_t‖",
                title=f"‖∂L/∂{kind}_t‖ over training, {where}")))
    h = page.snap.history
    stopped = page.snap.step if page.snap.status.reason == "non_finite" else None
    section.figures.append(("fig-gradient-params", gradients.parameter_gradients(
        h["step"], h["param_norms"], clipped=h["clipped"], grad_norm=h["grad_norm"], clip=page.trainer.cfg.train.clip,
        stopped_at=stopped, title="Gradient norm of each parameter")))
    return section


# ---- the page ------------------------------------------------------------------------------------
def settings_rows(page: Page) -> list[tuple[str, str]]:
    """(name, value) of every setting and what the run did; a data file by its name only (never a server path)."""
    snap, task = page.snap, page.trainer.task
    rows = []
    for key, value in page.trainer.cfg.flat().items():
        if key == "data":
            value = os.path.basename(value) if value else "none (generated)"
        rows.append((key, "–" if value is None or value == "" else str(value)))
    loss = snap.history["loss"]
    rows += [("status", str(snap.status)), ("steps trained", f"{snap.step:,} of {snap.target_steps:,}"),
             ("final training loss", _number(loss[-1]) if len(loss) else "–"),
             ("baseline loss", _number(task.baseline_loss)), ("device", describe_device(page.snap.device, page.snap.threads)),
             ("training time", f"{snap.elapsed:.1f} s"), ("steps per second", f"{snap.steps_per_second:.1f}")]
    return rows


def _number(value) -> str:
    return f"{value:.4g}" if value is not None and math.isfinite(value) else "not finite"


def steps_note(page: Page, asked: int | None) -> str:
    """Which step each part of the report shows."""
    if page.saved:
        states = (f"Hidden states, gates and attention show the probe batch run through the final weights (step "
                  f"{page.trace.step:,}): a run directory keeps only its final weights, so they are recomputed.")
    else:
        states = f"Hidden states, gates and attention show the probe batch at step {page.trace.step:,}, the kept probe " \
                 "nearest to the asked step."
    text = (f"{states} The gradient-through-time curves and the gate saturation per unit show the probe at step "
            f"{page.summary['step']:,}. The training curves and the figures over training cover every step.")
    return text if asked is None else f"Asked for step {asked:,}. {text}"


PAGE_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #31333f; }
table { border-collapse: collapse; margin: 1rem 0; }
td, th { border-bottom: 1px solid #ddd; padding: 0.25rem 1rem 0.25rem 0; text-align: left; vertical-align: top; }
th { font-weight: 600; }
.figure { margin: 1rem 0 2rem; }
.note { color: #555; }
"""

# Draws one figure: plotly's own PNG button, plus an SVG one; downloads are named after the figure.
DRAW_SCRIPT = """
const CONFIG = %s;
const SVG_BUTTON = {name: "toSVG", title: "Download plot as SVG", icon: Plotly.Icons.disk,
                    click: gd => Plotly.downloadImage(gd, {format: "svg", filename: "rnnviz-" + gd.id})};
function draw(id, figure) {
  const config = {...CONFIG, modeBarButtonsToAdd: [SVG_BUTTON],
                  toImageButtonOptions: {...CONFIG.toImageButtonOptions, filename: "rnnviz-" + id}};
  Plotly.newPlot(id, figure.data, figure.layout, config);
}
"""


def render(page: Page, asked: int | None, sections: list[Section]) -> str:
    cfg = page.trainer.cfg
    title = f"rnnviz run: {cfg.model.cell.upper()} on {cfg.task.name}, step {page.snap.step:,}"
    rows = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in settings_rows(page))
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style>",
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>",  # as plotly's own HTML: no MathJax set-up
        f"<script>{get_plotlyjs()}</script>",
        f"<script>{DRAW_SCRIPT % json.dumps(PLOT_CONFIG)}</script>",
        "</head><body>", f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{html.escape(steps_note(page, asked))}</p>',
        "<h2>Settings</h2>", f"<table>{rows}</table>",
    ]
    for section in sections:
        parts += [f"<h2>{html.escape(section.title)}</h2>", f"<p>{html.escape(section.intro)}</p>"]
        for div_id, fig in section.figures:
            # plotly's JSON writes <, > and / as \\u escapes, so no text in it can close the script
            parts += [f'<div id="{div_id}" class="figure"></div>', f'<script>draw("{div_id}", {fig.to_json()});</script>']
    parts.append("</body></html>")
    return "\n".join(parts)
