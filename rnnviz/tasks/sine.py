"""One-step-ahead forecasting of a time series: generated sums of sines, or a column of the user's CSV.

Encoding: x is (B, T, 1), a window s_1..s_T of the series; y is (B, T, 1) with y_t = s_{t+1}, so the
model forecasts the next value at every step.
Generated data: each series is a sum of 1 to 3 sines, each with a random period (8 to 40 steps),
phase and amplitude (0.3 to 1), plus Gaussian noise of standard deviation 0.05. Every batch draws
new series, so there is no separate validation data.
CSV data (cfg.data, read once by `read_csv`): one column (cfg.column, or the first numeric one) read as a
series in row order. The separator (comma, semicolon or tab) is guessed from the first lines; outside
comma-separated files a decimal comma ("1,5") is a number too. The first row is a header unless each of
its cells is a number or a date. A column whose every cell is an ISO date or date-time is the series'
time axis (`times`). Split by time: the first 80% is "train", the last 20% "val"; windows are drawn from
within one split, and a batch says where each window starts in the series (Batch.start). Values are
standardised with the train split's mean and standard deviation, kept as `mean` and `std` so a UI can
show real units (`in_units`).
Loss: mean squared error (in standardised units for CSV data).
Baseline: the persistence forecast y_t = x_t ("tomorrow is like today"), whose MSE is measured once
when the task is built: on the val split for CSV data, on 2048 generated series (fixed seed) otherwise.
"""
from __future__ import annotations

import csv
import math
from array import array
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Iterator

import numpy as np
import torch

from .base import Batch, Task, decode_utf8, read_user_file, train_split

TRAIN_FRACTION = 0.8
NOISE = 0.05

# Bounds on a CSV's shape, so a hostile file is refused before it costs time or memory. A time-series export
# has a time column and one to a few hundred measurements (a sensor array, a price per product), so:
MAX_COLUMNS = 500
# A year of minutes is 525,600 rows; real rows take 20 bytes or more, so the 20 MB a CSV may have holds about a
# million of them. More rows than that means tiny rows: refused, because each row costs about 2 µs to read.
MAX_ROWS = 1_000_000
MAX_LINE_CHARS = 20_000  # 500 cells of 40 characters; a float at full precision takes 24, an ISO date-time 32
SNIFF_LINES = 20  # the separator is guessed from this many non-empty lines at the top
# In order of preference when two fit a file equally well: tab and semicolon come first because their files may
# hold decimal commas ("1,5;2,5" splits on commas too, as evenly, wrongly).
SEPARATORS = ("\t", ";", ",")


class Sine(Task):
    name = "sine"
    summary = "Forecast the next value of a noisy sum of sines (or your CSV column): smooth dynamics to track."
    output = "per_step"
    causal = True  # the target at t is the input at t + 1
    loss_kind = "mse"
    output_view = "forecast"
    takes_data = "csv"
    defaults = {"seq_len": 50, "hidden": 64, "batch": 32, "steps": 600, "lr": 3e-3, "clip": 1.0}
    n_in, n_out = 1, 1

    def __init__(self, cfg, table: CsvTable | None = None):
        """table: read_csv(cfg.data), where the caller has already read the file (an upload check), so it is read once."""
        super().__init__(cfg)
        self.mean, self.std = 0.0, 1.0  # real units = standardised value * std + mean
        self.column = None  # the CSV column in use, for display
        self.series: torch.Tensor | None = None  # (N,) standardised CSV series, or None for generated data
        self.times = None  # (N,) ISO date or date-time of each value, where the CSV has a time column; else None
        self.time_column = None  # that column's name, for display
        if cfg.data:
            series = self._load_csv(table or read_csv(cfg.data), cfg.column)
            val = series[self.split_at:]
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
            return Batch(s[:, :-1].unsqueeze(-1), s[:, 1:].unsqueeze(-1))  # (B, T, 1) each
        first, end = (0, self.split_at) if split == "train" else (self.split_at, len(self.series))
        start = first + torch.randint(0, end - first - T, (n,), generator=gen)  # (B,) windows of T + 1 values
        s = self.series[start[:, None] + torch.arange(T + 1)]  # (B, T + 1)
        return Batch(s[:, :-1].unsqueeze(-1), s[:, 1:].unsqueeze(-1), start=start)

    def in_units(self, values) -> np.ndarray:
        """Standardised values (any shape) back in the CSV column's own units; generated data is unchanged."""
        return np.asarray(values, dtype=np.float64) * self.std + self.mean

    def window_times(self, start: int) -> list[str] | None:
        """The times of s_1..s_(T+1) of the window starting at `start` (a Batch.start), or None without a time axis."""
        return None if self.times is None else self.times[start:start + self.seq_len + 1]

    def _load_csv(self, table: CsvTable, column: str | None) -> torch.Tensor:
        self.column, values = table.series(column)
        self.time_column, self.times = table.time_column, table.times
        n = len(values)
        self.split_at = train_split(n, self.seq_len, TRAIN_FRACTION, f"{table.name} has {n} value{'s' * (n != 1)}",
                                    "use a longer file")
        self.windows = self.split_at - self.seq_len  # distinct training windows: a batch larger than this only repeats them
        series = torch.frombuffer(values, dtype=torch.float64)  # (N,), sharing the array's memory
        train = series[:self.split_at]
        self.mean, self.std = train.mean().item(), train.std().item()
        if not self.std > 0:
            raise ValueError(f"column {self.column!r} of {table.name} is constant over the train split: nothing to forecast")
        self.series = ((series - self.mean) / self.std).float()  # (N,)
        return self.series


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


# ---- reading a CSV: once, in time and memory linear in its size -------------------------------------
@dataclass
class _Column:
    """What reading one column has found so far. Only the cells a row has are seen: a row shorter than the
    header costs nothing for the columns it lacks (read_csv notes the first line that lacks each)."""

    name: str
    numbers: array = field(default_factory=lambda: array("d"))  # one per cell seen; NaN where it is not a number
    not_numbers: int = 0  # cells seen that are empty or not a (finite) number
    first_bad_line: int | None = None  # the first line where it has no number: a bad cell or no cell at all
    times: list[str] | None = field(default_factory=list)  # every cell's ISO time while each is a date; then None

    def add(self, line: int, cell: str, decimal_comma: bool) -> None:
        value = _number(cell, decimal_comma)
        self.numbers.append(math.nan if value is None else value)
        if value is None:
            self.not_numbers += 1
            self.missing_from(line)
        if self.times is not None:
            time = _iso_time(cell) if value is None else None  # "20240105" is a number, not a date
            if time is None:
                self.times = None
            else:
                self.times.append(time)

    def missing_from(self, line: int) -> None:
        if self.first_bad_line is None:
            self.first_bad_line = line


@dataclass(frozen=True)
class CsvTable:
    """A CSV file read once (read_csv): what a column picker needs and what the sine task trains on."""

    name: str  # the file's name, for messages
    header: list[str]  # column names: the header row's, or "column 1", "column 2", ... for a file without one
    numeric: list[str]  # the columns most of whose cells are numbers, in file order: the series to choose from
    time_column: str | None  # the first column whose every cell is an ISO date or date-time, if any
    times: list[str] | None  # that column's cells in ISO form, one per data row; None without a time column
    rows: int  # data rows (blank lines are skipped)
    columns: dict[str, _Column]

    def series(self, column: str | None) -> tuple[str, array]:
        """(column name, its float64 values in row order): the given column, or the first numeric one; else a
        ValueError saying what to fix (a missing, non-numeric or gappy column)."""
        if column is None:
            if not self.numeric:
                raise ValueError(f"{self.name} has no numeric column: its columns are {', '.join(map(repr, self.header))}")
            column = self.numeric[0]
        elif column not in self.numeric:
            what = "is not numeric" if column in self.columns else "does not exist"
            choices = f"numeric columns: {', '.join(map(repr, self.numeric))}" if self.numeric else "it has no numeric column"
            raise ValueError(f"column {column!r} {what} in {self.name}; {choices}")
        found = self.columns[column]
        bad = found.not_numbers + self.rows - len(found.numbers)  # bad cells, and rows too short to have one
        if bad:
            raise ValueError(f"column {column!r} of {self.name} has {bad} missing or non-numeric value(s), the first on "
                             f"line {found.first_bad_line}: fill or remove those rows")
        return column, found.numbers


def read_csv(path: str) -> CsvTable:
    """Read a user's CSV file once, for both the column picker (`.numeric`) and the task (Sine(cfg, table)), or
    raise a ValueError saying what to fix. Time and memory grow with the file's size, not rows x columns."""
    name, raw = read_user_file(path, "csv_bytes", "CSV")
    text = decode_utf8(raw, name, "UTF-8 CSV").replace("\r\n", "\n").replace("\r", "\n")
    separator = _separator(text, name)
    decimal_comma = separator != ","  # "1,5" in a semicolon- or tab-separated file, as European spreadsheets write
    reader = csv.reader(_lines(text, name), delimiter=separator)
    columns: list[_Column] = []
    has_header = False
    rows = complete = 0  # data rows so far; columns every data row so far has had a cell in
    try:
        for cells in reader:
            if not "".join(cells).strip():  # a blank line, or separators only
                continue
            line = reader.line_num
            if not columns:
                columns, has_header = _columns_of(cells, line, name, decimal_comma)
                complete = len(columns)
                if has_header:
                    continue
            rows += 1
            if rows > MAX_ROWS:
                raise ValueError(f"{name} has more than {MAX_ROWS:,} rows: shorten it (every other row, or the "
                                 "latest ones), so that it can be read in seconds")
            for column, cell in zip(columns, cells):
                column.add(line, cell.strip(), decimal_comma)
            if len(cells) < complete:  # columns len(cells).. have no cell on this line, and had one on every line before
                for column in columns[len(cells):complete]:
                    column.missing_from(line)
                complete = len(cells)
    except csv.Error as e:
        raise ValueError(f"{name} is not a readable CSV file: line {reader.line_num}: {e}") from None
    if not columns:
        raise ValueError(f"{name} is empty")
    if not rows:
        raise ValueError(f"{name} has a header row but no data rows")
    return _table(name, columns, rows)


def numeric_columns(path: str) -> list[str]:
    """The names of a CSV file's numeric columns (for a column picker), or a ValueError saying what to fix."""
    return read_csv(path).numeric


def _table(name: str, columns: list[_Column], rows: int) -> CsvTable:
    # A column counts as numeric when most of its rows hold numbers; the one a series comes from must be all numbers.
    numeric = [c.name for c in columns if (len(c.numbers) - c.not_numbers) * 2 > rows]
    dated = [c for c in columns if c.times is not None and len(c.times) == rows]
    return CsvTable(name, [c.name for c in columns], numeric, dated[0].name if dated else None,
                    dated[0].times if dated else None, rows, {c.name: c for c in columns})


def _columns_of(first: list[str], line: int, name: str, decimal_comma: bool) -> tuple[list[_Column], bool]:
    """The columns a file's first non-empty row sets up, and whether that row is a header (not all numbers or dates)."""
    if len(first) > MAX_COLUMNS:
        raise ValueError(f"{name} has {len(first):,} columns on line {line}: at most {MAX_COLUMNS} can be read; "
                         "keep the time column and the series you want to forecast")
    cells = [cell.strip() for cell in first]
    if all(_number(cell, decimal_comma) is not None or _iso_time(cell) is not None for cell in cells):
        return [_Column(f"column {j + 1}") for j in range(len(cells))], False
    names: list[str] = []
    for j, cell in enumerate(cells):
        given = cell or f"column {j + 1}"
        names.append(given if given not in names else f"{given} (column {j + 1})")  # two columns, two names
    return [_Column(n) for n in names], True


def _lines(text: str, name: str) -> Iterator[str]:
    """text's lines (each with its "\\n"), refusing one longer than MAX_LINE_CHARS before the csv module splits it."""
    start, number = 0, 1
    while start < len(text):
        end = text.find("\n", start) + 1 or len(text)
        if end - start > MAX_LINE_CHARS + 1:
            raise ValueError(f"line {number} of {name} has {end - start - 1:,} characters: a line may have at most "
                             f"{MAX_LINE_CHARS:,}; is it a CSV file with one row per time step?")
        yield text[start:end]
        start, number = end, number + 1


def _separator(text: str, name: str) -> str:
    """The separator of a CSV text, guessed from its first SNIFF_LINES non-empty lines: of those that split the first
    line into two or more cells, the one that splits the most lines into as many (ties: the first in SEPARATORS).
    A file none splits has one column, read with ";" so that a decimal comma stays inside its cell."""
    top = []
    for line in _lines(text, name):
        if line.strip():
            top.append(line)
            if len(top) == SNIFF_LINES:
                break
    best, best_agreeing = ";", 0
    for separator in SEPARATORS:
        try:
            widths = [len(cells) for cells in csv.reader(top, delimiter=separator)]
        except csv.Error:  # not this separator's dialect; the real read reports what is wrong
            continue
        agreeing = widths.count(widths[0]) if widths and widths[0] > 1 else 0
        if agreeing > best_agreeing:
            best, best_agreeing = separator, agreeing
    return best


def _number(cell: str, decimal_comma: bool = False) -> float | None:
    """The cell's value, or None when it is empty, not a number, or NaN / infinite. With decimal_comma, "1,5" is 1.5."""
    if decimal_comma and cell.count(",") == 1 and "." not in cell:
        cell = cell.replace(",", ".")
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _iso_time(cell: str) -> str | None:
    """The cell as an ISO date ("2024-01-05") or date-time ("2024-01-05 10:00:00", with its offset if it has
    one), or None when it is neither. Python reads the ISO 8601 forms, basic ones ("20240105") too."""
    try:
        return date.fromisoformat(cell).isoformat()
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(cell).isoformat(sep=" ")
    except ValueError:
        return None
