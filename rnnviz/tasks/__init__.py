"""The task registry: the app and the CLI discover tasks here instead of hard-coding names."""
from __future__ import annotations

from ..config import RunConfig, TaskConfig
from .adding import Adding
from .base import Batch, IOSpec, Task
from .charlm import CharLM
from .copy import Copy
from .order import Order
from .parity import Parity
from .reversal import Reversal
from .sentiment import Sentiment
from .sine import Sine
from .tagging import Tagging

REGISTRY: dict[str, type[Task]] = {cls.name: cls for cls in (Adding, Copy, Parity, Order, Sine, CharLM, Sentiment, Reversal, Tagging)}


def task_class(name: str) -> type[Task]:
    if name not in REGISTRY:
        raise ValueError(f"unknown task {name!r}: choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def make_task(cfg: TaskConfig) -> Task:
    return task_class(cfg.name)(cfg)


def resolve_config(options: dict) -> RunConfig:
    """A full RunConfig from flat options: given values win over the task's defaults, which win over
    the dataclass defaults (None means "not given"). Raises ValueError when the task cannot take them."""
    given = {k: v for k, v in options.items() if v is not None}
    cls = task_class(given.get("task", TaskConfig.name))
    cfg = RunConfig.from_flat({**cls.defaults, **given})
    check_compatible(cfg, cls)
    return cfg


def check_compatible(cfg: RunConfig, cls: type[Task] | None = None) -> None:
    cls = cls or task_class(cfg.task.name)
    if cfg.model.attention not in cls.attention:
        raise ValueError(f"task {cls.name!r} takes attention {' or '.join(cls.attention)}, not {cfg.model.attention!r}")


def check_batch(batch: int, windows: int | None) -> None:
    """Refuse a batch larger than the distinct training windows of a user's file (Task.windows): every step
    would repeat windows, so the file is too small for this batch and sequence length."""
    if windows is not None and batch > windows:
        raise ValueError(f"batch {batch} is larger than the data: at this sequence length it holds {windows:,} distinct "
                         f"training windows; choose a batch between 1 and {windows:,}, a shorter sequence length or more data")


__all__ = ["REGISTRY", "Batch", "IOSpec", "Task", "task_class", "make_task", "resolve_config", "check_compatible",
           "check_batch"]
