"""What units track: features of a text at every character, and statistics that rank units by them.

Text features describe the state *after* reading character t (h_t has read it), one value per
character, NaN where the window cannot tell (a probe window starts mid-text, so the line position
before its first newline is unknown):
    in_brackets     1 inside () or [], else 0
    bracket_depth   nesting depth of () and []
    in_quotes       1 inside "double quotes", else 0
    line_position   characters since the last newline

Unit statistics work on states shaped (N, H) (N = examples x steps flattened) and a signal (N,):
`unit_variance`, `unit_correlation` (Pearson r per unit), `order_units`, and `pca` for trajectories.
"""
from __future__ import annotations

import numpy as np
import torch

OPENING, CLOSING = "([", ")]"
QUOTE = '"'
QUOTE_OPENERS = " \t\n([{=,:"  # a quote right after one of these (or at the start) opens a quotation


def bracket_depth(text: str) -> np.ndarray:
    """(N,) nesting depth after each character. A window may start inside brackets: closers without an
    opener in the window mean it did, so the depth starts at the smallest value that keeps it >= 0."""
    steps = np.array([(c in OPENING) - (c in CLOSING) for c in text], dtype=np.float32)
    running = np.cumsum(steps)  # (N,) depth relative to the window's start
    start = -min(0.0, float(running.min())) if len(text) else 0.0
    return (running + start).astype(np.float32)


def in_brackets(text: str) -> np.ndarray:
    return (bracket_depth(text) > 0).astype(np.float32)


def in_quotes(text: str) -> np.ndarray:
    """(N,) 1 inside a quotation, after its opening quote and up to (not after) its closing one.
    Whether a quote opens or closes is read from the character before it (a space or bracket opens),
    so a window that starts inside a quotation is recognised by its first quote closing."""
    quotes = [i for i, c in enumerate(text) if c == QUOTE]
    opens = [i == 0 or text[i - 1] in QUOTE_OPENERS for i in quotes]
    out = np.zeros(len(text), dtype=np.float32)
    inside = bool(opens) and not opens[0]  # the first quote closes: the window began inside
    last = 0
    for i, opening in zip(quotes, opens):
        out[last:i] = inside
        inside = opening
        last = i
    out[last:] = inside
    return out


def line_position(text: str) -> np.ndarray:
    """(N,) characters since the last newline (0 at a newline); NaN before the window's first newline."""
    out = np.full(len(text), np.nan, dtype=np.float32)
    pos = None
    for i, c in enumerate(text):
        pos = 0 if c == "\n" else None if pos is None else pos + 1
        if pos is not None:
            out[i] = pos
    return out


TEXT_FEATURES = {"in_brackets": in_brackets, "bracket_depth": bracket_depth, "in_quotes": in_quotes,
                 "line_position": line_position}


def text_feature(name: str, texts: list[str]) -> np.ndarray:
    """(B, T) feature `name` of each text (all of the same length T)."""
    return np.stack([TEXT_FEATURES[name](text) for text in texts]).astype(np.float32)


def unit_variance(states: np.ndarray) -> np.ndarray:
    """(H,) variance of each unit over (N, H) states."""
    return np.asarray(states, dtype=np.float64).var(axis=0)


def unit_correlation(states: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """(H,) Pearson r of each unit of (N, H) states with a (N,) signal; rows where the signal is NaN
    are left out, and a constant unit or signal gives r = 0 (it says nothing either way)."""
    keep = np.isfinite(signal)
    x = np.asarray(states, dtype=np.float64)[keep]
    s = np.asarray(signal, dtype=np.float64)[keep]
    if len(s) < 2:
        return np.zeros(x.shape[1])
    x, s = x - x.mean(axis=0), s - s.mean()
    denom = np.sqrt((x**2).sum(axis=0) * (s**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (x * s[:, None]).sum(axis=0) / denom
    return np.where(denom > 1e-12, r, 0.0)


def order_units(states: np.ndarray, signal: np.ndarray | None = None) -> np.ndarray:
    """(H,) unit indices, most variable first, or most correlated (|r|) with signal first; ties keep index order."""
    score = unit_variance(states) if signal is None else np.abs(unit_correlation(states, signal))
    return np.argsort(-score, kind="stable")


def pca(states: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Project (N, H) states on their top-k principal components.
    Returns (N, k) coordinates and (k,) fractions of the variance each component explains. Each
    component's sign is fixed (its largest loading positive) so pictures do not flip between redraws.
    Uses the H x H covariance's eigenvectors, far cheaper than an SVD of the (N, H) data, and torch's
    solver, which keeps to torch's thread setting (numpy's BLAS threads crawl on a busy server)."""
    x = np.asarray(states, dtype=np.float64)
    x = x - x.mean(axis=0)
    eigvals, eigvecs = (a.numpy() for a in torch.linalg.eigh(torch.from_numpy(x.T @ x)))  # ascending
    top = np.argsort(-eigvals, kind="stable")[:k]
    comps = eigvecs[:, top].T  # (<= k, H)
    flip = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    comps = comps * np.where(flip == 0, 1, flip)[:, None]
    total = np.clip(eigvals, 0, None).sum()
    explained = np.clip(eigvals[top], 0, None) / total if total > 0 else np.zeros(len(top))
    coords = x @ comps.T  # (N, <= k)
    missing = k - coords.shape[1]  # fewer units than components: pad with zeros
    return np.pad(coords, ((0, 0), (0, missing))), np.pad(explained, (0, missing))
