"""Every input is hostile: run bundles and data files that lie about themselves, name other files, or would
never finish reading are refused with a message naming the field or file, never a traceback.

The engine's tests are named test_engine_*: load_run, restore_trainer and extract_bundle raise nothing but
RunFileError (a ValueError) for any bundle content, read_user_file reads only regular files and at most its
limit, and save_run never leaves a half-written run.
"""
from __future__ import annotations

import io
import json
import os
import re
import threading
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

try:
    import resource
except ImportError:  # not on Windows
    resource = None

from conftest import edit_record, tiny_config, trained

from rnnviz import runs
from rnnviz.__main__ import main
from rnnviz.config import LIMITS
from rnnviz.runs import MODEL_FILE, RUN_JSON, STATE_FILE, RunFileError, extract_bundle, load_model, load_run, restore_trainer, save_run
from rnnviz.tasks import make_task
from rnnviz.tasks.base import read_user_file
from rnnviz.train import Trainer

TEXT = "hello world, (nested [brackets]) and \"quotes\"\n" * 30


# ---- helpers ---------------------------------------------------------------------------------------
@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A tiny adding run (LSTM, 6 steps, probes at 0 and 5 and 6), saved."""
    directory = tmp_path / "run"
    save_run(trained(), directory, evaluate=False)
    return directory


@pytest.fixture
def text_run(tmp_path) -> Path:
    """A tiny charlm run on a user's text, saved with its data.txt; a secret file lies beside the run."""
    (tmp_path / "secret.txt").write_text("the password is swordfish\n" * 40)
    source = tmp_path / "mine.txt"
    source.write_text(TEXT)
    directory = tmp_path / "run"
    save_run(trained(steps=2, task="charlm", data=str(source), seq_len=8, batch=4), directory, evaluate=False)
    source.unlink()
    return directory


def restore(directory) -> Trainer:
    return restore_trainer(load_run(directory))


def zip_of(members: list[tuple[str, bytes]]) -> bytes:
    """A zip holding members in order, duplicate names included."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return out.getvalue()


def members_of(directory: Path) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(directory.iterdir())]


def finishes(work, seconds: float = 10.0):
    """Run work() in a thread; fail if it is still running after seconds (a read that never ends), else return
    the exception it raised (None if it returned)."""
    outcome = {}

    def run():
        try:
            work()
            outcome["error"] = None
        except Exception as err:  # noqa: BLE001 -- handed back to the test
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still reading after {seconds} s"
    return outcome["error"]


def probe_cli(capsys, directory, tmp_path) -> tuple[int, str]:
    """python -m rnnviz probe directory: (exit code, stderr)."""
    capsys.readouterr()
    code = main(["probe", str(directory), "--out", str(tmp_path / "t.npz")])
    return code, capsys.readouterr().err


# ---- 1. a bundle's data can only be its own data file ------------------------------------------------
DATA_NAMES = {  # id -> what run.json's config.data says (the run's own data.txt stays in place)
    "absolute path": lambda run: str(run.parent / "secret.txt"),
    "parent folder": lambda run: "../secret.txt",
    "device": lambda run: "/dev/zero",
    "the other kind": lambda run: "data.csv",
    "a number": lambda run: 5,
    "a list": lambda run: ["data.txt"],
}


@pytest.mark.parametrize("name", list(DATA_NAMES))
def test_engine_a_bundle_reads_no_data_but_its_own(text_run, name):
    edit_record(text_run, lambda record: record["config"].update(data=DATA_NAMES[name](text_run)))
    with pytest.raises(RunFileError, match='"config.data"'):
        restore(text_run)


def test_engine_a_bundle_whose_data_file_is_missing_or_a_link_is_refused(text_run):
    restore(text_run)  # as saved, it restores
    data = text_run / "data.txt"
    data.unlink()
    data.symlink_to(text_run.parent / "secret.txt")
    with pytest.raises(RunFileError, match='"config.data".*data.txt'):
        restore(text_run)
    data.unlink()
    with pytest.raises(RunFileError, match='"config.data".*data.txt'):
        restore(text_run)


def test_engine_a_task_that_takes_no_data_refuses_a_data_file(run_dir):
    (run_dir / "data.txt").write_text(TEXT)
    edit_record(run_dir, lambda record: record["config"].update(data="data.txt"))
    with pytest.raises(RunFileError, match='"config.data"'):
        load_run(run_dir)


# ---- 2. only regular files are read, and at most the limit -----------------------------------------
def not_regular(tmp_path) -> dict[str, str]:
    """id -> a path that is no regular file."""
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    link = tmp_path / "link.txt"
    link.symlink_to("/dev/null")
    return {"directory": str(tmp_path), "device": "/dev/null", "pipe": str(fifo), "link to a device": str(link)}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", ["directory", "device", "pipe", "link to a device"])
def test_engine_read_user_file_reads_only_regular_files(tmp_path, kind):
    path = not_regular(tmp_path)[kind]
    error = finishes(lambda: read_user_file(path, "text_bytes", "text"))
    assert isinstance(error, ValueError) and "not a regular file" in str(error), error


def test_engine_a_data_file_that_is_a_device_is_refused_on_the_command_line(tmp_path, capsys):
    capsys.readouterr()
    argv = ["train", "--task", "charlm", "--data", "/dev/null", "--steps", "1", "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    assert capsys.readouterr().err == "rnnviz: error: null is a device, not a regular file\n"


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc")
def test_engine_the_size_limit_holds_while_reading(monkeypatch):
    """/proc files say they hold 0 bytes and then hand out more: only the bytes read count."""
    monkeypatch.setitem(LIMITS, "text_bytes", (1, 64))
    with pytest.raises(ValueError, match="maps has more than 64 bytes: a text file may have at most 64 bytes"):
        read_user_file("/proc/self/maps", "text_bytes", "text")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("target", [RUN_JSON, MODEL_FILE, STATE_FILE])
def test_engine_run_files_must_be_regular_files(run_dir, target):
    (run_dir / target).unlink()
    os.mkfifo(run_dir / target)
    error = finishes(lambda: restore(run_dir))
    assert isinstance(error, RunFileError) and f"{target} is a pipe, not a regular file" in str(error), error


@pytest.mark.parametrize("target", [RUN_JSON, MODEL_FILE, STATE_FILE])
def test_engine_run_files_over_their_bound_are_refused_unread(run_dir, target):
    most = runs.MEMBER_LIMITS[target]
    with open(run_dir / target, "wb") as f:
        f.truncate(most + 1)  # sparse: refused by its size, before a byte is read
    with pytest.raises(RunFileError, match=f"{target} is {most + 1:,} bytes: a run's {target} may have at most {most:,}"):
        load_run(run_dir)


def test_engine_the_largest_allowed_model_fits_the_file_bounds():
    """The bounds on model.safetensors and train_state.safetensors leave room for the largest model the limits
    allow: a 3-layer, 512-unit LSTM encoder and decoder (reversal), with Adam's two moments per weight."""
    cfg = tiny_config(task="reversal", cell="lstm", hidden=LIMITS["hidden"][1], layers=LIMITS["layers"][1],
                      embed_dim=LIMITS["embed_dim"][1], seq_len=10)
    with torch.device("meta"):
        from rnnviz.models import make_model
        model = make_model(cfg.model, make_task(cfg.task).io)
    weights = sum(p.numel() * p.element_size() for p in model.state_dict().values())
    assert weights > 40 * 2**20  # the largest model is big: the bound is not loose by accident
    assert weights < runs.MEMBER_LIMITS[MODEL_FILE] and 2 * weights < runs.MEMBER_LIMITS[STATE_FILE]


# ---- 3. run.json that lies about itself -------------------------------------------------------------
def column(name, value):
    return lambda record: record["history"].__setitem__(name, value)


LIES = {  # id -> (change to run.json, the field its message names)
    "loss is text": (column("loss", "abc"), "history.loss"),
    "a loss is text": (lambda r: r["history"]["loss"].__setitem__(2, "abc"), "history.loss"),
    "a loss is a list": (lambda r: r["history"]["loss"].__setitem__(2, [1.0]), "history.loss"),
    "a loss is true": (lambda r: r["history"]["loss"].__setitem__(2, True), "history.loss"),
    "a loss is infinite": (lambda r: r["history"]["loss"].__setitem__(2, 1e999), "history.loss"),
    "a loss is a huge integer": (lambda r: r["history"]["loss"].__setitem__(2, 10**400), "history.loss"),
    "a column is short": (lambda r: r["history"]["grad_norm"].pop(), "history.grad_norm"),
    "clipped is a number": (lambda r: r["history"]["clipped"].__setitem__(0, 1), "history.clipped"),
    "a step is a fraction": (lambda r: r["history"]["step"].__setitem__(0, 0.5), "history.step"),
    "a column is missing": (lambda r: r["history"].pop("lr"), "history.lr"),
    "status is a number": (lambda r: r.update(status=5), "status"),
    "status is an unknown kind": (lambda r: r.update(status={"kind": "exploded"}), "status"),
    "status is a list": (lambda r: r.update(status=["completed"]), "status"),
    "step is null": (lambda r: r.update(step=None), "step"),
    "step is text": (lambda r: r.update(step="6"), "step"),
    "step is not the history's": (lambda r: r.update(step=4), "step"),
    "step is huge": (lambda r: r.update(step=10**30), "step"),
    "target_steps is negative": (lambda r: r.update(target_steps=-1), "target_steps"),
    "target_steps is beyond the limit": (lambda r: r.update(target_steps=10**9), "target_steps"),
    "target_steps is text": (lambda r: r.update(target_steps="many"), "target_steps"),
    "lr is beyond the limit": (lambda r: r.update(lr=1e9), "lr"),
    "lr is text": (lambda r: r.update(lr="fast"), "lr"),
    "elapsed is negative": (lambda r: r.update(elapsed=-1.0), "elapsed"),
    "elapsed is infinite": (lambda r: r.update(elapsed=1e999), "elapsed"),
    "elapsed is a list": (lambda r: r.update(elapsed=[1]), "elapsed"),
    "param_norms is a list": (lambda r: r.update(param_norms=[1, 2]), "param_norms"),
    "a param norm is text": (lambda r: r["param_norms"].__setitem__("head.bias", ["x"] * 6), "param_norms.head.bias"),
    "param norms are short": (lambda r: r["param_norms"]["head.bias"].pop(), "param_norms.head.bias"),
    "probes are numbers": (lambda r: r.update(probes=[1, 2]), "probes"),
    "a probe has no step": (lambda r: r["probes"][0].pop("step"), "probes[0].step"),
    "a probe's step is text": (lambda r: r["probes"][1].update(step="5"), "probes[1].step"),
    "a probe's step is ahead": (lambda r: r["probes"][1].update(step=99), "probes[1].step"),
    "a probe's loss is text": (lambda r: r["probes"][0].update(loss="low"), "probes[0].loss"),
    "a probe's curve holds text": (lambda r: r["probes"][0].update({"grad.h.0": ["x"] * 6}), "probes[0].grad.h.0"),
    "a probe's curve is ragged": (lambda r: r["probes"][0].update({"sat.gate.0.f": [[0.0] * 4, [0.0]]}),
                                  "probes[0].sat.gate.0.f"),
    "a probe's curve has the wrong length": (lambda r: r["probes"][0].update({"grad.h.0": [1.0] * 7}), "probes[0].grad.h.0"),
    "a probe has a key summarize never writes": (lambda r: r["probes"][0].update(colour=1.0), "probes[0].colour"),
    "a probe lacks a key": (lambda r: r["probes"][0].pop("grad.c.0"), "probes[0]"),
    "optimizer is a dict": (lambda r: r.update(optimizer={"lr": 1}), "optimizer"),
    "an optimizer group is a number": (lambda r: r.update(optimizer=[3]), "optimizer"),
    "an optimizer setting is text": (lambda r: r["optimizer"][0].update(eps="tiny"), "optimizer[0].eps"),
    "betas are short": (lambda r: r["optimizer"][0].update(betas=[0.9]), "optimizer[0].betas"),
    "an optimizer flag is flipped": (lambda r: r["optimizer"][0].update(capturable=True), "optimizer[0].capturable"),
    "eval is a list": (lambda r: r.update(eval=[1]), "eval"),
    "eval's loss is text": (lambda r: r.update(eval={"loss": "low", "accuracy": None}), "eval.loss"),
    "baseline_loss is text": (lambda r: r.update(baseline_loss="low"), "baseline_loss"),
    "steps_per_second is negative": (lambda r: r.update(steps_per_second=-3), "steps_per_second"),
    "grad_by_time is text": (lambda r: r.update(grad_by_time="up"), "grad_by_time"),
    "device is a number": (lambda r: r.update(device=3), "device"),
    "the task is a list": (lambda r: r["config"].update(task=["adding"]), "config.task"),
    "the hidden size is a huge integer": (lambda r: r["config"].update(hidden=10**1000), "config.hidden"),
    "the cell is a dict": (lambda r: r["config"].update(cell={"lstm": 1}), "config.cell"),
}


@pytest.mark.parametrize("lie", list(LIES))
def test_engine_a_run_json_that_lies_is_refused_naming_the_field(run_dir, lie):
    change, field = LIES[lie]
    edit_record(run_dir, change)
    with pytest.raises(RunFileError, match=re.escape(f'"{field}"')):
        restore(run_dir)


def test_engine_a_bundle_saved_before_the_optimizer_was_fused_restores_fused(run_dir):
    """fused and foreach choose how torch computes the same update: the run's own form wins over the saved one."""
    edit_record(run_dir, lambda r: r["optimizer"][0].update(fused=None, foreach=None))
    group = restore(run_dir).optimizer.param_groups[0]
    assert group["fused"] is True and group["foreach"] is None


def test_engine_a_run_json_holding_nan_is_refused(run_dir):
    text = (run_dir / RUN_JSON).read_text()
    (run_dir / RUN_JSON).write_text(re.sub(r'"elapsed": [^,]*', '"elapsed": NaN', text, count=1))
    with pytest.raises(RunFileError, match='"elapsed"'):
        load_run(run_dir)


DEEP = 100_000


def test_engine_deep_nesting_gets_a_message(run_dir, tmp_path, capsys):
    text = (run_dir / RUN_JSON).read_text().replace('"eval": null', f'"eval": {"[" * DEEP}{"]" * DEEP}', 1)
    (run_dir / RUN_JSON).write_text(text)
    with pytest.raises(RunFileError, match="nested"):
        load_run(run_dir)
    with pytest.raises(RunFileError, match="nested"):
        load_run(extract_bundle(zip_of(members_of(run_dir)), tmp_path / "unzipped"))
    code, err = probe_cli(capsys, run_dir, tmp_path)
    assert code == 2 and err.startswith(f"rnnviz: error: {RUN_JSON}") and err.count("\n") == 1, err


@pytest.mark.parametrize("lie", ["step is null", "loss is text", "probes are numbers", "the task is a list"])
def test_engine_a_probe_of_a_lying_run_exits_2_with_one_line(run_dir, tmp_path, capsys, lie):
    edit_record(run_dir, LIES[lie][0])
    code, err = probe_cli(capsys, run_dir, tmp_path)
    assert code == 2 and err.startswith("rnnviz: error: ") and err.count("\n") == 1 and LIES[lie][1] in err, err


HOSTILE_VALUES = [None, "x", -1, 0, 10**30, 1e308, True, [], {}, [[1]], {"a": [1]}]


def test_engine_any_field_of_any_type_gives_a_run_file_error_or_a_run(run_dir):
    """Every field of run.json (top level, config, history) set to each of a few hostile values: loading and
    restoring either work or raise RunFileError, nothing else."""
    original = json.loads((run_dir / RUN_JSON).read_text())
    paths = [(key,) for key in original] + [("config", key) for key in original["config"]] + [
        ("history", key) for key in original["history"]]
    for path in paths:
        for value in HOSTILE_VALUES:
            record = json.loads(json.dumps(original))
            parent = record if len(path) == 1 else record[path[0]]
            parent[path[-1]] = value
            (run_dir / RUN_JSON).write_text(json.dumps(record))
            try:
                restore(run_dir)
            except RunFileError:
                pass
            except Exception as err:  # noqa: BLE001 -- the point of the test
                pytest.fail(f"{'.'.join(path)} = {value!r}: {type(err).__name__}: {err}")


# ---- 4. zip bombs and member names ------------------------------------------------------------------
def padded(name: str, run: Path) -> bytes:
    """name's content (the run's own, or text) grown one byte past its bound with bytes that compress to nothing."""
    most = runs.MEMBER_LIMITS[name]
    if name == RUN_JSON:
        data = (run / RUN_JSON).read_bytes()
        return data + b" " * (most + 1 - len(data))  # still valid JSON
    return b"\0" * (most + 1)


@pytest.mark.parametrize("name", [RUN_JSON, MODEL_FILE, STATE_FILE, "data.txt", "data.csv"])
def test_engine_a_zip_bomb_is_refused_before_it_is_unpacked(run_dir, tmp_path, name):
    members = [(n, padded(n, run_dir) if n == name else data) for n, data in members_of(run_dir)]
    if name not in dict(members):
        members.append((name, padded(name, run_dir)))
    bomb = zip_of(members)
    assert len(bomb) < runs.MEMBER_LIMITS[name] // 100  # it is a bomb
    most = runs.MEMBER_LIMITS[name]
    with pytest.raises(RunFileError, match=f"{name} unpacks to {most + 1:,} bytes; a run's {name} may have at most {most:,}"):
        extract_bundle(bomb, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir()), "nothing was unpacked"


def test_engine_a_zip_of_thousands_of_files_is_refused_before_its_index_is_read(run_dir, tmp_path):
    members = members_of(run_dir) + [(f"pad/{i}", b"") for i in range(runs.MAX_ZIP_MEMBERS)]
    with pytest.raises(RunFileError, match=f"this zip holds more than {runs.MAX_ZIP_MEMBERS:,} files"):
        extract_bundle(zip_of(members), tmp_path / "out")


BAD_NAMES = {  # id -> member names of a zip (the run's own files under these names) and what the message says
    "two run.json": ([RUN_JSON, RUN_JSON, MODEL_FILE], f"two {RUN_JSON}"),
    "run.json twice, in two folders": ([RUN_JSON, f"a/{RUN_JSON}", MODEL_FILE], f"two {RUN_JSON}"),
    "two folders down": ([f"a/b/{RUN_JSON}", MODEL_FILE], f"a/b/{RUN_JSON}"),
    "parent folder": ([f"../{RUN_JSON}", MODEL_FILE], f"../{RUN_JSON}"),
    "absolute": ([f"/{RUN_JSON}", MODEL_FILE], f"/{RUN_JSON}"),
    "drive": ([f"C:/{RUN_JSON}", MODEL_FILE], f"C:/{RUN_JSON}"),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile warns while writing the duplicate, as it should
@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_engine_zip_members_must_be_plain_names_at_the_top_or_one_folder_down(run_dir, tmp_path, case):
    names, message = BAD_NAMES[case]
    files = dict(members_of(run_dir))
    bundle = zip_of([(name, files[name.split("/")[-1]]) for name in names])
    with pytest.raises(RunFileError, match=message):
        extract_bundle(bundle, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir()), "nothing was unpacked"


def test_engine_a_bundle_zipped_as_a_folder_loads(run_dir, tmp_path):
    """A zip of the run's folder (as a file manager makes it) holds its files one folder down."""
    bundle = zip_of([(f"my run/{name}", data) for name, data in members_of(run_dir)] + [("__MACOSX/my run/._run.json", b"x")])
    directory = extract_bundle(bundle, tmp_path / "out")
    assert sorted(p.name for p in directory.iterdir()) == [MODEL_FILE, RUN_JSON, STATE_FILE]
    assert restore(directory).step == 6


# ---- 5. saves are atomic ----------------------------------------------------------------------------
def test_engine_a_failed_save_leaves_the_previous_run_whole(run_dir, monkeypatch):
    before = dict(members_of(run_dir))
    trainer = restore(run_dir)
    trainer.run(steps=9)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runs, "_train_state_tensors", fail)  # fails after the weights are ready to write
    with pytest.raises(OSError, match="disk full"):
        save_run(trainer, run_dir, evaluate=False)
    assert dict(members_of(run_dir)) == before, "the previous run's files are untouched, and nothing else was left"
    assert restore(run_dir).step == 6


@pytest.mark.skipif(resource is None, reason="needs resource limits")
def test_engine_a_write_that_fails_half_way_leaves_no_partial_file(run_dir):
    """A disk that fills up while a file is written (here: a file size limit of 200 bytes, which the weights pass)
    leaves the previous run's files as they were and no stray temporary file."""
    before = dict(members_of(run_dir))
    trainer = restore(run_dir)
    trainer.run(steps=9)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200, hard))  # Python ignores SIGXFSZ: the write raises instead
    try:
        with pytest.raises(OSError):
            save_run(trainer, run_dir, evaluate=False)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert dict(members_of(run_dir)) == before


# ---- 6. tensors of the wrong dtype, shape or value ---------------------------------------------------
def edit_tensors(path: Path, change) -> None:
    tensors = load_safetensors(path.read_bytes())
    change(tensors)
    path.write_bytes(save_safetensors(tensors))


MISMATCH = f"{MODEL_FILE} does not match the config in {RUN_JSON}: "
NOT_FINITE = f"{MODEL_FILE} is damaged: "
WEIGHTS = {  # id -> (change to model.safetensors, the message)
    "int64": (lambda w: w.update({"head.weight": w["head.weight"].long()}),
              MISMATCH + "head.weight is int64 in the file but float32 for this config"),
    "float16": (lambda w: w.update({"head.weight": w["head.weight"].half()}),
                MISMATCH + "head.weight is float16 in the file but float32 for this config"),
    "float64": (lambda w: w.update({"head.weight": w["head.weight"].double()}),
                MISMATCH + "head.weight is float64 in the file but float32 for this config"),
    "nan": (lambda w: w["rnn.weight_hh_l0"].__setitem__((0, 0), float("nan")),
            NOT_FINITE + "rnn.weight_hh_l0 holds values that are not finite (NaN or infinity)"),
    "inf": (lambda w: w["head.bias"].fill_(float("inf")),
            NOT_FINITE + "head.bias holds values that are not finite (NaN or infinity)"),
}


@pytest.mark.parametrize("case", list(WEIGHTS))
def test_engine_weights_of_the_wrong_dtype_or_not_finite_are_refused(run_dir, case):
    change, message = WEIGHTS[case]
    edit_tensors(run_dir / MODEL_FILE, change)
    saved = load_run(run_dir)
    with pytest.raises(RunFileError, match=re.escape(message)):
        restore_trainer(saved)
    with pytest.raises(RunFileError, match=re.escape(message)):
        load_model(saved, make_task(saved.config.task))


def renamed(tensors, old, new):
    tensors[new] = tensors.pop(old)


STATES = {  # id -> (change to train_state.safetensors, what the message names)
    "a moment of the wrong shape": (lambda s: s.update({"optimizer.0.exp_avg": torch.zeros(3)}), "optimizer.0.exp_avg"),
    "a moment of the wrong dtype": (lambda s: s.update({"optimizer.1.exp_avg_sq": s["optimizer.1.exp_avg_sq"].long()}),
                                    "optimizer.1.exp_avg_sq"),
    "a moment that is not finite": (lambda s: s["optimizer.2.exp_avg"].fill_(float("nan")), "optimizer.2.exp_avg"),
    "a step that is a vector": (lambda s: s.update({"optimizer.0.step": torch.ones(2)}), "optimizer.0.step"),
    "a moment is missing": (lambda s: s.pop("optimizer.3.exp_avg"), "optimizer.3"),
    "a name Adam does not keep": (lambda s: renamed(s, "optimizer.0.exp_avg", "optimizer.0.momentum_buffer"),
                                  "optimizer.0.momentum_buffer"),
    "a parameter number that is not one": (lambda s: renamed(s, "optimizer.0.exp_avg", "optimizer.x.exp_avg"),
                                           "optimizer.x.exp_avg"),
    "a parameter that does not exist": (lambda s: renamed(s, "optimizer.0.exp_avg", "optimizer.99.exp_avg"),
                                        "optimizer.99.exp_avg"),
    "a tensor no rnnviz writes": (lambda s: s.update(extra=torch.zeros(1)), "extra"),
    "a generator state of the wrong size": (lambda s: s.update({"generator.train": torch.zeros(7, dtype=torch.uint8)}),
                                            "generator.train"),
    "a generator state of the wrong dtype": (lambda s: s.update({"generator.train": s["generator.train"].float()}),
                                             "generator.train"),
}


@pytest.mark.parametrize("case", list(STATES))
def test_engine_a_train_state_that_does_not_fit_the_optimizer_is_refused(run_dir, case):
    change, name = STATES[case]
    edit_tensors(run_dir / STATE_FILE, change)
    with pytest.raises(RunFileError, match=f"{STATE_FILE}.*{name}"):
        restore(run_dir)
