"""The CLI end to end on tiny settings: train writes the contracted run.json, probe writes the Trace's names
(rnnviz/probe.py), and every bad option exits 2 with one line and no traceback."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

import rnnviz.probe
from rnnviz.__main__ import main
from rnnviz.runs import MODEL_FILE, RUN_JSON, load_run, restore_trainer
from rnnviz.status import Status
from rnnviz.tasks import REGISTRY
from rnnviz.train import Trainer

TINY = ["--hidden", "4", "--seq-len", "6", "--steps", "4", "--batch", "4", "--device", "cpu"]


def cli(*args: str) -> subprocess.CompletedProcess:
    """python -m rnnviz in a fresh process, as scripts call it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "rnnviz", *args], capture_output=True, text=True, env=env, timeout=120)


def test_train_writes_the_contracted_run_json(tmp_path):
    out = tmp_path / "run"
    done = cli("train", "--task", "adding", "--cell", "lstm", *TINY, "--probe-every", "2", "--seed", "3", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "step 4/4" in done.stderr and "completed: eval loss" in done.stderr  # progress, then the summary
    assert (out / MODEL_FILE).is_file()
    record = json.loads((out / RUN_JSON).read_text())
    assert {"config", "device", "status", "baseline_loss", "history", "eval", "grad_by_time", "steps_per_second"} <= set(record)
    cfg = record["config"]
    assert {k: cfg[k] for k in ("task", "cell", "hidden", "seq_len", "steps", "batch", "seed", "probe_every", "device")} == {
        "task": "adding", "cell": "lstm", "hidden": 4, "seq_len": 6, "steps": 4, "batch": 4, "seed": 3, "probe_every": 2,
        "device": "cpu"}
    assert {"nonlinearity", "layers", "lr", "optimizer", "clip", "init", "init_gain", "forget_bias", "attention", "data"} <= set(cfg)
    assert cfg["lr"] == REGISTRY["adding"].defaults["lr"]  # options not given resolve to the task's defaults
    assert record["device"].startswith("CPU") and record["status"]["kind"] == "completed"
    assert record["baseline_loss"] == pytest.approx(1 / 6)
    history = record["history"]
    assert history["step"] == [1, 2, 3, 4] and all(len(history[k]) == 4 for k in ("loss", "grad_norm", "clipped"))
    assert all(isinstance(v, bool) for v in history["clipped"])
    assert set(record["eval"]) == {"loss", "accuracy"} and record["eval"]["accuracy"] is None  # regression
    probed = record["grad_by_time"]["step"]  # every 2 steps while probes stay within their time share
    assert probed[0] == 0 and probed[-1] == 4 and all(s % 2 == 0 for s in probed) and probed == sorted(set(probed))
    assert all(len(norms) == 6 for norms in record["grad_by_time"]["norm"])  # T floats per probe
    assert record["steps_per_second"] > 0
    # eval is the restored model's loss on the fixed 1,000 fresh examples
    assert restore_trainer(load_run(out)).evaluate()["loss"] == pytest.approx(record["eval"]["loss"], rel=1e-6)


def test_every_train_option_reaches_the_config(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--task", "order", "--cell", "rnn", "--nonlinearity", "relu", "--hidden", "5", "--layers", "2",
            "--seq-len", "8", "--steps", "3", "--batch", "3", "--lr", "0.02", "--optimizer", "rmsprop", "--clip", "0.5",
            "--init", "orthogonal", "--init-gain", "0.9", "--forget-bias", "2", "--attention", "additive", "--seed", "7",
            "--device", "cpu", "--probe-every", "2", "--out", str(out)]
    assert main(argv) == 0
    cfg = json.loads((out / RUN_JSON).read_text())["config"]
    assert {k: cfg[k] for k in ("task", "cell", "nonlinearity", "hidden", "layers", "seq_len", "steps", "batch", "lr",
                                "optimizer", "clip", "init", "init_gain", "forget_bias", "attention", "seed", "device",
                                "probe_every")} == {
        "task": "order", "cell": "rnn", "nonlinearity": "relu", "hidden": 5, "layers": 2, "seq_len": 8, "steps": 3,
        "batch": 3, "lr": 0.02, "optimizer": "rmsprop", "clip": 0.5, "init": "orthogonal", "init_gain": 0.9,
        "forget_bias": 2.0, "attention": "additive", "seed": 7, "device": "cpu", "probe_every": 2}
    record = json.loads((out / RUN_JSON).read_text())
    assert record["eval"]["accuracy"] is not None  # classification


def test_probe_writes_a_trace_with_the_design_names(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--task", "sentiment", "--cell", "lstm", "--hidden", "4", "--seq-len", "14", "--steps", "2",
                 "--batch", "4", "--device", "cpu", "--out", str(out)]) == 0
    npz = tmp_path / "trace.npz"
    assert main(["probe", str(out), "--out", str(npz), "--batch", "5", "--seed", "2"]) == 0
    with np.load(npz) as f:
        arrays = {k: f[k] for k in f.files}
    assert set(arrays) == {"x", "y", "pred", "loss", "mask", "attn", "h.0", "c.0", "grad.h.0", "grad.c.0",
                           "gate.0.i", "gate.0.f", "gate.0.g", "gate.0.o"}
    assert arrays["x"].shape == (5, 14) and arrays["h.0"].shape == (5, 14, 4) and arrays["attn"].shape == (5, 1, 14)
    assert arrays["h.0"].dtype == np.float32 and arrays["loss"].shape == ()
    np.testing.assert_allclose(arrays["attn"].sum(-1), 1, atol=1e-6)
    again = tmp_path / "again.npz"
    assert main(["probe", str(out), "--out", str(again), "--batch", "5", "--seed", "2"]) == 0
    with np.load(again) as f:
        np.testing.assert_array_equal(f["grad.h.0"], arrays["grad.h.0"])  # same seed, same data, same Trace


def test_probe_reports_the_file_it_wrote(saved_run, tmp_path, capsys):
    capsys.readouterr()
    assert main(["probe", str(saved_run), "--out", str(tmp_path / "trace")]) == 0
    assert f"to {tmp_path / 'trace.npz'}:" in capsys.readouterr().err  # np.savez adds .npz: say so
    assert (tmp_path / "trace.npz").is_file() and not (tmp_path / "trace").exists()


def test_train_runs_in_the_calling_thread(tmp_path, monkeypatch):
    """A trainer in a second thread ran at 0.56 of a plain loop's speed on 2 cores (see bench.py)."""
    threads = []
    real_run = Trainer.run

    def run(trainer, steps=None):
        threads.append(threading.current_thread())
        return real_run(trainer, steps)

    monkeypatch.setattr(Trainer, "run", run)
    assert main(["train", "--task", "adding", *TINY, "--out", str(tmp_path / "run")]) == 0
    assert threads == [threading.current_thread()]


def test_ctrl_c_stops_training_and_saves_the_last_finished_step(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "rnnviz", "train", "--task", "adding", "--cell", "lstm", "--hidden", "4",
            "--seq-len", "6", "--batch", "4", "--steps", "100000", "--device", "cpu", "--out", str(out)]
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env) as process:
        for line in process.stderr:  # progress, once training has begun
            if line.startswith("[") and "step " in line:
                break
        process.send_signal(signal.SIGINT)
        rest = line + process.stderr.read()
        assert process.wait(timeout=60) == 0, rest
    record = json.loads((out / RUN_JSON).read_text())
    stopped_at = len(record["history"]["step"])
    status = Status.stopped("user", stopped_at)
    assert record["status"] == status.to_json() and f"{status}: eval loss" in rest
    assert record["history"]["step"] == list(range(1, stopped_at + 1))
    assert all(len(column) == stopped_at for column in record["history"].values())
    assert restore_trainer(load_run(out)).step == stopped_at  # weights, optimizer state and history agree


@pytest.fixture
def unwritable_dir(tmp_path):
    """A directory that exists but takes no new file: a read-only one, or, for root (who writes in those too),
    /proc/self, where nobody can create files."""
    directory = tmp_path / "read-only"
    directory.mkdir()
    directory.chmod(0o555)
    yield directory if not os.access(directory, os.W_OK) else Path("/proc/self")
    directory.chmod(0o755)


def test_train_checks_that_out_can_be_written_before_training(unwritable_dir, monkeypatch, capsys):
    trained = []
    monkeypatch.setattr(Trainer, "run", lambda trainer, steps=None: trained.append(steps))
    assert main(["train", "--task", "adding", *TINY, "--out", str(unwritable_dir)]) == 2
    assert f"rnnviz: error: cannot write in {unwritable_dir}" in capsys.readouterr().err
    assert trained == []


def test_probe_checks_that_out_can_be_written_before_probing(saved_run, unwritable_dir, monkeypatch, capsys):
    probed = []
    monkeypatch.setattr(rnnviz.probe, "record_trace", lambda *args, **kwargs: probed.append(args))
    assert main(["probe", str(saved_run), "--out", str(unwritable_dir / "trace.npz")]) == 2
    assert f"rnnviz: error: cannot write in {unwritable_dir}" in capsys.readouterr().err
    assert probed == []


def test_train_refuses_to_overwrite_a_saved_run_unless_forced(saved_run, capsys):
    before = (saved_run / RUN_JSON).read_text()
    capsys.readouterr()
    assert main(["train", "--task", "adding", *TINY, "--seed", "5", "--out", str(saved_run)]) == 2
    assert "already holds a saved run; pass --force to overwrite it" in capsys.readouterr().err
    assert (saved_run / RUN_JSON).read_text() == before
    assert main(["train", "--task", "adding", *TINY, "--seed", "5", "--out", str(saved_run), "--force"]) == 0
    assert json.loads((saved_run / RUN_JSON).read_text())["config"]["seed"] == 5


def test_tasks_lists_the_registry(capsys):
    assert main(["tasks"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in REGISTRY)


@pytest.fixture
def saved_run(tmp_path):
    out = tmp_path / "saved"
    assert main(["train", "--task", "adding", *TINY, "--out", str(out)]) == 0
    return out


BAD = {
    "no command": [],
    "missing --out": ["train", "--task", "adding"],
    "not a number": ["train", "--task", "adding", "--hidden", "abc", "--out", "{tmp}/r"],
    "out of range": ["train", "--task", "adding", "--hidden", "0", "--out", "{tmp}/r"],
    "negative lr": ["train", "--task", "adding", "--lr", "-1", "--out", "{tmp}/r"],
    "unknown cell": ["train", "--task", "adding", "--cell", "mamba", "--out", "{tmp}/r"],
    "unknown task": ["train", "--task", "nope", "--out", "{tmp}/r"],
    "unknown optimizer": ["train", "--task", "adding", "--optimizer", "lbfgs", "--out", "{tmp}/r"],
    "attention on a per-step task": ["train", "--task", "copy", "--attention", "dot", "--out", "{tmp}/r"],
    "no such device": ["train", "--task", "adding", "--device", "cuda", "--out", "{tmp}/r"],
    "data for a generated task": ["train", "--task", "adding", "--data", "{tmp}/x.csv", "--out", "{tmp}/r"],
    "missing data file": ["train", "--task", "sine", "--data", "{tmp}/missing.csv", "--out", "{tmp}/r"],
    "out is a file": ["train", "--task", "adding", "--steps", "1", "--out", "{tmp}/file"],
    "probe of nothing": ["probe", "{tmp}/nowhere", "--out", "{tmp}/t.npz"],
    "probe batch": ["probe", "{run}", "--out", "{tmp}/t.npz", "--batch", "0"],
    "probe seed": ["probe", "{run}", "--out", "{tmp}/t.npz", "--seed", "-1"],
    "probe into a missing folder": ["probe", "{run}", "--out", "{tmp}/no/such/t.npz"],
    "bench seconds": ["bench", "--seconds", "0"],
}


@pytest.mark.parametrize("argv", list(BAD.values()), ids=list(BAD))
def test_bad_options_exit_2_with_one_line(argv, tmp_path, saved_run, capsys):
    (tmp_path / "file").write_text("")
    argv = [a.format(tmp=tmp_path, run=saved_run) for a in argv]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnviz: error: ") and err.count("\n") == 1 and "Traceback" not in err, err


def test_probe_of_a_run_whose_weights_do_not_match_exits_2(saved_run, tmp_path, capsys):
    record = json.loads((saved_run / RUN_JSON).read_text())
    record["config"]["hidden"] = 7
    (saved_run / RUN_JSON).write_text(json.dumps(record))
    capsys.readouterr()
    assert main(["probe", str(saved_run), "--out", str(tmp_path / "t.npz")]) == 2
    assert "does not match the config" in capsys.readouterr().err


def test_a_bad_option_in_a_real_process_prints_one_line(tmp_path):
    done = cli("train", "--task", "adding", "--seq-len", "5000", "--out", str(tmp_path / "r"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "rnnviz: error: sequence length must be between 1 and 1000, got 5000\n"
    assert not Path(tmp_path / "r").exists()


def probed_names(run: Path, tmp_path: Path) -> set[str]:
    npz = tmp_path / "trace.npz"
    assert main(["probe", str(run), "--out", str(npz), "--batch", "2"]) == 0
    with np.load(npz) as f:
        return set(f.files)


def test_train_a_bidirectional_tagger(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--task", "tagging", "--cell", "lstm", "--bidirectional", "--hidden", "4", "--seq-len", "8",
                 "--steps", "3", "--batch", "4", "--device", "cpu", "--out", str(out)]) == 0
    record = json.loads((out / RUN_JSON).read_text())
    assert record["config"]["bidirectional"] is True and record["config"]["cell"] == "lstm"
    assert 0 <= record["eval"]["accuracy"] <= 1  # token accuracy of the tags
    assert {"h.0", "h.0.reverse", "c.0.reverse", "grad.h.0.reverse"} <= probed_names(out, tmp_path)


def test_train_a_transformer_with_heads(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--task", "adding", "--cell", "transformer", "--hidden", "8", "--layers", "1", "--heads", "2",
                 "--seq-len", "6", "--steps", "3", "--batch", "4", "--device", "cpu", "--out", str(out)]) == 0
    cfg = json.loads((out / RUN_JSON).read_text())["config"]
    assert (cfg["cell"], cfg["heads"], cfg["bidirectional"]) == ("transformer", 2, False)
    assert "attn.self.0" in probed_names(out, tmp_path)


def test_heads_that_do_not_divide_hidden_are_refused(tmp_path, capsys):
    assert main(["train", "--task", "adding", "--cell", "transformer", "--hidden", "6", "--heads", "4",
                 "--out", str(tmp_path / "run")]) == 2
    assert "heads must divide hidden" in capsys.readouterr().err
