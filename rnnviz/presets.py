"""Ready-made runs, each showing one effect within about a minute on a laptop CPU.

A preset is a set of flat config options (the CLI's names) laid over the task's defaults by
`rnnviz.tasks.resolve_config`; `compare` lists the cells the Compare page trains side by side.
Titles and descriptions for people live in the text files under presets.<key>.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import RunConfig
from .tasks import resolve_config


@dataclass(frozen=True)
class Preset:
    key: str
    options: dict  # flat config options; everything else comes from the task's defaults
    compare: tuple[str, ...] = ("rnn", "lstm", "gru")  # cells for the Compare page

    def config(self, **overrides) -> RunConfig:
        return resolve_config({**self.options, **overrides})


_ADDING = {"task": "adding", "seq_len": 50, "hidden": 64, "batch": 50, "steps": 2000, "lr": 3e-3, "clip": 1.0,
           "optimizer": "adam", "init": "default", "seed": 0}
# SGD (unlike Adam) feels the gradient's size, so a recurrent gain above 1 blows it up within ~40 steps.
_EXPLODING = {"task": "adding", "cell": "rnn", "nonlinearity": "tanh", "seq_len": 20, "hidden": 64, "batch": 50,
              "steps": 2000, "optimizer": "sgd", "lr": 0.05, "init": "orthogonal", "init_gain": 1.3, "seed": 0}

_WITH_TRANSFORMER = ("rnn", "lstm", "gru", "transformer")
ATTENTION_T200_STEPS = 400

PRESETS: dict[str, Preset] = {p.key: p for p in (
    Preset("vanishing", {**_ADDING, "cell": "rnn"}),
    Preset("vanishing_lstm", {**_ADDING, "cell": "lstm"}),
    # Probed every 2 steps (all within train.EARLY_STEPS): the Gradients page then shows the blow-up probe by probe.
    Preset("exploding", {**_EXPLODING, "clip": 0.0, "probe_every": 2}, compare=("rnn",)),
    Preset("clipping", {**_EXPLODING, "clip": 1.0}, compare=("rnn",)),
    Preset("reversal", {"task": "reversal", "cell": "lstm", "attention": "dot"}),
    Preset("sentiment", {"task": "sentiment", "cell": "lstm", "attention": "dot"}),
    Preset("charlm", {"task": "charlm", "cell": "lstm", "variant": "brackets"}),
    Preset("sine", {"task": "sine", "cell": "gru"}),
    # Lesson 2 (vanishing gradients as T grows): the adding task at a short and a long distance, for Compare.
    Preset("adding_t10", {**_ADDING, "cell": "rnn", "seq_len": 10}),
    # At T=100 the LSTM leaves the baseline only after about 2000 steps (GRU: about 500), hence 3000 steps.
    Preset("adding_t100", {**_ADDING, "cell": "rnn", "seq_len": 100, "steps": 3000}),
    # Lesson 6: four times the charlm preset's steps: the loss keeps falling while the bracket and quote units,
    # formed in the first hundred steps, stay (r ≈ 0.8 and 0.6-0.9 over seeds 0-2).
    # Lesson 7 (reading both ways): the tagging task at its defaults, one-way and bidirectional (measured in
    # tests/test_lessons_new.py: bidirectional ≥ 0.95 token accuracy, one-way within 0.02 of the task's ceiling).
    Preset("tagging_one_way", {"task": "tagging", "cell": "lstm", "bidirectional": False}, compare=("lstm",)),
    Preset("tagging_bidirectional", {"task": "tagging", "cell": "lstm", "bidirectional": True}, compare=("lstm",)),
    # Lesson 8 (why attention replaced recurrence): the adding task for the three recurrent cells and a
    # one-layer transformer side by side. T=50 keeps the vanishing preset's 2000 steps (the LSTM needs ~1100); at
    # T=200 the transformer is below 0.01 by 200 steps while no recurrent cell leaves the baseline in 400.
    # The cell for the Train page is the LSTM: these presets are about Compare, which trains every cell listed.
    Preset("attention_t50", {**_ADDING, "cell": "lstm"}, compare=_WITH_TRANSFORMER),
    Preset("attention_t200", {**_ADDING, "cell": "lstm", "seq_len": 200, "steps": ATTENTION_T200_STEPS},
           compare=_WITH_TRANSFORMER),
    Preset("charlm_long", {"task": "charlm", "cell": "lstm", "variant": "brackets", "steps": 2000}, compare=("lstm",)),
)}
