"""The app's per-run budget: a run whose estimated memory or time (rnnviz.cost) is too much for a shared server is
refused before anything of it is allocated, with what it needs and what to lower, in the reader's language.

Defaults are for a shared 2-core, 24 GB server with about 30 students:
  RNNVIZ_MAX_RUN_MB   500: even if every student's run were at the limit and held all of it at once,
                      30 x 500 MB = 15 GB leaves 9 GB for the server processes (torch alone is ~0.4 GB each),
                      the OS and its page cache. Every preset and every task's defaults need under 100 MB.
  RNNVIZ_MAX_STEP_S   3: CPU seconds of one training step, or of one probe. Pause and Stop wait for the step in
                      progress, and on 2 cores shared by the class a step takes longer still; 3 s also keeps 1000
                      steps within an hour. The presets' steps take under 0.05 s.
"""
from __future__ import annotations

import os

from ..config import RunConfig
from ..cost import Cost, TaskShape, estimate, shape_of, size_text
from ..tasks import make_task
from .i18n import t

MAX_RUN_BYTES = float(os.environ.get("RNNVIZ_MAX_RUN_MB", "500")) * 2**20
MAX_STEP_S = float(os.environ.get("RNNVIZ_MAX_STEP_S", "3"))


def refusal(cost: Cost) -> str | None:
    """Why a run of this cost may not start here, in the reader's language, or None when it may."""
    if cost.peak > MAX_RUN_BYTES:
        part = cost.largest_part()
        return t("cost.memory", need=size_text(cost.peak), part=t(f"cost.part_{part}"),
                 part_size=size_text(getattr(cost, part)), grows=t(f"cost.grows_{part}"),
                 limit=size_text(MAX_RUN_BYTES), advice=t(f"cost.advice_{part}"))
    if cost.step_seconds > MAX_STEP_S:
        return t("cost.step_time", need=f"{cost.step_seconds:.3g}", limit=f"{MAX_STEP_S:g}")
    if cost.probe_seconds > MAX_STEP_S:
        return t("cost.probe_time", need=f"{cost.probe_seconds:.3g}", limit=f"{MAX_STEP_S:g}")
    return None


def check(cfg: RunConfig, shape: TaskShape) -> None:
    """Raise ValueError with the reason when a run of cfg on a task of this shape is over the budget."""
    reason = refusal(estimate(cfg, shape))
    if reason:
        raise ValueError(reason)


def check_config(cfg: RunConfig) -> None:
    """check() for a config whose task is not built yet, such as an uploaded bundle's: builds the task (small),
    not the model."""
    check(cfg, shape_of(make_task(cfg.task)))
