"""The benchmark runs end to end (tiny sizes and seconds here: its numbers are a report, not a test)."""
from __future__ import annotations

import json
import threading

import pytest

from rnnviz import bench
from rnnviz.__main__ import main


@pytest.fixture
def tiny_bench(monkeypatch):
    monkeypatch.setattr(bench, "HIDDEN", 8)
    monkeypatch.setattr(bench, "BATCH", 4)
    monkeypatch.setattr(bench, "PROBE_EVERY", 3)


@pytest.mark.slow  # times every loop, the CLI in subprocesses too
def test_bench_prints_a_table_and_json(tiny_bench, tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "--device", "auto", "--seconds", "0.03", "--threads", "1", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    result = json.loads(path.read_text())
    assert json.loads(out[out.index("{"):]) == result
    assert result["device"] == "CPU · 1 thread" and result["hidden"] == 8 and result["batch"] == 4
    assert result["threads"] == {"plain": 1, "background": 1}  # --threads holds for every loop
    assert [(r["cell"], r["seq_len"]) for r in result["rows"]] == [(c, t) for c in ("rnn", "lstm", "gru") for t in (50, 100)]
    for row in result["rows"]:
        assert min(row[f"{name}_steps_per_s"] for name in ("plain", "trainer", "background")) > 0
        assert row["trainer_ratio"] > 0 and row["background_ratio"] > 0  # medians of paired blocks
        assert f"{row['cell']:5s} {row['seq_len']:4d}" in out  # one table line per setting
    cli = result["cli"]
    assert (cli["cell"], cli["seq_len"]) == ("lstm", 50) and cli["steps"][0] == 3 and cli["steps"][1] > 3
    assert cli["steps"][1] % 3 == 0 and cli["plain_steps_per_s"] > 0
    assert isinstance(cli["cli_steps_per_s"], float) and isinstance(cli["ratio"], float)  # tiny runs: start-up's noise
    assert f"command line (lstm, T=50: a {cli['steps'][1]}-step run minus a 3-step one)" in out
    assert result["trace_ms"] > 0 and "one Trace (LSTM, T=100" in out


def test_bench_on_a_missing_device_exits_2(capsys):
    assert main(["bench", "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_compare_alternates_blocks_ending_on_probes(tiny_bench, monkeypatch):
    """Every block in a thread of its own, on the threads asked for: the trainer through run(), the background
    one through start(); each up to the next probe step."""
    blocks = []
    real_run = bench.Trainer.run

    def run(trainer, steps=None):
        status = real_run(trainer, steps)
        how = "background" if threading.current_thread().name == "rnnviz-trainer" else "run"  # BackgroundRun's thread
        blocks.append((how, threading.current_thread() is threading.main_thread(), bench.torch.get_num_threads(),
                       trainer.step, [p["step"] for p in trainer.probes]))
        return status

    monkeypatch.setattr(bench.Trainer, "run", run)
    result = bench.compare(bench._config("gru", 10, "cpu"), bench.pick_device("cpu"), seconds=1e-6, threads=1,
                           background_threads=2)
    assert min(result.values()) > 0
    assert not any(in_main for _, in_main, _, _, _ in blocks)
    for how, threads in (("run", 1), ("background", 2)):
        mine = [(n, step, probes) for h, _, n, step, probes in blocks if h == how]
        assert [step for _, step, _ in mine] == [5, 6, 9, 12]  # warm-up, then ROUNDS blocks up to each probe step
        assert {n for n, _, _ in mine} == {threads}
        assert {0, 5, 6, 9, 12} <= set(mine[-1][2])  # every block ends on a probe (step 3's may fall to the budget)


def test_in_thread_returns_and_raises_in_the_caller():
    assert bench.in_thread(bench.torch.get_num_threads, 2) == 2
    with pytest.raises(ZeroDivisionError):
        bench.in_thread(lambda: 1 / 0, 1)
