"""A run's status as a small value: what it is doing (kind), why it stopped (reason), and at which step.

The engine never words a status for people: the app words it from the text files (run.status_*,
run.stopped_*), the command line with `str(status)`. In run.json a status is stored as
{"kind": ..., "reason": ..., "step": ..., "detail": ...}; bundles written before this type held free
text ("stopped: by user at step 6") and still load.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("ready", "queued", "running", "paused", "completed", "stopped")
REASONS = ("user", "non_finite", "error", "disconnected", "budget")  # why a run stopped
MAX_DETAIL_CHARS = 500  # an error's text, kept short: it is shown on a page and stored in run.json


@dataclass(frozen=True)
class Status:
    kind: str  # one of KINDS
    reason: str | None = None  # one of REASONS for "stopped", else None
    step: int | None = None  # the step at which a run stopped
    detail: str = ""  # non_finite: "loss" or "gradient"; error: the exception's type and message

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown status kind {self.kind!r}: one of {', '.join(KINDS)}")
        if (self.kind == "stopped") != (self.reason is not None):
            raise ValueError("a stopped status needs a reason, and only a stopped one has one")
        if self.reason is not None and self.reason not in REASONS:
            raise ValueError(f"unknown stop reason {self.reason!r}: one of {', '.join(REASONS)}")
        if self.step is not None and (isinstance(self.step, bool) or not isinstance(self.step, int) or self.step < 0):
            raise ValueError(f"a status's step must be a whole number of at least 0, got {self.step!r}")
        if not isinstance(self.detail, str) or len(self.detail) > MAX_DETAIL_CHARS:
            raise ValueError(f"a status's detail must be text of at most {MAX_DETAIL_CHARS} characters")

    @classmethod
    def stopped(cls, reason: str, step: int, detail: str = "") -> "Status":
        return cls("stopped", reason, step, detail[:MAX_DETAIL_CHARS])

    @property
    def finished(self) -> bool:
        """Completed or stopped: nothing more happens unless someone trains it again."""
        return self.kind in ("completed", "stopped")

    @property
    def active(self) -> bool:
        """Training now, or waiting for a slot to train."""
        return self.kind in ("running", "queued")

    def to_json(self) -> dict:
        return {"kind": self.kind, "reason": self.reason, "step": self.step, "detail": self.detail}

    @classmethod
    def from_json(cls, value) -> "Status":
        """A status from run.json: the stored dict, or the free text older bundles hold. Raises ValueError."""
        if isinstance(value, str):
            return _from_legacy_text(value)
        if not isinstance(value, dict) or set(value) - {"kind", "reason", "step", "detail"}:
            raise ValueError(f"a status must be an object with kind, reason, step and detail, got {_short(value)}")
        # each field is checked by __post_init__; a missing kind is the empty, unknown one
        return cls(value.get("kind", ""), value.get("reason"), value.get("step"), value.get("detail") or "")

    def __str__(self) -> str:
        """For the command line and logs (the app words statuses from its text files)."""
        if self.kind != "stopped":
            return self.kind
        assert self.reason is not None  # __post_init__: a stopped status has a reason
        what = {"user": "by user", "disconnected": "its tab disconnected", "budget": "over its time budget",
                "non_finite": f"non-finite {self.detail or 'value'}", "error": f"error: {self.detail}"}[self.reason]
        return f"stopped at step {self.step}: {what}"


_LEGACY = re.compile(r"stopped: (?:(by user)|(non-finite) (loss|gradient)|(error)) at step (\d+)(?::\s*(.*))?", re.S)


def _from_legacy_text(text: str) -> Status:
    """"completed", "stopped: by user at step 6", "stopped: non-finite loss at step 31; ...", "stopped: error at
    step 1: KeyError: 'x'" (what bundles held before statuses were typed)."""
    if text in KINDS and text != "stopped":
        return Status(text)
    match = _LEGACY.fullmatch(text.split(";")[0] if "non-finite" in text else text)
    if match is None:
        raise ValueError(f"unknown status {_short(text)}")
    user, non_finite, what, error, step, detail = match.groups()
    reason = "user" if user else "non_finite" if non_finite else "error"
    return Status.stopped(reason, int(step), what if non_finite else (detail or "") if error else "")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
