"""Entity tagging where a name's type is often told by the words after it: the task for reading both ways.

An example is a window of exactly T = seq_len words made of short clauses, each ending in ".":
  "later Jordan Chase quietly resigned ."   right cue: the verb 1-3 words after the name gives its type
  "we lived in Austin Hudson ."             left cue: the words before the name give its type
  "officials said nothing ."                no name: cue words that name nothing (distractors)
A name is 1-3 words drawn from one pool of twelve (Austin, Chase, Jordan, ...) whatever its type, so the name
never gives the type away. Right cues come after 0-2 of quietly / reportedly / ...: said, smiled, resigned (PER),
merged, hired, downsized (ORG), flooded, froze, thawed (LOC). Left cues: "we met Dr.", "we thanked Mrs." (PER),
"we bought shares of", "we sold shares of" (ORG), "we lived in", "we arrived in" (LOC).
Every clause shape (kind, lead word or not, name length, gap length, type, cue; see `SHAPES`) has a fixed
probability: right-cued clauses 1/2 in all, left-cued 1/4, clauses without a name 1/4. Each clause is drawn from
the shapes that still fit in the window, in proportion to their probabilities, and its words uniformly from
their lists; when no shape fits (one or two words left) the window ends in ".".
Tags, BIO style: O, B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC: B- on a name's first word, I- on the rest, O
elsewhere. The whole window decides every tag (a left cue wins, else the first cue word after the name).
Encoding: x (B, T) word ids into `in_vocab` (the words, sorted), y (B, T) tag ids into `out_vocab`. Windows are
filled exactly, so there is no padding and no mask; the metric is token accuracy over all B x T words.
Loss: cross-entropy over the 7 tags, averaged over all T words.
Baseline: the best tagger reading only the current word. Every word but a name's is always O; name words are
interchangeable, so it gives each the same distribution over the six entity tags, their expected shares
E[n_k] / E[n_name] (E[n_k]: expected words tagged k per window, computed exactly by `expected_counts`), and
scores -(1/T) sum_k E[n_k] ln(E[n_k] / E[n_name]) nats: 0.4309 for the default T = 24.
Left-to-right ceiling: a reader that has seen words 1..t knows every tag but the type of a right-cued name,
which is still equally likely PER, ORG or LOC (types are drawn evenly, independent of everything before), so
its best accuracy is 1 - (2/3) E[n_right] / T, with n_right the right-cued name words
(`left_to_right_ceiling`): 0.8895 for T = 24. A reader of the whole window can tag every word right.
With the defaults (300 steps) a bidirectional LSTM reaches token accuracy 1.000 and a one-way one 0.894.
For pages: `tagged_rows` gives (word, tag, guess) rows, `signals` the 0/1 "in_entity" signal per word.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate, product

import numpy as np
import torch

from .base import Batch, Task

TYPES = ("PER", "ORG", "LOC")
TAGS = ("O", *(f"{edge}-{kind}" for kind in TYPES for edge in "BI"))  # O, B-PER, I-PER, B-ORG, ...
TAG_ID = {tag: i for i, tag in enumerate(TAGS)}
NAMES = ("Austin", "Carson", "Chase", "Dallas", "Florence", "Hudson", "Jackson", "Jordan", "Lincoln", "Morgan",
         "Sydney", "Warren")  # each is a person's, a firm's and a place's name
LEADS = ("then", "later", "meanwhile", "yesterday")  # may open a right-cued clause
GAP_LENGTHS = (0, 1, 2)  # words between a name and its right cue: it comes 1-3 words after
GAPS = ("quietly", "reportedly", "also", "again", "finally", "suddenly")  # the words of that gap
RIGHT_CUES = {"PER": ("said", "smiled", "resigned"), "ORG": ("merged", "hired", "downsized"),
              "LOC": ("flooded", "froze", "thawed")}
LEFT_CUES = {"PER": ("we met Dr.", "we thanked Mrs."), "ORG": ("we bought shares of", "we sold shares of"),
             "LOC": ("we lived in", "we arrived in")}
NO_NAME = ("officials said nothing .", "prices fell in March .", "nobody smiled .", "it froze again .",
           "we hired nobody .")  # cue words next to no name
NAME_LENGTHS = {1: 0.4, 2: 0.4, 3: 0.2}
LEAD_PROBABILITY = 0.5
KIND_PROBABILITY = {"right": 0.5, "left": 0.25, "none": 0.25}
END = "."
SLOTS = {"NAME": NAMES, "LEAD": LEADS, "GAP": GAPS}  # placeholders in a shape, filled with a uniform choice


@dataclass(frozen=True)
class Shape:
    """One clause shape: its words (literals or SLOTS placeholders), their tags, its probability, and whether
    its name's type is told only by a right cue (so hidden from a left-to-right reader)."""
    words: tuple[str, ...]
    tags: tuple[str, ...]
    probability: float
    right_cued: bool

    def __len__(self) -> int:
        return len(self.words)


def _name(kind: str, length: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The placeholders and tags of a name of `length` words and type `kind`."""
    return ("NAME",) * length, (f"B-{kind}",) + (f"I-{kind}",) * (length - 1)


def _shapes() -> list[Shape]:
    """Every clause shape with its probability: right-cued, left-cued, then the clauses without a name."""
    shapes = []
    for lead, length, gap, kind in product((True, False), NAME_LENGTHS, GAP_LENGTHS, TYPES):
        names, tags = _name(kind, length)
        p_lead = LEAD_PROBABILITY if lead else 1 - LEAD_PROBABILITY
        for cue in RIGHT_CUES[kind]:
            p = (KIND_PROBABILITY["right"] * p_lead * NAME_LENGTHS[length] / len(GAP_LENGTHS) / len(TYPES)
                 / len(RIGHT_CUES[kind]))
            words = ("LEAD",) * lead + names + ("GAP",) * gap + (cue, END)
            shapes.append(Shape(words, ("O",) * lead + tags + ("O",) * (gap + 2), p, right_cued=True))
    for kind, length in product(TYPES, NAME_LENGTHS):
        names, tags = _name(kind, length)
        for phrase in LEFT_CUES[kind]:
            p = KIND_PROBABILITY["left"] * NAME_LENGTHS[length] / len(TYPES) / len(LEFT_CUES[kind])
            before = phrase.split()
            shapes.append(Shape((*before, *names, END), ("O",) * len(before) + tags + ("O",), p, right_cued=False))
    for clause in NO_NAME:
        words = tuple(clause.split())
        shapes.append(Shape(words, ("O",) * len(words), KIND_PROBABILITY["none"] / len(NO_NAME), right_cued=False))
    return shapes


SHAPES = _shapes()
LONGEST = max(map(len, SHAPES))


def fitting(room: int) -> tuple[list[Shape], list[float]]:
    """The shapes of at most `room` words and their probabilities renormalised to sum to 1 (empty if none fits)."""
    return _fitting(min(room, LONGEST))  # every shape fits from LONGEST words on


def cumulative(room: int) -> list[float]:
    """fitting(room)'s probabilities summed up, for random.choices (which would otherwise sum them every call)."""
    return _cumulative(min(room, LONGEST))


@lru_cache(maxsize=None)
def _fitting(room: int) -> tuple[list[Shape], list[float]]:
    shapes = [s for s in SHAPES if len(s) <= room]
    total = sum(s.probability for s in shapes)
    return shapes, [s.probability / total for s in shapes]


@lru_cache(maxsize=None)
def _cumulative(room: int) -> list[float]:
    return list(accumulate(_fitting(room)[1]))


COUNTED = (*TAGS, "right")  # what expected_counts counts: words per tag, and right-cued name words


@lru_cache(maxsize=None)
def expected_counts(T: int) -> dict[str, float]:
    """Expected words per window of T with each tag, and "right" the right-cued name words, exactly: a dynamic
    programme over the room left, E(room) = sum over fitting shapes s of p(s | room) (counts(s) + E(room - |s|))."""
    counts = np.array([[s.tags.count(tag) for tag in TAGS] + [len(s) - s.tags.count("O") if s.right_cued else 0]
                       for s in SHAPES], dtype=np.float64)  # (S, 8) per shape
    lengths = np.array([len(s) for s in SHAPES])  # (S,)
    table = np.zeros((T + 1, len(COUNTED)))  # table[room]: expected counts in the rest of a window with `room` left
    for room in range(1, T + 1):
        shapes, probs = fitting(room)
        if not shapes:  # the window ends in "."
            table[room, 0] = room
            continue
        fits = lengths <= room  # (S,) in SHAPES order, as fitting keeps it
        table[room] = np.asarray(probs) @ (counts[fits] + table[room - lengths[fits]])
    return dict(zip(COUNTED, table[T].tolist()))


def left_to_right_ceiling(T: int) -> float:
    """The best token accuracy a reader of words 1..t can reach at every t, in expectation (see the docstring)."""
    return 1 - (1 - 1 / len(TYPES)) * expected_counts(T)["right"] / T


def word_only_loss(T: int) -> float:
    """The loss of the best tagger that reads only the current word (the baseline; see the docstring)."""
    counts = expected_counts(T)
    entity = [counts[tag] for tag in TAGS[1:] if counts[tag] > 0]
    names = sum(entity)
    return -sum(n * math.log(n / names) for n in entity) / T


class Tagging(Task):
    name = "tagging"
    summary = "Tag names as person, firm or place when the word that tells comes after the name: read both ways."
    output = "per_step"
    output_view = "tags"
    loss_kind = "ce"
    defaults = {"seq_len": 24, "hidden": 64, "batch": 64, "steps": 300, "lr": 3e-3, "clip": 1.0}
    tokens_in = True
    in_vocab = sorted({w for s in SHAPES for w in s.words if w not in SLOTS} | {w for ws in SLOTS.values() for w in ws})
    out_vocab = list(TAGS)
    n_in, n_out = len(in_vocab), len(TAGS)

    def __init__(self, cfg):
        super().__init__(cfg)
        self._word_id = {w: i for i, w in enumerate(self.in_vocab)}
        self.baseline_loss = word_only_loss(self.seq_len)
        self.ceiling = left_to_right_ceiling(self.seq_len)  # best accuracy reading left to right only

    def sample(self, n, gen, split="train"):
        seeds = torch.randint(0, 2**62, (n,), generator=gen).tolist()  # one private stream per window
        word_ids, tag_ids = [], []
        for seed in seeds:
            words, tags = self.window(random.Random(seed))
            word_ids.append([self._word_id[w] for w in words])
            tag_ids.append([TAG_ID[tag] for tag in tags])
        return Batch(torch.tensor(word_ids), torch.tensor(tag_ids))  # (B, T) each

    def window(self, rng: random.Random) -> tuple[list[str], list[str]]:
        """The T words of one window and their tags, choices drawn from rng."""
        words: list[str] = []
        tags: list[str] = []
        while (room := self.seq_len - len(words)) > 0:
            shapes = fitting(room)[0]
            if not shapes:
                words += [END] * room
                tags += ["O"] * room
                break
            shape = rng.choices(shapes, cum_weights=cumulative(room))[0]
            words += [rng.choice(SLOTS[w]) if w in SLOTS else w for w in shape.words]
            tags += shape.tags
        return words, tags

    def reference_accuracies(self):
        return {"chance": 1 / self.n_out, "one_way_ceiling": self.ceiling}

    def tagged_rows(self, batch: Batch, predicted: torch.Tensor) -> list[list[tuple[str, str, str]]]:
        """For each example, its (word, true tag, predicted tag) rows; predicted holds tag ids, (B, T)."""
        return [[(self.in_vocab[w], TAGS[tag], TAGS[guess]) for w, tag, guess in zip(ids, tags, guesses)]
                for ids, tags, guesses in zip(batch.x.tolist(), batch.y.tolist(), torch.as_tensor(predicted).tolist())]

    def signals(self, batch: Batch) -> dict[str, np.ndarray]:
        """Per-word signals to sort hidden units by, name -> (B, T): "in_entity" is 1 on a name's words, else 0."""
        return {"in_entity": (batch.y != TAG_ID["O"]).cpu().numpy().astype(np.float32)}
