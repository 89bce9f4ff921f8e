"""What units mean (rnnviz.patterns): span searches and nearest states on constructed states whose answer is
known, and a character model run over a user's own text, checked against the fused model."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config

from rnnviz import patterns
from rnnviz.features import in_brackets
from rnnviz.models import make_model
from rnnviz.patterns import context, decode_texts, nearest_states, search_span, select_units, text_states
from rnnviz.tasks import make_task

TEXTS = ["ab (cdef) gh [ijk] lm (nop) q",
         "(rst) uv wx [yzabc] de fgh ij",
         "kl mn op qr st uv wx yz ab cd"]  # every text 29 characters
BRACKET_UNITS = [2, 5]
THRESHOLD = 0.5


def bracket_states(texts=TEXTS) -> np.ndarray:
    """(N, T, 8) states: units 2 and 5 on (0.9) exactly inside brackets, -0.5 elsewhere; unit 0 always on, unit 1
    always off, unit 3 on at even steps, unit 4 on outside brackets, units 6 and 7 noise that never reaches 0.5.
    Unit 2 alone is also on over "uv wx" and "gh" (3 + 2 steps): half the bracket units, a weaker match."""
    rng = np.random.default_rng(0)
    N, T = len(texts), len(texts[0])
    states = rng.uniform(-1.0, 0.4, size=(N, T, 8)).astype(np.float32)
    inside = np.stack([in_brackets(t) for t in texts]).astype(bool)  # (N, T)
    for unit in BRACKET_UNITS:
        states[:, :, unit] = np.where(inside, 0.9, -0.5)
    states[:, :, 0], states[:, :, 1] = 0.8, -0.8
    states[:, ::2, 3], states[:, 1::2, 3] = 0.7, -0.7
    states[:, :, 4] = np.where(inside, -0.6, 0.6)
    states[1, 6:11, 2] = 0.9  # "uv wx"
    states[0, 10:12, 2] = 0.9  # "gh"
    return states


def bracket_spans(texts=TEXTS) -> set[tuple[int, int, int]]:
    """(text, start, end) of every stretch in_brackets marks: from the opener to the character before the closer."""
    spans = set()
    for n, text in enumerate(texts):
        inside = np.append(in_brackets(text), 0)
        starts = [t for t in range(len(text)) if inside[t] and (t == 0 or not inside[t - 1])]
        spans |= {(n, s, s + int(np.argmin(inside[s:])) - 1) for s in starts}
    return spans


def test_a_bracket_span_selects_the_bracket_units_and_finds_every_other_bracket_span_first():
    states = bracket_states()
    spans = bracket_spans()
    assert (0, 3, 7) in spans and len(spans) == 5  # "(cdef" in the first text
    search = search_span(states, 0, 3, 7, THRESHOLD, min_share=0.5)
    assert search.units == BRACKET_UNITS  # unit 0 is on before the span, unit 3 not throughout, unit 4 off
    found = [(m.text, m.start, m.end) for m in search.matches]
    others = spans - {(0, 3, 7)}
    assert set(found[:len(others)]) == others and all(m.share == 1.0 for m in search.matches[:len(others)])
    # then the half matches of unit 2 alone, the longer one (closer to the selection's 5 steps) first
    assert found[len(others):] == [(1, 6, 10), (0, 10, 11)]
    assert [m.score for m in search.matches] == sorted((m.score for m in search.matches), reverse=True)
    assert search.matches[-1].score == pytest.approx(0.5 * 2 / 5)


def test_the_default_share_needs_most_units_on_and_a_limit_cuts_the_list():
    states = bracket_states()
    strict = search_span(states, 0, 3, 7, THRESHOLD)  # at least 75% of the 2 units: both
    assert {(m.text, m.start, m.end) for m in strict.matches} == bracket_spans() - {(0, 3, 7)}
    assert len(search_span(states, 0, 3, 7, THRESHOLD, limit=2).matches) == 2


def test_a_span_at_the_start_needs_its_units_only_to_be_on_throughout():
    states = bracket_states()
    assert select_units(states, 1, 0, 3, THRESHOLD) == [0, *BRACKET_UNITS]  # "(rst"; unit 0 is always on


def test_no_qualifying_unit_gives_an_empty_search_without_error():
    states = bracket_states()
    assert search_span(states, 2, 4, 8, THRESHOLD).units == []  # no brackets in the third text: nothing switches on
    above = search_span(states, 0, 3, 7, 5.0)  # a threshold no state reaches
    assert above.units == [] and above.matches == []
    assert select_units(states, 0, 3, 7, -5.0) == []  # every state passes it: none is off before the span
    assert select_units(states, 0, 0, 7, -5.0) == list(range(8))  # ... which a span from step 0 does not ask


@pytest.mark.parametrize("text, start, end, threshold, message", [
    (3, 0, 1, 0.5, "text 3 is out of range: there are 3 texts"),
    (-1, 0, 1, 0.5, "text -1 is out of range"),
    (0, -1, 1, 0.5, "start -1 is out of range: texts have 29 steps"),
    (0, 2, 29, 0.5, "end 29 is out of range"),
    (0, 5, 4, 0.5, "the span ends (step 4) before it starts (step 5)"),
    (0, 1, 4, float("nan"), "the threshold must be a finite number"),
])
def test_a_span_or_threshold_that_cannot_be_read_is_a_value_error(text, start, end, threshold, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        search_span(bracket_states(), text, start, end, threshold)


def test_states_of_the_wrong_shape_or_a_bad_share_are_refused():
    with pytest.raises(ValueError, match="states must be an"):
        select_units(np.zeros((4, 8)), 0, 0, 1, 0.5)
    with pytest.raises(ValueError, match="min_share"):
        search_span(bracket_states(), 0, 3, 7, THRESHOLD, min_share=0.0)


def test_the_nearest_state_to_one_built_as_its_copy_is_that_copy():
    rng = np.random.default_rng(1)
    states = rng.normal(size=(3, 29, 6)).astype(np.float32)
    states[2, 7] = 3 * states[0, 20]  # the same direction: cosine similarity 1
    states[1, 4] = 0.0  # a zero state: similar to nothing, never NaN
    near = nearest_states(states, 0, 20, k=5, texts=TEXTS)
    assert (near[0].text, near[0].step) == (2, 7) and near[0].similarity == pytest.approx(1.0)
    assert (0, 20) not in [(n.text, n.step) for n in near] and len(near) == 5
    assert [n.similarity for n in near] == sorted((n.similarity for n in near), reverse=True)
    assert near[0].context == TEXTS[2][:8]  # the text read up to step 7, shorter than 20 characters
    assert context(TEXTS, 0, 28) == TEXTS[0][-20:]
    from_zero = nearest_states(states, 1, 4, k=3)
    assert [n.similarity for n in from_zero] == [0.0] * 3 and from_zero[0].context == ""
    assert len(nearest_states(states, 0, 0, k=1000)) == 3 * 29 - 1
    with pytest.raises(ValueError, match="step 29 is out of range"):
        nearest_states(states, 0, 29)


def test_decode_texts_reads_ids_through_the_vocabulary():
    assert decode_texts(np.array([[0, 1, 2], [2, 2, 0]]), ["a", "(", "\n"]) == ["a(\n", "\n\na"]


@pytest.fixture
def charlm(tmp_path):
    """A tiny character model (untrained: the states only have to be the model's own) and its task."""
    data = tmp_path / "corpus.txt"
    data.write_text("the cat (sat) on the [mat] and the dog.\n" * 40)
    cfg = tiny_config(task="charlm", cell="lstm", hidden=6, layers=2, seq_len=10, data=str(data))
    task = make_task(cfg.task)
    fused = make_model(cfg.model, task.io, seed=3)
    twin = make_model(cfg.model, task.io, seed=0, unrolled=True)
    twin.load_state_dict(fused.state_dict())
    return fused, twin, task


def test_a_users_text_is_read_in_windows_of_the_runs_length_as_the_fused_model_reads_it(charlm):
    fused, twin, task = charlm
    text = "zebra (cat) on the mat. " * 3  # 72 characters: 7 windows of 10, 2 left over; "z", "b", "r" are unknown
    out = text_states(twin, task, text)
    h = out.states["h.1"]  # the top layer by default
    assert h.shape == (7, 10, 6) and out.states["c.1"].shape == (7, 10, 6) and set(out.states) == {"h.1", "c.1"}
    assert out.chars_read == 70 and out.chars_total == 72 and out.replaced == 3 * 3
    common = max(task.in_vocab, key=lambda c: float(task.frequencies[task.in_vocab.index(c)]))
    assert out.texts[0] == "".join(common if c in "zbr" else c for c in text[:10])
    ids = torch.tensor([[task.in_vocab.index(c) for c in window] for window in out.texts])  # (7, 10)
    with torch.no_grad():
        expected, _ = fused.rnn(fused.embed(ids))  # (7, 10, 6): the fused layer's top-layer states
    np.testing.assert_allclose(h, expected.numpy(), atol=1e-5)
    assert text_states(twin, task, text, layer=0).states["h.0"].shape == (7, 10, 6)


def test_a_long_text_is_capped_and_a_short_one_is_one_window(charlm, monkeypatch):
    _, twin, task = charlm
    monkeypatch.setattr(patterns, "MAX_TEXT_CHARS", 35)
    monkeypatch.setattr(patterns, "WINDOWS_PER_PASS", 2)  # several passes, joined in order
    long = text_states(twin, task, "the cat sat. " * 100)
    assert long.states["h.1"].shape[0] == 3 and long.chars_read == 30 and long.chars_total == 1300
    assert long.texts == ["the cat sa", "t. the cat", " sat. the "]
    short = text_states(twin, task, "the cat")
    assert short.states["h.1"].shape == (1, 7, 6) and short.texts == ["the cat"]
    with pytest.raises(ValueError, match="empty"):
        text_states(twin, task, "")
    with pytest.raises(ValueError, match="layer 2 is out of range"):
        text_states(twin, task, "the cat", layer=2)
