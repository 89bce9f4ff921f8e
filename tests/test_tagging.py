"""The entity-tagging task: its windows and BIO tags, the exact left-to-right ceiling and baseline against
Monte-Carlo estimates, the rows and signals a page shows, and the claim itself: with the task's defaults a
bidirectional LSTM tags almost every word right while a one-way LSTM stays at the ceiling."""
from __future__ import annotations

import random
import time
from collections import Counter, defaultdict

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz.config import TaskConfig
from rnnviz.tasks import make_task, resolve_config, tagging

B, T = 16, 24


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def task_of(seq_len=T):
    return make_task(TaskConfig("tagging", seq_len))


def windows(task, n, seed):
    """n windows as (words, tags) lists."""
    rng = random.Random(seed)
    return [task.window(random.Random(rng.getrandbits(62))) for _ in range(n)]


def test_windows_are_exactly_seq_len_words_and_the_same_for_a_seed():
    task = task_of()
    torch_state, python_state = torch.random.get_rng_state(), random.getstate()
    a, b, other = task.sample(B, gen(3)), task.sample(B, gen(3)), task.sample(B, gen(4))
    assert torch.equal(torch.random.get_rng_state(), torch_state) and random.getstate() == python_state  # no global RNG
    assert (a.x.shape, a.y.shape, a.x.dtype, a.y.dtype) == ((B, T), (B, T), torch.int64, torch.int64)
    assert a.mask is None and a.dec_in is None
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and not torch.equal(a.x, other.x)
    assert 0 <= int(a.x.min()) and int(a.x.max()) < task.n_in == len(task.in_vocab)
    assert 0 <= int(a.y.min()) and int(a.y.max()) < task.n_out == len(task.out_vocab) == 7


@pytest.mark.parametrize("seq_len", [1, 2, 3, 6, 24])
def test_tags_are_valid_bio_and_only_names_are_entities(seq_len):
    for words, tags in windows(task_of(seq_len), 300, seed=1):
        assert len(words) == len(tags) == seq_len
        for before, tag, word in zip(["O", *tags], tags, words):
            assert (tag != "O") == (word in tagging.NAMES), (word, tag)
            if tag.startswith("I-"):
                assert before in (f"B-{tag[2:]}", tag), (words, tags)


LEFT_KIND = {"Dr.": "PER", "Mrs.": "PER", "of": "ORG", "in": "LOC"}
RIGHT_KIND = {cue: kind for kind, cues in tagging.RIGHT_CUES.items() for cue in cues}


def tag_by_rule(words: list[str]) -> list[str]:
    """The tags a reader of the whole window gives: a name's type from the word before it, else from the first
    right cue after it."""
    tags, start = [], 0
    for i, word in enumerate(words):
        if word not in tagging.NAMES:
            tags.append("O")
            continue
        if i == 0 or words[i - 1] not in tagging.NAMES:
            start = i
            kind = LEFT_KIND.get(words[i - 1]) if i else None
            kind = kind or next(RIGHT_KIND[w] for w in words[i:] if w in RIGHT_KIND)
        tags.append(f"{'B' if i == start else 'I'}-{kind}")
    return tags


def test_the_whole_window_decides_every_tag():
    for words, tags in windows(task_of(), 2000, seed=2):
        assert tag_by_rule(words) == tags, words


def left_context_tagger_accuracy(train, test, k: int) -> float:
    """Token accuracy on test of a tagger that reads only the last k words (name words as one symbol): it counts
    the tags after each context in train and answers the most common one for the longest context it has seen."""
    def contexts(words):
        symbols = ["^"] * k + ["NAME" if w in tagging.NAMES else w for w in words]
        return [[tuple(symbols[t + k + 1 - n:t + k + 1]) for n in range(k, 0, -1)] for t in range(len(words))]

    counts = defaultdict(Counter)
    for words, tags in train:
        for context, tag in zip(contexts(words), tags):
            for c in context:
                counts[c][tag] += 1
    right = total = 0
    for words, tags in test:
        for context, tag in zip(contexts(words), tags):
            seen = next(c for c in context if c in counts)
            right += counts[seen].most_common(1)[0][0] == tag
            total += 1
    return right / total


def test_the_exact_ceiling_is_what_a_left_to_right_reader_reaches():
    task = task_of()
    train, test = windows(task, 4000, seed=3), windows(task, 2500, seed=4)
    measured = left_context_tagger_accuracy(train, test, k=5)  # enough to see a left cue before a 3-word name
    assert task.ceiling == pytest.approx(measured, abs=0.005)  # right-cued name words: ~10k, so sd ~ 0.0008
    assert left_context_tagger_accuracy(train, test, k=1) < task.ceiling - 0.03  # the left cues are worth it


def test_the_baseline_is_the_loss_of_the_best_word_only_tagger():
    task = task_of()
    name_ids = torch.tensor([task.in_vocab.index(w) for w in tagging.NAMES])
    learn, score = task.sample(3000, gen(5)), task.sample(3000, gen(6))
    is_name = torch.isin(learn.x, name_ids)
    shares = torch.bincount(learn.y[is_name], minlength=7).double() / is_name.sum()  # (7,) tags of name words
    logits = torch.full((*score.x.shape, 7), -1e9, dtype=torch.float64)  # (B, T, 7): sure of O ...
    logits[..., 0] = 0.0
    logits[torch.isin(score.x, name_ids)] = shares.log().clamp(min=-1e9)  # ... except on names
    assert task.loss(logits, score.y).item() == pytest.approx(task.baseline_loss, abs=0.005)


def test_expected_counts_fill_the_window_and_small_windows_hold_no_names():
    for seq_len in (1, 2, 5, 24, 100):
        counts = tagging.expected_counts(seq_len)
        assert sum(counts[tag] for tag in tagging.TAGS) == pytest.approx(seq_len)
    assert task_of(2).ceiling == 1.0 and task_of(2).baseline_loss == 0.0  # only "." fits
    assert 0 < task_of(3).baseline_loss and task_of(3).ceiling < 1


def test_the_docstring_states_the_defaults_numbers():
    task = make_task(resolve_config({"task": "tagging"}).task)
    assert task.seq_len == T
    assert f"{task.baseline_loss:.4f} for the default T = {T}" in tagging.__doc__
    assert f"{task.ceiling:.4f} for T = {T}" in tagging.__doc__


def test_rows_and_the_in_entity_signal():
    task = task_of(8)
    batch = task.sample(3, gen(7))
    predicted = torch.zeros_like(batch.y)  # (B, T): all O
    rows = task.tagged_rows(batch, predicted)
    assert len(rows) == 3 and all(len(r) == 8 for r in rows)
    for b, row in enumerate(rows):
        assert [w for w, _, _ in row] == [task.in_vocab[i] for i in batch.x[b]]
        assert [tag for _, tag, _ in row] == [task.out_vocab[i] for i in batch.y[b]]
        assert {guess for _, _, guess in row} == {"O"}
    signal = task.signals(batch)["in_entity"]
    assert signal.shape == (3, 8) and signal.dtype == np.float32
    np.testing.assert_array_equal(signal, np.array([[tag != "O" for _, tag, _ in row] for row in rows]))


class Reference(nn.Module):
    """The project's model shape with a plain torch.nn.LSTM: embed -> LSTM (one- or two-way) -> linear head."""

    def __init__(self, task, hidden: int, bidirectional: bool, embed_dim: int = 32):
        super().__init__()
        self.embed = nn.Embedding(task.n_in, embed_dim)
        self.rnn = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), task.n_out)

    def forward(self, x):  # (B, T) ids -> (B, T, tags)
        return self.head(self.rnn(self.embed(x))[0])


def trained_accuracy(task, bidirectional: bool) -> float:
    """Token accuracy on 1000 fresh windows after training with the task's defaults (Adam, clipping as set)."""
    d = task.defaults
    torch.manual_seed(0)
    model = Reference(task, d["hidden"], bidirectional)
    opt = torch.optim.Adam(model.parameters(), lr=d["lr"])
    g = gen(0)
    for _ in range(d["steps"]):
        batch = task.sample(d["batch"], g)
        loss = task.loss(model(batch.x), batch.y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), d["clip"])
        opt.step()
    held_out = task.sample(1000, gen(1))
    with torch.no_grad():
        return task.accuracy(model(held_out.x), held_out.y).item()


@pytest.mark.slow  # trains two LSTMs
def test_reading_both_ways_beats_the_left_to_right_ceiling():
    task = task_of(tagging.Tagging.defaults["seq_len"])
    start = time.perf_counter()
    both, one = trained_accuracy(task, bidirectional=True), trained_accuracy(task, bidirectional=False)
    print(f"bidirectional {both:.4f}, one-way {one:.4f}, ceiling {task.ceiling:.4f}, "
          f"{task.defaults['steps']} steps each, {time.perf_counter() - start:.1f} s")
    assert both >= 0.95
    assert abs(one - task.ceiling) < 0.02 and one < 0.93
