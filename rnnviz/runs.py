"""Run bundles: save a run to a directory (or a zip of one) and load it back, never unpickling.

A run directory holds
    run.json                  config (flat, every option resolved), device, status, history, probe
                              summaries, eval, grad_by_time, steps_per_second, optimizer settings
    model.safetensors         weights under torch.nn names (rnn.weight_ih_l0, ..., head.weight)
    train_state.safetensors   optimizer moments and the data generator's state, so a run resumes exactly
    data.txt / data.csv       the user's data file, where the task read one
Loading reads only JSON and safetensors. Anything else, a PyTorch pickle included, is refused with
a message saying what the file looks like.
"""
from __future__ import annotations

import io
import json
import math
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from .config import RunConfig
from .models import SeqModel, make_model
from .status import Status
from .tasks import Task, check_compatible, make_task
from .train import Trainer

FORMAT, FORMAT_VERSION = "rnnviz-run", 1
RUN_JSON, MODEL_FILE, STATE_FILE = "run.json", "model.safetensors", "train_state.safetensors"
DATA_FILES = ("data.txt", "data.csv")
MAX_BUNDLE_BYTES = 200 * 2**20  # refuse zips that would unpack to more than this


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


def run_record(trainer: Trainer, evaluation: dict | None = None) -> dict:
    snap = trainer.snapshot()
    hist = trainer.history
    last_layer = trainer.cfg.model.layers - 1
    opt_groups = [{k: v for k, v in g.items() if k != "params"} for g in trainer.optimizer.state_dict()["param_groups"]]
    return _jsonable({
        "format": FORMAT, "version": FORMAT_VERSION,
        "config": trainer.cfg.flat(),
        "device": trainer.device_name,
        "status": snap.status.to_json(),
        "step": snap.step,
        "target_steps": snap.target_steps,
        "elapsed": snap.elapsed,
        "lr": snap.lr,
        "baseline_loss": trainer.task.baseline_loss,
        "history": {name: _finite_or_none(getattr(hist, name)) for name in hist.COLUMNS},
        "param_norms": {k: _finite_or_none(v) for k, v in hist.param_norms.items()},
        "eval": evaluation,
        "grad_by_time": {"step": [p["step"] for p in snap.probes],
                         "norm": [p[f"grad.h.{last_layer}"] for p in snap.probes]},
        "probes": snap.probes,
        "steps_per_second": snap.steps_per_second,
        "optimizer": opt_groups,
    })


def _train_state_tensors(trainer: Trainer) -> dict[str, torch.Tensor]:
    tensors = {"generator.train": trainer.data_gen.get_state()}
    for idx, state in trainer.optimizer.state_dict()["state"].items():
        for key, value in state.items():
            if not torch.is_tensor(value):
                raise TypeError(f"optimizer state {key!r} is not a tensor")
            tensors[f"optimizer.{idx}.{key}"] = value.detach().cpu().contiguous()
    return tensors


def save_run(trainer: Trainer, directory, evaluate: bool = True) -> dict:
    """Write the run's files into directory (created if needed) and return what went into run.json.
    Safe to call while paused or finished, not while a step runs."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    record = run_record(trainer, trainer.evaluate() if evaluate else None)
    data = trainer.cfg.task.data
    if data:
        name = "data.csv" if trainer.task.takes_data == "csv" else "data.txt"
        if Path(data).resolve() != (out / name).resolve():
            shutil.copyfile(data, out / name)
        record["config"]["data"] = name  # relative to the run directory
    weights = {k: v.detach().cpu().contiguous() for k, v in trainer.model.state_dict().items()}
    (out / MODEL_FILE).write_bytes(save_safetensors(weights, metadata={"format": FORMAT}))
    (out / STATE_FILE).write_bytes(save_safetensors(_train_state_tensors(trainer)))
    (out / RUN_JSON).write_text(json.dumps(record))
    return record


def bundle_bytes(trainer: Trainer, evaluate: bool = True) -> bytes:
    """The run as a zip (run.json, model.safetensors, ...) for a download button."""
    with tempfile.TemporaryDirectory() as tmp:
        save_run(trainer, tmp, evaluate)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(Path(tmp).iterdir()):
                zf.write(path, path.name)
        return buffer.getvalue()


# ---- loading -----------------------------------------------------------------------------------
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


def _read_json(data: bytes) -> dict:
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunFileError(f"{RUN_JSON} is not valid JSON ({err})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise RunFileError(f"{RUN_JSON} is not an rnnviz run (no \"format\": \"{FORMAT}\")")
    version = record.get("version")
    readable = f"this rnnviz reads format versions 1 to {FORMAT_VERSION}"
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise RunFileError(f"this run was saved in format version {version} by a newer rnnviz; {readable}: update rnnviz to open it")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RunFileError(f"{RUN_JSON} has format version {version!r}, which no rnnviz writes; {readable}")
    for key, kind in (("config", dict), ("history", dict), ("param_norms", dict), ("probes", list), ("optimizer", list)):
        if record.get(key) is not None and not isinstance(record[key], kind):
            raise RunFileError(f"{RUN_JSON} is damaged: its \"{key}\" is not a {'JSON object' if kind is dict else 'list'}")
    return record


def load_run(directory) -> SavedRun:
    """Read and check a run directory. Raises RunFileError (a ValueError) with a readable message."""
    root = Path(directory)
    if not root.is_dir():
        raise RunFileError(f"{root} is not a directory")
    if not (root / RUN_JSON).is_file():
        raise RunFileError(f"{root} is not an rnnviz run: it has no {RUN_JSON}")
    if not (root / MODEL_FILE).is_file():
        raise RunFileError(f"{root} has no {MODEL_FILE}")
    record = _read_json((root / RUN_JSON).read_bytes())
    flat = dict(record.get("config") or {})
    if flat.get("data"):
        flat["data"] = str(root / flat["data"])
    try:
        config = RunConfig.from_flat(flat)
        check_compatible(config)
    except ValueError as err:
        raise RunFileError(f"{RUN_JSON} holds a config this rnnviz cannot use: {err}") from None
    model_state = _read_safetensors((root / MODEL_FILE).read_bytes(), MODEL_FILE)
    train_state = _read_safetensors((root / STATE_FILE).read_bytes(), STATE_FILE) if (root / STATE_FILE).is_file() else {}
    return SavedRun(record, config, model_state, train_state, root)


def extract_bundle(data: bytes, directory) -> Path:
    """Unpack a zipped run into directory, taking only the files a run has. Returns the run directory."""
    if data[:2] != b"PK":
        raise RunFileError(f"this is not a run bundle (a zip of {RUN_JSON} and {MODEL_FILE}): {_describe_foreign(data)}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = {Path(info.filename).name: info for info in zf.infolist() if not info.is_dir()}
            if "data.pkl" in members or any(n.endswith(".pkl") for n in members):
                raise RunFileError("this zip holds a pickle (a torch.save checkpoint?); rnnviz never unpickles files")
            if RUN_JSON not in members:
                raise RunFileError(f"this zip is not an rnnviz run: it has no {RUN_JSON}")
            wanted = [n for n in (RUN_JSON, MODEL_FILE, STATE_FILE, *DATA_FILES) if n in members]
            if sum(members[n].file_size for n in wanted) > MAX_BUNDLE_BYTES:
                raise RunFileError(f"this bundle unpacks to more than {MAX_BUNDLE_BYTES // 2**20} MB")
            out = Path(directory)
            out.mkdir(parents=True, exist_ok=True)
            for name in wanted:
                (out / name).write_bytes(zf.read(members[name]))
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise RunFileError(f"the bundle is damaged or truncated ({err})") from None
    return out


def check_weights(model: SeqModel, state: dict[str, torch.Tensor]) -> None:
    """Raise RunFileError unless state has exactly model's parameter names and shapes."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise RunFileError(f"{MODEL_FILE} does not match the config in {RUN_JSON}: "
                           f"missing {missing[:4] or 'nothing'}, unexpected {extra[:4] or 'nothing'}")
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise RunFileError(f"{MODEL_FILE} does not match the config in {RUN_JSON}: {name} is "
                               f"{tuple(state[name].shape)} in the file but {tuple(tensor.shape)} for this config")


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
    """A Trainer holding the saved run's weights, optimizer state, data stream, history and probes,
    ready to continue with run(); its latest Trace is recorded afresh from the saved weights."""
    config = saved.config if device is None else saved.config.replace(device=device)
    try:
        trainer = Trainer(config, task=make_task(config.task), **trainer_kwargs)
    except (ValueError, OSError) as err:
        raise RunFileError(f"cannot rebuild this run: {err}") from None
    check_weights(trainer.model, saved.model_state)
    trainer.model.load_state_dict({k: v.to(trainer.device) for k, v in saved.model_state.items()})
    record = saved.record
    _restore_optimizer(trainer, saved.train_state, record.get("optimizer") or [])
    if "generator.train" in saved.train_state:
        trainer.data_gen.set_state(saved.train_state["generator.train"])
    hist = record.get("history") or {}
    for name in trainer.history.COLUMNS:
        setattr(trainer.history, name, _none_to_nan(hist.get(name, [])))
    for name in trainer.history.param_norms:
        trainer.history.param_norms[name] = _none_to_nan((record.get("param_norms") or {}).get(name, []))
    trainer.step = int(record.get("step", len(trainer.history)))
    trainer.target_steps = max(int(record.get("target_steps", trainer.step)), trainer.step)
    trainer.elapsed = float(record.get("elapsed") or 0.0)
    trainer.lr = float(record.get("lr") or config.train.lr)
    for group in trainer.optimizer.param_groups:
        group["lr"] = trainer.lr
    try:
        status = Status.from_json(record.get("status") or "ready")
    except ValueError as err:
        raise RunFileError(f"{RUN_JSON} is damaged: its \"status\" cannot be read ({err})") from None
    trainer.status = Status("paused") if status.active else status  # saved mid-run: no thread trains it here yet
    trainer.probes = [_probe_arrays(p) for p in record.get("probes") or [] if p.get("step", 0) < trainer.step]
    trainer.probe(counted=False)  # the saved weights, to look at; not part of the training time budget
    return trainer


def _probe_arrays(summary: dict) -> dict:
    return {k: (np.asarray(_none_to_nan(v), dtype=np.float32) if isinstance(v, list) else v) for k, v in summary.items()}


def _restore_optimizer(trainer: Trainer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value.to(trainer.device) if value.dim() > 0 else value
    if not state:
        return
    current = trainer.optimizer.state_dict()
    if len(groups) != len(current["param_groups"]):
        raise RunFileError("the saved optimizer state does not match this run's optimizer")
    merged = [{**cur, **saved_group, "params": cur["params"]} for cur, saved_group in zip(current["param_groups"], groups)]
    try:
        trainer.optimizer.load_state_dict({"state": state, "param_groups": merged})
    except (ValueError, KeyError, RuntimeError) as err:
        raise RunFileError(f"the saved optimizer state does not match this run's optimizer ({err})") from None
