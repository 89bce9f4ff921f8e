"""Gradient flow through time: spectra, step Jacobians and the norms of their products.

Backpropagation through time multiplies one Jacobian per step. With s_t the recurrent state
(h_t for a vanilla RNN, (h_t, c_t) stacked for an LSTM) and J_t = ∂s_t/∂s_{t-1}:

    ∂s_T/∂s_t = J_T J_{T-1} ⋯ J_{t+1}

Vanilla RNN, h_t = σ(a_t), a_t = W_ih x_t + W_hh h_{t-1} + b:  J_t = diag(σ'(a_t)) W_hh, hence

    ‖∂h_T/∂h_t‖ ≤ (λ₁ γ)^(T−t),   λ₁ = σ_max(W_hh),  γ = max |σ'| (1 for tanh, relu and identity, 1/4 for sigmoid)

Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent neural networks":
λ₁ γ < 1 is sufficient for the gradient to vanish; λ₁ γ > 1 is necessary (not sufficient) for it to explode.

LSTM (PyTorch gates i, f, g, o; c_t = f c_{t-1} + i g, h_t = o tanh(c_t); i' = i(1 − i), g' = 1 − g², ...):

    ∂c_t/∂c_{t-1} = diag(f)                      the "constant error carousel" when f ≈ 1 (Hochreiter & Schmidhuber 1997)
    ∂c_t/∂h_{t-1} = diag(c_{t-1} f') W_f + diag(g i') W_i + diag(i g') W_g
    ∂h_t/∂h_{t-1} = diag(tanh(c_t) o') W_o + diag(o tanh'(c_t)) ∂c_t/∂h_{t-1}
    ∂h_t/∂c_{t-1} = diag(o tanh'(c_t) f)

W_i, W_f, ... are the H x H gate blocks of W_hh in PyTorch's row order. A product of many Jacobians
over- or underflows (ρ = 10 over 1000 steps is 10^1000), so running products are kept as a matrix
with largest entry 1 times 10**scale, and norms are reported as log10 (spectral norms throughout).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

LOG10_FLOOR = -1000.0  # log10 values below this (exact zeros included) are clamped here, and the note says so
EXACT_MACS = 1e9  # multiply-adds the exact product may cost (about T·S³): beyond it the walk is sketched (product_norms)
SKETCH_ROWS = 32  # leading left singular directions kept per block once the walk is sketched
GRAM_MAX = 64  # norms of blocks up to this size come from an eigendecomposition, larger ones from power iteration
POWER_ITERS = 60  # power iterations per norm at most (warm-started, so usually a few)
POWER_TOL = 1e-6  # power iteration stops once λ changes by less than this share: the lab's log10 norms stay within
# 1e-4 decades of what 1e-9 gave (tests/test_theory.py), with a quarter to a third fewer iterations
TINY = 1e-30  # entries of the rescaled product (max 1) below this become 0: subnormal floats slow BLAS ~100x


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # logistic sigmoid without exp overflow


Activation = Callable[[np.ndarray], np.ndarray]  # σ(a)
Derivative = Callable[[np.ndarray, np.ndarray], np.ndarray]  # σ'(a) written with a and h = σ(a)

# activation -> (σ, σ'); GAMMA = max |σ'|
ACTIVATIONS: dict[str, tuple[Activation, Derivative]] = {
    "tanh": (np.tanh, lambda a, h: 1 - h**2),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a, h: (a > 0).astype(np.float64)),
    "sigmoid": (sigmoid, lambda a, h: h * (1 - h)),
    "identity": (lambda a: a, lambda a, h: np.ones_like(a)),
}
GAMMA = {"tanh": 1.0, "relu": 1.0, "sigmoid": 0.25, "identity": 1.0}


# --- 1. spectra ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spectrum:
    singular_values: np.ndarray  # (H,) descending
    eigenvalues: np.ndarray  # (H,) complex, by modulus descending
    spectral_radius: float  # max |eigenvalue|
    sigma_max: float  # largest singular value = ‖W‖₂ ≥ spectral radius

    def scaled(self, factor: float) -> Spectrum:
        """The spectrum of factor·W for factor ≥ 0: every value times factor, in the same order."""
        return Spectrum(factor * self.singular_values, factor * self.eigenvalues, factor * self.spectral_radius,
                        factor * self.sigma_max)


def spectrum(w) -> Spectrum:
    """Singular values, eigenvalues, spectral radius and σ_max of a square matrix (anything numpy reads)."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.size == 0:
        raise ValueError(f"spectrum needs a non-empty square matrix, got shape {w.shape}")
    sv = np.linalg.svd(w, compute_uv=False)
    ev = np.linalg.eigvals(w)
    ev = ev[np.argsort(-np.abs(ev), kind="stable")]
    return Spectrum(sv, ev, float(np.abs(ev[0])), float(sv[0]))


# --- 2. step Jacobians along a trajectory --------------------------------------------------------


@dataclass
class Trajectory:
    """One trajectory through a recurrent layer: what the Jacobian formulas need."""

    cell: str  # "rnn" or "lstm"
    w_hh: np.ndarray  # (G*H, H): rnn G = 1, lstm G = 4 (blocks i f g o)
    h: np.ndarray  # (T+1, H), h[0] the initial state
    c: np.ndarray | None = None  # (T+1, H) LSTM cell states
    gates: dict[str, np.ndarray] | None = None  # LSTM: name -> (T, H)
    dact: np.ndarray | None = None  # RNN: σ'(a_t), (T, H)
    stacks: dict = field(default_factory=dict, repr=False)  # dtype -> matrix(dtype), cached
    terms: dict = field(default_factory=dict, repr=False)  # dtype -> step_terms(dtype), cached

    @property
    def steps(self) -> int:
        return self.h.shape[0] - 1

    @property
    def size(self) -> int:
        return self.h.shape[1] * (2 if self.cell == "lstm" else 1)

    def blocks(self) -> list[np.ndarray]:
        H = self.h.shape[1]
        return [self.w_hh[k * H:(k + 1) * H] for k in range(self.w_hh.shape[0] // H)]

    def lstm_states(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """(gates, c) of an LSTM trajectory: gate name -> (T, H), and the cell states (T+1, H)."""
        if self.gates is None or self.c is None:
            raise ValueError("an LSTM trajectory needs its gates and cell states")
        return self.gates, self.c

    def rnn_dact(self) -> np.ndarray:
        """σ'(a_t) of an RNN trajectory, (T, H)."""
        if self.dact is None:
            raise ValueError("an RNN trajectory needs its activation derivatives")
        return self.dact

    def matrix(self, dtype) -> np.ndarray:
        """W_hh in dtype, for an LSTM in the row order [W_o; W_f; W_i; W_g] that _times_jacobian's single matmul
        needs; built once per dtype (the walk switches to float32 when it is sketched)."""
        if dtype not in self.stacks:
            w_i, w_f, w_g, w_o = self.blocks() if self.cell == "lstm" else [None] * 4
            w = np.concatenate([w_o, w_f, w_i, w_g]) if self.cell == "lstm" else self.w_hh
            self.stacks[dtype] = w.astype(dtype)
        return self.stacks[dtype]

    def step_terms(self, dtype) -> dict[str, np.ndarray]:
        """The step Jacobians' coefficient vectors in dtype, each (T, H), row t−1 for J_t: an RNN's σ'(a_t) as "d",
        an LSTM's _lstm_terms. Built once per dtype, so the walk's steps only pick their row."""
        if dtype not in self.terms:
            whole = {"d": self.rnn_dact()} if self.cell == "rnn" else _lstm_terms(self, 0, self.steps)
            self.terms[dtype] = {name: v.astype(dtype) for name, v in whole.items()}
        return self.terms[dtype]


def _lstm_terms(p: Trajectory, lo: int, hi: int) -> dict:
    """Per-step coefficient vectors of the LSTM Jacobian for t = lo+1..hi, each (n, H)."""
    gates, cells = p.lstm_states()
    i, f, g, o = (gates[k][lo:hi] for k in "ifgo")
    c, c_prev = cells[lo + 1:hi + 1], cells[lo:hi]
    tc = np.tanh(c)
    dh_dc = o * (1 - tc**2)  # ∂h_t/∂c_t
    return {"f": f, "alpha": tc * o * (1 - o), "beta": dh_dc,
            "gf": c_prev * f * (1 - f), "gi": g * i * (1 - i), "gg": i * (1 - g**2)}


def dense_jacobians(p: Trajectory, lo: int, hi: int) -> np.ndarray:
    """J_t = ∂s_t/∂s_{t-1} for t = lo+1..hi: (n, S, S)."""
    col = lambda v: v[:, :, None]  # noqa: E731  diag(v) W as a row scaling, batched over steps
    if p.cell == "rnn":
        return col(p.rnn_dact()[lo:hi]) * p.w_hh
    H, n = p.h.shape[1], hi - lo
    diag = np.arange(H)
    w_i, w_f, w_g, w_o = p.blocks()
    k = _lstm_terms(p, lo, hi)
    dc_dh = col(k["gf"]) * w_f + col(k["gi"]) * w_i + col(k["gg"]) * w_g  # (n, H, H)
    J = np.zeros((n, 2 * H, 2 * H))
    J[:, :H, :H] = col(k["alpha"]) * w_o + col(k["beta"]) * dc_dh
    J[:, H:, :H] = dc_dh
    J[:, diag, H + diag] = k["beta"] * k["f"]  # ∂h_t/∂c_{t-1}
    J[:, H + diag, H + diag] = k["f"]  # ∂c_t/∂c_{t-1}
    return J


def _times_jacobian(p: Trajectory, prod: np.ndarray, t: int) -> np.ndarray:
    """prod @ J_t without forming J_t (prod: (R, S), R = S or a sketch's rows)."""
    if p.cell == "rnn":
        return (prod * p.step_terms(prod.dtype)["d"][t - 1]) @ p.matrix(prod.dtype)  # P diag(d) W
    # LSTM, prod = [A | C] by columns (∂s_T/∂h_t, ∂s_T/∂c_t): with X = A diag(β) + C,
    # new A = [A α | X γ_f | X γ_i | X γ_g] @ [W_o; W_f; W_i; W_g] and new C = X diag(f): one matmul.
    H = p.h.shape[1]
    k = {name: v[t - 1] for name, v in p.step_terms(prod.dtype).items()}  # in prod's precision
    a, c = prod[:, :H], prod[:, H:]
    x = a * k["beta"] + c
    stacked = np.concatenate([a * k["alpha"], x * k["gf"], x * k["gi"], x * k["gg"]], axis=1)  # (R, 4H)
    return np.concatenate([stacked @ p.matrix(prod.dtype), x * k["f"]], axis=1)


def _log10_norm(x: np.ndarray, u: np.ndarray | None) -> tuple[float, np.ndarray | None]:
    """log10 ‖x‖₂ of one (R, C) matrix (-inf for zero) and, for large ones, the left vector to warm-start the next call.

    Small matrices: the largest eigenvalue of the Gram matrix of the shorter side, exact, in float64. Large ones:
    power iteration on x xᵀ from u, in x's precision, until λ = ‖x‖₂² changes by less than POWER_TOL relative; it
    approaches ‖x‖₂ from below, and within a few iterations when warm-started on a product whose leading direction
    settles (the eigendecomposition would cost O(R³) per point). A log10 chart needs no more: the norms stay within
    1e-4 decades of what a tolerance of 1e-9 (the old one) gives.
    """
    m = np.abs(x).max()
    if m == 0:
        return -np.inf, u
    if min(x.shape) <= GRAM_MAX:
        x = x.astype(np.float64) / m  # rescaling first keeps the Gram matrix away from underflow
        gram = x @ x.T if x.shape[0] <= x.shape[1] else x.T @ x
        return float(np.log10(m) + 0.5 * np.log10(max(np.linalg.eigvalsh(gram)[-1], 0.0))), u
    x = x / m  # in x's dtype, as u is: a float64 u would make every product convert x to float64
    u = np.full(x.shape[0], x.shape[0] ** -0.5, dtype=x.dtype) if u is None else u
    lam = 0.0
    for _ in range(POWER_ITERS):
        w = x @ (x.T @ u)  # (R,)
        new = float(np.linalg.norm(w))  # ‖x xᵀ u‖ ≤ λ_max for a unit u, and grows toward it
        if new == 0:
            return -np.inf, None
        u = w / new
        if new - lam <= POWER_TOL * new:
            break
        lam = new
    return float(np.log10(m) + 0.5 * np.log10(new)), u


def _leading_rows(block: np.ndarray, r: int) -> np.ndarray:
    """(r, R) orthonormal rows spanning about the r leading left singular vectors of block (R, C): a randomized
    range finder with two power iterations (Halko, Martinsson & Tropp 2011), seeded so the lab is reproducible."""
    x = block.astype(np.float64) / max(np.abs(block).max(), np.finfo(float).tiny)
    y = x @ np.random.default_rng(0).standard_normal((x.shape[1], r))  # (R, r)
    for _ in range(2):
        y = x @ (x.T @ np.linalg.qr(y)[0])
    return np.linalg.qr(y)[0].T


def sketch_step(T: int, S: int) -> int | None:
    """The step k after which product_norms sketches a walk of T steps through S x S Jacobians (None: exact)."""
    return None if T * S**3 <= EXACT_MACS else int(np.clip(EXACT_MACS // S**3, 1, T - 1))


def product_norms(p: Trajectory, ks: np.ndarray, blocks: dict[str, tuple[slice, slice]], dtype=np.float64) -> dict:
    """log10 ‖block of ∂s_T/∂s_{T−k}‖₂ for each k in ks (in the order given, within 0..T), per named block.

    Walks back from J_T, keeping the product P = P̂ · 10**scale with max|P̂| = 1. When the whole walk costs
    more than EXACT_MACS (long sequences of large matrices), only its first m steps are exact; then each block
    keeps just its rows along the SKETCH_ROWS leading left singular vectors U of P_m's block, and reports
    ‖U P_k‖ ≤ ‖P_k‖, equal when P_k's leading left singular vector lies in span U. A product that grows on
    the right has left singular vectors that settle as it grows (Oseledets), so U from step m serves every
    later k. Against the exact product (T = 1000; rnn H = 256, lstm H = 128; vanishing, edge and exploding
    settings) the sketch stayed within 0.15 decades, at a fraction of the cost (R·S² instead of S³ per step).
    """
    T, S = p.steps, p.size
    m = sketch_step(T, S) or T
    wanted = np.unique(np.asarray(ks, dtype=int))  # the walk visits k in increasing order
    keep = set(wanted.tolist())
    found: dict[str, list[float]] = {name: [] for name in blocks}
    warm = dict.fromkeys(blocks)
    rows = dict(blocks)  # name -> (row slice of prod, column slice); the row slices change when sketched
    prod, scale = np.eye(S, dtype=dtype), 0.0
    for k in range(T + 1):
        if k > 0 and scale > -np.inf:
            prod = _times_jacobian(p, prod, T - k + 1)
            top = np.abs(prod).max()
            if top == 0:  # an exact zero stays zero (ρ = 0, every relu unit off): log10 = -inf from here on
                scale = -np.inf
            else:
                prod, scale = prod / top, scale + float(np.log10(top))
                prod[np.abs(prod) < TINY] = 0
        if k == m < T and scale > -np.inf:
            bases = {name: _leading_rows(prod[r, c], SKETCH_ROWS) for name, (r, c) in blocks.items()}
            sizes = np.cumsum([0] + [len(b) for b in bases.values()])
            # float32 from here: the sketch is an estimate anyway, and half the bytes make it twice as fast
            prod = np.concatenate([b @ prod[blocks[name][0]] for name, b in bases.items()]).astype(np.float32)
            rows = {name: (slice(lo, hi), blocks[name][1]) for name, lo, hi in zip(blocks, sizes, sizes[1:])}
            warm = dict.fromkeys(blocks)
        if k in keep:
            for name, (r, c) in rows.items():
                value, warm[name] = _log10_norm(prod[r, c], warm[name]) if scale > -np.inf else (-np.inf, None)
                found[name].append(value + scale)
    order = np.searchsorted(wanted, ks)  # back to the caller's order (labs pass k = T − t, decreasing)
    return {name: np.array(v)[order] for name, v in found.items()}


def clamp_log10(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Clamp log10 values (and -inf, exact zeros) at LOG10_FLOOR; says whether anything was clamped."""
    low = ~(values >= LOG10_FLOOR)
    return np.where(low, LOG10_FLOOR, values), bool(low.any())


def sample_steps(n: int, points: int | None) -> np.ndarray:
    """Sorted integers in 0..n: all of them, or `points` evenly spaced ones with both ends."""
    if points is None or points >= n + 1:
        return np.arange(n + 1)
    return np.unique(np.round(np.linspace(0, n, max(points, 2))).astype(int))
