"""Sentiment of generated short reviews, where negation and "but" decide the label, not single words.

Sentences come from a small grammar, each built for a label drawn by a fair coin (so classes are balanced):
  "the film was not very good"        subject, is / was, optional not / never, optional intensifier, adjective
  "i really do not like this book"    i, optional really, optional do not, like / hate verb, object
  "not bad at all"                    a negated adjective
  "the plot was dull but it is great" two clauses of opposite sentiment: the one after "but" wins
The label is the adjective's (or verb's) polarity, flipped by a negation: 0 negative, 1 positive.
Encoding: word tokens, id 0 is padding and ids 1.. the words in alphabetical order (`in_vocab`).
Sentences have 3 ("i love it") to MAX_WORDS = 13 words and are LEFT-padded to seq_len, so the last step is always
the last word (the model reads the last hidden state) and `Batch.mask` (B, T) is False at padding
(attention pooling gives it no weight). seq_len below MAX_WORDS is refused rather than cutting sentences.
x is (B, T) ids, y is (B,) class ids.
Loss: cross-entropy over the 2 classes.
Baseline: the classes are equally likely, so a predictor that ignores the sentence scores ln 2 ≈ 0.693 nats.
"""
from __future__ import annotations

import math

import torch

from .base import Batch, Task

SUBJECTS = ("the film", "the movie", "the plot", "the acting", "the ending", "the music", "this book", "it")
VERBS = ("is", "was")
NEGATORS = ("not", "never")
INTENSIFIERS = ("very", "really", "so", "quite", "truly", "extremely")
POSITIVE = ("good", "great", "fun", "wonderful", "excellent", "funny", "moving", "clever", "beautiful", "enjoyable")
NEGATIVE = ("bad", "boring", "awful", "dull", "terrible", "weak", "silly", "bland", "painful", "ugly")
LIKES = ("love", "like", "enjoy", "adore")
HATES = ("hate", "dislike", "detest")
OBJECTS = ("it", "this film", "the movie", "this book")
OTHER = ("i", "do", "at", "all", "but")
MAX_WORDS = 13  # the "but" template with two 6-word clauses: "the film was not very good but ..."
PAD = "<pad>"
RANDOM_PER_SENTENCE = 32  # uniform numbers drawn per sentence; the longest sentence uses 17


class Sentiment(Task):
    name = "sentiment"
    summary = "Tell positive from negative reviews where 'not', 'never' and 'but' flip the meaning (attention shows which words count)."
    output = "last"
    output_view = "classes"
    loss_kind = "ce"
    attention = ("dot", "additive", "none")
    defaults = {"seq_len": 16, "hidden": 64, "batch": 64, "steps": 400, "lr": 3e-3, "clip": 1.0, "attention": "dot"}
    tokens_in = True
    in_vocab = [PAD] + sorted({w for group in (SUBJECTS, VERBS, NEGATORS, INTENSIFIERS, POSITIVE, NEGATIVE,
                                               LIKES, HATES, OBJECTS, OTHER) for phrase in group for w in phrase.split()})
    out_vocab = ["negative", "positive"]
    n_in, n_out = len(in_vocab), 2
    baseline_loss = math.log(2)

    def __init__(self, cfg):
        super().__init__(cfg)
        if self.seq_len < MAX_WORDS:
            raise ValueError(f"sentiment sentences have up to {MAX_WORDS} words: the sequence length must be at least "
                             f"{MAX_WORDS}, got {self.seq_len}")
        self._index = {w: i for i, w in enumerate(self.in_vocab)}

    def sample(self, n, gen, split="train"):
        labels = torch.randint(0, 2, (n,), generator=gen)  # (B,)
        uniforms = torch.rand(n, RANDOM_PER_SENTENCE, generator=gen).tolist()  # the grammar's choices
        x = torch.zeros(n, self.seq_len, dtype=torch.long)  # (B, T), all padding
        for row, (label, u) in enumerate(zip(labels.tolist(), uniforms)):
            ids = [self._index[w] for w in sentence(label, iter(u))]
            x[row, self.seq_len - len(ids):] = torch.tensor(ids)  # left padding: words end at the last step
        return Batch(x, labels, mask=x != 0)


def sentence(label: int, u) -> list[str]:
    """The words of a sentence with sentiment label (1 positive), choices taken from the iterator u of U[0, 1) numbers."""
    def pick(options):
        return options[int(next(u) * len(options))]

    def clause(label):  # "the film was not very good"
        negated = next(u) < 0.5
        words = [*pick(SUBJECTS).split(), pick(VERBS)]
        words += [pick(NEGATORS)] if negated else []
        words += [pick(INTENSIFIERS)] if next(u) < 0.4 else []
        return words + [pick(POSITIVE if bool(label) != negated else NEGATIVE)]

    template = next(u)
    if template < 0.45:
        return clause(label)
    if template < 0.7:  # "i really do not like this book"
        negated = next(u) < 0.5
        words = ["i"] + (["really"] if next(u) < 0.3 else []) + (["do", "not"] if negated else [])
        return words + [pick(LIKES if bool(label) != negated else HATES), *pick(OBJECTS).split()]
    if template < 0.8:  # "not bad at all"
        return ["not", pick(NEGATIVE if label else POSITIVE), "at", "all"]
    return clause(1 - label) + ["but"] + clause(label)
