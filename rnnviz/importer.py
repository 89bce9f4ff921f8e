"""Import a model trained outside rnnviz (an embedding or numeric input -> torch.nn.RNN / LSTM / GRU -> linear head)
into a run directory that the app restores and the CLI probes and trains on: `python -m rnnviz import`.

What the weights must hold, found by torch.nn's names and the shapes (`--rename OLD=NEW` renames prefixes first):
    recurrent layers   {prefix}weight_ih_l{k}, weight_hh_l{k}, and bias_ih_l{k}, bias_hh_l{k} (or no biases at all:
                       bias=False, imported as zeros) under one prefix (lstm., rnn., encoder., or none).
                       hidden H = weight_hh's columns; weight_hh's rows are 1, 3 or 4 x H: RNN, GRU or LSTM
    an embedding       token models: a 2-D X.weight (V, E) without a bias, E = weight_ih_l0's columns
    a linear head      a 2-D X.weight (O, H) and, if it has one, X.bias (O,)
Where several tensors fit one role, the name decides: embedding / embed / encoder / ... and fc / linear / decoder /
head / ...; anything left over is refused, since rnnviz's model would have no place for it. The weights go into the
run under rnnviz's names (embed.weight, rnn.*, head.*; rnnviz/models.py) as float32.

The data is the run's own data.txt / data.csv (the task reads it as usual). A character model keeps the imported
vocabulary, id = position, in its config (TaskConfig.vocab, checked by rnnviz/tasks/charlm.py), so the ids mean
what they meant in training whatever characters the text holds. Anything that does not fit is a ModelImportError
(a ValueError) of one line saying what was found.

Weights are read from safetensors; `read_torch_weights` (torch.load with weights_only=True) is for the command
line's --torch-save only: the app takes safetensors files alone.
"""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors

from .cells import GATE_BLOCKS
from .notebook import check_one_direction
from .runs import MAX_STATE_BYTES, RUN_JSON, save_run
from .tasks import make_task, resolve_config, task_class
from .tasks.base import decode_utf8, read_regular_file
from .train import Trainer

# Names a tutorial gives its layers (the last part of the module's name, as in `embedding.weight`)
EMBED_NAMES = ("embed", "embedding", "embeddings", "emb", "encoder", "word_embeddings", "tok_embeddings", "wte")
HEAD_NAMES = ("head", "fc", "linear", "decoder", "out", "output", "classifier", "proj", "lm_head", "dense")
CELL_OF_BLOCKS = {blocks: cell for cell, blocks in GATE_BLOCKS.items()}  # rows of weight_hh / hidden -> cell
RECURRENT = re.compile(r"(?P<prefix>.*?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(?P<layer>[0-9]+)"
                       r"(?P<reverse>_reverse)?")
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")  # where a torch.save checkpoint keeps the weights
MAX_VOCAB_BYTES = 2**20
MAX_WEIGHTS_BYTES = MAX_STATE_BYTES  # a torch.save checkpoint may carry an optimizer's state beside the weights


class ModelImportError(ValueError):
    """Weights, a vocabulary or data that do not make an rnnviz run; the message says what was found."""


# ---- reading files -------------------------------------------------------------------------------
def _read(path, most: int, what: str) -> bytes:
    try:
        return read_regular_file(path, most, what)
    except ValueError as err:
        raise ModelImportError(str(err)) from None


def read_weights(path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file."""
    name = Path(path).name
    data = _read(path, MAX_WEIGHTS_BYTES, "a weights file")
    try:
        return load_safetensors(data)
    except Exception:  # noqa: BLE001 -- any parse failure means the same to the user
        if data[:2] == b"PK" or data[:1] == b"\x80":
            raise ModelImportError(f"{name} looks like a torch.save file, not safetensors: save the state dict with "
                                   "safetensors.torch.save_file, or on the command line pass --torch-save") from None
        raise ModelImportError(f"{name} is not a safetensors file (or it is damaged)") from None


def read_torch_weights(path) -> dict[str, torch.Tensor]:
    """The state dict of a torch.save file, read with torch.load(weights_only=True), which builds tensors and plain
    containers only. For the command line's --torch-save; the app never calls it. A checkpoint dict keeping the
    weights under state_dict / model_state_dict / model is understood too."""
    name = Path(path).name
    data = _read(path, MAX_WEIGHTS_BYTES, "a weights file")
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- weights_only refuses what is not plain tensors and containers
        raise ModelImportError(f"{name} cannot be read by torch.load(weights_only=True): {str(err).splitlines()[0][:200]}") from None
    for candidate in [loaded] + [loaded.get(k) for k in CHECKPOINT_KEYS if isinstance(loaded, dict)]:
        if isinstance(candidate, dict) and candidate and all(
                isinstance(k, str) and torch.is_tensor(v) for k, v in candidate.items()):
            return dict(candidate)
    keys = ", ".join(map(str, list(loaded)[:5])) if isinstance(loaded, dict) else type(loaded).__name__
    raise ModelImportError(f"{name} holds no state dict of tensors (found {keys}): save model.state_dict()")


def read_vocab(path) -> list[str]:
    """Tokens by id from a JSON list of strings (a .json file: a newline can be a token) or a text file with one
    token per line."""
    name = Path(path).name
    text = decode_utf8(_read(path, MAX_VOCAB_BYTES, "a vocabulary file"), name, "UTF-8")
    if name.lower().endswith(".json"):
        try:
            tokens = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise ModelImportError(f"{name} is not valid JSON: give a JSON list of tokens, index = id") from None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ModelImportError(f"{name} is not a JSON list of strings: give a list of tokens, index = id")
    else:
        lines = text.replace("\r\n", "\n").split("\n")
        tokens = lines[:-1] if lines[-1] == "" else lines  # the newline ending the last line ends no token
    if not tokens:
        raise ModelImportError(f"{name} holds no tokens")
    return tokens


def apply_renames(state: dict[str, torch.Tensor], renames: list[str]) -> dict[str, torch.Tensor]:
    """state with name prefixes renamed: each rename is "OLD=NEW", and the first whose OLD starts a name applies."""
    pairs = []
    for rename in renames:
        old, sep, new = rename.partition("=")
        if not sep or not old:
            raise ModelImportError(f"--rename takes OLD=NEW (a prefix of the weights' names and its new prefix), got {rename!r}")
        if not any(name.startswith(old) for name in state):
            raise ModelImportError(f"--rename {rename}: no tensor's name starts with {old!r} (found {_names(state)})")
        pairs.append((old, new))
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        new_name = next((new + name[len(old):] for old, new in pairs if name.startswith(old)), name)
        if new_name in out:
            raise ModelImportError(f"after the renames two tensors are called {new_name}")
        out[new_name] = tensor
    return out


def _names(state: dict, most: int = 6) -> str:
    names = ", ".join(sorted(state)[:most])
    return names + (", ..." if len(state) > most else "") if state else "no tensors"


def _shown(state: dict, name: str) -> str:
    return f"{name} {tuple(state[name].shape)}"


# ---- finding the model's parts ---------------------------------------------------------------------
@dataclass
class Layout:
    """What a state dict holds, and its weights under rnnviz's names (float32)."""

    cell: str
    input_size: int
    hidden: int
    layers: int
    prefix: str  # the recurrent layers' prefix in the file ("lstm.")
    embed: str | None  # the embedding's name in the file, None for numeric inputs
    head: str  # the head's weight's name in the file
    weights: dict[str, torch.Tensor]

    def found(self, state: dict) -> str:
        """'found lstm.weight_ih_l0 (512, 64), fc.weight (80, 128): lstm, hidden 128', for messages."""
        parts = [f"{self.prefix}weight_ih_l0"] + ([self.embed] if self.embed else []) + [self.head]
        return f"found {', '.join(_shown(state, p) for p in parts)}: {self.cell}, hidden {self.hidden}"


def find_layout(state: dict[str, torch.Tensor], tokens: bool) -> Layout:
    """The recurrent layers, the embedding (tokens) and the head in state; a ModelImportError if they do not fit."""
    prefix, names = _recurrent_names(state)
    cell, input_size, hidden, layers = _recurrent_shape(state, prefix, names)
    used = set(names.values())
    embed = _pick_embedding(state, input_size, used) if tokens else None
    if embed is not None:
        used.add(embed)
    head = _pick_head(state, hidden, used)
    head_bias = head.removesuffix("weight") + "bias"
    used |= {head, head_bias}
    left = sorted(set(state) - used)
    if left:
        shown = ", ".join(_shown(state, n) for n in left[:3]) + (", ..." if len(left) > 3 else "")
        what = "an embedding, " if tokens else "numeric inputs (no embedding), "
        raise ModelImportError(f"found tensors that rnnviz's model ({what}{cell}, linear head) has no place for: {shown}")
    sources = {f"rnn.{kind}_l{layer}": name for (kind, layer), name in names.items()}  # rnnviz's name -> the file's
    sources.update({"embed.weight": embed} if embed is not None else {})
    sources.update({"head.weight": head, **({"head.bias": head_bias} if head_bias in state else {})})
    weights = {ours: _float32(state, theirs) for ours, theirs in sources.items()}
    for layer in range(layers):  # bias=False: zeros compute the same
        for kind in ("bias_ih", "bias_hh"):
            weights.setdefault(f"rnn.{kind}_l{layer}", torch.zeros(GATE_BLOCKS[cell] * hidden))
    weights.setdefault("head.bias", torch.zeros(state[head].shape[0]))
    return Layout(cell, input_size, hidden, layers, prefix, embed, head, weights)


def _recurrent_names(state: dict) -> tuple[str, dict[tuple[str, int], str]]:
    """(the recurrent layers' prefix, {(kind, layer): name}) of the one recurrent stack in state."""
    by_prefix: dict[str, dict] = {}
    for name in state:
        match = RECURRENT.fullmatch(name)
        if match is None:
            continue
        check_one_direction(match["reverse"] is not None, f"the layer holding {name}")
        if match["kind"] == "weight_hr":
            raise ModelImportError(f"found {_shown(state, name)}: an LSTM with projections (proj_size), "
                                   "which rnnviz does not support")
        by_prefix.setdefault(match["prefix"], {})[(match["kind"], int(match["layer"]))] = name
    if not by_prefix:
        raise ModelImportError(f"found no recurrent layer (torch.nn's weight_ih_l0, weight_hh_l0, ...) among {_names(state)}")
    if len(by_prefix) > 1:
        raise ModelImportError(f"found recurrent layers under {len(by_prefix)} prefixes ({', '.join(sorted(by_prefix))}): "
                               "rnnviz imports one stack")
    (prefix, names), = by_prefix.items()
    return prefix, names


def _recurrent_shape(state: dict, prefix: str, names: dict) -> tuple[str, int, int, int]:
    """(cell, input size, hidden, layers) from the shapes, each tensor checked against them."""
    layers = 1 + max(layer for _, layer in names)
    for layer in range(layers):
        for kind in ("weight_ih", "weight_hh"):
            if (kind, layer) not in names:
                raise ModelImportError(f"found {prefix}*_l{layer} tensors but no {prefix}{kind}_l{layer}")
        if (("bias_ih", layer) in names) != (("bias_hh", layer) in names):
            raise ModelImportError(f"found one of {prefix}bias_ih_l{layer} and {prefix}bias_hh_l{layer} without the other")
    w_hh = names[("weight_hh", 0)]
    if state[w_hh].dim() != 2 or state[w_hh].shape[1] == 0:
        raise ModelImportError(f"found {_shown(state, w_hh)}: not the 2-D weight torch.nn keeps there")
    rows, hidden = state[w_hh].shape
    cell = CELL_OF_BLOCKS.get(rows // hidden) if rows % hidden == 0 else None
    if cell is None:
        raise ModelImportError(f"found {_shown(state, w_hh)}: hidden {hidden} (its columns), but {rows} rows are not 1, 3 "
                               "or 4 times that (RNN, GRU, LSTM)")
    w_ih = names[("weight_ih", 0)]
    input_size = state[w_ih].shape[1] if state[w_ih].dim() == 2 else -1
    for (kind, layer), name in sorted(names.items(), key=lambda item: (item[0][1], item[0][0])):
        columns = (input_size if layer == 0 else hidden) if kind == "weight_ih" else hidden
        expected = (rows,) if kind.startswith("bias") else (rows, columns)
        if tuple(state[name].shape) != expected:
            raise ModelImportError(f"found {_shown(state, w_hh)} and {_shown(state, name)}: a {cell} of hidden {hidden} "
                                   f"keeps {name} as {expected}")
    return cell, input_size, hidden, layers


def _module(weight_name: str) -> str:
    """'model.fc' -> 'fc': the layer's own name, for weight 'model.fc.weight'."""
    return weight_name.removesuffix(".weight").rsplit(".", 1)[-1]


def _pick(state: dict, candidates: list[str], names: tuple[str, ...], role: str) -> str | None:
    """The one candidate for a role, or among several the one named like it; None when there is none."""
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    named = [c for c in candidates if _module(c) in names]
    if len(named) == 1:
        return named[0]
    shown = ", ".join(_shown(state, c) for c in candidates[:4])
    raise ModelImportError(f"found {len(candidates)} tensors that could be the {role} ({shown}): "
                           f"name the one you mean {names[0]}.weight with --rename OLD=NEW")


def _pick_embedding(state: dict, input_size: int, used: set) -> str:
    candidates = sorted(n for n, t in state.items() if n not in used and n.endswith("weight") and t.dim() == 2
                        and t.shape[1] == input_size and n.removesuffix("weight") + "bias" not in state)
    embed = _pick(state, candidates, EMBED_NAMES, "embedding")
    if embed is None:
        raise ModelImportError(f"found no embedding for token inputs: a 2-D X.weight with {input_size} columns, "
                               f"the recurrent layer's input size, among {_names(state)}")
    return embed


def _pick_head(state: dict, hidden: int, used: set) -> str:
    def fits(name: str, t: torch.Tensor) -> bool:
        bias = state.get(name.removesuffix("weight") + "bias")
        return (name not in used and name.endswith("weight") and t.dim() == 2 and t.shape[1] == hidden
                and (bias is None or tuple(bias.shape) == (t.shape[0],)))

    head = _pick(state, sorted(n for n, t in state.items() if fits(n, t)), HEAD_NAMES, "linear head")
    if head is None:
        raise ModelImportError(f"found no linear head: a 2-D X.weight with {hidden} columns (the hidden size) and its "
                               f"X.bias, among {_names(state)}")
    return head


def _float32(state: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """state[name] as a float32 CPU tensor, unless it is not floating point or not finite."""
    t = state[name]
    if not t.is_floating_point():
        raise ModelImportError(f"found {_shown(state, name)} of {str(t.dtype).removeprefix('torch.')} numbers, "
                               "not floating point")
    t = t.detach().to("cpu", torch.float32).contiguous()
    if not torch.isfinite(t).all():
        raise ModelImportError(f"found {_shown(state, name)}, which holds values that are not finite (NaN or infinity)")
    return t


# ---- the run -------------------------------------------------------------------------------------
def import_files(weights, data, out, *, torch_save: bool = False, vocab=None, features: int | None = None,
                 renames=(), **options) -> dict:
    """import_run on files: the weights (safetensors, or with torch_save a torch.save state dict), the data and
    the vocabulary file (or features), with the prefix renames applied first."""
    state = apply_renames(read_torch_weights(weights) if torch_save else read_weights(weights), list(renames))
    tokens = read_vocab(vocab) if vocab is not None else None
    return import_run(state, data, out, vocab=tokens, features=features,
                      vocab_name=Path(vocab).name if vocab is not None else "the vocabulary", **options)


def import_run(state: dict[str, torch.Tensor], data, out, *, vocab: list[str] | None = None, features: int | None = None,
               task: str | None = None, seq_len: int | None = None, column: str | None = None,
               nonlinearity: str = "tanh", vocab_name: str = "the vocabulary") -> dict:
    """Save state with its data file as a new run in directory out, not yet trained; returns what went into
    run.json. Exactly one of vocab (tokens by id) and features (numbers per step) is given; task defaults to
    charlm for tokens, sine for features."""
    if (vocab is None) == (features is None):
        raise ModelImportError("give the inputs: a vocabulary (--vocab FILE) for tokens, or --features N for numbers")
    if (Path(out) / RUN_JSON).exists():
        raise ModelImportError(f"{Path(out).name} already holds a run: choose another --out")
    layout = find_layout(state, tokens=vocab is not None)
    found = layout.found(state)
    name = task or ("charlm" if vocab is not None else "sine")
    cls = task_class(name)
    if not cls.takes_data:
        raise ModelImportError(f"task {name} generates its own data; an imported model needs a task that reads "
                               "--data (charlm: a text, sine: a CSV)")
    if cls.tokens_in != (vocab is not None):
        raise ModelImportError(f"task {name} reads {'tokens: give --vocab' if cls.tokens_in else 'numbers: give --features'}")
    if nonlinearity != "tanh" and layout.cell != "rnn":
        raise ModelImportError(f"{found}: a nonlinearity is for an RNN only")
    options = {"task": name, "cell": layout.cell, "hidden": layout.hidden, "layers": layout.layers, "seq_len": seq_len,
               "nonlinearity": nonlinearity, "data": str(data), "column": column}
    if vocab is not None:
        options.update(vocab=_characters(vocab, vocab_name, name), embed_dim=layout.input_size)
        assert layout.embed is not None  # find_layout(tokens=True) finds an embedding or raises
        rows = state[layout.embed].shape[0]
        if rows != len(vocab):
            raise ModelImportError(f"{found}; the embedding reads {rows} tokens, but {vocab_name} has {len(vocab)}")
    elif features != layout.input_size:
        raise ModelImportError(f"{found}: {layout.input_size} input features per step, but --features says {features}")
    try:
        cfg = resolve_config(options)
    except ValueError as err:
        raise ModelImportError(f"{found}, which rnnviz cannot run: {err}") from None
    built = make_task(cfg.task)  # reads and checks the data (and the vocabulary against it)
    n_in = state[layout.embed].shape[0] if layout.embed else layout.input_size
    n_out = state[layout.head].shape[0]
    if (n_in, n_out) != (built.n_in, built.n_out):
        raise ModelImportError(f"{found}; the model reads {n_in} {'tokens' if layout.embed else 'features'} and predicts "
                               f"{n_out} per step, but task {name} reads {built.n_in} and predicts {built.n_out}")
    trainer = Trainer(cfg, task=built)
    trainer.model.load_state_dict({k: v.to(trainer.device) for k, v in layout.weights.items()})
    return save_run(trainer, out)


def _characters(vocab: list[str], vocab_name: str, task: str) -> str:
    """The vocabulary as one text, id = position, for a character task (rnnviz/tasks/charlm.py checks it further)."""
    long = next(((i, t) for i, t in enumerate(vocab) if len(t) != 1), None)
    if long is not None:
        raise ModelImportError(f"token {long[0]} of {vocab_name} is {long[1]!r}: {task} reads one character per step")
    return "".join(vocab)
