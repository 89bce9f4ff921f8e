"""The gradient lab: a random vanilla RNN or LSTM, no training, and how its gradient shrinks or grows through time.

Each setting (size, length, spectral radius ρ of W_hh, activation or forget bias, input strength) gets
fresh random weights and inputs, one forward pass in float64 numpy, and the norms of the Jacobian
products along that trajectory (rnnviz.theory.jacobians), next to Pascanu et al.'s bound for the RNN and
the forget gates' product for the LSTM. `train_options` hands a setting over to the Train page.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

import numpy as np

from ..config import check_choice, check_range
from .jacobians import (ACTIVATIONS, GAMMA, LOG10_FLOOR, SKETCH_ROWS, Spectrum, Trajectory, clamp_log10,
                        dense_jacobians, product_norms, sample_steps, sigmoid, sketch_step, spectrum)

STATE_CLAMP = 1e100  # the lab's relu / identity forward pass is clamped here so it stays finite
UNBOUNDED = ("relu", "identity")  # the activations that can get there: tanh and sigmoid keep |h| ≤ 1, so |a| stays
# below ‖W_hh‖·√H + |drive|, and their forward pass skips the check (a third of its time)
EDGE_DECADES = 1.0  # ‖∂s_T/∂s_0‖ within 10^±1 counts as the edge between vanishing and exploding
LAB_POINTS = 200  # the lab computes norms at this many evenly spaced t (SVD-like cost per point)
FLOAT32_FROM = 128  # the RNN walks through H x H products in float32 from this H on, as the LSTM's always does:
# those products are most of the lab's time, and float32 halves it; the norms move by at most 2e-5 decades (156
# settings of H, T, ρ, activation and init tried). Smaller ones stay float64, exact to 1e-9
TRAINABLE = ("tanh", "relu")  # the Train page's vanilla RNN nonlinearities; the lab also has sigmoid and identity


@dataclass(frozen=True)
class LabResult:
    cell: str  # "rnn" or "lstm"
    t: np.ndarray  # (n,) steps 0..T where the norms were computed (both ends always)
    log10_norm: np.ndarray  # (n,) rnn: log10 ‖∂h_T/∂h_t‖₂; lstm: log10 ‖∂c_T/∂c_t‖₂
    log10_reference: np.ndarray  # (n,) rnn: log10 (σ_max·γ)^(T−t); lstm: log10 max_j ∏_{k>t} f_kj (cell path alone)
    singular_values: np.ndarray  # rnn: of W_hh; lstm: of the last step's Jacobian ∂s_T/∂s_{T−1}
    eigenvalues: np.ndarray  # complex, same matrix
    spectral_radius: float
    sigma_max: float
    regime: str  # "vanishing", "edge" or "exploding"
    # The caveats that apply, in the order a page lists them, each with the numbers its text needs:
    #   "sampled" {n, total}  norms at n evenly spaced t of the total (t = 0..T, both ends kept)
    #   "sketched" {k, rows}  for T − t > k, lower bounds from the product's `rows` leading directions
    #   "overflow" {step}     the forward pass was clamped at ±STATE_CLAMP from this step on
    #   "clamped" {}          values below 10^LOG10_FLOOR (exact zeros included) are drawn at it
    notes: dict[str, dict]
    bound_decides: bool = False  # rnn: λ₁γ < 1, sufficient for vanishing, so the regime follows from the bound
    gamma: float | None = None  # rnn: max |σ'|
    log10_norm_h: np.ndarray | None = None  # lstm: log10 ‖∂h_T/∂h_t‖₂ through (h, c)
    mean_forget: float | None = None  # lstm: mean forget gate over steps and units
    log10_carousel: float | None = None  # lstm: log10 f̄^T, the cell path alone at the mean forget gate (floored)


def _orthogonal(rng, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))  # the sign fix makes q uniformly (Haar) distributed


def _unit_w_hh(rng, hidden: int, init: str) -> np.ndarray:
    """An H x H matrix with spectral radius 1: orthogonal, or N(0, 1/H) rescaled. The lab's W_hh is rho times it."""
    if init == "orthogonal":
        return _orthogonal(rng, hidden)
    w = rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)
    return w / np.abs(np.linalg.eigvals(w)).max()


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# A setting's random draws depend only on (seed, H, init) and, for the inputs, T: they are cached, so a new ρ, input
# strength, activation or forget bias costs no QR, eigendecomposition (28 ms at H = 256) or random numbers. The
# weights' entries keep the generator's state after W_hh's draws, so the inputs come from the very same stream as
# when everything was drawn in one go: W_hh, then x (T, H), then W_ih. Entries are at most a few MB each.


@lru_cache(maxsize=16)
def _rnn_weights(seed: int, hidden: int, init: str) -> tuple[np.ndarray, Spectrum, Mapping[str, Any]]:
    """(W_hh at spectral radius 1 (H, H), its spectrum, the generator's state after drawing it)."""
    rng = np.random.default_rng(seed)
    w = _read_only(_unit_w_hh(rng, hidden, init))
    return w, spectrum(w), rng.bit_generator.state


@lru_cache(maxsize=16)
def _lstm_weights(seed: int, hidden: int) -> tuple[np.ndarray, Mapping[str, Any]]:
    """(W_hh (4H, H) at ρ = 1, gate blocks i f g o each orthogonal, the generator's state after drawing it)."""
    rng = np.random.default_rng(seed)
    return _read_only(np.concatenate([_orthogonal(rng, hidden) for _ in range(4)])), rng.bit_generator.state


def _unit_drive(state: Mapping[str, Any], seq_len: int, hidden: int, rows: int) -> np.ndarray:
    """x W_ihᵀ (T, rows) at input strength 1, drawn on from the generator state: x ~ N(0, 1) (T, H), then
    W_ih ~ N(0, 1/H) (rows, H)."""
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    x = rng.standard_normal((seq_len, hidden))
    return _read_only(x @ (rng.standard_normal((rows, hidden)) / np.sqrt(hidden)).T)


@lru_cache(maxsize=16)
def _rnn_drive(seed: int, hidden: int, init: str, seq_len: int) -> np.ndarray:
    return _unit_drive(_rnn_weights(seed, hidden, init)[2], seq_len, hidden, hidden)


@lru_cache(maxsize=16)
def _lstm_drive(seed: int, hidden: int, seq_len: int) -> np.ndarray:
    return _unit_drive(_lstm_weights(seed, hidden)[1], seq_len, hidden, 4 * hidden)


def _check_lab(hidden, seq_len, rho, input_scale):
    check_range("hidden", hidden)
    check_range("seq_len", seq_len, "sequence length")
    check_range("init_gain", rho, "rho")
    if not (np.isfinite(input_scale) and input_scale >= 0):
        raise ValueError(f"input scale must be a finite number >= 0, got {input_scale!r}")


def _measured_regime(log10_total: float) -> str:
    if log10_total < -EDGE_DECADES:
        return "vanishing"
    return "exploding" if log10_total > EDGE_DECADES else "edge"


def _notes(n: int, T: int, clamped: bool, overflow_step: int | None, sketched_from: int | None) -> dict[str, dict]:
    """LabResult.notes for n points of the T + 1 steps."""
    notes = {}
    if n < T + 1:
        notes["sampled"] = {"n": n, "total": T + 1}
    if sketched_from is not None:
        notes["sketched"] = {"k": sketched_from, "rows": SKETCH_ROWS}
    if overflow_step is not None:
        notes["overflow"] = {"step": overflow_step}
    if clamped:
        notes["clamped"] = {}
    return notes


def rnn_trajectory(w_hh: np.ndarray, drive: np.ndarray, activation: str) -> tuple[Trajectory, int | None]:
    """h_t = act(W_hh h_{t-1} + drive_t) from h_0 = 0, with w_hh (H, H) and drive (T, H) the input's part;
    pre-activations are clamped at ±STATE_CLAMP so relu and identity stay finite. Returns the trajectory
    and the first step that was clamped (None: none was)."""
    act, act_prime = ACTIVATIONS[activation]
    T, H = drive.shape
    h, overflow_step = np.zeros((T + 1, H)), None
    a = np.zeros((T, H))  # (T, H) pre-activations
    unbounded = activation in UNBOUNDED
    for t in range(T):
        a_t = a[t]  # (H,) a view: the step is written in place
        np.matmul(w_hh, h[t], out=a_t)
        a_t += drive[t]
        if unbounded and np.abs(a_t).max() > STATE_CLAMP:
            overflow_step = t + 1 if overflow_step is None else overflow_step
            np.clip(a_t, -STATE_CLAMP, STATE_CLAMP, out=a_t)
        h[t + 1] = act(a_t)
    return Trajectory("rnn", w_hh, h, dact=act_prime(a, h[1:])), overflow_step


def lstm_trajectory(w_hh: np.ndarray, drive: np.ndarray) -> Trajectory:
    """PyTorch's LSTM from h_0 = c_0 = 0 with gate pre-activations drive_t + W_hh h_{t-1}: w_hh (4H, H) in
    blocks i f g o, drive (T, 4H) the input's part with the biases."""
    T, H = drive.shape[0], w_hh.shape[1]
    h, c = np.zeros((T + 1, H)), np.zeros((T + 1, H))
    values = np.zeros((T, 4 * H))  # (T, 4H) the gates' values, blocks i f g o
    for t in range(T):
        z = drive[t] + w_hh @ h[t]  # (4H,) gates stay bounded, so no clamping is needed
        v = values[t]
        v[:] = sigmoid(z)  # one call for i, f and o; g's block is then overwritten with its tanh
        v[2 * H:3 * H] = np.tanh(z[2 * H:3 * H])
        i, f, g, o = v[:H], v[H:2 * H], v[2 * H:3 * H], v[3 * H:]
        c[t + 1] = f * c[t] + i * g
        h[t + 1] = o * np.tanh(c[t + 1])
    gates = {name: values[:, k * H:(k + 1) * H] for k, name in enumerate("ifgo")}
    return Trajectory("lstm", w_hh, h, c=c, gates=gates)


def lab_rnn(hidden: int = 64, seq_len: int = 100, rho: float = 1.0, activation: str = "tanh", init: str = "orthogonal",
            input_scale: float = 1.0, seed: int = 0, points: int | None = LAB_POINTS) -> LabResult:
    """A vanilla RNN h_t = act(W_hh h_{t-1} + W_ih x_t), h_0 = 0, with spectral radius(W_hh) = rho exactly,
    W_ih ~ N(0, 1/H) (H x H) and x_t ~ N(0, input_scale²), so each unit's input drive has std ≈ input_scale.
    Returns ‖∂h_T/∂h_t‖₂ next to the bound (σ_max·γ)^(T−t), both log10, at `points` evenly spaced t
    (None: every t) and the spectrum of W_hh."""
    _check_lab(hidden, seq_len, rho, input_scale)
    check_choice("activation", activation, tuple(GAMMA))
    check_choice("init", init, ("orthogonal", "gaussian"))
    unit_w, unit_spectrum, _ = _rnn_weights(seed, hidden, init)
    w_hh = rho * unit_w
    path, overflow_step = rnn_trajectory(w_hh, input_scale * _rnn_drive(seed, hidden, init, seq_len), activation)
    t = sample_steps(seq_len, points)
    dtype = np.float32 if hidden >= FLOAT32_FROM else np.float64
    norm, clamped = clamp_log10(product_norms(path, seq_len - t, {"h": (slice(None), slice(None))}, dtype=dtype)["h"])
    spec, gamma = unit_spectrum.scaled(rho), GAMMA[activation]
    with np.errstate(divide="ignore"):
        bound, clamped_bound = clamp_log10((seq_len - t) * np.log10(spec.sigma_max * gamma))
    bound_decides = spec.sigma_max * gamma < 1 - 1e-9  # sufficient for vanishing (Pascanu et al. 2013)
    return LabResult(
        cell="rnn", t=t, log10_norm=norm, log10_reference=bound, singular_values=spec.singular_values,
        eigenvalues=spec.eigenvalues, spectral_radius=spec.spectral_radius, sigma_max=spec.sigma_max,
        regime="vanishing" if bound_decides else _measured_regime(float(norm[0])),
        notes=_notes(len(t), seq_len, clamped or clamped_bound, overflow_step, sketch_step(seq_len, hidden)),
        bound_decides=bound_decides, gamma=gamma)


def lab_lstm(hidden: int = 64, seq_len: int = 100, forget_bias: float = 1.0, rho: float = 1.0, input_scale: float = 1.0,
             seed: int = 0, points: int | None = LAB_POINTS) -> LabResult:
    """An LSTM (PyTorch equations) with each H x H gate block of W_hh orthogonal·rho, W_ih ~ N(0, 1/H),
    zero biases except the forget gate's = forget_bias, x_t ~ N(0, input_scale²), h_0 = c_0 = 0.
    Returns ‖∂c_T/∂c_t‖₂ and ‖∂h_T/∂h_t‖₂ (blocks of the product through s = (h, c)), the cell path
    alone max_j ∏_{k>t} f_kj for reference, the mean forget gate, and the spectrum of ∂s_T/∂s_{T−1}."""
    _check_lab(hidden, seq_len, rho, input_scale)
    check_range("forget_bias", forget_bias, "forget bias")
    H, T = hidden, seq_len
    w_hh = rho * _lstm_weights(seed, H)[0]  # (4H, H), blocks i f g o
    bias = np.zeros(4 * H)
    bias[H:2 * H] = forget_bias
    path = lstm_trajectory(w_hh, input_scale * _lstm_drive(seed, H, T) + bias)  # drive (T, 4H)
    gates, _ = path.lstm_states()
    t = sample_steps(T, points)
    blocks = {"c": (slice(H, None), slice(H, None)), "h": (slice(None, H), slice(None, H))}
    norms = product_norms(path, T - t, blocks, dtype=np.float32)  # float32 halves the 2H x 2H products' time
    norm_c, clamped_c = clamp_log10(norms["c"])
    norm_h, clamped_h = clamp_log10(norms["h"])
    with np.errstate(divide="ignore"):
        log_f = np.log10(gates["f"])  # (T, H)
    tail = np.concatenate([np.cumsum(log_f[::-1], axis=0)[::-1], np.zeros((1, H))])  # (T+1, H): Σ_{k>t} log10 f_k
    reference, clamped_r = clamp_log10(tail.max(axis=1)[t])
    spec = spectrum(dense_jacobians(path, T - 1, T)[0])
    mean_f = float(gates["f"].mean())
    carousel = max(T * np.log10(mean_f), LOG10_FLOOR) if mean_f > 0 else LOG10_FLOOR
    return LabResult(
        cell="lstm", t=t, log10_norm=norm_c, log10_reference=reference, singular_values=spec.singular_values,
        eigenvalues=spec.eigenvalues, spectral_radius=spec.spectral_radius, sigma_max=spec.sigma_max,
        regime=_measured_regime(float(norm_c[0])),
        notes=_notes(len(t), T, clamped_c or clamped_h or clamped_r, None, sketch_step(T, 2 * H)),
        log10_norm_h=norm_h, mean_forget=mean_f, log10_carousel=float(carousel))


def train_options(cell: str, hidden: int, seq_len: int, rho: float, activation: str = "tanh",
                  forget_bias: float = 1.0) -> dict:
    """Flat config options that train the lab's setting on the adding task: the same cell, size and
    length, and W_hh orthogonal with gain ρ (the Train page has no Gaussian init). Raises ValueError
    for an activation the Train page's RNN does not have."""
    options = {"task": "adding", "cell": cell, "hidden": hidden, "seq_len": seq_len, "init": "orthogonal",
               "init_gain": rho}
    if cell == "rnn":
        if activation not in TRAINABLE:
            raise ValueError(f"the Train page's RNN uses {' or '.join(TRAINABLE)}, not {activation}")
        options["nonlinearity"] = activation
    else:
        options["forget_bias"] = forget_bias
    return options
