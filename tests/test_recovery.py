"""Determinism and recovery: a bundle downloaded while a run trains resumes to the same result as the run left
alone; bundles of another format version load or say why not.

Covered elsewhere, not repeated: the same seed and settings give the same run on a CPU
(test_train.py::test_same_seed_gives_identical_history_and_weights_on_cpu); a saved run resumes exactly for
each optimizer (test_runs.py::test_a_restored_run_continues_exactly_like_an_uninterrupted_one); run.json
damage and a newer version at the load_run level (test_runs.py::test_a_malformed_run_json_gives_a_clear_error).
"""
from __future__ import annotations

import time

import numpy as np
import torch
from conftest import KEPT, bundle, open_app, shown, tiny_config

from rnnviz.background import BackgroundRun
from rnnviz.runs import STATE_FILE, bundle_bytes, extract_bundle, load_run, restore_trainer
from rnnviz.train import Trainer
from rnnviz.ui.state import KEY

TIMEOUT = 60


def assert_same_run(a: Trainer, b: Trainer) -> None:
    for name in ("step", "loss", "grad_norm", "clipped", "lr"):  # every History column but wall time
        np.testing.assert_array_equal(getattr(a.history, name), getattr(b.history, name), err_msg=name)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_bundle_downloaded_mid_training_resumes_to_the_same_result(tmp_path):
    """The app's download path: the run trains in its thread, is paused at step 17, and its bundle is built
    between two steps (BackgroundRun.held), as the download button does. Restored, it trains on to step 40 exactly
    like a run never interrupted, and so does the paused original once resumed."""
    cfg = tiny_config(steps=40)
    left_alone = Trainer(cfg)
    assert left_alone.run().kind == "completed"

    trainer = Trainer(cfg)
    trainer.add_callback("on_step", lambda tr, entry: run.pause() if entry["step"] == 17 else None)
    run = BackgroundRun(trainer)
    run.start()
    deadline = time.monotonic() + TIMEOUT
    while run.status.kind != "paused" and time.monotonic() < deadline:
        time.sleep(0.01)
    with run.held() as core:
        data = bundle_bytes(core)
    assert run.is_alive() and run.step == 17

    resumed = restore_trainer(load_run(extract_bundle(data, tmp_path / "run")))
    assert resumed.step == 17 and resumed.run().kind == "completed"
    run.resume()
    run.join(TIMEOUT)
    assert run.status.kind == "completed"
    assert_same_run(resumed, left_alone)
    assert_same_run(trainer, left_alone)


def test_a_bundle_from_another_format_version_loads_or_says_why(current, uploads):  # noqa: F811
    """Newer and impossible versions are refused, saying which versions this rnnviz reads. A version-1 bundle with
    only what every version has (run.json's config, history and step, and the weights) loads and trains on; its
    optimizer starts afresh."""
    for version, reason in [
        (99, "this run was saved in format version 99 by a newer rnnviz; this rnnviz reads format versions 1 to 1: "
             "update rnnviz to open it"),
        (0, "run.json has format version 0, which no rnnviz writes; this rnnviz reads format versions 1 to 1"),
    ]:
        uploads["upload_run"] = ("run.zip", bundle(run_json=lambda record: record.update(version=version)))
        at = open_app(current)
        assert f"This bundle cannot be restored: {reason}. {KEPT}" in shown(at.error)
        assert at.session_state[KEY].trainer is current.trainer

    def minimal(record):
        for key in ("probes", "param_norms", "optimizer", "grad_by_time", "eval", "elapsed", "lr", "steps_per_second"):
            record.pop(key, None)

    uploads["upload_run"] = ("old.zip", bundle(run_json=minimal, **{STATE_FILE: None}))
    at = open_app(current)
    assert not at.exception and not at.error
    restored = at.session_state[KEY].trainer
    assert restored.step == 6 and len(restored.trainer.history.loss) == 6
    assert restored.trainer.run(steps=9).kind == "completed" and restored.step == 9
