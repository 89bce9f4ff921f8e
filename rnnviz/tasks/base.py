"""What every task provides: a seeded batch generator, its loss, a metric and its baseline loss.

A task's module docstring states its encoding, its loss and its baseline loss (the loss of the
best predictor that ignores the dependency the task is about). The trainer only ever calls
`sample`, `loss` and `accuracy`, so adding a task means writing one module and listing it in
`rnnviz.tasks.REGISTRY`.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ..config import LIMITS, TaskConfig

OUTPUTS = ("last", "per_step", "seq2seq")  # one prediction per sequence, one per step, or a decoded sequence
# How a page shows what the model does (Task.output_view): sampled text, a forecast series, predicted against true
# values, token rows (input, target, model), a table of one-label answers, or words coloured by their tags.
OUTPUT_VIEWS = ("text", "forecast", "scatter", "tokens", "classes", "tags")


@dataclass
class Batch:
    x: torch.Tensor  # (B, T, F) float features, or (B, T) token ids
    y: torch.Tensor  # targets: (B, O) values, (B,) / (B, T) class ids, or (B, T, O) values
    dec_in: torch.Tensor | None = None  # seq2seq: (B, T_out) decoder input ids (teacher forcing)
    mask: torch.Tensor | None = None  # (B, T) bool, True at real input positions (False = padding)
    start: torch.Tensor | None = None  # (B,) tasks reading a series: the index of each window's first value in it

    def to(self, device) -> "Batch":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Batch(self.x.to(device), self.y.to(device), move(self.dec_in), move(self.mask), self.start)  # start: indices, on the CPU

    def __len__(self) -> int:
        return self.x.shape[0]


@dataclass(frozen=True)
class IOSpec:
    """What the model needs to know about a task's inputs and outputs."""

    n_in: int  # feature count, or vocabulary size for token inputs
    tokens_in: bool  # True: x holds token ids and the model embeds them
    n_out: int  # regression outputs, or classes
    output: str  # one of OUTPUTS
    causal: bool = False  # the target at step t is a later input: a model must not see past t (Task.causal)


class Task:
    name: ClassVar[str]
    summary: ClassVar[str]  # one line for menus: what the network must do and why it is hard
    output: ClassVar[str]  # one of OUTPUTS
    loss_kind: ClassVar[str]  # "mse" or "ce"
    variants: ClassVar[tuple[str, ...]] = ()  # task-specific choices; the first is the default
    attention: ClassVar[tuple[str, ...]] = ("none",)  # attention choices this task accepts
    # True where a per-step target is a later input (charlm, sine forecast the next one): the transformer then
    # masks later positions and bidirectional layers are refused. Tasks that must read ahead (tagging) keep False.
    causal: ClassVar[bool] = False
    takes_data: ClassVar[str | None] = None  # "text" or "csv" where the task reads a user's file
    defaults: ClassVar[dict] = {}  # flat config values that show a result within a minute on a laptop CPU
    # Presentation, so pages ask the task rather than its name: how its outputs are shown (one of OUTPUT_VIEWS),
    # and whether its accuracy is worth a chart (a next-character accuracy says little next to the loss).
    output_view: ClassVar[str]
    shows_accuracy: ClassVar[bool] = True

    n_in: int
    tokens_in: bool = False
    n_out: int
    in_vocab: list[str] | None = None  # id -> display text for token inputs
    out_vocab: list[str] | None = None  # id -> display text for class outputs
    baseline_loss: float
    windows: int | None = None  # tasks reading a user's file: distinct training windows it holds (None = unlimited)

    def __init__(self, cfg: TaskConfig):
        if cfg.name != self.name:
            raise ValueError(f"config is for task {cfg.name!r}, not {self.name!r}")
        if cfg.variant and cfg.variant not in self.variants:
            choices = f"choose one of {', '.join(self.variants)}" if self.variants else "this task has no variants"
            raise ValueError(f"unknown {self.name} variant {cfg.variant!r}: {choices}")
        if cfg.data and not self.takes_data:
            raise ValueError(f"task {self.name!r} generates its own data and takes no data file")
        self.cfg = replace(cfg, variant=cfg.variant or (self.variants[0] if self.variants else ""))
        self.seq_len = cfg.seq_len

    @property
    def variant(self) -> str:
        return self.cfg.variant

    @property
    def io(self) -> IOSpec:
        return IOSpec(self.n_in, self.tokens_in, self.n_out, self.output, self.causal)

    def sample(self, n: int, gen: torch.Generator, split: str = "train") -> Batch:
        """n fresh examples drawn with gen (a CPU generator); split is "train" or "val" for file-backed tasks."""
        raise NotImplementedError

    def loss(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean loss: MSE for regression, cross-entropy over every predicted position for classes."""
        if self.loss_kind == "mse":
            return F.mse_loss(pred, y)
        return F.cross_entropy(pred.reshape(-1, pred.shape[-1]), y.reshape(-1))

    def accuracy(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """Fraction of positions classified right (a 0-d tensor), or None for regression."""
        if self.loss_kind == "mse":
            return None
        return (pred.argmax(-1) == y).float().mean()

    def signals(self, batch: Batch) -> dict[str, np.ndarray]:
        """Per-step signals of a batch that hidden units can be sorted by or searched for, name -> (B, T) float32
        (the pages add the time step and numeric input features themselves). Named in the text files under
        inspect.signal.<name>. None by default; a task whose inputs have a meaning to track says so here."""
        return {}

    def reference_accuracies(self) -> dict[str, float]:
        """Accuracy levels worth a dashed line on the accuracy chart, name -> fraction right, each name labelled in
        the text files under run.fig.<name>: by default the chance level of a uniform guess over the classes."""
        return {"chance": 1 / self.n_out} if self.loss_kind == "ce" else {}

    def shown_steps(self) -> tuple[slice, slice]:
        """The steps of the input and of the target (and the model's output) worth showing in token rows: all."""
        return slice(None), slice(None)

    def prediction(self, pred: torch.Tensor) -> torch.Tensor:
        """The model's output in the target's terms: values for regression, class probabilities otherwise."""
        return pred if self.loss_kind == "mse" else torch.softmax(pred, dim=-1)


def read_user_file(path: str, limit: str, kind: str) -> tuple[str, bytes]:
    """(file name, its bytes) of a user's data file of at most LIMITS[limit] bytes ("text_bytes", "csv_bytes"),
    or a ValueError naming the problem; kind ("text", "CSV") names the file in messages."""
    name = os.path.basename(path)
    return name, read_regular_file(path, int(LIMITS[limit][1]), f"a {kind} file")


def read_regular_file(path, most: int, what: str) -> bytes:
    """The bytes of the regular file at path (a link is followed to its target), or a ValueError when it is a
    directory, device or pipe, cannot be read, or holds more than `most` bytes; what ("a text file") names the
    kind of file in the message. Only `most` + 1 bytes are ever read: a file may grow, or say it holds 0 bytes
    and then never end (/proc)."""
    name = os.path.basename(path)
    try:
        # Non-blocking, so that opening a pipe returns at once and fstat can refuse it; regular files ignore the flag.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ValueError(f"{name} is {_file_kind(info.st_mode)}, not a regular file")
            if info.st_size > most:  # refused before a byte is read
                raise ValueError(f"{name} is {info.st_size:,} bytes: {what} may have at most {most:,} bytes")
            data = _read_at_most(fd, most + 1)
        finally:
            os.close(fd)
    except OSError as e:
        raise ValueError(f"cannot read {name}: {e.strerror or e}") from None
    if len(data) > most:
        raise ValueError(f"{name} has more than {most:,} bytes: {what} may have at most {most:,} bytes")
    return data


def _read_at_most(fd: int, n: int, chunk: int = 2**20) -> bytes:
    parts, left = [], n
    while left > 0:
        part = os.read(fd, min(left, chunk))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "a special file"


def decode_utf8(raw: bytes, name: str, save_as: str) -> str:
    """The text of a user's file without a byte-order mark, or a ValueError pointing at the first bad byte."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")  # spreadsheets and some editors write a BOM
    except UnicodeDecodeError as e:
        raise ValueError(f"{name} is not UTF-8 text: byte {e.start} (0x{raw[e.start]:02x}) is invalid; "
                         f"save it as {save_as}") from None


def train_split(n: int, seq_len: int, train_fraction: float, amount: str, longer: str) -> int:
    """Where n values in order split into "train" (the first train_fraction) and "val", so that each holds a
    window of seq_len + 1 values; else a ValueError. amount ("the text has 812 characters") and longer ("use a
    longer text") word the message."""
    split_at = int(n * train_fraction)
    shortest = min(split_at, n - split_at)
    if shortest < seq_len + 1:
        fits = f"the largest sequence length that works is {shortest - 1}" if shortest >= 2 else longer
        train, val = round(100 * train_fraction), round(100 * (1 - train_fraction))
        raise ValueError(f"{amount}: too few for sequence length {seq_len}, which needs T + 1 = {seq_len + 1} in both "
                         f"the first {train}% (train) and the last {val}% (val); {fits}")
    return split_at
