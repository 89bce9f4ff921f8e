"""The Look-inside pages for every model family: bidirectional recurrent runs (a direction picker, both
directions' gradients), transformers (self-attention per head, no gates, no spectral bound), and no page
asking a run for its cell name."""
import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import PAGES, assert_clean, open_page, probed

from rnnviz.features import unit_correlation

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    "bilstm-tagging": dict(task="tagging", cell="lstm", bidirectional=True, seq_len=8),
    "bigru-sentiment": dict(task="sentiment", cell="gru", bidirectional=True, attention="dot", seq_len=13),
    "transformer-adding": dict(cell="transformer"),
    "transformer-charlm": dict(task="charlm", cell="transformer", hidden=8, seq_len=24),
    "rnn-adding": dict(cell="rnn"),
}


@pytest.fixture(scope="module")
def runs():
    return {name: probed(**flat) for name, flat in RUNS.items()}


def spec(at, k: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[k].proto.spec)


def values(z) -> np.ndarray:
    """A figure's array, plain lists or a typed array ({"dtype": "f4", "bdata": base64, "shape": "3, 4"})."""
    if isinstance(z, dict):
        flat = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"])
        return flat.reshape([int(n) for n in z["shape"].split(",")]) if "shape" in z else flat
    return np.array(z, dtype=float)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("run", RUNS)
def test_every_page_renders_for_every_family(runs, run, page):
    at = open_page(page, runs[run])
    assert_clean(at)
    assert at.get("plotly_chart") or at.info  # a picture, or a message saying what to pick instead


def test_the_direction_picker_switches_to_the_backward_names(runs):
    at = open_page("hidden_states", runs["bilstm-tagging"])
    picker = at.selectbox(key="inspect_direction")
    assert picker.options == ["forward →", "← backward"]
    forward = values(spec(at)["data"][0]["z"])
    picker.set_value(".reverse").run()
    assert_clean(at)
    trace = runs["bilstm-tagging"].trace_at(6)
    backward = values(spec(at)["data"][0]["z"])
    assert not np.allclose(forward, backward)
    assert np.allclose(np.sort(np.ravel(backward)), np.sort(trace["h.0.reverse"][0].ravel()), atol=1e-3)


def test_the_gates_page_shows_the_backward_gates(runs):
    at = open_page("gates", runs["bilstm-tagging"])
    at.selectbox(key="inspect_direction").set_value(".reverse").run()
    assert_clean(at)
    z = np.ravel(values(spec(at)["data"][0]["z"]))
    assert np.allclose(np.sort(z), np.sort(runs["bilstm-tagging"].trace_at(6)["gate.0.reverse.i"][0].ravel()), atol=1e-3)


def test_a_one_way_run_has_no_direction_picker(runs):
    at = open_page("hidden_states", runs["rnn-adding"])
    assert "inspect_direction" not in [s.key for s in at.selectbox]


def test_gradients_of_a_bidirectional_run_show_both_directions_dashed_apart(runs):
    at = open_page("gradients", runs["bilstm-tagging"])
    assert_clean(at)
    lines = {d["name"]: d["line"].get("dash") for d in spec(at)["data"]}
    assert lines == {"‖∂L/∂h_t‖ forward →": "solid", "‖∂L/∂c_t‖ forward →": "solid",
                     "‖∂L/∂h_t‖ ← backward": "dash", "‖∂L/∂c_t‖ ← backward": "dash"}
    assert any("backward direction" in c.value for c in at.caption)


def test_transformer_pages(runs):
    run = runs["transformer-adding"]
    at = open_page("attention", run)
    assert_clean(at)
    assert [d["type"] for d in spec(at)["data"]] == ["heatmap"] * run.cfg.model.heads
    assert spec(at)["layout"]["annotations"][0]["text"] == "head 1"
    at = open_page("gates", run)
    assert "transformer has no gates" in at.info[0].value and not at.get("plotly_chart")
    at = open_page("gradients", run)
    assert any("every position to every other" in m.value for m in at.markdown)
    assert not any(d["name"].startswith("bound") for d in spec(at)["data"])
    at = open_page("hidden_states", run)
    assert any("residual stream" in c.value for c in at.caption)
    top = max(np.percentile(np.abs(run.trace_at(s)["h.0"][0]), 99) for s in run.snapshot().trace_steps)
    assert spec(at)["data"][0]["zmax"] == pytest.approx(top, rel=1e-4)  # not ±1: the range comes from the data


def test_causal_self_attention_is_a_triangle(runs):
    at = open_page("attention", runs["transformer-charlm"])
    z = values(spec(at)["data"][0]["z"]).astype(float)  # (query, key)
    assert np.allclose(np.triu(z, k=1), 0, atol=1e-6) and np.allclose(z.sum(axis=1), 1, atol=1e-3)


def test_transformer_pages_speak_chinese(runs):
    at = open_page("attention", runs["transformer-adding"], lang="zh")
    assert_clean(at)
    assert spec(at)["layout"]["annotations"][0]["text"] == "头 1"
    at = open_page("gradients", runs["transformer-adding"], lang="zh")
    assert any("自注意力" in m.value for m in at.markdown)


def test_sorting_by_inside_a_name_puts_the_best_unit_first_and_shows_the_words(runs):
    run = runs["bilstm-tagging"]
    at = open_page("hidden_states", run)
    at.segmented_control(key="hs_sort").set_value("in_entity").run()
    assert_clean(at)
    heat = spec(at)
    trace = run.trace_at(6)
    words = [run.task.in_vocab[int(i)] for i in trace["x"][0]]
    assert list(heat["layout"]["xaxis"]["ticktext"]) == words
    import torch

    from rnnviz.tasks import Batch
    inside = run.task.signals(Batch(torch.as_tensor(trace["x"]), torch.as_tensor(trace["y"])))["in_entity"]
    h = trace["h.0"]
    r = np.abs(unit_correlation(h.reshape(-1, h.shape[-1]), inside.reshape(-1)))
    assert heat["data"][0]["y"][0] == f"u{int(np.argmax(r))}"


CELL_NAMES = re.compile(r"""(cell|\.name)\s*(==|!=|in)\s*\(?["'](rnn|lstm|gru|transformer|charlm|tagging)""")
OWN_FILES = ["rnnviz/ui/inspect.py", "views/hidden_states.py", "views/gates.py", "views/gradients.py",
             "views/attention.py", "rnnviz/figures/hidden.py", "rnnviz/figures/gates.py",
             "rnnviz/figures/gradients.py", "rnnviz/figures/attention.py"]


@pytest.mark.parametrize("path", OWN_FILES)
def test_no_page_compares_cell_or_task_names(path):
    source = (ROOT / path).read_text()
    assert not CELL_NAMES.search(source), CELL_NAMES.search(source).group(0)
    assert "GATES[" not in source
