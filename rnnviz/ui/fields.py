"""The Train page's settings, declared once: each setting's key, what it holds, and how a config maps to them.

Keys are the CLI's flat option names (task, seq_len, hidden, lr, ...), so a copied link such as
`/?task=reversal&cell=GRU` opens the same configuration. Two settings differ from the flat names: `cell` also
carries the vanilla RNN's nonlinearity ("RNN", "RNN-ReLU", "LSTM", "GRU", "Transformer"), and the clip threshold
has an on/off toggle (`clipping`) beside it.

Select settings hold language-independent codes (the CLI's names): a bound select widget writes the option it
shows into the address, so a link shared from the Chinese page works on the English one.

Every setting's default is a constant, the resolved config of the default task: bound widgets drop from the
address whatever equals their default.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import ATTENTIONS, INITS, LIMITS, OPTIMIZERS, RunConfig, TaskConfig, TrainConfig
from ..tasks import REGISTRY, resolve_config, task_class

CELL_CHOICES = {"RNN": ("rnn", "tanh"), "RNN-ReLU": ("rnn", "relu"), "LSTM": ("lstm", "tanh"), "GRU": ("gru", "tanh"),
                "Transformer": ("transformer", "tanh")}
TRANSFORMER = "Transformer"


@dataclass(frozen=True)
class NumberField:
    """A number setting: the range it accepts (typed, or in the page's address), and how its widget steps."""

    lo: float
    hi: float
    integer: bool = True
    step: float | None = None
    fmt: str | None = None

    def holds(self, value: float) -> bool:
        return self.lo <= value <= self.hi and (float(value).is_integer() or not self.integer)

    def accepts(self, raw: str) -> bool:
        """Whether this text (from the page's address) is a value it holds (nan, inf and non-numbers are not)."""
        try:
            return self.holds(float(raw))
        except ValueError:
            return False

    def accepted(self) -> str:
        return f"{self.lo:g} – {self.hi:g}"

    def bounds(self) -> dict[str, float]:
        """lo and hi for a text: whole numbers for a whole setting."""
        kind = int if self.integer else float
        return {"lo": kind(self.lo), "hi": kind(self.hi)}

    def shown(self, value: float) -> str:
        """A value as the reader typed it: 1000000000, not 1e+09 or 1000000000.0; 0.003 as 0.003."""
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


@dataclass(frozen=True)
class ChoiceField:
    """A select setting: every code it can hold (a task may offer fewer: its variants, its attention)."""

    options: tuple[str, ...]

    def accepts(self, raw: str) -> bool:
        return raw in self.options

    def accepted(self) -> str:
        return ", ".join(self.options)


@dataclass(frozen=True)
class ToggleField:
    """An on/off setting, in the address as true or false."""

    def accepts(self, raw: str) -> bool:
        return raw in ("true", "false")

    def accepted(self) -> str:
        return "true, false"


SETTINGS: dict[str, NumberField | ChoiceField | ToggleField] = {
    "task": ChoiceField(tuple(REGISTRY)),
    "variant": ChoiceField(tuple(dict.fromkeys(v for cls in REGISTRY.values() for v in cls.variants))),
    "seq_len": NumberField(*LIMITS["seq_len"]),
    "cell": ChoiceField(tuple(CELL_CHOICES)),
    "attention": ChoiceField(ATTENTIONS),
    "hidden": NumberField(*LIMITS["hidden"]),
    "layers": NumberField(*LIMITS["layers"]),
    "bidirectional": ToggleField(),
    "heads": NumberField(*LIMITS["heads"]),
    "init": ChoiceField(INITS),
    "init_gain": NumberField(LIMITS["init_gain"][0], 3.0, integer=False, step=0.05, fmt="%.2f"),
    "forget_bias": NumberField(*LIMITS["forget_bias"], integer=False, step=0.5, fmt="%.1f"),
    "optimizer": ChoiceField(OPTIMIZERS),
    "lr": NumberField(*LIMITS["lr"], integer=False, step=1e-3, fmt="%g"),
    "batch": NumberField(*LIMITS["batch"]),
    "steps": NumberField(*LIMITS["steps"], step=100),
    "clipping": ToggleField(),
    "clip": NumberField(0.01, 100.0, integer=False, step=0.5, fmt="%g"),
    "seed": NumberField(LIMITS["seed"][0], 10**6),
    "probe_every": NumberField(LIMITS["probe_every"][0], 10_000, step=10),
}
NUMBERS = {k: f for k, f in SETTINGS.items() if isinstance(f, NumberField)}
# Settings that a task change keeps; the rest come from the new task's defaults.
KEPT_ON_TASK_CHANGE = ("cell", "layers", "init", "init_gain", "forget_bias", "optimizer", "seed", "probe_every",
                       "bidirectional", "heads")
_NOT_FLAT = ("cell", "clipping", "clip")  # the settings that are not a flat config option of the same name


def widget_values(cfg: RunConfig) -> dict:
    """Every setting's value for a config."""
    flat = cfg.flat()
    values = {k: flat[k] for k in SETTINGS if k not in _NOT_FLAT}
    values["cell"] = cell_choice(cfg)
    if cfg.task.data is None:  # with the user's file there is no variant to show (controls.settings)
        values["variant"] = values["variant"] or (task_class(cfg.task.name).variants or ("",))[0]
    values["clipping"] = cfg.train.clip > 0
    values["clip"] = cfg.train.clip if cfg.train.clip > 0 else TrainConfig.clip  # the threshold to use when switched on
    return {k: float(v) if k in NUMBERS else v for k, v in values.items()}  # number widgets hold floats (controls._number)


def cell_choice(cfg: RunConfig) -> str:
    """The cell setting's code for a config: "RNN", "RNN-ReLU", "LSTM", "GRU" or "Transformer"."""
    nonlinearity = cfg.model.nonlinearity if cfg.model.cell == "rnn" else "tanh"
    return next(code for code, pair in CELL_CHOICES.items() if pair == (cfg.model.cell, nonlinearity))


def options_from(values: dict) -> dict:
    """Flat config options (the CLI's names) from the settings' values."""
    options = {k: v for k, v in values.items() if k not in _NOT_FLAT}
    for key in options.keys() & NUMBERS.keys():  # a whole setting's float widget value, e.g. 64.0, is the int 64
        if NUMBERS[key].integer and float(options[key]).is_integer():
            options[key] = int(options[key])
    options["cell"], options["nonlinearity"] = CELL_CHOICES[values["cell"]]
    options["clip"] = float(values["clip"]) if values["clipping"] else 0.0
    return options


DEFAULTS = widget_values(resolve_config({"task": TaskConfig.name}))
