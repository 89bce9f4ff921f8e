"""Run configuration: three frozen dataclasses, their validation, and the limits in one place.

Every option a person can set (CLI flag, app control, URL parameter) is a field here, so the
CLI, the app and a saved run all speak the same flat names (`RunConfig.flat()`).
"""
from __future__ import annotations

import math
from typing import Any
from dataclasses import asdict, dataclass, field, fields

# The limits, stated once; the CLI's errors and the app's controls both read them.
LIMITS = {
    "seq_len": (1, 1000),  # longer sequences make probes and heatmaps too slow to be live
    "hidden": (1, 512),
    "layers": (1, 3),
    "steps": (1, 100_000),
    "batch": (1, 1024),
    "probe_every": (1, 100_000),
    "lr": (1e-6, 10.0),
    "clip": (0.0, 1e4),
    "init_gain": (0.0, 10.0),
    "forget_bias": (-10.0, 10.0),
    "embed_dim": (1, 256),
    "heads": (1, 4),  # transformer attention heads; each must get hidden / heads units
    "seed": (0, 2**31 - 1),
    "text_bytes": (1, 5_000_000),  # uploaded text for charlm
    "csv_bytes": (1, 20_000_000),  # uploaded CSV for sine
}

CELLS = ("rnn", "lstm", "gru", "transformer")
NONLINEARITIES = ("tanh", "relu")
ATTENTIONS = ("none", "dot", "additive")
INITS = ("default", "orthogonal", "identity")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
DEVICES = ("auto", "cpu", "cuda", "mps")


def check_range(name: str, value, what: str = "") -> None:
    """Raise ValueError naming the option and its accepted range when value is outside LIMITS[name]."""
    lo, hi = LIMITS[name]
    bad = value is None or (isinstance(value, float) and not math.isfinite(value)) or not lo <= value <= hi
    if bad:
        raise ValueError(f"{what or name.replace('_', ' ')} must be between {lo:g} and {hi:g}, got {value!r}")


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}: choose one of {', '.join(choices)}")


BIDIRECTIONAL_REFUSALS = {  # reason code -> why, for the command line (the app words each code from its text files)
    "transformer": "bidirectional is for rnn, lstm and gru: the transformer's self-attention already reads the "
                   "whole sequence (on next-step tasks it may only look back)",
    "causal": "bidirectional layers read the sequence backwards too, so on this task they would see the next inputs, "
              "which are the targets: choose one-way layers",
    "seq2seq": "bidirectional layers are not available for encoder-decoder tasks: the decoder's initial state would "
               "need a choice between the two directions",
}


def bidirectional_refusal(cell: str, output: str, causal: bool) -> str | None:
    """Why a model of this cell cannot read both ways on a task with these outputs (the task's IOSpec.output and
    IOSpec.causal): a key of BIDIRECTIONAL_REFUSALS, or None where it can. ModelConfig and models.check_fits refuse
    by it; the app words the code at its toggle, before Train is pressed."""
    if cell == "transformer":
        return "transformer"
    if causal:
        return "causal"
    if output == "seq2seq":
        return "seq2seq"
    return None


@dataclass(frozen=True)
class ModelConfig:
    """The model. Options that do not apply to a cell are ignored, as nonlinearity is for an LSTM: init,
    init_gain, forget_bias and nonlinearity for the transformer (it has no W_hh), heads for recurrent cells."""

    cell: str = "lstm"  # rnn, lstm or gru: the recurrence whose gradient flow the app is about; or transformer
    nonlinearity: str = "tanh"  # vanilla rnn only: tanh saturates (gamma = 1), relu does not (IRNN)
    hidden: int = 64  # units per layer (the transformer's d_model); time per step grows about as hidden^2
    layers: int = 1  # stacked recurrent (or transformer) layers; the probe records every one
    attention: str = "none"  # none, dot or additive: lets the head look back over all hidden states
    init: str = "default"  # default (PyTorch), orthogonal or identity: sets W_hh's spectrum
    init_gain: float = 1.0  # rho: scales orthogonal / identity W_hh, so the spectral radius is a knob
    forget_bias: float = 1.0  # LSTM forget-gate bias; about 1 keeps f near 1 early so gradients survive
    embed_dim: int = 32  # size of the token embedding for token tasks (ignored for numeric inputs)
    bidirectional: bool = False  # rnn, lstm, gru: a second layer reads each sequence backwards (torch.nn's)
    heads: int = 2  # transformer only: attention heads, each of hidden / heads units

    def __post_init__(self):
        check_choice("cell", self.cell, CELLS)
        check_choice("nonlinearity", self.nonlinearity, NONLINEARITIES)
        check_choice("attention", self.attention, ATTENTIONS)
        check_choice("init", self.init, INITS)
        for name in ("hidden", "layers", "init_gain", "forget_bias", "embed_dim", "heads"):
            check_range(name, getattr(self, name), name.replace("_", " "))
        if not isinstance(self.bidirectional, bool):
            raise ValueError(f"bidirectional must be true or false, got {self.bidirectional!r}")
        if self.cell == "transformer":
            self._check_transformer()

    def _check_transformer(self):
        if self.bidirectional:
            raise ValueError(BIDIRECTIONAL_REFUSALS["transformer"])
        if self.attention != "none":
            raise ValueError("the transformer is attention already: choose attention none "
                             "(attention pooling is for rnn, lstm and gru)")
        if self.hidden % self.heads:
            raise ValueError(f"the number of heads must divide hidden: {self.hidden} units do not split into "
                             f"{self.heads} heads")


@dataclass(frozen=True)
class TaskConfig:
    name: str = "adding"  # which task from rnnviz.tasks.REGISTRY
    seq_len: int = 50  # T: the distance a dependency spans, the main difficulty knob
    variant: str = ""  # task-specific choice (parity: final/running, charlm: corpus); "" = the task's default
    data: str | None = None  # the user's file (text for charlm, CSV for sine), or None for generated data
    column: str | None = None  # CSV column for sine; None = the first numeric column
    vocab: str | None = None  # charlm: an imported model's characters in id order; None = built from the text

    def __post_init__(self):
        check_range("seq_len", self.seq_len, "sequence length")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000  # optimizer steps to run
    batch: int = 64  # sequences per step
    lr: float = 3e-3  # learning rate; changeable mid-run
    optimizer: str = "adam"  # adam, rmsprop or sgd (with momentum)
    momentum: float = 0.9  # sgd only
    clip: float = 1.0  # gradient clipping by global norm; 0 turns it off (to watch gradients explode)
    seed: int = 0  # same seed, config and device give the same run on CPU
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    probe_every: int = 50  # steps between exact probes of gates and dL/dh_t
    probe_batch: int = 8  # examples in the fixed probe batch (small: probes are unrolled)

    def __post_init__(self):
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("device", self.device, DEVICES)
        for name in ("steps", "batch", "lr", "clip", "seed", "probe_every"):
            check_range(name, getattr(self, name), {"lr": "learning rate", "probe_every": "probe interval"}.get(name, ""))
        if not 1 <= self.probe_batch <= 64:
            raise ValueError(f"probe batch must be between 1 and 64, got {self.probe_batch}")


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def flat(self) -> dict:
        """One dict with every option under its CLI name (task fields as task, seq_len, ...)."""
        out = {"task": self.task.name}
        for part in (self.model, self.task, self.train):
            out.update({k: v for k, v in asdict(part).items() if k != "name"})
        return out

    @classmethod
    def from_flat(cls, values: dict) -> "RunConfig":
        """Build from flat names; unknown keys raise, missing keys take the dataclass defaults."""
        values = dict(values)
        task_name = values.pop("task", TaskConfig.name)
        model = ModelConfig(**_pop_fields(ModelConfig, values))
        task = TaskConfig(**{"name": task_name, **_pop_fields(TaskConfig, values)})
        train = TrainConfig(**_pop_fields(TrainConfig, values))
        if values:
            raise ValueError(f"unknown option(s): {', '.join(sorted(values))}")
        return cls(model=model, task=task, train=train)

    def replace(self, **flat) -> "RunConfig":
        """A copy with some flat options changed, validated like a new config."""
        return RunConfig.from_flat({**self.flat(), **flat})


def _pop_fields(part_cls: type, values: dict) -> dict[str, Any]:
    """Take the values that name part_cls's fields out of values, each coerced to its field's type."""
    # with postponed annotations a field's type is the annotation's text, e.g. "int" or "str | None"
    return {f.name: _coerce(values.pop(f.name), str(f.type)) for f in fields(part_cls) if f.name in values}


def _coerce(value, type_name: str):
    """Turn strings from URLs or JSON into the field's type, with a readable error."""
    if value is None or type_name.startswith("str"):
        return value
    if type_name == "bool":
        return _coerce_bool(value)
    kind = {"int": int, "float": float}.get(type_name)
    if kind is None:
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {value!r}") from None
    if kind is int:
        if not number.is_integer():
            raise ValueError(f"expected a whole number, got {value!r}")
        return int(number)
    return number


def _coerce_bool(value) -> bool:
    """True / False, or the strings a URL or CLI gives them ("true", "false", "1", "0"); nothing else, so a
    string such as "no" cannot read as true."""
    if isinstance(value, bool):
        return value
    words = {"true": True, "1": True, "false": False, "0": False}
    if isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    raise ValueError(f"expected true or false, got {value!r}")

