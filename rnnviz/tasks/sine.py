"""One-step-ahead forecasting of a time series: generated sums of sines, or a column of the user's CSV.

Encoding: x is (B, T, 1), a window s_1..s_T of the series; y is (B, T, 1) with y_t = s_{t+1}, so the
model forecasts the next value at every step.
Generated data: each series is a sum of 1 to 3 sines, each with a random period (8 to 40 steps),
phase and amplitude (0.3 to 1), plus Gaussian noise of standard deviation 0.05. Every batch draws
new series, so there is no separate validation data.
CSV data (cfg.data): one column (cfg.column, or the first numeric one) read as a series in row order,
with a header row unless the first row is all numbers. Split by time: the first 80% is "train", the
last 20% "val"; windows are drawn from within one split. Values are standardised with the train
split's mean and standard deviation, kept as `mean` and `std` so a UI can show real units.
Loss: mean squared error (in standardised units for CSV data).
Baseline: the persistence forecast y_t = x_t ("tomorrow is like today"), whose MSE is measured once
when the task is built: on the val split for CSV data, on 2048 generated series (fixed seed) otherwise.
"""
from __future__ import annotations

import csv
import io
import math
import os

import torch

from .base import Batch, Task, decode_utf8, read_user_file, train_split

TRAIN_FRACTION = 0.8
NOISE = 0.05


class Sine(Task):
    name = "sine"
    summary = "Forecast the next value of a noisy sum of sines (or your CSV column): smooth dynamics to track."
    output = "per_step"
    loss_kind = "mse"
    takes_data = "csv"
    defaults = {"seq_len": 50, "hidden": 64, "batch": 32, "steps": 600, "lr": 3e-3, "clip": 1.0}
    n_in, n_out = 1, 1

    def __init__(self, cfg):
        super().__init__(cfg)
        self.mean, self.std = 0.0, 1.0  # real units = standardised value * std + mean
        self.column = None  # the CSV column in use, for display
        self.series = None  # (N,) standardised CSV series, or None for generated data
        if cfg.data:
            self._load_csv(cfg.data, cfg.column)
            val = self.series[self.split_at:]
            self.baseline_loss = (val[1:] - val[:-1]).pow(2).mean().item()
        else:
            if cfg.column:
                raise ValueError("a CSV column was given but no CSV file: give the file too, or no column")
            batch = self.sample(2048, torch.Generator().manual_seed(0))
            self.baseline_loss = (batch.x - batch.y).pow(2).mean().item()

    def sample(self, n, gen, split="train"):
        if split not in ("train", "val"):
            raise ValueError(f"unknown split {split!r}: choose train or val")
        T = self.seq_len
        if self.series is None:
            s = _sines(n, T + 1, gen)  # (B, T + 1)
        else:
            part = self.series[:self.split_at] if split == "train" else self.series[self.split_at:]
            start = torch.randint(0, len(part) - T, (n,), generator=gen)  # windows of T + 1 values
            s = part[start[:, None] + torch.arange(T + 1)]  # (B, T + 1)
        return Batch(s[:, :-1].unsqueeze(-1), s[:, 1:].unsqueeze(-1))  # (B, T, 1) each

    def _load_csv(self, path: str, column: str | None) -> None:
        name = os.path.basename(path)
        self.column, values = _read_column(path, column)
        n = len(values)
        self.split_at = train_split(n, self.seq_len, TRAIN_FRACTION, f"{name} has {n} value{'s' * (n != 1)}",
                                    "use a longer file")
        self.windows = self.split_at - self.seq_len  # distinct training windows: a batch larger than this only repeats them
        series = torch.tensor(values, dtype=torch.float64)
        train = series[:self.split_at]
        self.mean, self.std = train.mean().item(), train.std().item()
        if not self.std > 0:
            raise ValueError(f"column {self.column!r} of {name} is constant over the train split: nothing to forecast")
        self.series = ((series - self.mean) / self.std).float()  # (N,)


def _sines(n: int, length: int, gen: torch.Generator) -> torch.Tensor:
    """n noisy sums of 1 to 3 sines, each `length` steps long: (n, length)."""
    k = 3
    period = 8 + 32 * torch.rand(n, k, 1, generator=gen)  # (B, K, 1) steps per cycle
    phase = 2 * math.pi * torch.rand(n, k, 1, generator=gen)
    amplitude = 0.3 + 0.7 * torch.rand(n, k, 1, generator=gen)
    used = torch.arange(k) < torch.randint(1, k + 1, (n, 1), generator=gen)  # (B, K): first 1..3 components on
    t = torch.arange(length, dtype=torch.float32)  # (L,)
    waves = amplitude * torch.sin(2 * math.pi * t / period + phase)  # (B, K, L)
    noise = NOISE * torch.randn(n, length, generator=gen)
    return (waves * used.unsqueeze(-1)).sum(dim=1) + noise  # (B, L)


def _number(cell: str) -> float | None:
    """The cell's value, or None when it is empty, not a number, or NaN / infinite."""
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def numeric_columns(path: str) -> list[str]:
    """The names of a CSV file's numeric columns (for a column picker), or a ValueError saying what to fix."""
    return _read_table(path)[3]


def _read_table(path: str) -> tuple[list[str], list[tuple[int, list[str]]], list[list[str]], list[str]]:
    """(header, data rows as (line number, cells), cells per column, numeric column names) of a CSV file."""
    name, raw = read_user_file(path, "csv_bytes", "CSV")
    text = decode_utf8(raw, name, "UTF-8 CSV")
    reader = csv.reader(io.StringIO(text))
    try:
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]  # (line, cells)
    except csv.Error as e:
        raise ValueError(f"{name} is not a readable CSV file: {e}") from None
    if not rows:
        raise ValueError(f"{name} is empty")
    first = rows[0][1]
    if all(_number(cell) is not None for cell in first):  # no header: every cell of the first row is a number
        header = [f"column {i + 1}" for i in range(len(first))]
    else:
        header, rows = [cell.strip() for cell in first], rows[1:]
        if not rows:
            raise ValueError(f"{name} has a header row but no data rows")
    cells = [[row[j].strip() if j < len(row) else "" for _, row in rows] for j in range(len(header))]  # per column
    # A column counts as numeric when most of its cells are numbers; the chosen one must be all numbers.
    numeric = [h for h, col in zip(header, cells) if sum(_number(c) is not None for c in col) * 2 > len(col)]
    return header, rows, cells, numeric


def _read_column(path: str, column: str | None) -> tuple[str, list[float]]:
    """(column name, its values in row order) from a CSV file, or a ValueError saying what to fix."""
    name = os.path.basename(path)
    header, rows, cells, numeric = _read_table(path)
    if column is None:
        if not numeric:
            raise ValueError(f"{name} has no numeric column: its columns are {', '.join(map(repr, header))}")
        column = numeric[0]
    elif column not in numeric:
        what = "is not numeric" if column in header else "does not exist"
        choices = f"numeric columns: {', '.join(map(repr, numeric))}" if numeric else "it has no numeric column"
        raise ValueError(f"column {column!r} {what} in {name}; {choices}")
    values = [_number(c) for c in cells[header.index(column)]]
    bad = [line for (line, _), v in zip(rows, values) if v is None]
    if bad:
        raise ValueError(
            f"column {column!r} of {name} has {len(bad)} missing or non-numeric value(s), the first on line {bad[0]}: "
            "fill or remove those rows")
    return column, values
