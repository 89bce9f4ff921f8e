"""Run bundles: save a run to a directory (or a zip of one) and load it back, never unpickling.

A run directory holds
    run.json                  config (flat, every option resolved), device, status, history, probe
                              summaries, eval, grad_by_time, steps_per_second, optimizer settings
    model.safetensors         weights under torch.nn names (rnn.weight_ih_l0, ..., head.weight)
    train_state.safetensors   optimizer moments and the data generator's state, so a run resumes exactly
    data.txt / data.csv       the user's data file, where the task read one
Loading reads only JSON and safetensors. Anything else, a PyTorch pickle included, is refused with
a message saying what the file looks like.

A bundle is hostile until checked: every file is read only if it is a regular file and only up to its
bound (MEMBER_LIMITS), a zip's declared sizes are checked before anything is unpacked, every field of
run.json is checked by type and range, and the tensors by name, shape, dtype and value. A run's data can
only be its own data.txt / data.csv. What fails gives a RunFileError naming the file or field.
Saving writes every file under a temporary name beside its target and renames them into place, run.json
last, so a failed save leaves the previous files whole.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import reprlib
import stat
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from .config import LIMITS, RunConfig
from .models import SeqModel, make_model
from .status import Status
from .tasks import Task, check_compatible, make_task, task_class
from .tasks.base import read_regular_file
from .train import History, Trainer

FORMAT, FORMAT_VERSION = "rnnviz-run", 1
RUN_JSON, MODEL_FILE, STATE_FILE = "run.json", "model.safetensors", "train_state.safetensors"
DATA_FILES = {"text": "data.txt", "csv": "data.csv"}  # Task.takes_data -> the run's copy of the user's file
MAX_STEPS = LIMITS["steps"][1]  # the longest history a run.json may hold
# A step adds about 400 bytes of history (7 columns and 14 gradient norms of a 3-layer LSTM, ~20 characters a
# number), so a run of MAX_STEPS such steps fits; a 100k-step run of a bigger model (27 weights) does not.
MAX_JSON_BYTES = 40 * 2**20
# The largest model the limits allow, a 3-layer 512-unit LSTM encoder and decoder (reversal), has 11.6M float32
# weights (46 MB); Adam keeps two moments per weight (tests/test_hostile.py checks both bounds leave room).
MAX_MODEL_BYTES = 64 * 2**20
MAX_STATE_BYTES = 2 * MAX_MODEL_BYTES
MEMBER_LIMITS = {RUN_JSON: MAX_JSON_BYTES, MODEL_FILE: MAX_MODEL_BYTES, STATE_FILE: MAX_STATE_BYTES,
                 DATA_FILES["text"]: int(LIMITS["text_bytes"][1]), DATA_FILES["csv"]: int(LIMITS["csv_bytes"][1])}
MAX_BUNDLE_BYTES = 200 * 2**20  # refuse zips that would unpack to more than this
MAX_ZIP_MEMBERS = 1000  # a run is 5 files; a zip's index of millions of entries would take gigabytes to read
MAX_TEXT = 1000  # characters of a string in run.json's config (a CSV column name is the longest)
# The state torch keeps per weight for each optimizer as make_optimizer builds it (SGD with momentum).
OPTIMIZER_STATE = {"adam": {"step", "exp_avg", "exp_avg_sq"}, "rmsprop": {"step", "square_avg"},
                   "sgd": {"momentum_buffer"}}


class RunFileError(ValueError):
    """A run directory or bundle that cannot be read; the message says why."""


@dataclass
class SavedRun:
    record: dict  # run.json
    config: RunConfig
    model_state: dict[str, torch.Tensor]
    train_state: dict[str, torch.Tensor]
    directory: Path


# ---- saving ------------------------------------------------------------------------------------
def _finite_or_none(values) -> list:
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]


def _jsonable(value):
    """numpy arrays and scalars to lists / floats (non-finite floats to None) for run.json."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def run_record(trainer: Trainer, state: dict, evaluation: dict | None) -> dict:
    """run.json's content: the trainer's state_dict() but for its tensors, and what pages and reports read."""
    snap = trainer.snapshot()
    hist = state["history"]
    last_layer = trainer.cfg.model.layers - 1
    opt_groups = [{k: v for k, v in g.items() if k != "params"} for g in state["optimizer"]["param_groups"]]
    return _jsonable({
        "format": FORMAT, "version": FORMAT_VERSION,
        "config": trainer.cfg.flat(),
        "device": trainer.device_name,
        "status": state["status"].to_json(),
        "step": state["step"],
        "target_steps": state["target_steps"],
        "elapsed": state["elapsed"],
        "lr": state["lr"],
        "baseline_loss": trainer.task.baseline_loss,
        "history": {name: _finite_or_none(hist[name]) for name in History.COLUMNS},
        "param_norms": {k: _finite_or_none(v) for k, v in hist["param_norms"].items()},
        "eval": evaluation,
        "grad_by_time": {"step": [p["step"] for p in state["probes"]],
                         "norm": [p[f"grad.h.{last_layer}"] for p in state["probes"]]},
        "probes": state["probes"],
        "steps_per_second": snap.steps_per_second,
        "optimizer": opt_groups,
    })


def _train_state_tensors(state: dict) -> dict[str, torch.Tensor]:
    """train_state.safetensors: a state_dict()'s data generator and optimizer moments."""
    tensors = {"generator.train": state["data_gen"]}
    for idx, moments in state["optimizer"]["state"].items():
        for key, value in moments.items():
            if not torch.is_tensor(value):
                raise TypeError(f"optimizer state {key!r} is not a tensor")
            tensors[f"optimizer.{idx}.{key}"] = value.detach().cpu().contiguous()
    return tensors


def save_run(trainer: Trainer, directory, evaluate: bool = True) -> dict:
    """Write the run's files into directory (created if needed) and return what went into run.json.
    Safe to call while paused or finished, not while a step runs. Every file is prepared before any is written,
    and each is written beside its target and renamed into place (run.json last): a save that fails leaves the
    previous run's files whole."""
    record, files = _run_files(trainer, evaluate)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    _write_files(out, files)
    return record


def bundle_bytes(trainer: Trainer, evaluate: bool = True) -> bytes:
    """The run as a zip (run.json, model.safetensors, ...) for a download button."""
    _, files = _run_files(trainer, evaluate)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            zf.writestr(name, files[name])
    return buffer.getvalue()


def _run_files(trainer: Trainer, evaluate: bool) -> tuple[dict, dict[str, bytes]]:
    """(run.json's record, every file of the run by name, as bytes)."""
    state = trainer.state_dict()
    record = run_record(trainer, state, trainer.evaluate() if evaluate else None)
    files = {}
    data, kind = trainer.cfg.task.data, trainer.task.takes_data
    if data and kind:  # Task.__init__ refuses a data file for a task that takes none
        name = DATA_FILES[kind]
        files[name] = read_regular_file(data, MEMBER_LIMITS[name], f"a {kind} file")
        record["config"]["data"] = name  # relative to the run directory
    weights = {k: v.detach().cpu().contiguous() for k, v in state["model"].items()}
    files[MODEL_FILE] = save_safetensors(weights, metadata={"format": FORMAT})
    files[STATE_FILE] = save_safetensors(_train_state_tensors(state))
    files[RUN_JSON] = json.dumps(record).encode()
    return record, files


def _write_files(directory: Path, files: dict[str, bytes]) -> None:
    """Write each file under a temporary name in directory, then rename them all into place, run.json last.
    Until the renames nothing of the previous files has changed; on failure no temporary file is left."""
    staged: dict[str, Path] = {}
    try:
        for name, data in files.items():
            staged[name] = _write_temporary(directory, name, data)
        for name in sorted(staged, key=lambda n: n == RUN_JSON):
            os.replace(staged.pop(name), directory / name)
    finally:
        for temporary in staged.values():
            temporary.unlink(missing_ok=True)


def _write_temporary(directory: Path, name: str, data: bytes) -> Path:
    path = directory / f".{name}.{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)  # umask applies
    try:
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it the run's file
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


# ---- loading: files ----------------------------------------------------------------------------
def _describe_foreign(data: bytes) -> str:
    if len(data) >= 9 and data[8:9] == b"{":  # a safetensors file starts with an 8-byte header length, then JSON
        return "it is damaged or truncated"
    if data[:1] == b"\x80":
        return "it looks like a Python pickle; rnnviz never unpickles files"
    if data[:2] == b"PK":
        return "it looks like a zip archive, perhaps a PyTorch torch.save checkpoint (a pickle); rnnviz never unpickles files"
    return "it is not a safetensors file"


def _read_safetensors(data: bytes, name: str) -> dict[str, torch.Tensor]:
    try:
        return load_safetensors(data)
    except Exception:  # noqa: BLE001 -- any parse failure means the same thing to the user
        raise RunFileError(f"{name} cannot be read: {_describe_foreign(data)}") from None


def _read_run_file(root: Path, name: str) -> bytes:
    """A run file's bytes: a regular file (not a pipe or device), read up to its bound in MEMBER_LIMITS."""
    try:
        return read_regular_file(root / name, MEMBER_LIMITS[name], f"a run's {name}")
    except ValueError as err:
        raise RunFileError(str(err)) from None


def _read_json(data: bytes) -> dict:
    try:
        record = json.loads(data.decode("utf-8"))
    except RecursionError:  # json.loads recurses once per level: a bundle of 100k nested lists reaches the limit
        raise RunFileError(f"{RUN_JSON} is nested more deeply than any rnnviz run") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunFileError(f"{RUN_JSON} is not valid JSON ({err})") from None
    except ValueError:  # an integer of more than 4,300 digits
        raise RunFileError(f"{RUN_JSON} holds a number too long to read") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise RunFileError(f"{RUN_JSON} is not an rnnviz run (no \"format\": \"{FORMAT}\")")
    version = record.get("version")
    readable = f"this rnnviz reads format versions 1 to {FORMAT_VERSION}"
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise RunFileError(f"this run was saved in format version {version} by a newer rnnviz; {readable}: update rnnviz to open it")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RunFileError(f"{RUN_JSON} has format version {_show(version)}, which no rnnviz writes; {readable}")
    _check_record(record)
    return record


# ---- loading: run.json's fields, by type and range -----------------------------------------------
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 40
_REPR.maxlist = _REPR.maxdict = 3


def _show(value) -> str:
    """A JSON value for a message, cut short: a hostile one may be megabytes long."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return _REPR.repr(value)


def _cut(text: str, most: int = 200) -> str:
    return text if len(text) <= most else text[:most - 3] + "..."


def _damaged(field: str, problem: str) -> RunFileError:
    return RunFileError(f'{RUN_JSON} is damaged: its "{_cut(field, 80)}" {problem}')


def _is_number(value: object) -> TypeGuard[int | float]:
    """A finite JSON number that fits a float and an int64; JSON's true and false are not numbers."""
    if type(value) is float:
        return math.isfinite(value)
    return type(value) is int and -2**63 <= value < 2**63


def _is_number_or_null(value) -> bool:  # run.json writes a non-finite value as null
    return value is None or _is_number(value)


def _is_count(value) -> bool:
    return type(value) is int and 0 <= value < 2**63


def _is_flag(value) -> bool:
    return type(value) is bool


def _is_setting(value) -> bool:
    """An optimizer setting: a number, a flag, null, or a list of numbers (Adam's betas)."""
    return value is None or _is_flag(value) or _is_number(value) or (
        isinstance(value, list) and all(map(_is_number, value)))


def _number(record: dict, key: str, field: str, lo: float = 0.0, hi: float = math.inf, whole: bool = False,
            null: bool = False):
    """record[key] (None when absent, or null where null is allowed), unless it is not a number from lo to hi."""
    value = record.get(key)
    if key not in record or (value is None and null):
        return None
    if not (_is_number(value) and (type(value) is int or not whole) and lo <= value <= hi):
        kind = "a whole number" if whole else "a number"
        limits = f"from {lo:g} to {hi:g}" if hi < math.inf else f"of {lo:g} or more"
        raise _damaged(field, f"is {_show(value)}, not {kind} {limits}")
    return value


def _list_of(values, field: str, ok, what: str, length: int | None = None) -> list:
    """values, unless it is not a list of items passing ok() (what names them) of the given length."""
    if not isinstance(values, list):
        raise _damaged(field, f"is {_show(values)}, not a list of {what}")
    if not all(map(ok, values)):
        bad = next(v for v in values if not ok(v))
        raise _damaged(field, f"holds {_show(bad)} where {what} belong")
    if length is not None and len(values) != length:
        raise _damaged(field, f"has {len(values):,} entries, but the history has {length:,} steps")
    return values


def _or_empty(values):
    return [] if values is None else values


def _object(record: dict, key: str, field: str) -> dict:
    """record[key] ({} when absent or null), unless it is not a JSON object."""
    value = record.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _damaged(field, "is not a JSON object")
    return value


def _array_shape(value, field: str) -> tuple[int, ...]:
    """The shape of a number (or null), a list of them, or an equal-length list of such lists; else RunFileError."""
    if _is_number_or_null(value):
        return ()
    if isinstance(value, list) and all(map(_is_number_or_null, value)):
        return (len(value),)
    if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
        width = len(value[0])
        if all(len(row) == width and all(map(_is_number_or_null, row)) for row in value):
            return (len(value), width)
    raise _damaged(field, f"is {_show(value)}, not a number, a list of numbers or a table of them")


def _check_record(record: dict) -> None:
    """Check every field a run.json holds by type and range, so that what load_run and restore_trainer read is
    what run_record writes; RunFileError names the first field that is not."""
    _check_config(_object(record, "config", "config"))
    try:
        Status.from_json(record.get("status") or "ready")
    except ValueError as err:
        raise _damaged("status", f"cannot be read: {err}") from None
    history = _check_history(_object(record, "history", "history"))
    steps = len(history["step"]) if history else 0
    step = _number(record, "step", "step", 0, MAX_STEPS, whole=True)
    if step is not None and step != steps:
        raise _damaged("step", f"is {step:,}, but the history has {steps:,} steps")
    _number(record, "target_steps", "target_steps", 0, MAX_STEPS, whole=True)
    _number(record, "lr", "lr", *LIMITS["lr"])
    _number(record, "elapsed", "elapsed")
    _number(record, "steps_per_second", "steps_per_second")
    _number(record, "baseline_loss", "baseline_loss", null=True)  # null where the baseline was not finite
    if not isinstance(record.get("device", ""), str):
        raise _damaged("device", f"is {_show(record['device'])}, not text")
    for name, values in _object(record, "param_norms", "param_norms").items():
        _list_of(values, f"param_norms.{name}", _is_number_or_null, "numbers or null", length=steps)
    for key, value in _object(record, "eval", "eval").items():
        if not _is_number_or_null(value):
            raise _damaged(f"eval.{key}", f"is {_show(value)}, not a number")
    for key, value in _object(record, "grad_by_time", "grad_by_time").items():
        _array_shape(value, f"grad_by_time.{key}")
    _check_probes(record.get("probes"), steps)
    groups = _list_of(_or_empty(record.get("optimizer")), "optimizer", lambda g: isinstance(g, dict), "JSON objects")
    for i, group in enumerate(groups):
        for key, value in group.items():
            if not _is_setting(value):
                raise _damaged(f"optimizer[{i}].{key}", f"is {_show(value)}, not a number, a flag or a list of numbers")


def _check_config(config: dict) -> None:
    """Single values under known names (RunConfig.from_flat checks each value's type and range after this)."""
    known = RunConfig().flat()
    for key, value in config.items():
        if key not in known:
            raise RunFileError(f"{RUN_JSON} holds a config this rnnviz cannot use: unknown option {_show(key)}")
        if value is None and known[key] is not None:  # only the options that default to None may be null
            raise _damaged(f"config.{key}", f"is null, but this option needs a value (its default is {_show(known[key])})")
        text = isinstance(value, str) and len(value) <= MAX_TEXT
        if not (value is None or text or _is_flag(value) or _is_number(value)):
            raise _damaged(f"config.{key}", f"is {_show(value)}, not a single number, flag or short text")


def _check_history(history: dict) -> dict:
    """Every History column, equal-length lists of what the trainer records; {} for a run.json without one."""
    if not history:
        return {}
    items = {"step": (_is_count, "whole numbers"), "clipped": (_is_flag, "true or false")}
    steps = None
    for name in History.COLUMNS:
        if name not in history:
            raise _damaged(f"history.{name}", "is missing")
        ok, what = items.get(name, (_is_number_or_null, "numbers or null"))
        if steps is None and isinstance(history[name], list) and len(history[name]) > MAX_STEPS:
            raise _damaged(f"history.{name}", f"has {len(history[name]):,} steps; a run has at most {MAX_STEPS:,}")
        steps = len(_list_of(history[name], f"history.{name}", ok, what, length=steps))
    return history


def _check_probes(probes, step: int) -> None:
    """A list of probe summaries (rnnviz.probe.summarize), each with its step and numeric curves; which curves and
    their shapes are checked against the model's own probe in restore_trainer."""
    for i, probe in enumerate(_list_of(_or_empty(probes), "probes", lambda p: isinstance(p, dict), "JSON objects")):
        if "step" not in probe:
            raise _damaged(f"probes[{i}].step", "is missing")
        _number(probe, "step", f"probes[{i}].step", 0, step, whole=True)
        for key, value in probe.items():
            _array_shape(value, f"probes[{i}].{key}")


# ---- loading: the run directory and the bundle ---------------------------------------------------
def load_run(directory) -> SavedRun:
    """Read and check a run directory. Raises RunFileError (a ValueError) with a readable message."""
    root = Path(directory)
    if not root.is_dir():
        raise RunFileError(f"{root} is not a directory")
    if not (root / RUN_JSON).exists():
        raise RunFileError(f"{root} is not an rnnviz run: it has no {RUN_JSON}")
    if not (root / MODEL_FILE).exists():
        raise RunFileError(f"{root} has no {MODEL_FILE}")
    record = _read_json(_read_run_file(root, RUN_JSON))
    config = _run_config(root, record.get("config") or {})
    model_state = _read_safetensors(_read_run_file(root, MODEL_FILE), MODEL_FILE)
    has_state = (root / STATE_FILE).exists()
    train_state = _read_safetensors(_read_run_file(root, STATE_FILE), STATE_FILE) if has_state else {}
    return SavedRun(record, config, model_state, train_state, root)


def _run_config(root: Path, flat: dict) -> RunConfig:
    flat = dict(flat)
    data = flat.pop("data", None)
    try:
        config = RunConfig.from_flat(flat)
        check_compatible(config)
    except ValueError as err:
        raise RunFileError(f"{RUN_JSON} holds a config this rnnviz cannot use: {err}") from None
    own = _own_data_file(root, config.task.name, data)
    return config if own is None else config.replace(data=own)


def _own_data_file(root: Path, task: str, data) -> str | None:
    """The path of the run's own data file, which config.data names, or None. A run reads no other file: not a
    path elsewhere, not a link, not a device; nothing is opened here."""
    if data is None or data == "":
        return None
    kind = task_class(task).takes_data
    own = DATA_FILES.get(kind) if kind else None
    if own is None:
        raise _damaged("config.data", f"names a data file, but task {task!r} generates its own data")
    if data != own:
        raise _damaged("config.data", f"is {_show(data)}: a run's data can only be its own {own}")
    try:
        regular = stat.S_ISREG(os.lstat(root / own).st_mode)
    except OSError:
        regular = False
    if not regular:
        raise _damaged("config.data", f"names {own}, but the run's directory holds no such regular file")
    return str(root / own)


def extract_bundle(data: bytes, directory) -> Path:
    """Unpack a zipped run into directory, taking only the files a run has, each checked against its bound before
    and while it is unpacked. Returns the run directory."""
    if data[:2] != b"PK":
        raise RunFileError(f"this is not a run bundle (a zip of {RUN_JSON} and {MODEL_FILE}): {_describe_foreign(data)}")
    # Each entry of a zip's index starts with this signature: counting them bounds the index before zipfile reads it.
    if data.count(b"PK\x01\x02") > MAX_ZIP_MEMBERS:
        raise RunFileError(f"this zip holds more than {MAX_ZIP_MEMBERS:,} files; a run bundle holds at most {len(MEMBER_LIMITS)}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = [info for info in zf.infolist() if not info.is_dir()]
            if any(info.filename.endswith(".pkl") for info in infos):
                raise RunFileError("this zip holds a pickle (a torch.save checkpoint?); rnnviz never unpickles files")
            members = _run_members(infos)
            if RUN_JSON not in members:
                raise RunFileError(f"this zip is not an rnnviz run: it has no {RUN_JSON}")
            if sum(info.file_size for info in members.values()) > MAX_BUNDLE_BYTES:
                raise RunFileError(f"this bundle unpacks to more than {MAX_BUNDLE_BYTES // 2**20} MB")
            files = {name: _unpack(zf, info, name) for name, info in members.items()}
    except RunFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError, NotImplementedError) as err:
        # A damaged index or stream, an encrypted member, an unknown compression method
        raise RunFileError(f"the bundle is damaged or truncated ({_cut(str(err))})") from None
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    _write_files(out, files)
    return out


def _run_members(infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """The zip's run files by name, each at the top or one folder down (a zipped run folder), none twice, none
    declaring more than its bound; other files (a __MACOSX folder, notes) are left out."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        parts = info.filename.replace("\\", "/").split("/")
        name = parts[-1]
        if name not in MEMBER_LIMITS:
            continue
        if len(parts) > 2 or any(part in ("", ".", "..") or ":" in part for part in parts):
            raise RunFileError(f"this bundle holds {_show(info.filename)}: a bundle keeps its files at the top or in one folder")
        if name in members:
            raise RunFileError(f"this bundle holds two {name}: {_show(members[name].filename)} and {_show(info.filename)}")
        most = MEMBER_LIMITS[name]
        if info.file_size > most:
            raise RunFileError(f"this bundle's {name} unpacks to {info.file_size:,} bytes; a run's {name} may have at most {most:,} bytes")
        members[name] = info
    return members


def _unpack(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    """A member's bytes, reading at most one byte past its bound whatever its header says."""
    most = MEMBER_LIMITS[name]
    with zf.open(info) as f:
        data = f.read(most + 1)
    if len(data) > most:
        raise RunFileError(f"this bundle's {name} unpacks to more than {most:,} bytes; a run's {name} may have at most {most:,} bytes")
    return data


# ---- checking tensors and restoring --------------------------------------------------------------
def _dtype(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def check_weights(model: SeqModel, state: dict[str, torch.Tensor]) -> None:
    """Raise RunFileError unless state has exactly model's parameter names, shapes and dtypes, all finite."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    mismatch = f"{MODEL_FILE} does not match the config in {RUN_JSON}"
    if missing or extra:
        raise RunFileError(f"{mismatch}: missing {missing[:4] or 'nothing'}, unexpected {_REPR.repr(extra[:4]) if extra else 'nothing'}")
    for name, tensor in expected.items():
        saved = state[name]
        if tuple(saved.shape) != tuple(tensor.shape):
            raise RunFileError(f"{mismatch}: {name} is {tuple(saved.shape)} in the file but {tuple(tensor.shape)} for this config")
        if saved.dtype != tensor.dtype:
            raise RunFileError(f"{mismatch}: {name} is {_dtype(saved)} in the file but {_dtype(tensor)} for this config")
        if not torch.isfinite(saved).all():
            raise RunFileError(f"{MODEL_FILE} is damaged: {name} holds values that are not finite (NaN or infinity)")


def load_model(saved: SavedRun, task: Task, unrolled: bool = False) -> SeqModel:
    """The saved run's model for task (built from saved.config.task) on the CPU, or its unrolled twin,
    with the weights checked against the config."""
    model = make_model(saved.config.model, task.io, seed=0, unrolled=unrolled)
    check_weights(model, saved.model_state)
    model.load_state_dict(saved.model_state)
    return model


def _none_to_nan(values) -> list:
    return [float("nan") if v is None else v for v in values]


def restore_trainer(saved: SavedRun, device: str | None = None, **trainer_kwargs) -> Trainer:
    """A Trainer holding the saved run's weights, optimizer state, data stream, history and probes (through its
    load_state_dict), ready to continue with run(); its latest Trace is recorded afresh from the saved weights.
    saved.record was checked by load_run; what only this run's model can tell (the weights, the optimizer's state,
    the probes' curves) is checked here. Raises RunFileError."""
    config = saved.config if device is None else saved.config.replace(device=device)
    try:
        trainer = Trainer(config, task=make_task(config.task), **trainer_kwargs)
    except (ValueError, OSError) as err:
        raise RunFileError(f"cannot rebuild this run: {err}") from None
    check_weights(trainer.model, saved.model_state)
    state = _saved_state(trainer, saved)
    kept = [(i, p) for i, p in enumerate(saved.record.get("probes") or []) if p["step"] < state["step"]]
    state["probes"] = [_probe_arrays(p) for _, p in kept]
    try:
        trainer.load_state_dict(state)
    except (ValueError, KeyError, RuntimeError) as err:  # _saved_state checked the rest: the optimizer's groups
        raise RunFileError(f"the saved optimizer state does not match this run's optimizer ({err})") from None
    trainer.probe(counted=False)  # the saved weights, to look at; not part of the training time budget
    _check_probe_curves(kept, trainer.probes[-1])
    return trainer


def _saved_state(trainer: Trainer, saved: SavedRun) -> dict:
    """The trainer's state_dict() with the saved run's in place, each part checked against this trainer; what the
    run did not save (the train state of a run saved before its first step) stays the trainer's own."""
    record, state = saved.record, trainer.state_dict()
    state["model"] = saved.model_state
    moments, generator = _check_train_state(trainer, saved.train_state)
    if generator is not None:
        try:
            torch.Generator().set_state(generator)  # a scratch one: is it a generator's state at all?
        except RuntimeError:
            raise RunFileError(f"{STATE_FILE} is damaged: generator.train is not a random generator's state") from None
        state["data_gen"] = generator
    if moments:
        state["optimizer"] = {"state": moments, "param_groups": _optimizer_groups(trainer, record.get("optimizer") or [])}
    hist, norms = record.get("history") or {}, record.get("param_norms") or {}
    state["history"] = {name: _none_to_nan(hist.get(name, [])) for name in History.COLUMNS}
    state["history"]["param_norms"] = {name: _none_to_nan(norms.get(name, [])) for name in trainer.params}
    state["step"] = len(state["history"]["step"])  # run.json's step, which load_run checked against the history
    state["target_steps"] = max(record.get("target_steps") or state["step"], state["step"])
    state["elapsed"] = float(record.get("elapsed") or 0.0)
    state["lr"] = float(record.get("lr") or trainer.cfg.train.lr)
    status = Status.from_json(record.get("status") or "ready")  # load_run checked it
    state["status"] = Status("paused") if status.active else status  # saved mid-run: no thread trains it here yet
    return state


def _probe_arrays(summary: dict) -> dict:
    return {k: (np.asarray(v, dtype=np.float32) if isinstance(v, list) else v) for k, v in summary.items()}  # null -> nan


def _check_probe_curves(saved: list[tuple[int, dict]], fresh: dict) -> None:
    """Each saved probe holds the curves of this model's own probe, in the same shapes: the pages stack them."""
    for i, probe in saved:
        for key in probe:
            if key not in fresh:
                raise _damaged(f"probes[{i}].{key}", "is not something a probe of this model records")
            shape, expected = _array_shape(probe[key], f"probes[{i}].{key}"), np.shape(fresh[key])
            if shape != expected:
                raise _damaged(f"probes[{i}].{key}", f"has shape {shape}, but this model's probes have {expected}")
        missing = sorted(set(fresh) - set(probe))
        if missing:
            raise _damaged(f"probes[{i}]", f"lacks {', '.join(missing[:3])}, which every probe of this model has")


_OPTIMIZER_KEY = re.compile(r"optimizer\.(0|[1-9][0-9]{0,5})\.([a-z_]+)")


def _check_train_state(trainer: Trainer, tensors: dict[str, torch.Tensor]) -> tuple[dict[int, dict], torch.Tensor | None]:
    """(optimizer state by parameter index, the data generator's state) from train_state.safetensors, each tensor
    checked against what this run's optimizer and generator keep: its name, shape, dtype and finite values."""
    params = list(trainer.params.values())
    names = OPTIMIZER_STATE[trainer.cfg.train.optimizer]
    state: dict[int, dict] = {}
    generator = None
    for key, value in tensors.items():
        if key == "generator.train":
            expected = trainer.data_gen.get_state()
            if value.dtype != expected.dtype or value.shape != expected.shape:
                raise RunFileError(f"{STATE_FILE} does not match this run: generator.train is {_dtype(value)} "
                                   f"{tuple(value.shape)}, but a random generator's state is {_dtype(expected)} {tuple(expected.shape)}")
            generator = value
            continue
        match = _OPTIMIZER_KEY.fullmatch(key)
        if match is None or int(match[1]) >= len(params) or match[2] not in names:
            raise RunFileError(f"{STATE_FILE} holds {_show(key)}, which the {trainer.cfg.train.optimizer} optimizer of "
                               "this run does not keep")
        index, name = int(match[1]), match[2]
        shape = () if name == "step" else tuple(params[index].shape)
        if value.dtype != torch.float32 or tuple(value.shape) != shape:
            raise RunFileError(f"{STATE_FILE} does not match this run: {key} is {_dtype(value)} {tuple(value.shape)}, "
                               f"but this run's optimizer keeps float32 {shape}")
        if not torch.isfinite(value).all():
            raise RunFileError(f"{STATE_FILE} is damaged: {key} holds values that are not finite (NaN or infinity)")
        state.setdefault(index, {})[name] = value.to(trainer.device) if value.dim() > 0 else value
    for index, kept in state.items():
        missing = sorted(names - set(kept))
        if missing:
            raise RunFileError(f"{STATE_FILE} is damaged: optimizer.{index} lacks {', '.join(missing)}")
    return state, generator


FORM_FLAGS = {"foreach", "fused"}  # torch optimizer settings that change the speed of an update, not the update


def _optimizer_groups(trainer: Trainer, groups: list[dict]) -> list[dict]:
    """This optimizer's parameter groups with the saved numbers in place. Flags must be this optimizer's own,
    except those that only choose how torch computes the same update (FORM_FLAGS: a bundle saved before rnnviz
    fused its optimizers restores into the fused form); settings this torch does not know are left out."""
    current = trainer.optimizer.state_dict()["param_groups"]
    if len(groups) != len(current):
        raise RunFileError(f"the saved optimizer state does not match this run's optimizer: {RUN_JSON} has "
                           f"{len(groups)} parameter groups, this optimizer {len(current)}")
    merged = []
    for i, (mine, saved_group) in enumerate(zip(current, groups)):
        group = dict(mine)
        for key, value in saved_group.items():
            if key == "params" or key not in mine or key in FORM_FLAGS:
                continue
            ours = mine[key]
            if isinstance(ours, (tuple, list)):
                fits = isinstance(value, list) and len(value) == len(ours)
            elif ours is None or isinstance(ours, bool):
                fits = value == ours and type(value) is type(ours)
            else:
                fits = _is_number(value)
            if not fits:
                raise _damaged(f"optimizer[{i}].{key}", f"is {_show(value)}, but this run's optimizer has {_show(ours)}")
            group[key] = tuple(value) if isinstance(ours, tuple) else value
        merged.append(group)
    return merged
