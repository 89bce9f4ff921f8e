"""What units mean: find where a set of hidden units switches on together, and which states resemble one another.

LSTMVis's question (Strobelt et al. 2018): select a span of a text, take the units that are on throughout it and
off just before it, and look for the other places where the same units switch on together. Here:

    select_units     the units on (> threshold) at every step of a span and off (<= threshold) the step before
    search_span      those units, and the other spans where they are on together, best first (rule below)
    nearest_states   the k hidden states most like one (cosine similarity), with the text that led to each
    text_states      a character model's states over a user's own text, cut into windows of the run's seq_len

States are (N, T, H) arrays: N texts (probe windows, or windows of the user's file), T steps, H units, as a
Trace's `h.{l}` or `c.{l}`. Everything returned is plain data (ints, floats, strings, lists, numpy arrays).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .models import SeqModel
from .tasks.charlm import REPLACEMENT, CharLM

MIN_SHARE = 0.75  # a step matches when at least this share of the selected units is on
MAX_MATCHES = 50  # spans a search returns at most
CONTEXT_CHARS = 20  # characters of text shown before (and including) a state's step
MAX_TEXT_CHARS = 16_384  # characters of a user's text read: MAX_TEXT_CHARS // seq_len windows (256 at T = 64)
WINDOWS_PER_PASS = 64  # windows run through the model at once: bounds the unrolled model's memory


@dataclass
class Span:
    text: int  # index of the text (window) among the N
    start: int  # first step, inclusive
    end: int  # last step, inclusive
    share: float  # mean over the span's steps of the share of the selected units that are on
    score: float  # share x length agreement with the selected span (see search_span)

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass
class SpanSearch:
    text: int  # the selected span
    start: int
    end: int
    threshold: float
    units: list[int]  # the units on throughout the selection and off just before it, ascending
    matches: list[Span]  # the other spans where those units are on together, best first


@dataclass
class Neighbour:
    text: int
    step: int
    similarity: float  # cosine similarity with the query state, -1 to 1
    context: str  # the characters up to and including this step (empty without texts)


def _check_states(states) -> np.ndarray:
    states = np.asarray(states)
    if states.ndim != 3 or 0 in states.shape:
        raise ValueError(f"states must be an (N texts, T steps, H units) array with none of them 0, got shape {states.shape}")
    return states


def _check_position(states: np.ndarray, text: int, step: int, what: str = "step") -> None:
    N, T, _ = states.shape
    if not 0 <= text < N:
        raise ValueError(f"text {text} is out of range: there are {N} texts, numbered 0 to {N - 1}")
    if not 0 <= step < T:
        raise ValueError(f"{what} {step} is out of range: texts have {T} steps, numbered 0 to {T - 1}")


def select_units(states, text: int, start: int, end: int, threshold: float) -> list[int]:
    """The units whose state is above threshold at every step start..end (inclusive) of one text and at or below
    it at step start - 1 (a span from step 0 only needs to be on throughout). A threshold no state reaches, or one
    every state passes, simply selects no unit (or, from step 0, every unit). Raises ValueError for a span or
    threshold that cannot be read: out of range, end before start, a threshold that is not a finite number."""
    states = _check_states(states)
    _check_position(states, text, start, "start")
    _check_position(states, text, end, "end")
    if end < start:
        raise ValueError(f"the span ends (step {end}) before it starts (step {start})")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) or not math.isfinite(threshold):
        raise ValueError(f"the threshold must be a finite number, got {threshold!r}")
    on = (states[text, start:end + 1] > threshold).all(axis=0)  # (H,)
    if start > 0:
        on &= states[text, start - 1] <= threshold
    return [int(u) for u in np.flatnonzero(on)]


def search_span(states, text: int, start: int, end: int, threshold: float, min_share: float = MIN_SHARE,
                limit: int = MAX_MATCHES) -> SpanSearch:
    """select_units for the span, then every other span of every text where those units are on together.

    Ranking rule: at each step of each text, share = the fraction of the selected units above threshold. A match
    is a maximal run of steps with share >= min_share (so the step before and after it fall below); its score is
    its mean share times its length agreement with the selection, min(L, L0) / max(L, L0) for lengths L and L0.
    Matches are sorted by score, highest first, then by text and start; runs that overlap the selection itself
    are left out, and at most `limit` are returned. No qualifying unit gives no matches (and no error)."""
    units = select_units(states, text, start, end, threshold)
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be above 0 and at most 1, got {min_share!r}")
    search = SpanSearch(text, start, end, float(threshold), units, [])
    if not units:
        return search
    share = (np.asarray(states)[:, :, units] > threshold).mean(axis=2)  # (N, T)
    search.matches = _ranked_runs(share, min_share, end - start + 1, (text, start, end))[:limit]
    return search


def _ranked_runs(share: np.ndarray, min_share: float, length: int, selected: tuple[int, int, int]) -> list[Span]:
    """Maximal runs of steps with share >= min_share in each row of (N, T) share, scored as search_span says."""
    good = np.pad(share >= min_share, ((0, 0), (1, 1)))  # (N, T + 2): a run cannot touch the row's ends
    edges = np.diff(good.astype(np.int8), axis=1)  # (N, T + 1): +1 where a run starts, -1 just after it ends
    rows, starts = np.nonzero(edges == 1)
    _, stops = np.nonzero(edges == -1)  # row-major like the starts, so the k-th stop closes the k-th start
    sums = np.pad(np.cumsum(share, axis=1), ((0, 0), (1, 0)))  # (N, T + 1): sums[:, t] = share[:, :t].sum()
    text, first, last = selected
    spans = []
    for row, s, stop in zip(rows.tolist(), starts.tolist(), stops.tolist()):
        if row == text and s <= last and stop - 1 >= first:
            continue  # the selection itself, or a run containing it
        mean = float(sums[row, stop] - sums[row, s]) / (stop - s)
        agreement = min(stop - s, length) / max(stop - s, length)
        spans.append(Span(row, s, stop - 1, mean, mean * agreement))
    return sorted(spans, key=lambda sp: (-sp.score, sp.text, sp.start))


def nearest_states(states, text: int, step: int, k: int = 10, texts: list[str] | None = None,
                   width: int = CONTEXT_CHARS) -> list[Neighbour]:
    """The k states (text, step) most similar to states[text, step] by cosine similarity, most similar first
    (ties by position), the state itself left out. A zero state is similar to nothing: its similarity to any
    state is 0. With the decoded texts, each neighbour carries its context (see `context`)."""
    states = _check_states(states)
    _check_position(states, text, step)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    N, T, H = states.shape
    flat = states.reshape(N * T, H).astype(np.float32)
    norms = np.linalg.norm(flat, axis=1)  # (N * T,)
    query = text * T + step
    with np.errstate(divide="ignore", invalid="ignore"):
        sims = flat @ flat[query] / (norms * norms[query])  # (N * T,)
    sims = np.where(np.isfinite(sims), sims, 0.0)
    sims[query] = -np.inf
    best = np.argsort(-sims, kind="stable")[:min(k, N * T - 1)]
    return [Neighbour(int(i // T), int(i % T), float(np.clip(sims[i], -1, 1)),
                      context(texts, int(i // T), int(i % T), width) if texts is not None else "")
            for i in best]


def context(texts: list[str], text: int, step: int, width: int = CONTEXT_CHARS) -> str:
    """The last `width` characters the model had read when it reached step of text, that step's included."""
    return texts[text][max(0, step + 1 - width):step + 1]


def decode_texts(x, vocab: list[str]) -> list[str]:
    """The texts of (N, T) character ids, as a Trace's `x` holds them for a token task (task.in_vocab)."""
    return ["".join(vocab[int(i)] for i in row) for row in np.asarray(x)]


@dataclass
class TextStates:
    states: dict[str, np.ndarray]  # h.{layer} (and c.{layer} for an LSTM): (N, T, H) float32
    texts: list[str]  # the N windows as the model read them (unknown characters replaced, see text_states)
    chars_read: int  # N * T: characters run through the model
    chars_total: int  # characters of the whole text
    replaced: int  # characters of the windows outside the model's vocabulary


@torch.no_grad()
def text_states(twin: SeqModel, task: CharLM, text: str, layer: int | None = None) -> TextStates:
    """Run a character model over a user's own text and keep one layer's states (default: the top layer).

    twin: the run's unrolled model (`rnnviz.runs.load_model(saved, task, unrolled=True)`; for a live Trainer a
    copy, `probe.make_twin(trainer.model)`). The text is cut into consecutive windows of the run's seq_len T, each
    read from a zero state as in training, at most MAX_TEXT_CHARS // T of them; the rest of the text, and a last
    piece shorter than T, are not read. A text shorter than T is one window. Characters the vocabulary lacks
    are read as the replacement character where the vocabulary has one, else as its most frequent character."""
    if task.name != "charlm" or not twin.unrolled:
        raise ValueError("text_states needs a character model (charlm) and its unrolled twin")
    if not text:
        raise ValueError("the text is empty: there is nothing to run the model over")
    layer = twin.cfg.layers - 1 if layer is None else layer
    if not 0 <= layer < twin.cfg.layers:
        raise ValueError(f"layer {layer} is out of range: this model has {twin.cfg.layers} layers, numbered from 0")
    T = min(task.seq_len, len(text))
    windows = min(len(text) // T, max(1, MAX_TEXT_CHARS // T))
    read = text[:windows * T]
    ids, replaced = _character_ids(task, read)
    x = ids.reshape(windows, T)  # (N, T)
    names = [f"h.{layer}"] + ([f"c.{layer}"] if twin.cfg.cell == "lstm" else [])
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for first in range(0, windows, WINDOWS_PER_PASS):
        record: dict = {}
        twin(x[first:first + WINDOWS_PER_PASS], record=record)
        for name in names:
            parts[name].append(torch.stack(record[name], dim=1).float().numpy())  # (chunk, T, H)
    states = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    return TextStates(states, decode_texts(x, task.in_vocab), windows * T, len(text), replaced)


def _character_ids(task: CharLM, text: str) -> tuple[torch.Tensor, int]:
    """(len(text),) ids of text in the task's vocabulary, and how many characters it lacked (see text_states)."""
    index = {c: i for i, c in enumerate(task.in_vocab)}
    stand_in = index.get(REPLACEMENT, int(task.frequencies.argmax()))
    ids = [index.get(c, -1) for c in text]
    replaced = ids.count(-1)
    return torch.tensor([stand_in if i < 0 else i for i in ids], dtype=torch.long), replaced
