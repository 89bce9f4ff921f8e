"""Text features and unit statistics (rnnviz.features), on strings and arrays small enough to check by eye."""
import numpy as np
import pytest

from rnnviz.features import (
    bracket_depth,
    in_brackets,
    in_quotes,
    line_position,
    order_units,
    pca,
    text_feature,
    unit_correlation,
    unit_variance,
)


def digits(a) -> str:
    return "".join("?" if np.isnan(v) else str(int(v)) for v in a)


def test_bracket_depth_counts_nesting_after_each_character():
    assert digits(bracket_depth("a(b[c])d")) == "01122100"
    assert digits(in_brackets("a(b[c])d")) == "01111100"


def test_a_window_that_starts_inside_brackets_is_recognised():
    # two closers without openers: the window began two levels deep
    assert digits(bracket_depth("x)y]z")) == "21100"


def test_quotes_open_after_a_space_and_close_after_a_word():
    # the opening quote and the 8 characters after it are inside; the closing quote is not
    assert digits(in_quotes('say "hi there" ok')) == "0000" + "1" * 9 + "0000"


def test_a_window_that_starts_inside_quotes_is_recognised():
    assert digits(in_quotes('end" a "b')) == "111" + "0000" + "11"


def test_line_position_is_unknown_before_the_first_newline():
    assert digits(line_position("ab\ncd\ne")) == "??0120" + "1"


def test_text_feature_stacks_examples():
    out = text_feature("in_brackets", ["(ab)", "a(b)"])
    assert out.shape == (2, 4) and out.dtype == np.float32


def test_unit_correlation_finds_the_unit_that_follows_the_signal():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=200)
    states = rng.normal(size=(200, 5))
    states[:, 3] = 2 * signal + 0.01 * rng.normal(size=200)
    states[:, 1] = -signal
    r = unit_correlation(states, signal)
    assert r[3] == pytest.approx(1, abs=1e-3) and r[1] == pytest.approx(-1)
    assert list(order_units(states, signal)[:2]) in ([3, 1], [1, 3])


def test_unit_correlation_ignores_nan_signal_and_constant_units():
    states = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [9.0, 5.0]])
    signal = np.array([1.0, 2.0, 3.0, np.nan])
    r = unit_correlation(states, signal)
    assert r[0] == pytest.approx(1) and r[1] == 0


def test_order_units_by_variance_puts_the_busiest_unit_first():
    states = np.array([[0, 0, 1], [0, 3, -1], [0, -3, 1.0]])
    assert list(order_units(states)) == [1, 2, 0]
    assert unit_variance(states)[0] == 0


def test_pca_matches_the_svd_and_has_a_stable_sign():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6)) * np.array([5, 3, 1, 0.5, 0.2, 0.1])
    coords, explained = pca(x, 2)
    centred = x - x.mean(0)
    _, s, _ = np.linalg.svd(centred, full_matrices=False)
    assert explained == pytest.approx(s[:2] ** 2 / (s**2).sum())
    assert np.abs(coords).std(0) == pytest.approx(s[:2] / np.sqrt(300), rel=0.5)
    again, _ = pca(x.copy(), 2)
    assert np.allclose(coords, again)


def test_pca_pads_when_there_are_fewer_units_than_components():
    coords, explained = pca(np.arange(10.0)[:, None], 3)
    assert coords.shape == (10, 3) and explained[0] == pytest.approx(1) and explained[1:].sum() == 0
