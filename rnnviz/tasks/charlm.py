"""Character language model: predict the next character of a text at every step.

Encoding: the corpus becomes one long sequence of character ids. x = text[i : i + T] and
y = text[i + 1 : i + T + 1] as ids, both (B, T), with i drawn at random inside one split: the first
90% of the corpus is "train", the last 10% "val". The vocabulary is the corpus's distinct characters,
sorted; past 96 of them only the 95 most frequent are kept and the rest share one replacement
character, so a stray symbol cannot blow up the output layer.
Corpora (variants):
  brackets  ~200k generated characters (the same every time): lines of 40-80 characters made of
            words, nested () and [] up to depth 3 and "DOUBLE-QUOTED PHRASES". Inside brackets the
            words are numbers and inside quotes they are in capitals, so knowing whether it is inside
            brackets or quotes pays at every word, and units that track it appear within the first
            hundred steps (Karpathy et al. 2015 found such cells in real text). A unit counting the
            position in the line stays weak: line widths vary, so counting helps little.
  stdlib    the Python standard library's own top-level .py files, read from the directory of the
            `os` module, sorted by name and concatenated up to 1 MB (depends on the Python version).
A UTF-8 text file in cfg.data replaces the variant's corpus. cfg.vocab, a text of distinct characters (an
imported model's, id = position: rnnviz/importer.py), replaces the vocabulary built from the corpus.
Loss: cross-entropy over the vocabulary, averaged over all T steps.
Baseline: the unigram model, which always predicts the corpus's character frequencies: its loss is
their entropy, -sum_c p_c ln p_c nats (measured per corpus; about 3 nats for English text).
"""
from __future__ import annotations

import math
import os
import random
import unicodedata
from collections import Counter
from functools import lru_cache

import numpy as np
import torch

from ..features import TEXT_FEATURES, text_feature
from .base import Batch, Task, decode_utf8, read_user_file, train_split

MAX_VOCAB = 96
MAX_GIVEN_VOCAB = 1000  # an imported model's own vocabulary; run.json keeps config texts up to 1000 characters
REPLACEMENT = "\ufffd"  # stands for every character outside the kept vocabulary
TRAIN_FRACTION = 0.9
STDLIB_CHARS = 1_000_000

WORDS = (
    "the a an of to in is was it that on for with as by at from this be are or not but all "
    "time line word tree node list value state gate cell loop step memory signal token input output "
    "small large first last open close inner outer left right early late quick slow bright quiet "
    "reads writes keeps holds forgets counts returns opens closes carries"
).split()


class CharLM(Task):
    name = "charlm"
    summary = "Predict the next character of a text: brackets, quotes and line lengths to keep track of."
    output = "per_step"
    causal = True  # the target at t is the input at t + 1
    loss_kind = "ce"
    output_view = "text"
    shows_accuracy = False  # the next character is often a free choice: the loss says more
    variants = ("brackets", "stdlib")
    takes_data = "text"
    defaults = {"seq_len": 64, "hidden": 128, "batch": 32, "steps": 500, "lr": 3e-3, "clip": 1.0}
    tokens_in = True
    in_vocab: list[str]  # id -> character, set in __init__ (the same list is out_vocab)

    def __init__(self, cfg):
        super().__init__(cfg)
        if cfg.data:
            text, self.source = _read_text(cfg.data), os.path.basename(cfg.data)
        else:
            text, self.source = (_brackets_corpus() if self.variant == "brackets" else _stdlib_corpus()), self.variant
        counts = Counter(text)
        if cfg.vocab is not None:
            vocab = _given_vocab(cfg.vocab, counts)
        elif len(counts) <= MAX_VOCAB:
            vocab = sorted(counts)
        else:
            counts.pop(REPLACEMENT, None)
            vocab = sorted(_most_frequent(counts, MAX_VOCAB - 1)) + [REPLACEMENT]
        self.in_vocab = self.out_vocab = vocab
        self._index = {c: i for i, c in enumerate(vocab)}
        self.n_in = self.n_out = len(vocab)
        self.ids = self.encode(text)  # (N,)
        self.frequencies = torch.bincount(self.ids, minlength=self.n_out).double() / len(self.ids)  # (V,) unigram model
        seen = self.frequencies[self.frequencies > 0]
        self.baseline_loss = -(seen * seen.log()).sum().item()
        self.split_at = train_split(len(self.ids), self.seq_len, TRAIN_FRACTION,
                                    f"the text has {len(self.ids):,} characters", "use a longer text")
        self.windows = self.split_at - self.seq_len  # distinct training windows: a batch larger than this only repeats them

    def encode(self, text: str) -> torch.Tensor:
        """Character ids of text, (len(text),) int64; characters outside the vocabulary become the replacement."""
        unknown = self._index.get(REPLACEMENT)
        ids = [self._index.get(c, unknown) for c in text]
        if None in ids:  # only possible when the corpus had few enough characters to need no replacement
            raise ValueError(f"character {text[ids.index(None)]!r} does not occur in this corpus, so the model cannot read it")
        return torch.tensor(ids, dtype=torch.long)

    def decode(self, ids) -> str:
        """The text for a sequence of ids (a tensor or a list)."""
        return "".join(self.in_vocab[i] for i in torch.as_tensor(ids).tolist())

    def signals(self, batch: Batch) -> dict[str, np.ndarray]:
        """The text features of rnnviz.features (inside brackets, their depth, inside quotes, line position)."""
        texts = [self.decode(row) for row in batch.x]
        return {name: text_feature(name, texts) for name in TEXT_FEATURES}

    def sample(self, n, gen, split="train"):
        if split not in ("train", "val"):
            raise ValueError(f"unknown split {split!r}: choose train or val")
        T = self.seq_len
        part = self.ids[:self.split_at] if split == "train" else self.ids[self.split_at:]
        start = torch.randint(0, len(part) - T, (n,), generator=gen)  # (B,)
        window = part[start[:, None] + torch.arange(T + 1)]  # (B, T + 1)
        return Batch(window[:, :-1], window[:, 1:])


def _given_vocab(vocab, counts: Counter) -> list[str]:
    """The characters of a given vocabulary (an imported model's, id = position), checked as hostile input: 1 to
    MAX_GIVEN_VOCAB distinct characters, none a control character but tab, newline and carriage return, none a
    lone surrogate (it cannot be written out as UTF-8), and every character of the text among them unless the
    replacement character is."""
    if not isinstance(vocab, str) or not 1 <= len(vocab) <= MAX_GIVEN_VOCAB:
        size = f"{len(vocab):,} characters" if isinstance(vocab, str) else type(vocab).__name__
        raise ValueError(f"a vocabulary must be a text of 1 to {MAX_GIVEN_VOCAB} characters, got {size}")
    if len(set(vocab)) != len(vocab):
        twice = next(c for i, c in enumerate(vocab) if c in vocab[:i])
        raise ValueError(f"the vocabulary holds {twice!r} twice: each character may have one id only")
    bad = next((c for c in vocab if unicodedata.category(c) in ("Cc", "Cs") and c not in "\t\n\r"), None)
    if bad is not None:
        raise ValueError(f"the vocabulary holds U+{ord(bad):04X}, a control character or a lone surrogate: "
                         "a vocabulary holds the characters of a text")
    outside = sorted(set(counts) - set(vocab))
    if outside and REPLACEMENT not in vocab:
        shown = ", ".join(repr(c) for c in outside[:5])
        raise ValueError(f"the text holds {len(outside)} character{'s' * (len(outside) != 1)} outside the model's "
                         f"vocabulary of {len(vocab)} ({shown}{', ...' if len(outside) > 5 else ''}), and the vocabulary "
                         f"has no {REPLACEMENT!r} to stand for them: give the text the model was trained on")
    return list(vocab)


def _most_frequent(counts: Counter, k: int) -> list[str]:
    """The k most frequent characters, ties broken by the character so the choice is deterministic."""
    return [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


@torch.no_grad()
def sample_text(model, task: CharLM, n_chars: int, temperature: float, gen: torch.Generator, prime: str = "") -> str:
    """n_chars characters written by a trained character model after prime, drawn one at a time.

    The model's own modules run one step per character (embed -> rnn with its state hx carried over ->
    head), so each character costs one step however long the text gets. A transformer carries no state: for
    every character it reads the last seq_len characters, the window it was trained on. The next character
    is drawn from softmax(logits / temperature) with gen (a CPU generator): 1 samples the model as trained,
    lower is more conservative, higher more adventurous. Without prime the first character is drawn
    from the corpus's character frequencies.
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 < temperature < math.inf:
        raise ValueError(f"temperature must be a number above 0 (1 samples the model as trained), got {temperature!r}")
    if n_chars < 0:
        raise ValueError(f"the number of characters to write must be 0 or more, got {n_chars}")
    if model.embed is None or model.io.output != "per_step" or model.embed.num_embeddings != task.n_in:
        raise ValueError("sample_text needs a model trained on this character task (token inputs, a prediction per step)")
    device = model.head.weight.device
    ids = task.encode(prime) if prime else torch.multinomial(task.frequencies, 1, generator=gen)  # (L,)
    out = [] if prime else ids.tolist()
    hx, context = None, ids  # context: everything read so far, for a model without a state
    while len(out) < n_chars:
        if model.family.recurrent:
            hs, hx = model.rnn(model.embed(ids.to(device)).unsqueeze(0), hx)  # (1, L, H)
        else:
            hs, _ = model.encoder(model.embed(context[-task.seq_len:].to(device)).unsqueeze(0))  # (1, <= T, d)
        logits = model.head(hs[0, -1]).float().cpu()  # (V,)
        # log_softmax first keeps a tiny temperature finite: the best character gets 0, others -> -inf
        probs = torch.softmax(torch.log_softmax(logits, -1) / temperature, -1)
        ids = torch.multinomial(probs, 1, generator=gen)  # (1,)
        context = torch.cat([context, ids])
        out.append(ids.item())
    return task.decode(out[:n_chars])


_NOT_CONTROL = bytes(b for b in range(256) if not (b < 32 and b not in b"\t\n\r" or b == 127))


def _read_text(path: str) -> str:
    """The UTF-8 text of a user's file, or a ValueError saying what is wrong with it."""
    name, raw = read_user_file(path, "text_bytes", "text")
    if not raw.strip():
        raise ValueError(f"{name} is empty: it holds no text to learn from")
    control = len(raw.translate(None, _NOT_CONTROL))  # bytes that are control characters (not tab or newline)
    if b"\0" in raw or control > 0.3 * len(raw):
        raise ValueError(f"{name} looks binary (it has NUL bytes or many control characters): give a plain text file")
    return decode_utf8(raw, name, "UTF-8")


@lru_cache(maxsize=1)
def _brackets_corpus(n_chars: int = 200_000) -> str:
    """Lines of 40-80 characters of words, nested brackets and quotes, from a fixed seed: the same every run."""
    rng = random.Random(1997)
    lines, line, width, total = [], "", rng.randint(40, 80), 0
    while total < n_chars:
        sentence = _phrase(rng, depth=0, quoted=False)
        sentence[-1] += "."
        for word in sentence:
            if line and len(line) + 1 + len(word) > width:  # break before the word that would overflow
                lines.append(line)
                total += len(line) + 1
                line, width = "", rng.randint(40, 80)
            line = f"{line} {word}" if line else word
    return "\n".join(lines) + "\n"


def _phrase(rng: random.Random, depth: int, quoted: bool, style: str = "word") -> list[str]:
    """2 to 6 items, each a word in the innermost enclosure's style (a plain word, a number inside brackets, a
    word in capitals inside quotes), a bracketed phrase (depth < 3) or a quoted phrase (not inside quotes)."""
    words = []
    for _ in range(rng.randint(2, 6)):
        r = rng.random()
        if r < 0.15 and depth < 3:
            opening, closing = rng.choice(("()", "[]"))
            inner = _phrase(rng, depth + 1, quoted, "number")
            inner[0], inner[-1] = opening + inner[0], inner[-1] + closing
            words += inner
        elif r < 0.22 and not quoted:
            inner = _phrase(rng, depth, True, "capitals")
            inner[0], inner[-1] = '"' + inner[0], inner[-1] + '"'
            words += inner
        elif style == "number":
            words.append(str(rng.randint(0, 999)))
        else:
            word = rng.choice(WORDS)
            words.append(word.upper() if style == "capitals" else word)
    return words


@lru_cache(maxsize=1)
def _stdlib_corpus() -> str:
    """The standard library's top-level .py files next to `os`, in name order, up to STDLIB_CHARS characters."""
    folder = os.path.dirname(os.__file__)
    parts, total = [], 0
    for name in sorted(os.listdir(folder)):
        if total >= STDLIB_CHARS:
            break
        if name.endswith(".py"):
            try:
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    parts.append(f.read())
            except (OSError, UnicodeDecodeError):
                continue
            total += len(parts[-1])
    if not parts:
        raise ValueError(f"found no Python source files in {folder}: choose the brackets corpus or give a text file")
    return "".join(parts)[:STDLIB_CHARS]
