"""Run bundles: round trip, exact resumption, and refusal of pickles and damaged or mismatched files."""
from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch
from conftest import CreatesFile, edit_record, tiny_config, trained

from rnnviz.runs import (
    MODEL_FILE,
    RUN_JSON,
    STATE_FILE,
    RunFileError,
    bundle_bytes,
    extract_bundle,
    load_model,
    load_run,
    restore_trainer,
    save_run,
)
from rnnviz.tasks import make_task
from rnnviz.train import Trainer

COMPARED = ("step", "loss", "grad_norm", "clipped", "lr", "accuracy")  # every History column but wall time


def assert_same_history(a: Trainer, b: Trainer):
    for name in COMPARED:  # arrays, so that nan (a regression task's accuracy) equals nan
        np.testing.assert_array_equal(getattr(a.history, name), getattr(b.history, name), err_msg=name)
    assert a.history.param_norms == b.history.param_norms


def assert_same_weights(a: Trainer, b: Trainer):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def run_dir(tmp_path):
    directory = tmp_path / "run"
    save_run(trained(), directory)
    return directory


def test_round_trip(tmp_path):
    trainer = trained(layers=2)
    record = save_run(trainer, tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [MODEL_FILE, RUN_JSON, STATE_FILE]
    saved = load_run(tmp_path / "run")
    assert saved.config == trainer.cfg
    assert saved.record == json.loads(json.dumps(record)) and saved.record["status"]["kind"] == "completed"
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(saved.model_state[name], value), name
    for name in ("step", "loss", "grad_norm", "clipped", "lr"):
        assert saved.record["history"][name] == getattr(trainer.history, name), name
    assert saved.record["history"]["accuracy"] == [None] * 6  # nan (regression) is null in JSON
    model = load_model(saved, make_task(saved.config.task))
    twin = load_model(saved, make_task(saved.config.task), unrolled=True)
    x = torch.rand(2, 6, 2)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), rtol=0, atol=1e-5)
        torch.testing.assert_close(model(x), trainer.model(x))


@pytest.mark.parametrize("optimizer,cell", [("adam", "lstm"), ("rmsprop", "gru"), ("sgd", "rnn")])
def test_a_restored_run_continues_exactly_like_an_uninterrupted_one(tmp_path, optimizer, cell):
    uninterrupted = trained(steps=10, optimizer=optimizer, cell=cell)
    first_half = trained(steps=5, optimizer=optimizer, cell=cell)
    save_run(first_half, tmp_path / "run")
    resumed = restore_trainer(load_run(tmp_path / "run"))
    assert resumed.step == 5 and resumed.status.kind == "completed"
    assert resumed.run(steps=10).kind == "completed"
    assert_same_history(resumed, uninterrupted)
    assert_same_weights(resumed, uninterrupted)


def test_bundle_zip_round_trip(tmp_path):
    trainer = trained()
    data = bundle_bytes(trainer, evaluate=False)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == [MODEL_FILE, RUN_JSON, STATE_FILE]
    directory = extract_bundle(data, tmp_path / "x")
    resumed = restore_trainer(load_run(directory))
    assert_same_weights(resumed, trainer)
    assert resumed.history.loss == trainer.history.loss


def test_a_run_with_a_users_csv_keeps_its_data(tmp_path):
    csv = tmp_path / "series.csv"
    csv.write_text("v\n" + "\n".join(str(np.sin(i / 4)) for i in range(80)) + "\n")
    trainer = trained(task="sine", data=str(csv), steps=3)
    record = save_run(trainer, tmp_path / "run")
    assert record["config"]["data"] == "data.csv" and (tmp_path / "run" / "data.csv").read_text() == csv.read_text()
    csv.unlink()  # the run no longer needs the original file
    resumed = restore_trainer(load_run(tmp_path / "run"))
    assert resumed.task.series is not None and resumed.run(steps=4).kind == "completed"


@pytest.mark.filterwarnings("ignore:overflow encountered")  # the probes' gradient norms overflow, as they should
def test_a_non_finite_run_saves_strict_json_and_loads(tmp_path):
    trainer = Trainer(tiny_config(cell="rnn", init="orthogonal", init_gain=3.0, lr=1.0, clip=0.0, optimizer="sgd", steps=100))
    trainer.run()
    assert trainer.status.reason == "non_finite"
    save_run(trainer, tmp_path / "run")

    def refuse(constant):
        raise AssertionError(f"run.json holds {constant}, which is not JSON")

    record = json.loads((tmp_path / "run" / RUN_JSON).read_text(), parse_constant=refuse)
    assert record["status"] == trainer.status.to_json() and record["history"]["grad_norm"][-1] is None
    resumed = restore_trainer(load_run(tmp_path / "run"))
    assert np.isnan(resumed.history.grad_norm[-1]) and resumed.status == trainer.status


# ---- refusing pickles ----------------------------------------------------------------------------
def test_the_trap_works(tmp_path):
    """If the pickles below were ever unpickled, the marker file would appear: shown here on purpose."""
    marker = tmp_path / "unpickled"
    pickle.loads(pickle.dumps(CreatesFile(marker)))
    assert marker.exists()


@pytest.mark.parametrize("target", [MODEL_FILE, STATE_FILE])
@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_a_pickle_in_place_of_safetensors_is_refused_and_never_unpickled(run_dir, tmp_path, target, how):
    marker = tmp_path / "unpickled"
    payload = {"rnn.weight_hh_l0": CreatesFile(marker)}
    with open(run_dir / target, "wb") as f:
        torch.save(payload, f) if how == "torch.save" else pickle.dump(payload, f)
    with pytest.raises(RunFileError, match="never unpickles") as err:
        load_run(run_dir)
    assert target in str(err.value)
    assert not marker.exists()


def test_a_pickle_as_run_json_or_bundle_is_refused(run_dir, tmp_path):
    marker = tmp_path / "unpickled"
    raw = pickle.dumps(CreatesFile(marker))
    buffer = io.BytesIO()
    torch.save(CreatesFile(marker), buffer)
    for data in (raw, buffer.getvalue()):  # torch.save writes a zip holding data.pkl
        with pytest.raises(RunFileError, match="pickle"):
            extract_bundle(data, tmp_path / "out")
    (run_dir / RUN_JSON).write_bytes(raw)
    with pytest.raises(RunFileError, match="not valid JSON"):
        load_run(run_dir)
    assert not marker.exists()


# ---- damaged, foreign and mismatched files -------------------------------------------------------


@pytest.mark.parametrize("change,message", [
    (lambda r: r.pop("format"), "not an rnnviz run"),
    (lambda r: r.update(version=99), "format version 99"),
    (lambda r: r.update(config=[1, 2]), "damaged: its \"config\""),
    (lambda r: r.update(history="lost"), "damaged: its \"history\""),
    (lambda r: r["config"].update(colour="red"), "unknown option"),
    (lambda r: r["config"].update(hidden=-3), "hidden must be between"),
    (lambda r: r["config"].update(task="copy", attention="dot"), "takes attention"),
], ids=["foreign", "newer", "config-type", "history-type", "unknown-option", "bad-value", "incompatible"])
def test_a_malformed_run_json_gives_a_clear_error(run_dir, change, message):
    edit_record(run_dir, change)
    with pytest.raises(RunFileError, match=message):
        load_run(run_dir)


def test_damaged_and_missing_files(run_dir, tmp_path):
    (run_dir / RUN_JSON).write_text("{\"format\": \"rnnviz-run\", ")
    with pytest.raises(RunFileError, match="not valid JSON"):
        load_run(run_dir)
    with pytest.raises(RunFileError, match="not a directory"):
        load_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFileError, match="has no run.json"):
        load_run(tmp_path / "empty")


def test_a_truncated_safetensors_file_is_named_as_such(run_dir):
    data = (run_dir / MODEL_FILE).read_bytes()
    (run_dir / MODEL_FILE).write_bytes(data[:len(data) // 2])
    with pytest.raises(RunFileError, match=f"{MODEL_FILE} cannot be read: it is damaged or truncated"):
        load_run(run_dir)
    (run_dir / MODEL_FILE).write_bytes(b"hello")
    with pytest.raises(RunFileError, match="not a safetensors file"):
        load_run(run_dir)


def test_a_truncated_or_foreign_bundle_is_refused(tmp_path):
    data = bundle_bytes(trained(), evaluate=False)
    with pytest.raises(RunFileError, match="damaged or truncated"):
        extract_bundle(data[:len(data) // 2], tmp_path / "a")
    with pytest.raises(RunFileError, match="not a run bundle"):
        extract_bundle(b"just text", tmp_path / "b")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(RunFileError, match="has no run.json"):
        extract_bundle(buffer.getvalue(), tmp_path / "c")


def test_weights_that_do_not_match_the_config_are_refused(run_dir):
    edit_record(run_dir, lambda r: r["config"].update(hidden=5))
    saved = load_run(run_dir)  # the files parse; the mismatch shows when they meet
    with pytest.raises(RunFileError, match=r"does not match the config.*rnn.weight_ih_l0 is \(16, 2\) in the file but \(20, 2\)"):
        restore_trainer(saved)
    with pytest.raises(RunFileError, match="does not match the config"):
        load_model(saved, make_task(saved.config.task))
    edit_record(run_dir, lambda r: r["config"].update(hidden=4, cell="gru"))
    with pytest.raises(RunFileError, match="does not match the config"):
        restore_trainer(load_run(run_dir))
