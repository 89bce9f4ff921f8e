"""`python -m rnnviz import`: a character model trained by a plain PyTorch script (tutorial names: embedding, lstm,
fc) becomes a run whose probe equals the model's own forward pass, which the app can restore from a zip and
training continues; its own vocabulary is kept and checked as hostile input; whatever does not fit is one line."""
from __future__ import annotations

import io
import json
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SEQ_LEN, TEXT, import_args
from safetensors.torch import save_file
from torch import nn

from rnnviz.__main__ import main
from rnnviz.config import TaskConfig
from rnnviz.importer import read_vocab
from rnnviz.runs import RUN_JSON, RunFileError, extract_bundle, load_run, restore_trainer
from rnnviz.tasks import make_task


def test_the_probe_of_an_imported_run_is_the_models_own_forward_pass(tutorial, imported, tmp_path):
    model, chars, _ = tutorial
    config = json.loads((imported / RUN_JSON).read_text())["config"]
    assert {k: config[k] for k in ("task", "cell", "hidden", "layers", "embed_dim", "data", "vocab")} == {
        "task": "charlm", "cell": "lstm", "hidden": 32, "layers": 1, "embed_dim": 16, "data": "data.txt",
        "vocab": "".join(chars)}
    assert (imported / "data.txt").read_text() == TEXT
    assert main(["probe", str(imported), "--out", str(tmp_path / "t.npz")]) == 0
    trace = np.load(tmp_path / "t.npz")
    x = torch.from_numpy(trace["x"])  # (B, T) ids of the run's vocabulary, which is the model's
    with torch.no_grad():
        h, (_, c_n) = model.lstm(model.embedding(x))
        probs = torch.softmax(model.fc(h), dim=-1)
    np.testing.assert_allclose(trace["h.0"], h.numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(trace["c.0"][:, -1], c_n[0].numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(trace["pred"], probs.numpy(), rtol=0, atol=1e-5)


def test_the_run_keeps_the_models_vocabulary_which_charlm_alone_would_not_build(tutorial, imported):
    _, chars, folder = tutorial
    built = make_task(TaskConfig("charlm", 32, data=str(folder / "input.txt")))
    assert built.in_vocab != chars  # the text lacks Q, U, I, Z and the newline: ids would shift
    trainer = restore_trainer(load_run(imported))
    assert trainer.task.in_vocab == chars and trainer.task.decode(trainer.task.encode("the cat")) == "the cat"


def test_a_zipped_imported_run_restores_and_trains_on(tutorial, imported, tmp_path):
    model, _, _ = tutorial
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:  # what a person uploads to "Restore a run"
        for path in imported.iterdir():
            zf.write(path, f"mine/{path.name}")
    trainer = restore_trainer(load_run(extract_bundle(buffer.getvalue(), tmp_path / "restored")))
    assert trainer.step == 0 and torch.equal(trainer.model.head.weight.cpu(), model.fc.weight)
    assert trainer.run(steps=5).kind == "completed"
    assert trainer.step == 5 and len(trainer.history) == 5 and np.isfinite(trainer.history.loss).all()
    assert not torch.equal(trainer.model.head.weight.cpu(), model.fc.weight)  # it learned on


def test_a_torch_save_state_dict_is_read_only_with_the_flag(tutorial, tmp_path, capsys):
    model, _, folder = tutorial
    torch.save({"epoch": 3, "model_state_dict": model.state_dict()}, folder / "model.pt")  # a tutorial's checkpoint
    assert main(import_args(folder, tmp_path / "a", "model.pt")) == 2
    assert "pass --torch-save" in capsys.readouterr().err
    assert main(import_args(folder, tmp_path / "b", "model.pt", "vocab.json", "--torch-save")) == 0
    assert (tmp_path / "b" / RUN_JSON).is_file()


class _Trap:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "unpickled"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_hostile_pickle_is_refused_even_with_the_flag(tutorial, tmp_path, capsys):
    _, _, folder = tutorial
    marker = tmp_path / "marker"
    with open(folder / "trap.pt", "wb") as f:
        pickle.dump({"lstm.weight_ih_l0": _Trap(str(marker))}, f)
    assert main(import_args(folder, tmp_path / "run", "trap.pt", "vocab.json", "--torch-save")) == 2
    assert "cannot be read by torch.load(weights_only=True)" in capsys.readouterr().err
    assert not marker.exists()


def test_names_it_cannot_place_are_renamed(tutorial, tmp_path, capsys):
    _, chars, folder = tutorial
    V = len(chars)
    weights = {"net.tokens.weight": torch.randn(V, 32), "net.readout.weight": torch.randn(V, 32)}  # E = H, no bias
    weights |= {f"net.rnn_{k}": v for k, v in nn.GRU(32, 32).state_dict().items()}
    save_file(weights, str(folder / "odd.safetensors"))
    assert main(import_args(folder, tmp_path / "a", "odd.safetensors")) == 2
    err = capsys.readouterr().err
    assert "found no recurrent layer" not in err and "2 tensors that could be the embedding" in err
    assert f"net.readout.weight ({V}, 32), net.tokens.weight ({V}, 32)" in err and "--rename" in err
    assert main(import_args(folder, tmp_path / "b", "odd.safetensors", "vocab.json", "--rename", "net.tokens.=embedding.")) == 0
    saved = load_run(tmp_path / "b")
    assert saved.config.model.cell == "gru" and torch.equal(saved.model_state["head.bias"], torch.zeros(V))


def test_a_numeric_model_imports_for_a_csv(tmp_path):
    torch.manual_seed(0)
    gru, linear = nn.GRU(1, 8, num_layers=2), nn.Linear(8, 1)  # time first, as torch.nn's default
    save_file({**{f"gru.{k}": v for k, v in gru.state_dict().items()}, "linear.weight": linear.weight.detach(),
               "linear.bias": linear.bias.detach()}, str(tmp_path / "f.safetensors"))
    (tmp_path / "series.csv").write_text("t,v\n" + "".join(f"{i},{np.sin(i / 5):.4f}\n" for i in range(300)))
    assert main(["import", "--weights", str(tmp_path / "f.safetensors"), "--features", "1", "--data",
                 str(tmp_path / "series.csv"), "--column", "v", "--out", str(tmp_path / "run")]) == 0
    assert main(["probe", str(tmp_path / "run"), "--out", str(tmp_path / "t.npz")]) == 0
    trace = np.load(tmp_path / "t.npz")
    with torch.no_grad():
        out, _ = gru(torch.from_numpy(trace["x"]).transpose(0, 1))  # (T, B, 8)
    np.testing.assert_allclose(trace["h.1"], out.transpose(0, 1).numpy(), rtol=0, atol=1e-5)


def _state(model: nn.Module, change) -> dict:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    change(state)
    return state


def _swap_lstm(layer: nn.LSTM):
    def change(state):
        for k in [k for k in state if k.startswith("lstm.")]:
            del state[k]
        state.update({f"lstm.{k}": v for k, v in layer.state_dict().items()})
    return change


BAD_WEIGHTS = {  # what is changed in the tutorial's state dict -> what the one line says
    "missing": (lambda s: s.pop("lstm.weight_hh_l0"), "found lstm.*_l0 tensors but no lstm.weight_hh_l0"),
    "unknown layer": (lambda s: s.update({"norm.weight": torch.ones(32)}), "has no place for: norm.weight (32,)"),
    "bidirectional": (_swap_lstm(nn.LSTM(16, 32, bidirectional=True)), "bidirectional modules: not yet"),
    "projection": (_swap_lstm(nn.LSTM(16, 32, proj_size=8)), "projections (proj_size)"),
    "shape": (lambda s: s.update({"lstm.weight_hh_l0": torch.zeros(64, 32)}), "64 rows are not 1, 3 or 4 times"),
    "layer shape": (lambda s: s.update({"lstm.bias_ih_l0": torch.zeros(100)}), "keeps lstm.bias_ih_l0 as (128,)"),
    "no head": (lambda s: [s.pop("fc.weight"), s.pop("fc.bias")], "found no linear head"),
    "not finite": (lambda s: s["fc.bias"].fill_(float("nan")), "found fc.bias (24,), which holds values that are not finite"),
    "too deep": (_swap_lstm(nn.LSTM(16, 32, 4)), "which rnnviz cannot run: layers must be between 1 and 3"),
}


@pytest.mark.parametrize("case", list(BAD_WEIGHTS))
def test_weights_that_do_not_fit_give_one_line(case, tutorial, tmp_path, capsys):
    model, _, folder = tutorial
    change, message = BAD_WEIGHTS[case]
    save_file(_state(model, change), str(tmp_path / "bad.safetensors"))
    assert main(import_args(folder, tmp_path / "run", str(tmp_path / "bad.safetensors"))) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("rnnviz: error: "), err
    assert not (tmp_path / "run").exists()


def test_a_vocabulary_of_the_wrong_size_says_what_was_found(tutorial, tmp_path, capsys):
    _, chars, folder = tutorial
    V = len(chars)
    (tmp_path / "short.json").write_text(json.dumps(chars[:-1]))
    assert main(import_args(folder, tmp_path / "run", "model.safetensors", str(tmp_path / "short.json"))) == 2
    assert (f"found lstm.weight_ih_l0 (128, 16), embedding.weight ({V}, 16), fc.weight ({V}, 32): lstm, hidden 32; "
            f"the embedding reads {V} tokens, but short.json has {V - 1}") in capsys.readouterr().err


@pytest.mark.parametrize("vocab, text, message", [
    (["th", "e"], None, "token 0 of vocab.json is 'th': charlm reads one character per step"),
    ("drop Q", None, "outside the model's vocabulary"),
    (None, b"\xff\xfe not UTF-8", "is not UTF-8 text"),
])
def test_vocabularies_and_texts_that_do_not_fit_give_one_line(vocab, text, message, tutorial, tmp_path, capsys):
    _, chars, folder = tutorial
    if vocab == "drop Q":  # the text holds a character the model has no id for
        vocab, text = chars, (TEXT + "~").encode()
    data = tmp_path / "input.txt"
    data.write_bytes(text if text is not None else TEXT.encode())
    (tmp_path / "vocab.json").write_text(json.dumps(vocab if vocab is not None else chars))
    args = ["import", "--weights", str(folder / "model.safetensors"), "--vocab", str(tmp_path / "vocab.json"),
            "--data", str(data), "--out", str(tmp_path / "run"), "--seq-len", SEQ_LEN]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_options_that_do_not_fit_give_one_line(tutorial, imported, tmp_path, capsys):
    _, _, folder = tutorial
    cases = {
        "already holds a run": import_args(folder, imported),
        "task sine reads numbers: give --features": import_args(folder, tmp_path / "a", "model.safetensors",
                                                                 "vocab.json", "--task", "sine"),
        "task adding generates its own data": import_args(folder, tmp_path / "b", "model.safetensors", "vocab.json",
                                                          "--task", "adding"),
        "one of the arguments --vocab --features is required": [
            "import", "--weights", str(folder / "model.safetensors"), "--data", str(folder / "input.txt"), "--out", "x"],
        "a nonlinearity is for an RNN only": import_args(folder, tmp_path / "c", "model.safetensors", "vocab.json",
                                                         "--nonlinearity", "relu"),
        "--rename net.=x.: no tensor's name starts with 'net.'": import_args(
            folder, tmp_path / "d", "model.safetensors", "vocab.json", "--rename", "net.=x."),
    }
    for message, args in cases.items():
        assert main(args) == 2, message
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("vocab, message", [
    ("aab", "holds 'a' twice"), ("ab\x00", "U+0000, a control character"), ("ab\ud800", "lone surrogate"), ("", "1 to 1000"),
])
def test_a_bundles_vocabulary_is_checked_as_hostile_input(vocab, message, imported, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for path in imported.iterdir():
        (run / path.name).write_bytes(path.read_bytes())
    record = json.loads((run / RUN_JSON).read_text())
    record["config"]["vocab"] = vocab
    (run / RUN_JSON).write_text(json.dumps(record))
    with pytest.raises(RunFileError, match=re.escape(message)):
        restore_trainer(load_run(run))


def test_only_charlm_takes_a_vocabulary(tmp_path):
    assert main(["train", "--task", "adding", "--hidden", "4", "--seq-len", "6", "--steps", "1", "--batch", "4",
                 "--device", "cpu", "--out", str(tmp_path / "run")]) == 0
    record = json.loads((tmp_path / "run" / RUN_JSON).read_text())
    record["config"]["vocab"] = "abc"
    (tmp_path / "run" / RUN_JSON).write_text(json.dumps(record))
    with pytest.raises(RunFileError, match="task 'adding' takes no vocabulary"):
        load_run(tmp_path / "run")


def test_vocabulary_files_json_or_one_token_per_line(tmp_path):
    (tmp_path / "v.json").write_text(json.dumps(["\n", " ", "a"]))
    assert read_vocab(tmp_path / "v.json") == ["\n", " ", "a"]
    (tmp_path / "v.txt").write_bytes(b" \r\na\r\nb\r\n")  # a space is a token; Windows line ends are line ends
    assert read_vocab(tmp_path / "v.txt") == [" ", "a", "b"]
    (tmp_path / "bad.json").write_text('{"a": 0}')
    with pytest.raises(ValueError, match="not a JSON list of strings"):
        read_vocab(tmp_path / "bad.json")
