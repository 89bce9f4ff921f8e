"""What each model family records and which analyses apply to it, so pages ask the model, not its cell name.

A family is the kind of sequence model a config builds: "rnn", "lstm", "gru" (recurrent, one-way or
bidirectional) or "transformer" (self-attention). `family_of(cfg)` (also `SeqModel.family`) describes it:

    states          state kinds recorded per layer and direction: ("h",) or ("h", "c"); each has a grad.* too
    gates           gate names per layer and direction: LSTM i f g o, GRU r z n, none for RNN and transformer
    directions      Trace-name suffixes, one per reading direction: ("",) one way, ("", ".reverse") bidirectional
    self_attention  the Trace holds attn.self.{l}, (B, heads, T, T), rows (queries) summing to 1
    recurrent       layers have a recurrent weight W_hh: summaries hold sigma_max.{prefix}{l}{direction},
                    and theory's spectra apply (its step Jacobians take one-way stacks only)
    spectral_bound  ||dh_T/dh_t|| <= (sigma_max(W_hh) gamma)^(T - t) holds: the vanilla RNN's bound
    bounded         every h lies in [-1, 1] (tanh states; a ReLU RNN's and the transformer's stream are not)

The grammar of Trace names, which `trace_name` builds (the cells and the transformer record with it):
    {prefix}{kind}.{layer}{direction}            h.0, c.1.reverse, dec.h.0
    {prefix}gate.{layer}{direction}.{gate}       gate.0.f, gate.0.reverse.z
    grad.{state name}                            grad.h.0.reverse: dL/dh_t of the backward direction
    {prefix}attn.self.{layer}                    the transformer's attention weights
A page showing layer l loops over `family.directions` (a direction picker where there are two), over
`family.states` for state heatmaps and gradient curves, over `family.gates` for gate panels (none: no
gate page), shows self-attention maps where `self_attention`, and sigma_max only where `recurrent`.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import ModelConfig

GATES = {"rnn": (), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}  # per recurrent cell, PyTorch's order
ONE_WAY, BOTH_WAYS = ("",), ("", ".reverse")  # torch.nn names the backward direction's weights *_reverse


@dataclass(frozen=True)
class ModelFamily:
    cell: str  # the config's cell: rnn, lstm, gru or transformer
    states: tuple[str, ...]
    gates: tuple[str, ...]
    directions: tuple[str, ...]
    self_attention: bool
    recurrent: bool
    spectral_bound: bool
    bounded: bool

    @property
    def features(self) -> int:
        """How many directions a layer's output concatenates (its width is this times hidden)."""
        return len(self.directions)


def family_of(cfg: ModelConfig) -> ModelFamily:
    """The family a model config builds."""
    if cfg.cell == "transformer":
        return ModelFamily("transformer", ("h",), (), ONE_WAY, self_attention=True, recurrent=False,
                           spectral_bound=False, bounded=False)
    tanh = cfg.cell != "rnn" or cfg.nonlinearity == "tanh"  # LSTM and GRU states are always in [-1, 1]
    return ModelFamily(cfg.cell, ("h", "c") if cfg.cell == "lstm" else ("h",), GATES[cfg.cell],
                       BOTH_WAYS if cfg.bidirectional else ONE_WAY, self_attention=False, recurrent=True,
                       spectral_bound=cfg.cell == "rnn", bounded=tanh)


def trace_name(kind: str, layer: int, gate: str = "", prefix: str = "", direction: str = "") -> str:
    """trace_name("h", 0) -> "h.0"; ("c", 1, direction=".reverse") -> "c.1.reverse";
    ("gate", 0, "f", "dec.") -> "dec.gate.0.f"; ("gate", 0, "z", direction=".reverse") -> "gate.0.reverse.z"."""
    return f"{prefix}{kind}.{layer}{direction}" + (f".{gate}" if gate else "")


def weight_suffix(direction: str) -> str:
    """The parameter-name suffix of a direction: "" -> "", ".reverse" -> "_reverse" (weight_hh_l0_reverse)."""
    return direction.replace(".", "_")
