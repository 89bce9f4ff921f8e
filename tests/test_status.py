"""The typed run status: stored as a dict, read back from the free text older bundles hold, worded per language."""
from __future__ import annotations

import pytest

from rnnviz.status import KINDS, REASONS, Status
from rnnviz.ui.i18n import texts


@pytest.mark.parametrize("status", [Status(kind) for kind in KINDS if kind != "stopped"]
                         + [Status.stopped(reason, 31, "gradient" if reason == "non_finite" else "") for reason in REASONS])
def test_a_status_survives_run_json(status):
    assert Status.from_json(status.to_json()) == status


@pytest.mark.parametrize("text, expected", [
    ("completed", Status("completed")),
    ("paused", Status("paused")),
    ("stopped: by user at step 6", Status.stopped("user", 6)),
    ("stopped: non-finite gradient at step 31; the weights are the last finite ones (try clipping, a lower "
     "learning rate or a smaller gain)", Status.stopped("non_finite", 31, "gradient")),
    ("stopped: non-finite loss at step 2; the weights are the last finite ones", Status.stopped("non_finite", 2, "loss")),
    ("stopped: error at step 1: KeyError: 'x'", Status.stopped("error", 1, "KeyError: 'x'")),
])
def test_the_free_text_of_older_bundles_still_loads(text, expected):
    assert Status.from_json(text) == expected


@pytest.mark.parametrize("value", [5, None, [], "stopped", "exploded", {"kind": "running", "reason": "user"},
                                   {"kind": "stopped"}, {"kind": "stopped", "reason": "bored", "step": 1},
                                   {"kind": "stopped", "reason": "user", "step": -1},
                                   {"kind": "stopped", "reason": "user", "step": True},
                                   {"kind": "ready", "extra": 1}, {"kind": "ready", "detail": "x" * 10_000}])
def test_a_crafted_status_is_a_value_error(value):
    with pytest.raises(ValueError):
        Status.from_json(value)


def test_every_kind_and_reason_is_worded_in_every_language():
    for lang in ("en", "zh"):
        words = texts(lang)
        assert all(f"run.status_{kind}" in words for kind in KINDS)
        assert all(f"run.stopped_{reason}" in words for reason in REASONS)
        assert all(f"run.non_finite_{what}" in words for what in ("loss", "gradient"))
