"""Shared set-up for the engine tests: the repository on sys.path, one torch thread, tiny configs.

Tiny models are dominated by per-op overhead, and on a busy 2-core machine torch's intra-op
thread pool spends more time waiting for a core than computing, so every test runs on 1 thread.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

torch.set_num_threads(1)
os.environ.setdefault("RNNVIZ_TORCH_THREADS", "1")  # the app's training slots keep to it too

from rnnviz.config import RunConfig  # noqa: E402


def tiny_config(**flat) -> RunConfig:
    """An adding-task run small enough to check by hand and train in milliseconds per step."""
    base = dict(task="adding", cell="lstm", hidden=4, seq_len=6, steps=10, batch=8, lr=1e-2,
                probe_every=5, probe_batch=3, device="cpu", seed=0)
    return RunConfig.from_flat({**base, **flat})


@pytest.fixture
def cfg():
    """tiny_config as a fixture: cfg(cell="gru", layers=2) -> RunConfig."""
    return tiny_config


@pytest.fixture
def exact_probes(monkeypatch):
    """Probe exactly every probe_every steps, whatever the wall-time share."""
    monkeypatch.setattr("rnnviz.train.PROBE_TIME_FRACTION", 1.0)
