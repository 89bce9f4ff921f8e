"""What a run will cost before anything of it is allocated: memory and time, from its config and its task's shapes.

The options have limits one by one (config.LIMITS), but their product is what takes a server: hidden 512, 3 layers,
T = 1000 and batch 1024 would hold about 100 GB of activations in one LSTM step. `estimate` adds up, in plain
arithmetic, what a Trainer holds at its peak:
    weights      the parameters, their gradients, the optimizer's state, the Trainer's backup of the last finite
                 weights and the probe's unrolled twin
    activations  one fused training step: what autograd keeps per time step and layer, the embedded inputs, the
                 head's logits and the attention's scores, each with its gradient
    probe        one probe: the unrolled twin on the probe batch with autograd through time, and the Trace it makes
    kept         what the run keeps by its last step: full Traces (thinned to TRACE_BUDGET_BYTES, never fewer than
                 two), one summary per probe and the per-step history
Peak memory is weights + kept + the larger of activations and probe (a probe runs between steps).
Time per training step and per probe, in CPU seconds of one torch thread, is a FLOP count over a measured rate, plus
the time to write and read back the activations, plus a fixed cost per time step and layer: within about 2-3x.

The per-cell constants were measured on this project's torch (2.13, CPU) with one torch thread: peak RSS growth
of a process over a warmed-up baseline, and torch.autograd.graph.saved_tensors_hooks for what autograd keeps
(tests/test_cost.py checks the estimate against fresh measurements, within 2x).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .cells import GATE_BLOCKS
from .families import GATES
from .transformer import MAX_LEN
from .config import RunConfig
from .tasks import make_task
from .tasks.base import IOSpec, Task
from .train import TRACE_BUDGET_BYTES, History, pick_device

FLOAT = 4  # bytes of a float32
# Floats a fused training step holds per example, time step, hidden unit and layer, the layer's output and its
# gradient included. LSTM: torch runs it through oneDNN, whose training workspace alone is 15.4 (gates and states
# of every step); RNN and GRU run step by step in ATen, keeping each step's state (and GRU's three gate blocks)
# for the backward pass, which then makes a gradient of each.
STEP_FLOATS = {"rnn": 5.0, "lstm": 16.0, "gru": 13.5, "transformer": 24.0}
# The same for one probe example in the unrolled twin: every step's gate pre-activations and activations kept by
# autograd, the record lists, the stacked arrays and their gradients, and the Trace's numpy copies.
PROBE_FLOATS = {"rnn": 11.0, "lstm": 36.0, "gru": 28.0, "transformer": 40.0}
# Arrays per layer in a Trace, each a float per example, step and unit: rnn h, grad.h; lstm h, c, its four gates,
# grad.h, grad.c; gru h, its three gates, grad.h.
TRACE_FLOATS = {"rnn": 2, "lstm": 8, "gru": 5, "transformer": 2}
# The transformer's stream per position and unit, from its blocks: two layer norms, q, k, v, the mixed values,
# the MLP's 4d-wide hidden layer before and after GELU, and the residual sums, with their gradients (24 above),
# and per head and pair of positions its attention scores, weights and their gradient.
ATTENTION_FLOATS = 3
OPTIMIZER_COPIES = {"adam": 2, "rmsprop": 1, "sgd": 1}  # state tensors per parameter (SGD: its momentum buffer)
WEIGHT_COPIES = 4  # the parameters, their gradients, the Trainer's backup of the last finite ones, the probe twin
HISTORY_BYTES = 36  # per value of the history: a Python float (24), its list slot (8), its float32 copy (4)

# Floating-point operations per CPU second of one torch thread, measured on the 2-core AMD EPYC server this was
# written on (thread CPU time, so other work on the machine does not count): fused training steps ran at 20-67
# GFLOP/s (hidden 64 to 512, faster the larger), unrolled probes on 8 examples at 9-16.
FLOP_RATE, PROBE_FLOP_RATE = 30e9, 15e9
# Bytes per second a step writes what it keeps for the backward pass into fresh pages and reads it back: about
# 2 GB/s there (a step of hidden 64 and batch 256 spends a third of its time on it).
ACTIVATION_BANDWIDTH = 2e9
# Seconds per time step and layer whatever the size: ATen's step-by-step RNN and GRU, forward and backward, cost
# ~125 us a step even for tiny layers, oneDNN's LSTM ~5 us; the unrolled probe's Python loop 100-250 us.
STEP_OVERHEAD_S = {"rnn": 125e-6, "lstm": 5e-6, "gru": 130e-6, "transformer": 0.0}
PROBE_OVERHEAD_S = {"rnn": 100e-6, "lstm": 200e-6, "gru": 250e-6, "transformer": 20e-6}
TRANSFORMER_LAYER_S = 1e-3  # the transformer's fixed cost per layer and pass: about a dozen ops, each some 50 us
BACKWARD_FACTOR = 3  # forward + backward: the backward pass costs about twice the forward's multiply-adds


@dataclass(frozen=True)
class TaskShape:
    """What the cost of a run needs to know about its task: sizes, not data."""

    io: IOSpec
    steps_in: int  # time steps the encoder (or only) stack reads
    steps_out: int  # time steps the decoder runs: 0 without a decoder
    predictions: int  # predicted positions per example: 1 for one label per sequence


def shape_of(task: Task) -> TaskShape:
    """The task's shapes, read off one example (copy's inputs, for one, are T + 20 steps long)."""
    example = task.sample(1, torch.Generator().manual_seed(0))
    steps_out = example.dec_in.shape[1] if example.dec_in is not None else 0
    predictions = 1 if task.io.output == "last" else example.y.shape[1]
    return TaskShape(task.io, example.x.shape[1], steps_out, predictions)


@dataclass(frozen=True)
class Cost:
    weights: int  # bytes held for the whole run: parameters, gradients, optimizer state, backup, probe twin
    activations: int  # bytes one fused training step holds at its peak
    probe: int  # bytes one probe holds at its peak, its Trace included
    kept: int  # bytes the run keeps by its last step: Traces, probe summaries, history
    step_seconds: float  # one training step on one CPU thread
    probe_seconds: float  # one probe on one CPU thread

    @property
    def peak(self) -> int:
        return self.weights + self.kept + max(self.activations, self.probe)

    def largest_part(self) -> str:
        """The part of the peak that dominates: "weights", "activations", "probe" or "kept"."""
        between_steps = "activations" if self.activations >= self.probe else "probe"  # the one the peak counts
        parts = {"weights": self.weights, "kept": self.kept, between_steps: getattr(self, between_steps)}
        return max(parts, key=parts.__getitem__)


def estimate(cfg: RunConfig, shape: TaskShape) -> Cost:
    """Memory and time of a run of cfg on a task of this shape. Pure arithmetic: nothing is allocated."""
    m, t = cfg.model, cfg.train
    params = parameter_count(cfg, shape.io)
    weights = FLOAT * params * (WEIGHT_COPIES + OPTIMIZER_COPIES[t.optimizer])
    activations = FLOAT * _step_floats(cfg, shape, t.batch, STEP_FLOATS[m.cell])
    trace = _trace_bytes(cfg, shape)
    probe = FLOAT * _step_floats(cfg, shape, t.probe_batch, PROBE_FLOATS[m.cell]) + trace
    probes = 2 + t.steps // t.probe_every  # step 0, every probe_every steps, and the last step
    kept_traces = min(probes * trace, max(2 * trace, TRACE_BUDGET_BYTES + trace))
    summary = FLOAT * m.layers * _stacks(shape) * (
        shape.steps_in * (len(GATES.get(m.cell, ())) + 1 + (m.cell == "lstm")) + 2 * m.hidden * len(GATES.get(m.cell, ())))
    summary *= _directions(cfg)
    history = HISTORY_BYTES * t.steps * (len(History.COLUMNS) + _parameter_tensors(cfg, shape.io))
    recurrent_steps = (shape.steps_in + shape.steps_out) * m.layers * _directions(cfg)
    fixed_s = TRANSFORMER_LAYER_S * m.layers if m.cell == "transformer" else 0.0
    return Cost(
        weights=int(weights), activations=int(activations), probe=int(probe),
        kept=int(kept_traces + probes * summary + history),
        step_seconds=BACKWARD_FACTOR * _forward_flops(cfg, shape, t.batch) / FLOP_RATE
        + activations / ACTIVATION_BANDWIDTH + recurrent_steps * STEP_OVERHEAD_S[m.cell] + fixed_s,
        probe_seconds=BACKWARD_FACTOR * _forward_flops(cfg, shape, t.probe_batch) / PROBE_FLOP_RATE
        + recurrent_steps * PROBE_OVERHEAD_S[m.cell] + fixed_s)


def _stacks(shape: TaskShape) -> int:
    return 2 if shape.steps_out else 1  # an encoder-decoder task has two recurrent stacks


def _rnn_input(cfg: RunConfig, io: IOSpec) -> int:
    return cfg.model.embed_dim if io.tokens_in else io.n_in


def _directions(cfg: RunConfig) -> int:
    return 2 if cfg.model.bidirectional else 1


def _layer_input(cfg: RunConfig, io: IOSpec, layer: int) -> int:
    """Features a recurrent layer reads: the inputs, or the layer below's output (both directions of it)."""
    return _rnn_input(cfg, io) if layer == 0 else _directions(cfg) * cfg.model.hidden


def _head_input(cfg: RunConfig, io: IOSpec) -> int:
    H = cfg.model.hidden
    return 2 * H if io.output == "seq2seq" and cfg.model.attention != "none" else _directions(cfg) * H


def _transformer_parameters(cfg: RunConfig, io: IOSpec) -> int:
    """Input projection, learned positions, and per block two layer norms, q k v out and the 4d-wide MLP."""
    d = cfg.model.hidden
    return _rnn_input(cfg, io) * d + d + MAX_LEN * d + cfg.model.layers * (12 * d * d + 13 * d)


def parameter_count(cfg: RunConfig, io: IOSpec) -> int:
    """The number of parameters of SeqModel(cfg.model, io), counted from the sizes."""
    m = cfg.model
    H, rows = m.hidden, GATE_BLOCKS.get(m.cell, 0) * m.hidden
    embed = io.n_in * m.embed_dim if io.tokens_in else 0
    head = (_head_input(cfg, io) + 1) * io.n_out
    if m.cell == "transformer":
        return embed + _transformer_parameters(cfg, io) + head
    stack = _directions(cfg) * sum(rows * (_layer_input(cfg, io, layer) + H + 2) for layer in range(m.layers))
    seq2seq = io.output == "seq2seq"
    keys = _directions(cfg) * H  # what attention pooling scores: every state, both directions of it
    attention = {"none": 0, "dot": 0 if seq2seq else keys,
                 "additive": 2 * H * H + H if seq2seq else keys * keys + 2 * keys}
    return embed + stack * (2 if seq2seq else 1) + attention[m.attention] + head


def _parameter_tensors(cfg: RunConfig, io: IOSpec) -> int:
    """How many parameter tensors the model has: the history keeps a gradient norm per tensor and step."""
    if cfg.model.cell == "transformer":
        return int(io.tokens_in) + 3 + 16 * cfg.model.layers + 2  # input weight, bias, positions; 16 per block
    attention = {"none": 0, "dot": 0 if io.output == "seq2seq" else 1, "additive": 3}[cfg.model.attention]
    stacks = 2 if io.output == "seq2seq" else 1
    return int(io.tokens_in) + 4 * cfg.model.layers * stacks * _directions(cfg) + attention + 2


def _step_floats(cfg: RunConfig, shape: TaskShape, batch: int, per_state: float) -> float:
    """Floats one forward and backward pass over batch examples holds at its peak, given the recurrent layers'
    floats per example, step, unit and layer."""
    m, io = cfg.model, shape.io
    H, t_in, t_out = m.hidden, shape.steps_in, shape.steps_out
    recurrent = per_state * H * m.layers * (t_in + t_out) * _directions(cfg)
    if m.cell == "transformer":
        recurrent += ATTENTION_FLOATS * m.heads * t_in * t_in * m.layers
    inputs = 2 * _rnn_input(cfg, io) * (t_in + t_out) + 2 * (t_in + t_out)  # layer 0's inputs and gradient; int64 ids
    head = 3 * shape.predictions * io.n_out  # logits, their log-softmax (or error), the gradient
    attention = 0.0
    if m.attention != "none" and io.output == "seq2seq":
        attention = 4 * t_out * t_in + 6 * t_out * H  # scores and weights with gradients; context, [dec, context]
        if m.attention == "additive":
            attention += 4 * t_out * t_in * H + 4 * (t_in + t_out) * H  # tanh(W_k h_k + W_q s_j) for every pair
    elif m.attention != "none":
        attention = 4 * t_in + (4 * t_in * H if m.attention == "additive" else 0)  # tanh(W h_k + b) and gradient
    return batch * (recurrent + inputs + head + attention)


def _trace_bytes(cfg: RunConfig, shape: TaskShape) -> int:
    """Bytes of one Trace: every state, gate and state gradient of the probe batch, the inputs and predictions."""
    m, io, b = cfg.model, shape.io, cfg.train.probe_batch
    states = TRACE_FLOATS[m.cell] * m.hidden * m.layers * (shape.steps_in + shape.steps_out) * _directions(cfg)
    if m.cell == "transformer":
        states += m.heads * shape.steps_in ** 2 * m.layers  # attn.self.{l}
    inputs = (2 if io.tokens_in else io.n_in) * shape.steps_in  # int64 ids count twice
    attention = shape.steps_in * max(shape.steps_out, 1) if m.attention != "none" else 0
    return FLOAT * b * (states + inputs + 2 * shape.predictions * io.n_out + attention)


def _forward_flops(cfg: RunConfig, shape: TaskShape, batch: int) -> float:
    """Floating-point operations of one forward pass over batch examples (a multiply-add counts two)."""
    m, io = cfg.model, shape.io
    H, rows, t_in, t_out = m.hidden, GATE_BLOCKS.get(m.cell, 0) * m.hidden, shape.steps_in, shape.steps_out
    if m.cell == "transformer":  # per block and position: q k v out (4 d^2), the MLP (8 d^2), scores and mixing
        layer_macs = _rnn_input(cfg, io) * H + m.layers * (12 * H * H + 2 * t_in * H)
    else:
        layer_macs = _directions(cfg) * sum(rows * (_layer_input(cfg, io, layer) + H) for layer in range(m.layers))
    macs = layer_macs * (t_in + t_out) + _head_input(cfg, io) * io.n_out * shape.predictions
    if m.attention != "none" and io.output == "seq2seq":
        macs += 2 * t_out * t_in * H  # scores and context
        if m.attention == "additive":
            macs += (t_in + t_out) * H * H + 2 * t_out * t_in * H  # projections; tanh and v over every pair
    elif m.attention != "none":
        keys = _directions(cfg) * H
        macs += 2 * t_in * keys + (t_in * keys * keys if m.attention == "additive" else 0)
    return 2.0 * batch * macs


# ---- messages ---------------------------------------------------------------------------------
# For people (the CLI; the app words the same in its text files): which part dominates, what it grows with, and
# what to lower.
PART_NAMES = {"weights": "weights and optimizer state", "activations": "activations",
              "probe": "the probe, unrolled through time", "kept": "the traces and history the run keeps"}
GROWS_WITH = {"weights": "hidden² × layers", "activations": "batch × sequence length × hidden × layers",
              "probe": "sequence length × hidden × layers", "kept": "steps ÷ probe interval × sequence length × hidden"}
ADVICE = {"weights": "lower the hidden size or layers", "activations": "lower the batch, sequence length or hidden size",
          "probe": "lower the sequence length, hidden size or layers",
          "kept": "lower the steps, sequence length or hidden size, or probe less often"}


def size_text(n_bytes: float) -> str:
    """"740 MB", "2.3 GB"."""
    mb = n_bytes / 2**20
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{max(mb, 1):.0f} MB"


def memory_refusal(cost: Cost, limit_bytes: float, limit_text: str) -> str | None:
    """Why a run of this cost cannot start when limit_bytes are to be had, or None when it fits.
    limit_text words the limit: "the limit here is 500 MB", "this machine has 1.2 GB free"."""
    if cost.peak <= limit_bytes:
        return None
    part = cost.largest_part()
    return (f"this run needs about {size_text(cost.peak)} of memory ({PART_NAMES[part]} "
            f"{size_text(getattr(cost, part))}: {GROWS_WITH[part]}) but {limit_text}: {ADVICE[part]}")


def free_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux): memory the machine can give without swapping; None elsewhere."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def refuse_beyond_free_memory(cfg: RunConfig) -> None:
    """For the CLI, before training: a ValueError when a CPU run of cfg needs more memory than the machine has
    free. On a GPU the activations live in its memory, which this does not count, so GPU runs are not checked."""
    free = free_memory_bytes()
    if free is None or pick_device(cfg.train.device).type != "cpu":
        return
    refusal = memory_refusal(estimate(cfg, shape_of(make_task(cfg.task))), free,
                             f"this machine has {size_text(free)} free")
    if refusal:
        raise ValueError(refusal)
