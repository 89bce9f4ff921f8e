"""The issue's bad-input table, one test per row, in the app and on the command line.

Every bad input must get a clear message naming the problem and what is accepted, must not lose the
current run, and must leave the app usable. App rows run the whole app in AppTest with a tiny trained
run already in the tab. AppTest cannot upload files, so uploads go through a stand-in for
st.file_uploader that hands the page's own upload handlers (rnnviz.ui.files) a real UploadedFile; real
uploads and typed values in a browser are in test_sessions.py. CLI rows call `python -m rnnviz`'s main()
in-process.

Covered elsewhere, and not repeated here: test_runs.py (truncated, foreign, mismatched and pickled files
at the load_run / extract_bundle level), test_cli.py (every bad option exits 2 with one line; a probe of a
run whose weights do not match its config), test_train.py (set_lr refuses bad values mid-run; a
non-finite stop keeps the history and the last finite weights), test_pages_train.py (settings a task
cannot take disable Train).
"""
from __future__ import annotations

import io
import math
import pickle

import pytest
import torch
from conftest import KEPT, CreatesFile, assert_kept, bundle, numbers, open_app, shown
from streamlit.testing.v1 import AppTest

from rnnviz.__main__ import main
from rnnviz.config import LIMITS
from rnnviz.runs import MODEL_FILE, RUN_JSON, save_run
from rnnviz.tasks import REGISTRY
from rnnviz.ui.fields import CELL_CHOICES
from rnnviz.ui.state import KEY

TIMEOUT = 60
TINY = ["--steps", "2", "--batch", "4", "--hidden", "4", "--device", "cpu"]


# ---- the app, a current run in it, and uploads --------------------------------------------------


def train_button(at: AppTest):
    return next(b for b in at.button if b.label == "Train")


def cli(capsys, *argv) -> tuple[int, str]:
    """python -m rnnviz argv: (exit code, stderr's last line without the "rnnviz: error: " prefix)."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.strip().splitlines()[-1].removeprefix("rnnviz: error: ")


# ---- data files (charlm's text, sine's CSV) ---------------------------------------------------------


# id -> (task, file name, its bytes, the message naming what is wrong)
FILES = {
    "empty text": ("charlm", "empty.txt", b"", "empty.txt is empty: it holds no text to learn from"),
    "non-UTF-8 bytes": ("charlm", "latin1.txt", "café crème brûlée\n".encode("latin-1") * 20,
                        "latin1.txt is not UTF-8 text: byte 3 (0xe9) is invalid; save it as UTF-8"),
    "binary renamed .txt": ("charlm", "photo.txt", bytes(range(256)) * 20,
                            "photo.txt looks binary (it has NUL bytes or many control characters): give a plain text file"),
    "CSV with no numeric column": ("sine", "names.csv", b"name,city\nann,paris\nbob,rome\n",
                                   "names.csv has no numeric column: its columns are 'name', 'city'"),
    "CSV with NaNs": ("sine", "gaps.csv", numbers(60, {4: "nan", 7: ""}),
                      "column 'v' of gaps.csv has 2 missing or non-numeric value(s), the first on line 4: "
                      "fill or remove those rows"),
    "CSV with one row": ("sine", "one.csv", b"v\n0.5\n",
                         "one.csv has 1 value: too few for sequence length 8, which needs T + 1 = 9 in both the first "
                         "80% (train) and the last 20% (val); use a longer file"),
}


@pytest.mark.parametrize("row", list(FILES))
def test_a_bad_data_file_is_refused_with_its_reason(row, current, uploads, tmp_path, capsys):
    task, name, data, message = FILES[row]
    uploads[f"upload_{task}"] = (name, data)
    at = open_app(current, task=task, seq_len=8)
    assert f"This file cannot be used: {message}. {KEPT}" in shown(at.error)
    assert_kept(at, current)
    assert not train_button(at).disabled, "without the file the settings train on generated data"

    (tmp_path / name).write_bytes(data)
    assert cli(capsys, "train", "--task", task, "--data", tmp_path / name, "--seq-len", 8, *TINY,
               "--out", tmp_path / "run") == (2, message)


def test_a_50_mb_text_is_refused_before_it_is_stored_or_read(current, uploads, tmp_path, capsys):
    limit = LIMITS["text_bytes"][1]
    uploads["upload_charlm"] = ("big.txt", b"a" * 50_000_000)
    at = open_app(current, task="charlm", seq_len=8)
    assert f"This file cannot be used: big.txt is 50,000,000 bytes; at most {limit:,} bytes are accepted. {KEPT}" in shown(at.error)
    assert current.workdir is None, "nothing was written into the tab's folder"
    assert_kept(at, current)
    uploader = at.get("file_uploader")[0].proto
    assert f"up to {limit / 1e6:.0f} MB" in uploader.label  # the limit is stated where the file is chosen

    with open(tmp_path / "big.txt", "wb") as f:
        f.truncate(50 * 2**20)  # sparse: the size is refused before anything is read
    assert cli(capsys, "train", "--task", "charlm", "--data", tmp_path / "big.txt", *TINY, "--out", tmp_path / "run") == (
        2, f"big.txt is 52,428,800 bytes: a text file may have at most {limit:,} bytes")


# ---- numbers: from the address (typed values are held to the widget's range: test_sessions.py) ----
def refused_in_address(state, key: str, value: str, accepted: str) -> AppTest:
    at = open_app(state, query={key: value})
    assert (f"The page address asks for {key}={value}, which this setting does not accept (accepted: {accepted}); "
            "it was left as it was.") in shown(at.warning)
    assert_kept(at, state)
    assert not train_button(at).disabled
    return at


@pytest.mark.parametrize("value", ["0", "-5", "5000"])
def test_a_sequence_length_of_0_negative_or_above_the_maximum(value, current, tmp_path, capsys):
    lo, hi = LIMITS["seq_len"]
    at = refused_in_address(current, "seq_len", value, f"{lo} – {hi}")
    widget = at.number_input(key="seq_len")
    assert widget.value == 50 and f"({lo}–{hi})" in widget.help  # the default stays; the range is in its help
    assert cli(capsys, "train", "--task", "adding", "--seq-len", value, "--out", tmp_path / "run") == (
        2, f"sequence length must be between {lo} and {hi}, got {value}")
    assert not (tmp_path / "run").exists()


def test_a_hidden_size_of_0(current, tmp_path, capsys):
    lo, hi = LIMITS["hidden"]
    at = refused_in_address(current, "hidden", "0", f"{lo} – {hi}")
    assert at.number_input(key="hidden").value == 64 and f"({lo}–{hi})" in at.number_input(key="hidden").help
    assert cli(capsys, "train", "--task", "adding", "--hidden", "0", "--out", tmp_path / "run") == (
        2, f"hidden must be between {lo} and {hi}, got 0")


@pytest.mark.parametrize("value", ["0", "-1", "1e6"])
def test_a_learning_rate_of_0_negative_or_1e6(value, current, tmp_path, capsys):
    lo, hi = LIMITS["lr"]
    at = refused_in_address(current, "lr", value, f"{lo:g} – {hi:g}")
    assert at.number_input(key="lr").value == pytest.approx(3e-3) and f"({lo:g}–{hi:g})" in at.number_input(key="lr").help
    assert cli(capsys, "train", "--task", "adding", "--lr", value, "--out", tmp_path / "run") == (
        2, f"learning rate must be between {lo:g} and {hi:g}, got {float(value)!r}")


def test_a_batch_larger_than_the_data(current, uploads, tmp_path, capsys):
    """45 values with T=8: the last 9 (val) just hold one window of T + 1, the first 36 (train) hold 28 windows,
    fewer than a batch of 32."""
    uploads["upload_sine"] = ("short.csv", numbers(45))
    message = ("batch 32 is larger than the data: at this sequence length it holds 28 distinct training windows; "
               "choose a batch between 1 and 28, a shorter sequence length or more data")
    at = open_app(current, task="sine", seq_len=8, batch=32)
    assert f"These settings cannot be trained: {message}" in shown(at.error)
    assert train_button(at).disabled
    assert_kept(at, current)
    at.number_input(key="batch").set_value(28).run()
    assert not at.error and not train_button(at).disabled  # the accepted batch trains

    (tmp_path / "short.csv").write_bytes(numbers(45))
    assert cli(capsys, "train", "--task", "sine", "--data", tmp_path / "short.csv", "--seq-len", 8, "--batch", 32,
               "--out", tmp_path / "run") == (2, message)
    assert not (tmp_path / "run").exists()


def test_an_unknown_task_or_cell(current, tmp_path, capsys):
    at = refused_in_address(current, "task", "nope", ", ".join(REGISTRY))
    assert at.selectbox(key="task").value == "adding"
    at = refused_in_address(current, "cell", "mamba", ", ".join(CELL_CHOICES))
    assert at.selectbox(key="cell").value == "LSTM"
    assert cli(capsys, "train", "--task", "nope", "--out", tmp_path / "run") == (
        2, f"unknown task 'nope': choose one of {', '.join(REGISTRY)}")
    assert cli(capsys, "train", "--task", "adding", "--cell", "mamba", "--out", tmp_path / "run") == (
        2, "unknown cell 'mamba': choose one of rnn, lstm, gru, transformer")


# ---- run bundles --------------------------------------------------------------------------------
def refused_bundle(state, uploads, data: bytes, reason: str) -> AppTest:
    uploads["upload_run"] = ("run.zip", data)
    at = open_app(state)
    assert f"This bundle cannot be restored: {reason}. {KEPT}" in shown(at.error)
    assert_kept(at, state)
    return at


def test_a_corrupted_or_truncated_bundle(current, uploads, tmp_path, capsys):
    good = bundle()
    truncated = good[:len(good) // 2]
    refused_bundle(current, uploads, truncated, "the bundle is damaged or truncated (File is not a zip file)")
    flipped = bytearray(good)
    start = good.index(b"model.safetensors") + 200  # inside the stored weights: their CRC no longer matches
    flipped[start:start + 16] = bytes(16)
    refused_bundle(current, uploads, bytes(flipped), "the bundle is damaged or truncated (Bad CRC-32 for file 'model.safetensors')")
    # still usable: a good bundle restores
    before = current.trainer
    uploads["upload_run"] = ("run.zip", good)
    at = open_app(current)
    assert not at.exception and not at.error
    assert at.session_state[KEY].trainer is not before and at.session_state[KEY].trainer.step == 6

    run = tmp_path / "run"
    save_run(current.trainer.trainer, run, evaluate=False)
    (run / MODEL_FILE).write_bytes((run / MODEL_FILE).read_bytes()[:100])
    assert cli(capsys, "probe", run, "--out", tmp_path / "t.npz") == (
        2, f"{MODEL_FILE} cannot be read: it is damaged or truncated")


def test_a_bundle_whose_config_does_not_match_its_weights(current, uploads):
    """The CLI's probe of such a run: test_cli.py::test_probe_of_a_run_whose_weights_do_not_match_exits_2."""
    data = bundle(run_json=lambda record: record["config"].update(hidden=5))
    refused_bundle(current, uploads, data, f"{MODEL_FILE} does not match the config in {RUN_JSON}: rnn.weight_ih_l0 is "
                                           "(16, 2) in the file but (20, 2) for this config")


def test_a_pickle_offered_as_a_checkpoint_is_refused_without_unpickling(current, uploads, tmp_path, capsys):
    marker = tmp_path / "unpickled"  # unpickling any of these would create it (test_runs.py::test_the_trap_works)
    trap = pickle.dumps(CreatesFile(marker))
    saved = io.BytesIO()
    torch.save({"rnn.weight_hh_l0": CreatesFile(marker)}, saved)  # a zip holding data.pkl
    never = "rnnviz never unpickles files"
    refused_bundle(current, uploads, trap, "this is not a run bundle (a zip of run.json and model.safetensors): "
                                           f"it looks like a Python pickle; {never}")
    refused_bundle(current, uploads, saved.getvalue(), f"this zip holds a pickle (a torch.save checkpoint?); {never}")
    refused_bundle(current, uploads, bundle(**{MODEL_FILE: trap}),
                   f"{MODEL_FILE} cannot be read: it looks like a Python pickle; {never}")

    run = tmp_path / "run"
    save_run(current.trainer.trainer, run, evaluate=False)
    (run / MODEL_FILE).write_bytes(trap)
    assert cli(capsys, "probe", run, "--out", tmp_path / "t.npz") == (
        2, f"{MODEL_FILE} cannot be read: it looks like a Python pickle; {never}")
    assert not marker.exists()


# ---- numerical faults -----------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:overflow encountered")  # the last probe's gradient norms overflow, as they should
def test_an_exploding_run_stops_at_its_first_non_finite_step_and_the_page_says_why(tmp_path, capsys):
    """The issue's example: RNN, orthogonal W_hh with gain 3, learning rate 1, no clipping (Adam, T=100)."""
    settings = dict(cell="RNN", init="orthogonal", init_gain=3.0, lr=1.0, clipping=False, seq_len=100, steps=300)
    at = open_app(**settings)
    train_button(at).click().run()
    run = at.session_state[KEY].trainer
    run.join(timeout=TIMEOUT)
    trainer = run.trainer
    status = trainer.status
    assert (status.reason, status.detail) == ("non_finite", "gradient"), status
    history = trainer.history
    assert all(math.isfinite(v) for v in history.loss[:-1] + history.grad_norm[:-1])  # the first non-finite step ...
    assert not math.isfinite(history.grad_norm[-1])  # ... is the last one recorded
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    at.run()
    assert any("gradient was not finite" in e and "Turn clipping on" in e for e in shown(at.error))
    assert not at.exception and not train_button(at).disabled
    assert next(b for b in at.button if b.label == "Resume").disabled  # resuming would only explode again

    code, last = cli(capsys, "train", "--task", "adding", "--cell", "rnn", "--init", "orthogonal", "--init-gain", 3,
                     "--lr", 1, "--clip", 0, "--seq-len", 100, "--steps", 300, "--device", "cpu", "--out", tmp_path / "run")
    assert code == 0 and last.startswith(str(status)), last  # the same stop, and the run is saved
    assert (tmp_path / "run" / MODEL_FILE).is_file()
