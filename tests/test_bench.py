"""The benchmark runs end to end (tiny sizes and seconds here: its numbers are a report, not a test)."""
from __future__ import annotations

import json

import pytest

from rnnviz import bench
from rnnviz.__main__ import main


@pytest.fixture
def tiny_bench(monkeypatch):
    monkeypatch.setattr(bench, "HIDDEN", 8)
    monkeypatch.setattr(bench, "BATCH", 4)
    monkeypatch.setattr(bench, "PROBE_EVERY", 3)


def test_bench_prints_a_table_and_json(tiny_bench, tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "--device", "auto", "--seconds", "0.03", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    result = json.loads(path.read_text())
    assert json.loads(out[out.index("{"):]) == result
    assert result["device"].startswith("CPU") and result["hidden"] == 8 and result["batch"] == 4
    assert [(r["cell"], r["seq_len"]) for r in result["rows"]] == [(c, t) for c in ("rnn", "lstm", "gru") for t in (50, 100)]
    for row in result["rows"]:
        assert row["plain_steps_per_s"] > 0 and row["trainer_steps_per_s"] > 0
        assert row["ratio"] > 0  # the median of paired blocks, so not simply the quotient of the two best
        assert f"{row['cell']:5s} {row['seq_len']:4d}" in out  # one table line per setting
    assert result["trace_ms"] > 0 and "one Trace (LSTM, T=100" in out


def test_bench_on_a_missing_device_exits_2(capsys):
    assert main(["bench", "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_compare_alternates_blocks_ending_on_probes(tiny_bench, monkeypatch):
    blocks = []
    real_run = bench.Trainer.run

    def run(trainer, steps=None):
        status = real_run(trainer, steps)
        blocks.append((trainer.step, [p["step"] for p in trainer.probes]))
        return status

    monkeypatch.setattr(bench.Trainer, "run", run)
    plain, trainer, ratio = bench.compare(bench._config("gru", 10, "cpu"), bench.pick_device("cpu"), seconds=1e-6)
    assert min(plain, trainer, ratio) > 0
    assert [step for step, _ in blocks] == [5, 6, 9, 12]  # warm-up, then ROUNDS blocks up to each probe step
    assert {0, 5, 6, 9, 12} <= set(blocks[-1][1])  # every block ends on a probe (step 3's may fall to the time budget)
