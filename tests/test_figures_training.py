"""The Train and Compare pages' figure builders, and the shared downsampling, on small hand-made arrays."""
from __future__ import annotations

import numpy as np
import pytest

from rnnviz.figures import common
from rnnviz.figures import training as figs


def float32_or_smaller(fig) -> bool:
    """Every numeric array a figure sends is float32 (or narrower)."""
    for trace in fig.data:
        for name in ("x", "y", "z"):
            values = getattr(trace, name, None)
            if isinstance(values, np.ndarray) and values.dtype.kind == "f" and values.itemsize > 4:
                return False
    return True


def test_bucket_averages_and_keeps_maxima():
    x = np.arange(1, 11)
    y = np.array([1, 3, 1, 3, 1, 3, 1, 3, 1, 3], dtype=float)
    bx, by = common.bucket(x, y, max_points=5)
    assert bx.tolist() == [2, 4, 6, 8, 10] and by.tolist() == [2, 2, 2, 2, 2]
    _, top = common.bucket(x, y, max_points=5, how="max")
    assert top.tolist() == [3, 3, 3, 3, 3]
    assert by.dtype == np.float32


def test_bucket_ignores_non_finite_values():
    y = np.array([1.0, np.nan, np.inf, np.nan, 4.0, 6.0])
    _, by = common.bucket(np.arange(6), y, max_points=3)
    assert by[0] == 1.0 and np.isnan(by[1]) and by[2] == 5.0


def test_short_series_pass_through():
    x, y = common.bucket([1, 2, 3], [0.5, 0.25, 0.125])
    assert x.tolist() == [1, 2, 3] and y.dtype == np.float32


def test_loss_figure_has_baseline_log_axis_and_labels():
    step = np.arange(1, 101)
    fig = figs.loss_figure(step, np.linspace(1, 0.01, 100), 1 / 6, title="Loss")
    assert [t.name for t in fig.data] == ["loss per batch", "loss, smoothed over ≈ 50 steps", "baseline 0.167"]
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis.title.text == "training step"
    assert "loss" in fig.layout.yaxis.title.text
    assert fig.data[2].y.tolist() == pytest.approx([1 / 6, 1 / 6])
    assert float32_or_smaller(fig)


def test_long_loss_history_is_downsampled_and_says_so():
    n = 10 * common.MAX_POINTS
    fig = figs.loss_figure(np.arange(1, n + 1), np.ones(n), 0.5)
    assert len(fig.data[0].x) == common.MAX_POINTS
    assert any("averaged points" in a.text for a in fig.layout.annotations)


def test_grad_norm_figure_marks_clip_events_and_threshold():
    step = np.arange(1, 7)
    norms = np.array([0.5, 2.0, 0.5, 3.0, 0.5, 0.5])
    fig = figs.grad_norm_figure(step, norms, norms > 1, clip=1.0)
    names = [t.name for t in fig.data]
    assert names == ["‖∇‖", "clipped steps", "clip threshold 1"]
    assert fig.data[1].x.tolist() == [2, 4]
    assert fig.layout.yaxis.type == "log"
    assert float32_or_smaller(fig)


def test_grad_norm_figure_without_clipping_has_no_threshold():
    fig = figs.grad_norm_figure(np.arange(1, 4), np.ones(3), np.zeros(3, bool), clip=0.0)
    assert [t.name for t in fig.data] == ["‖∇‖"]


def test_non_finite_values_become_gaps_on_log_axes():
    fig = figs.grad_norm_figure(np.arange(1, 4), np.array([1.0, np.inf, 0.0]), np.zeros(3, bool), clip=0.0)
    y = fig.data[0].y
    assert y[0] == 1.0 and np.isnan(y[1]) and np.isnan(y[2])


def test_accuracy_figure_has_chance_line_and_unit_range():
    fig = figs.accuracy_figure(np.arange(1, 5), np.array([0.1, 0.5, 0.9, 1.0]), {"chance": 0.25})
    assert tuple(fig.layout.yaxis.range) == (0, 1.02)
    assert fig.data[1].name == "chance 0.25" and fig.data[1].y.tolist() == [0.25, 0.25]


def test_accuracy_figure_draws_every_reference_level():
    fig = figs.accuracy_figure(np.arange(1, 5), np.ones(4), {"chance": 1 / 7, "one_way_ceiling": 0.8895})
    assert [t.name for t in fig.data] == ["accuracy", "chance 0.143", "best one-way reader 0.889"]


def test_compare_figures_one_trace_per_run_in_its_colour():
    runs = {"RNN": (np.arange(1, 4), np.array([0.2, 0.2, 0.2])), "LSTM": (np.arange(1, 4), np.array([0.2, 0.1, 0.01]))}
    fig = figs.compare_loss_figure(runs, 1 / 6)
    assert [t.name for t in fig.data][:2] == ["RNN", "LSTM"] and fig.data[0].line.color == figs.PALETTE["rnn"]
    assert fig.data[1].line.dash == figs.DASHES["lstm"]
    curves = {"RNN": np.array([1e-8, 1e-4, 1.0]), "LSTM": np.array([0.1, 0.5, 1.0])}
    grads = figs.compare_grad_figure(curves)
    assert grads.data[0].x.tolist() == [0, 1, 2] and grads.layout.yaxis.type == "log"  # t from 0, as on Gradients
    assert "t" in grads.layout.xaxis.title.text
    assert float32_or_smaller(fig) and float32_or_smaller(grads)


def test_figures_redrawn_live_are_cheap_to_build():
    """Made in one go: each plotly update_* call costs milliseconds, and these redraw twice a second."""
    import time

    step = np.arange(1, 5001)
    loss = np.random.default_rng(0).random(5000)
    figs.loss_figure(step, loss, 0.2)  # warm plotly's validators
    started = time.process_time()
    for _ in range(10):
        figs.loss_figure(step, loss, 0.2)
        figs.grad_norm_figure(step, loss, loss > 0.9, clip=1.0)
    assert (time.process_time() - started) / 20 < 0.01  # CPU seconds per figure (about 2 ms here)


def test_task_output_figures():
    forecast = figs.forecast_figure(np.zeros(5), np.ones(5), np.ones(5) * 0.9, units="°C")
    assert [t.name for t in forecast.data] == ["input s_t", "truth s_(t+1)", "forecast"]
    assert forecast.layout.yaxis.title.text == "°C"
    scatter = figs.regression_scatter(np.array([[1.0], [1.5]]), np.array([[0.9], [1.4]]))
    assert scatter.layout.xaxis.title.text == "true value" and len(scatter.data[1].x) == 2
    correct = np.array([[np.nan, np.nan], [np.nan, np.nan], [1.0, 0.0]], dtype=np.float32)
    rows = figs.token_rows_figure({"input": ["a", "b"], "target": ["b", "a"], "model": ["b", "b"]}, correct)
    assert rows.data[0].z.shape == (3, 2) and rows.data[0].z[2].tolist() == [1.0, 0.0]
    assert rows.data[0].z[0].tolist() == [0.5, 0.5]  # neutral rows are grey
    for fig in (forecast, scatter, rows):
        assert float32_or_smaller(fig)


def test_chart_data_as_csv():
    from rnnviz.ui.charts import csv_text

    text = csv_text({"step": np.array([1, 2]), "loss": np.array([0.5, 0.25], dtype=np.float32)})
    assert text.splitlines() == ["step,loss", "1,0.5", "2,0.25"]
    table = csv_text({"h": np.array([[1.0, 2.0], [3.0, 4.0]])})
    assert table.splitlines() == ["h[0],h[1]", "1,2", "3,4"]


def test_training_figures_speak_the_pages_language():
    """A page passes its labels (here made up): no English title or legend name is left in any figure."""
    labels = {key: f"<{key}>" for key in common.english_labels("run.fig")}
    labels["thinned"] = "<{steps}/{points}>"
    n = 10 * common.MAX_POINTS
    step, ones = np.arange(1, n + 1), np.ones(n)
    built = [
        figs.loss_figure(step, ones, 0.5, labels=labels),
        figs.grad_norm_figure(step, ones * 2, ones > 0, clip=1.0, labels=labels),
        figs.accuracy_figure(step, ones / 2, {"chance": 0.25, "one_way_ceiling": 0.9}, labels=labels),
        figs.tagged_words_figure([[("a", "O", "B-PER")]], ["O", "B-PER"], labels=labels),
        figs.compare_loss_figure({"RNN": (step, ones)}, 0.5, labels=labels),
        figs.compare_grad_figure({"RNN": np.ones(5)}, labels=labels),
        figs.forecast_figure(np.zeros(5), np.ones(5), np.ones(5), labels=labels),
        figs.regression_scatter(np.ones((2, 1)), np.ones((2, 1)), labels=labels),
        figs.token_rows_figure({"RNN": ["a"]}, np.ones((1, 1), dtype=np.float32), labels=labels),
    ]
    for fig in built:
        texts = [fig.layout.xaxis.title.text, fig.layout.yaxis.title.text, *(a.text for a in fig.layout.annotations),
                 *(t.name for t in fig.data if t.name not in (None, "RNN", "‖∇‖", "O", "B-PER"))]  # tags are codes
        assert all(text == "" or text.startswith("<") for text in texts if text is not None), texts
