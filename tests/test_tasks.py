"""Every task's generator: shapes and dtypes, the baseline against its docstring's formula, seed determinism,
and the invariants of each encoding."""
from __future__ import annotations

import math

import pytest
import torch

from rnnviz.config import TaskConfig
from rnnviz.tasks import REGISTRY, make_task, resolve_config
from rnnviz.tasks import copy as copy_task
from rnnviz.tasks import order as order_task
from rnnviz.tasks import sentiment as sentiment_task
from rnnviz.tasks.charlm import sample_text

B = 16


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def task_of(name, seq_len, **kw):
    return make_task(TaskConfig(name, seq_len, **kw))


# name, seq_len, extra TaskConfig fields; (x shape, x dtype), (y shape, y dtype) for a batch of B
SHAPES = [
    ("adding", 10, {}, ((B, 10, 2), torch.float32), ((B, 1), torch.float32)),
    ("copy", 5, {}, ((B, 25), torch.int64), ((B, 25), torch.int64)),
    ("parity", 7, {}, ((B, 7, 1), torch.float32), ((B,), torch.int64)),
    ("parity", 7, {"variant": "running"}, ((B, 7, 1), torch.float32), ((B, 7), torch.int64)),
    ("order", 20, {}, ((B, 20), torch.int64), ((B,), torch.int64)),
    ("sine", 12, {}, ((B, 12, 1), torch.float32), ((B, 12, 1), torch.float32)),
    ("charlm", 9, {}, ((B, 9), torch.int64), ((B, 9), torch.int64)),
    ("sentiment", 14, {}, ((B, 14), torch.int64), ((B,), torch.int64)),
    ("reversal", 6, {}, ((B, 6), torch.int64), ((B, 6), torch.int64)),
]


@pytest.mark.parametrize("name,seq_len,extra,x_spec,y_spec", SHAPES, ids=[f"{s[0]}-{s[2].get('variant', '')}" for s in SHAPES])
def test_shapes_dtypes_and_seed_determinism(name, seq_len, extra, x_spec, y_spec):
    task = task_of(name, seq_len, **extra)
    a, b, other = task.sample(B, gen(3)), task.sample(B, gen(3)), task.sample(B, gen(4))
    assert (tuple(a.x.shape), a.x.dtype) == x_spec
    assert (tuple(a.y.shape), a.y.dtype) == y_spec
    assert len(a) == B
    for field in ("x", "y", "dec_in", "mask"):
        first, second = getattr(a, field), getattr(b, field)
        assert (first is None) == (second is None)
        if first is not None:
            assert torch.equal(first, second), field
    assert not torch.equal(a.x, other.x)
    if task.tokens_in:  # ids index the vocabulary the model embeds
        assert 0 <= int(a.x.min()) and int(a.x.max()) < task.n_in == len(task.in_vocab)
    if task.loss_kind == "ce":
        assert 0 <= int(a.y.min()) and int(a.y.max()) < task.n_out


def test_registry_lists_every_task_with_a_documented_baseline_and_working_defaults():
    assert list(REGISTRY) == ["adding", "copy", "parity", "order", "sine", "charlm", "sentiment", "reversal", "tagging"]
    for name, cls in REGISTRY.items():
        doc = __import__(cls.__module__, fromlist=["_"]).__doc__
        assert "Encoding" in doc and "Loss" in doc and "Baseline" in doc, name
        cfg = resolve_config({"task": name})
        assert cfg.task.name == name and cfg.task.seq_len == cls.defaults["seq_len"]
        assert make_task(cfg.task).baseline_loss > 0
    assert resolve_config({"task": "adding", "seq_len": 7, "hidden": None}).task.seq_len == 7  # given beats default
    with pytest.raises(ValueError, match="attention"):
        resolve_config({"task": "copy", "attention": "dot"})


# ---- baselines against the docstrings' formulas --------------------------------------------------
def test_baselines_follow_the_formulas():
    assert task_of("adding", 50).baseline_loss == pytest.approx(1 / 6)
    assert task_of("copy", 100).baseline_loss == pytest.approx(10 * math.log(8) / 120)
    assert task_of("parity", 10).baseline_loss == pytest.approx(math.log(2))
    assert task_of("parity", 10, variant="running").baseline_loss == pytest.approx(math.log(2) * 9 / 10)
    assert task_of("order", 30).baseline_loss == pytest.approx(math.log(4))
    assert task_of("sentiment", 13).baseline_loss == pytest.approx(math.log(2))
    assert task_of("reversal", 5).baseline_loss == pytest.approx(math.log(8))


def test_adding_baseline_is_the_loss_of_predicting_one():
    task = task_of("adding", 20)
    batch = task.sample(20_000, gen())
    loss = task.loss(torch.ones_like(batch.y), batch.y).item()
    assert loss == pytest.approx(1 / 6, abs=0.005)


def test_copy_baseline_is_the_loss_of_blank_then_uniform():
    task = task_of("copy", 6)
    batch = task.sample(4, gen())
    logits = torch.full((4, 26, 9), -1e9)
    logits[:, :16, copy_task.BLANK] = 0.0  # sure of blank until the recall starts
    logits[:, 16:, :8] = 0.0  # then uniform over the 8 symbols
    assert task.loss(logits, batch.y).item() == pytest.approx(task.baseline_loss, rel=1e-6)


def test_classification_baselines_are_uniform_guesses():
    for name, seq_len in (("order", 20), ("sentiment", 14), ("reversal", 5), ("parity", 8)):
        task = task_of(name, seq_len)
        batch = task.sample(8, gen())
        pred = torch.zeros(*batch.y.shape, task.n_out)  # equal logits
        assert task.loss(pred, batch.y).item() == pytest.approx(task.baseline_loss, rel=1e-6), name


def test_running_parity_baseline_is_reading_the_current_bit():
    task = task_of("parity", 5, variant="running")
    batch = task.sample(4, gen())
    logits = torch.zeros(4, 5, 2)
    logits[:, 0] = torch.where(batch.x[:, 0] > 0.5, torch.tensor([-1e9, 0.0]), torch.tensor([0.0, -1e9]))  # y_1 = x_1
    assert task.loss(logits, batch.y).item() == pytest.approx(task.baseline_loss, rel=1e-6)


def test_sine_baseline_is_the_persistence_forecast():
    task = task_of("sine", 30)
    batch = task.sample(2048, gen(0))  # the docstring's fixed seed and size
    assert task.baseline_loss == pytest.approx(task.loss(batch.x, batch.y).item(), rel=1e-6)


def test_charlm_baseline_is_the_unigram_entropy(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("aab" * 40)
    task = task_of("charlm", 5, data=str(path))
    p = torch.tensor([2 / 3, 1 / 3])
    assert task.in_vocab == ["a", "b"]
    assert task.baseline_loss == pytest.approx(float(-(p * p.log()).sum()))


# ---- the encodings -------------------------------------------------------------------------------
@pytest.mark.parametrize("T", [2, 7, 50])
def test_adding_has_exactly_one_marker_per_half_and_the_target_is_their_sum(T):
    batch = task_of("adding", T).sample(256, gen())
    values, marker = batch.x[..., 0], batch.x[..., 1]
    assert set(marker.unique().tolist()) <= {0.0, 1.0}
    assert ((values >= 0) & (values < 1)).all()
    assert (marker[:, :T // 2].sum(1) == 1).all() and (marker[:, T // 2:].sum(1) == 1).all()
    torch.testing.assert_close(batch.y[:, 0], (values * marker).sum(1))


def test_copy_layout():
    T = 4
    batch = task_of("copy", T).sample(8, gen())
    x, y = batch.x, batch.y
    symbols = x[:, :10]
    assert (symbols < 8).all()
    assert (x[:, 10:10 + T - 1] == copy_task.BLANK).all()  # T - 1 blanks
    assert (x[:, 10 + T - 1] == copy_task.DELIM).all()  # the delimiter
    assert (x[:, 10 + T:] == copy_task.BLANK).all() and x.shape[1] - (10 + T) == 10  # 10 more blanks
    assert (y[:, :T + 10] == copy_task.BLANK).all()
    assert torch.equal(y[:, -10:], symbols)


def test_copy_accuracy_counts_only_the_recalled_symbols():
    task = task_of("copy", 3)
    batch = task.sample(5, gen())
    perfect = torch.nn.functional.one_hot(batch.y, 9).float()
    assert task.accuracy(perfect, batch.y).item() == 1.0
    perfect[:, 0] = perfect[:, 0].flip(-1)  # wrong at a blank step: does not count
    assert task.accuracy(perfect, batch.y).item() == 1.0


@pytest.mark.parametrize("variant", ["final", "running"])
def test_parity_targets_are_xor_of_the_bits(variant):
    batch = task_of("parity", 9, variant=variant).sample(64, gen())
    bits = batch.x[..., 0].long()
    assert set(bits.unique().tolist()) <= {0, 1}
    running = torch.stack([bits[:, :t + 1].sum(1) % 2 for t in range(9)], 1)
    assert torch.equal(batch.y, running[:, -1] if variant == "final" else running)


@pytest.mark.parametrize("T", [6, 9, 50, 200])
def test_order_places_two_relevant_symbols_in_their_windows(T):
    task = task_of("order", T)
    batch = task.sample(256, gen())
    x, y = batch.x, batch.y
    assert (x[:, 0] == order_task.START).all() and (x[:, -1] == order_task.END).all()
    relevant = (x == order_task.X) | (x == order_task.Y)
    assert (relevant.sum(1) == 2).all()
    (e0, e1), (l0, l1) = order_task.windows(T)
    first, second = relevant.float().argmax(1), T - 1 - relevant.flip(1).float().argmax(1)
    assert ((first >= e0) & (first <= e1) & (second >= l0) & (second <= l1)).all()
    rows = torch.arange(len(x))
    assert torch.equal(y, 2 * (x[rows, first] - order_task.X) + (x[rows, second] - order_task.X))
    assert set(y.tolist()) == {0, 1, 2, 3}


def test_order_refuses_too_short_sequences():
    with pytest.raises(ValueError, match="at least 6"):
        task_of("order", 5)


def polarity_by_rule(words: list[str]) -> int:
    """An independent reading of a generated review: the sentiment word of the clause after "but" (or the only
    clause), flipped when that clause holds "not" or "never"."""
    clause = words[words.index("but") + 1:] if "but" in words else words
    positive = set(sentiment_task.POSITIVE) | set(sentiment_task.LIKES)
    negative = set(sentiment_task.NEGATIVE) | set(sentiment_task.HATES)
    polar = [w for w in clause if w in positive | negative]
    assert len(polar) == 1, words
    return int((polar[0] in positive) != any(w in ("not", "never") for w in clause))


def test_sentiment_labels_follow_negation_and_but():
    task = task_of("sentiment", 16)
    batch = task.sample(500, gen())
    seen = set()
    for ids, mask, label in zip(batch.x, batch.mask, batch.y):
        assert torch.equal(mask, ids != 0)
        n = int(mask.sum())
        assert 3 <= n <= sentiment_task.MAX_WORDS and mask[-n:].all()  # left padded: the last word is at the last step
        words = [task.in_vocab[i] for i in ids[-n:]]
        assert polarity_by_rule(words) == int(label), words
        seen |= {w for w in ("not", "never", "but") if w in words}
    assert seen == {"not", "never", "but"}
    assert 0.4 < batch.y.float().mean() < 0.6


def test_sentiment_negation_flips_the_same_sentence():
    # the grammar's choices: template (one clause), negated?, subject, verb, [which negator], intensifier?, adjective
    plain = sentiment_task.sentence(1, iter([0.1, 0.9, 0.0, 0.0, 0.9, 0.0]))
    negated = sentiment_task.sentence(1, iter([0.1, 0.1, 0.0, 0.0, 0.0, 0.9, 0.0]))
    assert plain == ["the", "film", "is", "good"]
    assert negated == ["the", "film", "is", "not", "bad"]  # same label 1: "not" needs the opposite adjective
    assert sentiment_task.sentence(0, iter([0.75, 0.0])) == ["not", "good", "at", "all"]


def test_sentiment_refuses_sequences_shorter_than_a_sentence():
    with pytest.raises(ValueError, match="at least 13"):
        task_of("sentiment", 12)


def test_reversal_target_is_the_anti_diagonal_of_the_input():
    S = 6
    batch = task_of("reversal", S).sample(32, gen())
    x, y, dec_in = batch.x, batch.y, batch.dec_in
    for j in range(S):
        assert torch.equal(y[:, j], x[:, S - 1 - j])
    assert (dec_in[:, 0] == 8).all() and torch.equal(dec_in[:, 1:], y[:, :-1])  # BOS, then teacher forcing
    assert (x < 8).all()


# ---- file-backed tasks ---------------------------------------------------------------------------
def write_csv(path, n, header="time,value,label"):
    rows = [header] + [f"{i},{math.sin(i / 3) * 5 + 10},x{i}" for i in range(n)]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_sine_csv_column_split_and_standardisation(tmp_path):
    path = write_csv(tmp_path / "s.csv", 100)
    task = task_of("sine", 10, data=path, column="value")
    assert task.column == "value" and task.split_at == 80
    values = torch.tensor([math.sin(i / 3) * 5 + 10 for i in range(100)], dtype=torch.float64)
    train = values[:80]
    assert task.mean == pytest.approx(train.mean().item()) and task.std == pytest.approx(train.std().item())
    torch.testing.assert_close(task.series.double(), (values - task.mean) / task.std, rtol=0, atol=1e-6)
    val = task.sample(64, gen(), "val")
    standardised_val = task.series[80:]
    for window in val.x[..., 0]:  # every val window lies inside the last 20%
        starts = [s for s in range(20 - 10) if torch.equal(standardised_val[s:s + 10], window)]
        assert starts
    torch.testing.assert_close(val.y[:, :-1], val.x[:, 1:])  # y_t = s_{t+1}
    assert task_of("sine", 10, data=path).column == "time"  # the first numeric column by default


def test_sine_csv_errors_say_what_to_fix(tmp_path):
    path = write_csv(tmp_path / "s.csv", 30)
    with pytest.raises(ValueError, match="not numeric"):
        task_of("sine", 4, data=path, column="label")
    with pytest.raises(ValueError, match="largest sequence length that works is 5"):
        task_of("sine", 10, data=path)
    with pytest.raises(ValueError, match="cannot read"):
        task_of("sine", 4, data=str(tmp_path / "missing.csv"))
    with pytest.raises(ValueError, match="no CSV file"):
        task_of("sine", 4, column="value")


def test_charlm_user_text_windows_and_sampling(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("hello world, (nested [brackets]) and \"quotes\"\n" * 20)
    task = task_of("charlm", 8, data=str(path))
    batch = task.sample(4, gen())
    assert torch.equal(batch.x[:, 1:], batch.y[:, :-1])  # y is x shifted by one character
    assert task.decode(task.encode("hello")) == "hello"
    from rnnviz.config import ModelConfig
    from rnnviz.models import make_model
    model = make_model(ModelConfig(cell="gru", hidden=4, embed_dim=3), task.io, seed=0)
    text = sample_text(model, task, 12, temperature=0.5, gen=gen(), prime="he")
    assert len(text) == 12 and set(text) <= set(task.in_vocab)
    assert text == sample_text(model, task, 12, temperature=0.5, gen=gen(), prime="he")
    with pytest.raises(ValueError, match="temperature"):
        sample_text(model, task, 5, temperature=0, gen=gen())


def test_charlm_generated_and_stdlib_corpora():
    brackets = task_of("charlm", 32)
    assert brackets.variant == "brackets" and {"(", ")", "[", "]", '"', "\n"} <= set(brackets.in_vocab)
    assert brackets.ids.shape == task_of("charlm", 32).ids.shape  # the same corpus every time
    stdlib = task_of("charlm", 32, variant="stdlib")
    assert "def" in stdlib.decode(stdlib.ids[:20_000]) and len(stdlib.in_vocab) <= 96


def test_charlm_refuses_binary_files(tmp_path):
    path = tmp_path / "b.bin"
    path.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(ValueError, match="binary"):
        task_of("charlm", 8, data=str(path))


def test_tasks_that_generate_their_data_refuse_a_file(tmp_path):
    with pytest.raises(ValueError, match="takes no data file"):
        task_of("adding", 10, data=str(tmp_path / "x.csv"))


def test_variants_are_checked():
    assert task_of("parity", 5).variant == "final"  # "" means the first variant
    with pytest.raises(ValueError, match="choose one of final, running"):
        task_of("parity", 5, variant="even")
    with pytest.raises(ValueError, match="this task has no variants"):
        task_of("adding", 5, variant="hard")
