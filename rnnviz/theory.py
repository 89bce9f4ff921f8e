"""Gradient flow through time: spectra, Jacobian products, the gradient lab and Pascanu's cliff.

Backpropagation through time multiplies one Jacobian per step. With s_t the recurrent state
(h_t for RNN and GRU, (h_t, c_t) stacked for LSTM) and J_t = ∂s_t/∂s_{t-1}:

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

GRU (r, z, n; n = tanh(x_n + r (W_n h_{t-1} + b_n)), h_t = (1 − z) n + z h_{t-1}):

    ∂h_t/∂h_{t-1} = diag(z) + diag((1 − z) n') (diag(r) W_n + diag((W_n h_{t-1} + b_n) r') W_r) + diag((h_{t-1} − n) z') W_z

W_i, W_f, ... are the H x H gate blocks of W_hh in PyTorch's row order. A product of many Jacobians
over- or underflows (ρ = 10 over 1000 steps is 10^1000), so running products are kept as a matrix
with largest entry 1 times 10**scale, and norms are reported as log10 (spectral norms throughout).

The cliff: Pascanu et al. (2013) draw the loss surface of one recurrent unit,
x_t = w σ(x_{t-1}) + b, x_0 = 0.5, 50 steps, loss (σ(x_50) − 0.7)². For w above about 4 the map has
two attractors, and where the starting point changes basin the loss drops by ~0.3 across a wall
thinner than 0.01 in b, on which the gradient is in the hundreds to thousands: an unclipped step
there throws the parameters far away, a step clipped to norm `clip` does not (gradient clipping).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .cells import GATES, UnrolledRNN
from .config import check_choice, check_range

LOG10_FLOOR = -1000.0  # log10 values below this (exact zeros included) are clamped here, and the note says so
STATE_CLAMP = 1e100  # the lab's relu / identity forward pass is clamped here so it stays finite
EDGE_DECADES = 1.0  # ‖∂s_T/∂s_0‖ within 10^±1 counts as the edge between vanishing and exploding
LAB_POINTS = 200  # the lab computes norms at this many evenly spaced t (SVD-like cost per point)
EXACT_MACS = 1e9  # multiply-adds the exact product may cost (about T·S³): beyond it the walk is sketched (_product_norms)
SKETCH_ROWS = 32  # leading left singular directions kept per block once the walk is sketched
GRAM_MAX = 64  # norms of blocks up to this size come from an eigendecomposition, larger ones from power iteration
POWER_ITERS = 60  # power iterations per norm at most (warm-started, so usually a few)
TINY = 1e-30  # entries of the rescaled product (max 1) below this become 0: subnormal floats slow BLAS ~100x


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # logistic sigmoid without exp overflow


# activation -> (σ(a), σ'(a) written with a and h = σ(a)); GAMMA = max |σ'|
ACTIVATIONS = {
    "tanh": (np.tanh, lambda a, h: 1 - h**2),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a, h: (a > 0).astype(np.float64)),
    "sigmoid": (_sigmoid, lambda a, h: h * (1 - h)),
    "identity": (lambda a: a, lambda a, h: np.ones_like(a)),
}
GAMMA = {"tanh": 1.0, "relu": 1.0, "sigmoid": 0.25, "identity": 1.0}


def _numpy(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().double().numpy()
    return np.asarray(t, dtype=np.float64)


# --- 1. spectra ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spectrum:
    singular_values: np.ndarray  # (H,) descending
    eigenvalues: np.ndarray  # (H,) complex, by modulus descending
    spectral_radius: float  # max |eigenvalue|
    sigma_max: float  # largest singular value = ‖W‖₂ ≥ spectral radius


def spectrum(w) -> Spectrum:
    """Singular values, eigenvalues, spectral radius and σ_max of a square matrix (numpy or torch)."""
    w = _numpy(w)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.size == 0:
        raise ValueError(f"spectrum needs a non-empty square matrix, got shape {w.shape}")
    sv = np.linalg.svd(w, compute_uv=False)
    ev = np.linalg.eigvals(w)
    ev = ev[np.argsort(-np.abs(ev), kind="stable")]
    return Spectrum(sv, ev, float(np.abs(ev[0])), float(sv[0]))


def _stacks(model) -> dict:
    """Trace prefix -> recurrent stack, for a SeqModel or a bare stack."""
    return model.recurrent_stacks() if hasattr(model, "recurrent_stacks") else {"": model}


def _cell_of(stack) -> tuple[str, str]:
    """("rnn" | "lstm" | "gru", nonlinearity) for an UnrolledRNN or a torch.nn RNN / LSTM / GRU."""
    if getattr(stack, "bidirectional", False) or getattr(stack, "proj_size", 0):
        raise ValueError("bidirectional and projected recurrent layers are not supported")
    mode = stack.mode.lower()  # UnrolledRNN: rnn / lstm / gru; torch.nn: rnn_tanh, rnn_relu, lstm, gru
    cell = "rnn" if mode.startswith("rnn") else mode
    return cell, getattr(stack, "nonlinearity", "tanh") if cell == "rnn" else "tanh"


def recurrent_matrices(model) -> dict[str, dict[str, np.ndarray]]:
    """"{prefix}{layer}" ("0", "1", "dec.0", as in Trace names) -> {"W_hh": (G*H, H), and for LSTM / GRU
    each H x H gate block by name: "i", "f", "g", "o" / "r", "z", "n" (PyTorch row order)}."""
    out = {}
    for prefix, stack in _stacks(model).items():
        cell, _ = _cell_of(stack)
        H = stack.hidden_size
        for layer in range(stack.num_layers):
            w = _numpy(getattr(stack, f"weight_hh_l{layer}"))
            out[f"{prefix}{layer}"] = {"W_hh": w, **{g: w[k * H:(k + 1) * H] for k, g in enumerate(GATES[cell])}}
    return out


# --- 2. step Jacobians along a trajectory --------------------------------------------------------


@dataclass
class _Path:
    """One example's trajectory through one layer: what the Jacobian formulas need."""

    cell: str
    w_hh: np.ndarray  # (G*H, H)
    b_hh: np.ndarray  # (G*H,)
    h: np.ndarray  # (T+1, H), h[0] the initial state
    c: np.ndarray | None = None  # (T+1, H) LSTM cell states
    gates: dict | None = None  # LSTM / GRU: name -> (T, H)
    dact: np.ndarray | None = None  # RNN: σ'(a_t), (T, H)
    stacks: dict = field(default_factory=dict, repr=False)  # dtype -> matrix(dtype), cached

    @property
    def steps(self) -> int:
        return self.h.shape[0] - 1

    @property
    def size(self) -> int:
        return self.h.shape[1] * (2 if self.cell == "lstm" else 1)

    def blocks(self) -> list[np.ndarray]:
        H = self.h.shape[1]
        return [self.w_hh[k * H:(k + 1) * H] for k in range(self.w_hh.shape[0] // H)]

    def matrix(self, dtype) -> np.ndarray:
        """W_hh in dtype, for an LSTM in the row order [W_o; W_f; W_i; W_g] that _times_jacobian's single matmul
        needs; built once per dtype (the walk switches to float32 when it is sketched)."""
        if dtype not in self.stacks:
            w_i, w_f, w_g, w_o = self.blocks() if self.cell == "lstm" else [None] * 4
            w = np.concatenate([w_o, w_f, w_i, w_g]) if self.cell == "lstm" else self.w_hh
            self.stacks[dtype] = w.astype(dtype)
        return self.stacks[dtype]


def _lstm_terms(p: _Path, lo: int, hi: int) -> dict:
    """Per-step coefficient vectors of the LSTM Jacobian for t = lo+1..hi, each (n, H)."""
    i, f, g, o = (p.gates[k][lo:hi] for k in "ifgo")
    c, c_prev = p.c[lo + 1:hi + 1], p.c[lo:hi]
    tc = np.tanh(c)
    dh_dc = o * (1 - tc**2)  # ∂h_t/∂c_t
    return {"f": f, "alpha": tc * o * (1 - o), "beta": dh_dc,
            "gf": c_prev * f * (1 - f), "gi": g * i * (1 - i), "gg": i * (1 - g**2)}


def _dense_jacobians(p: _Path, lo: int, hi: int) -> np.ndarray:
    """J_t = ∂s_t/∂s_{t-1} for t = lo+1..hi: (n, S, S)."""
    col = lambda v: v[:, :, None]  # noqa: E731  diag(v) W as a row scaling, batched over steps
    if p.cell == "rnn":
        return col(p.dact[lo:hi]) * p.w_hh
    H, n = p.h.shape[1], hi - lo
    diag = np.arange(H)
    if p.cell == "lstm":
        w_i, w_f, w_g, w_o = p.blocks()
        k = _lstm_terms(p, lo, hi)
        dc_dh = col(k["gf"]) * w_f + col(k["gi"]) * w_i + col(k["gg"]) * w_g  # (n, H, H)
        J = np.zeros((n, 2 * H, 2 * H))
        J[:, :H, :H] = col(k["alpha"]) * w_o + col(k["beta"]) * dc_dh
        J[:, H:, :H] = dc_dh
        J[:, diag, H + diag] = k["beta"] * k["f"]  # ∂h_t/∂c_{t-1}
        J[:, H + diag, H + diag] = k["f"]  # ∂c_t/∂c_{t-1}
        return J
    w_r, w_z, w_n = p.blocks()
    r, z, nn_ = (p.gates[k][lo:hi] for k in "rzn")
    h_prev = p.h[lo:hi]
    hn = h_prev @ w_n.T + p.b_hh[2 * H:]  # (n, H): W_n h_{t-1} + b_n, the part r gates
    dn_dh = col(1 - nn_**2) * (col(r) * w_n + col(hn * r * (1 - r)) * w_r)
    J = col(1 - z) * dn_dh + col((h_prev - nn_) * z * (1 - z)) * w_z
    J[:, diag, diag] += z
    return J


def _times_jacobian(p: _Path, prod: np.ndarray, t: int) -> np.ndarray:
    """prod @ J_t without forming J_t where the structure allows it (prod: (R, S), R = S or a sketch's rows)."""
    if p.cell == "rnn":
        return (prod * p.dact[t - 1].astype(prod.dtype)) @ p.matrix(prod.dtype)  # P diag(d) W
    if p.cell == "gru":
        return prod @ _dense_jacobians(p, t - 1, t)[0]
    # LSTM, prod = [A | C] by columns (∂s_T/∂h_t, ∂s_T/∂c_t): with X = A diag(β) + C,
    # new A = [A α | X γ_f | X γ_i | X γ_g] @ [W_o; W_f; W_i; W_g] and new C = X diag(f): one matmul.
    H = p.h.shape[1]
    k = {name: v[0].astype(prod.dtype) for name, v in _lstm_terms(p, t - 1, t).items()}  # keep prod's precision
    a, c = prod[:, :H], prod[:, H:]
    x = a * k["beta"] + c
    stacked = np.concatenate([a * k["alpha"], x * k["gf"], x * k["gi"], x * k["gg"]], axis=1)  # (R, 4H)
    return np.concatenate([stacked @ p.matrix(prod.dtype), x * k["f"]], axis=1)


def _log10_norm(x: np.ndarray, u: np.ndarray | None) -> tuple[float, np.ndarray | None]:
    """log10 ‖x‖₂ of one (R, C) matrix (-inf for zero) and, for large ones, the left vector to warm-start the next call.

    Small matrices: the largest eigenvalue of the Gram matrix of the shorter side, exact. Large ones: power
    iteration on x xᵀ from u; it approaches ‖x‖₂ from below, and within a few iterations when warm-started
    on a product whose leading direction settles (the eigendecomposition would cost O(R³) per point).
    """
    m = np.abs(x).max()
    if m == 0:
        return -np.inf, u
    x = x.astype(np.float64) / m  # rescaling first keeps the Gram matrix away from underflow
    if min(x.shape) <= GRAM_MAX:
        gram = x @ x.T if x.shape[0] <= x.shape[1] else x.T @ x
        return float(np.log10(m) + 0.5 * np.log10(max(np.linalg.eigvalsh(gram)[-1], 0.0))), u
    u = np.ones(x.shape[0]) / np.sqrt(x.shape[0]) if u is None else u
    lam = 0.0
    for _ in range(POWER_ITERS):
        w = x @ (x.T @ u)  # (R,)
        new = float(np.linalg.norm(w))  # ‖x xᵀ u‖ ≤ λ_max for a unit u, and grows toward it
        if new == 0:
            return -np.inf, None
        u = w / new
        if new - lam <= 1e-9 * new:
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


def _sketch_step(T: int, S: int) -> int | None:
    """The step k after which _product_norms sketches a walk of T steps through S x S Jacobians (None: exact)."""
    return None if T * S**3 <= EXACT_MACS else int(np.clip(EXACT_MACS // S**3, 1, T - 1))


def _product_norms(p: _Path, ks: np.ndarray, blocks: dict[str, tuple[slice, slice]], dtype=np.float64) -> dict:
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
    m = _sketch_step(T, S) or T
    wanted = np.unique(np.asarray(ks, dtype=int))  # the walk visits k in increasing order
    keep = set(wanted.tolist())
    found = {name: [] for name in blocks}
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


def _clamp(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Clamp log10 values (and -inf, exact zeros) at LOG10_FLOOR; says whether anything was clamped."""
    low = ~(values >= LOG10_FLOOR)
    return np.where(low, LOG10_FLOOR, values), bool(low.any())


def _sample(n: int, points: int | None) -> np.ndarray:
    """Sorted integers in 0..n: all of them, or `points` evenly spaced ones with both ends."""
    if points is None or points >= n + 1:
        return np.arange(n + 1)
    return np.unique(np.round(np.linspace(0, n, max(points, 2))).astype(int))


def _model_path(model, x, example: int, layer: int) -> tuple[_Path, str]:
    """Run one example through the unrolled twin of model's encoder stack (float64); returns the layer's path."""
    stack = model.rnn if hasattr(model, "rnn") else model
    cell, act = _cell_of(stack)
    if not 0 <= layer < stack.num_layers:
        raise ValueError(f"layer must be between 0 and {stack.num_layers - 1}, got {layer}")
    x = torch.as_tensor(x)
    if not 0 <= example < x.shape[0]:
        raise ValueError(f"example must be between 0 and {x.shape[0] - 1}, got {example}")
    x = x[example:example + 1]
    with torch.no_grad(), torch.random.fork_rng(devices=[]):  # the twin's init must not move the global RNG
        if stack is not model and getattr(model, "embed", None) is not None:
            x = model.embed(x.to(model.embed.weight.device))
        twin = UnrolledRNN(cell, stack.input_size, stack.hidden_size, stack.num_layers, act).double()
        twin.load_state_dict({k: v.detach().cpu().double() for k, v in stack.state_dict().items()})
        record = {}
        twin(x.detach().cpu().double(), record=record)
    seq = lambda key: torch.cat(record[key]).numpy()  # noqa: E731  (T, H)
    h = seq(f"h.{layer}")
    zero = np.zeros((1, h.shape[1]))
    w_hh, b_hh = _numpy(getattr(stack, f"weight_hh_l{layer}")), _numpy(getattr(stack, f"bias_hh_l{layer}"))
    path = _Path(cell, w_hh, b_hh, np.concatenate([zero, h]))
    if cell == "rnn":
        path.dact = 1 - h**2 if act == "tanh" else (h > 0).astype(np.float64)
    else:
        path.gates = {g: seq(f"gate.{layer}.{g}") for g in GATES[cell]}
        if cell == "lstm":
            path.c = np.concatenate([zero, seq(f"c.{layer}")])
    return path, act


def step_jacobians(model, x, example: int = 0, layer: int = 0) -> np.ndarray:
    """(T, S, S) float64: [t − 1] = ∂s_t/∂s_{t−1} for t = 1..T along one example's real trajectory.

    model: a SeqModel (its encoder stack `rnn`, after the embedding for token tasks) or a recurrent
    stack (torch.nn RNN / LSTM / GRU or UnrolledRNN) fed x directly; x batch-first, initial state zero.
    s = h (S = H) for rnn and gru, s = (h, c) stacked (S = 2H) for lstm. Memory is T·S²·8 bytes.
    """
    path, _ = _model_path(model, x, example, layer)
    return _dense_jacobians(path, 0, path.steps)


@dataclass(frozen=True)
class JacobianNorms:
    k: np.ndarray  # (n,) distances k in 1..T
    log10_norm: np.ndarray  # (n,) log10 ‖∂s_T/∂s_{T−k}‖₂
    log10_bound: np.ndarray | None  # (n,) rnn: log10 (σ_max(W_hh)·γ)^k; None for lstm / gru (no such bound)
    sigma_max: float | None  # rnn: σ_max(W_hh) of this layer
    gamma: float | None  # rnn: max |σ'| of its nonlinearity
    state: str  # "h" or "(h, c)"
    note: str


def jacobian_norms(model, x, example: int = 0, layer: int = 0, points: int | None = None) -> JacobianNorms:
    """‖∂s_T/∂s_{T−k}‖₂ for k = 1..T along one example's trajectory (arguments as step_jacobians),
    next to Pascanu et al.'s bound for a vanilla RNN. points: only this many evenly spaced k (both ends);
    the product still visits every step, so the cost is about T·S³ flops plus points·S³."""
    path, act = _model_path(model, x, example, layer)
    T = path.steps
    ks = 1 + _sample(T - 1, points)
    log10_norm, clamped = _clamp(_product_norms(path, ks, {"s": (slice(None), slice(None))})["s"])
    sigma_max = gamma = bound = None
    if path.cell == "rnn":
        sigma_max, gamma = spectrum(path.w_hh).sigma_max, GAMMA[act]
        with np.errstate(divide="ignore"):
            bound, clamped_bound = _clamp(ks * np.log10(sigma_max * gamma))
        clamped |= clamped_bound
    note = f"values below 1e{LOG10_FLOOR:.0f} (exact zeros included) shown as 1e{LOG10_FLOOR:.0f}" if clamped else ""
    return JacobianNorms(ks, log10_norm, bound, sigma_max, gamma, "(h, c)" if path.cell == "lstm" else "h", note)


# --- 3. the gradient lab: no model, plain numpy ---------------------------------------------------


@dataclass(frozen=True)
class LabResult:
    cell: str  # "rnn" or "lstm"
    t: np.ndarray  # (n,) steps 0..T where the norms were computed (both ends always)
    log10_norm: np.ndarray  # (n,) rnn: log10 ‖∂h_T/∂h_t‖₂; lstm: log10 ‖∂c_T/∂c_t‖₂
    log10_reference: np.ndarray  # (n,) rnn: log10 (σ_max·γ)^(T−t); lstm: log10 max_j ∏_{k>t} f_kj (cell path alone)
    reference: str  # legend text for log10_reference
    singular_values: np.ndarray  # of the matrix named in spectrum_of
    eigenvalues: np.ndarray  # complex, same matrix
    spectral_radius: float
    sigma_max: float
    spectrum_of: str  # rnn: "W_hh"; lstm: the last step's Jacobian ∂s_T/∂s_{T−1}
    regime: str  # "vanishing", "edge" or "exploding"
    explanation: str  # one sentence
    note: str  # sampling, clamping
    gamma: float | None = None  # rnn: max |σ'|
    log10_norm_h: np.ndarray | None = None  # lstm: log10 ‖∂h_T/∂h_t‖₂ through (h, c)
    mean_forget: float | None = None  # lstm: mean forget gate over steps and units
    overflow_step: int | None = None  # rnn: the step from which the forward pass was clamped at ±STATE_CLAMP
    sketched_from: int | None = None  # norms for T − t beyond this are sketched lower bounds (_product_norms)


def _orthogonal(rng, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))  # the sign fix makes q uniformly (Haar) distributed


def _lab_w_hh(rng, hidden: int, rho: float, init: str) -> np.ndarray:
    """An H x H matrix with spectral radius rho: orthogonal·rho, or N(0, 1/H) rescaled."""
    if init == "orthogonal":
        return rho * _orthogonal(rng, hidden)
    w = rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)
    return w * (rho / np.abs(np.linalg.eigvals(w)).max())


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


def _rnn_story(sg: float, total: float, T: int, mean_d: float) -> tuple[str, str]:
    """(regime, one sentence) from λ₁γ = sg and the measured log10 ‖∂h_T/∂h_0‖ = total."""
    if sg < 1 - 1e-9:
        return "vanishing", (f"λ₁·γ = σ_max(W_hh)·γ = {sg:.3g} < 1, which is sufficient for vanishing gradients "
                             f"(Pascanu et al. 2013): ‖∂h_T/∂h_t‖ ≤ {sg:.3g}^(T−t), here 10^{total:.1f} at t = 0.")
    regime = _measured_regime(total)
    head = f"λ₁·γ = σ_max(W_hh)·γ = {sg:.3g} ≥ 1 is necessary but not sufficient for exploding gradients (Pascanu et al. 2013)"
    tail = {
        "exploding": f", and here ‖∂h_T/∂h_0‖ ≈ 10^{total:.1f}: they explode.",
        "vanishing": f"; here the activation's derivatives (mean {mean_d:.2f}) still shrink ‖∂h_T/∂h_0‖ to ≈ 10^{total:.1f}.",
        "edge": f"; here ‖∂h_T/∂h_0‖ ≈ 10^{total:.1f} stays within a factor 10 of 1 over T = {T} steps: the edge.",
    }[regime]
    return regime, head + tail


def _notes(n: int, T: int, clamped: bool, overflow_step: int | None, sketched_from: int | None = None) -> str:
    notes = []
    if sketched_from is not None:
        notes.append(f"for t < T − {sketched_from} the norms are estimated from the {SKETCH_ROWS} leading directions "
                     "(a lower bound, within about 0.15 decades in tests)")
    if n < T + 1:
        notes.append(f"norms computed at {n} evenly spaced steps of the {T + 1} (t = 0..T, both ends kept)")
    if overflow_step is not None:
        notes.append(f"the forward pass overflowed: pre-activations clamped to ±{STATE_CLAMP:.0e} from step {overflow_step}")
    if clamped:
        notes.append(f"values below 1e{LOG10_FLOOR:.0f} (exact zeros included) shown as 1e{LOG10_FLOOR:.0f}")
    return "; ".join(notes)


def lab_rnn(hidden: int = 64, seq_len: int = 100, rho: float = 1.0, activation: str = "tanh", init: str = "orthogonal",
            input_scale: float = 1.0, seed: int = 0, points: int | None = LAB_POINTS) -> LabResult:
    """A vanilla RNN h_t = act(W_hh h_{t-1} + W_ih x_t), h_0 = 0, with spectral radius(W_hh) = rho exactly,
    W_ih ~ N(0, 1/H) (H x H) and x_t ~ N(0, input_scale²), so each unit's input drive has std ≈ input_scale.
    Returns ‖∂h_T/∂h_t‖₂ next to the bound (σ_max·γ)^(T−t), both log10, at `points` evenly spaced t
    (None: every t) and the spectrum of W_hh."""
    _check_lab(hidden, seq_len, rho, input_scale)
    check_choice("activation", activation, tuple(GAMMA))
    check_choice("init", init, ("orthogonal", "gaussian"))
    rng = np.random.default_rng(seed)
    w_hh = _lab_w_hh(rng, hidden, rho, init)
    drive = input_scale * rng.standard_normal((seq_len, hidden)) @ (rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)).T
    act, act_prime = ACTIVATIONS[activation]
    h, overflow_step = np.zeros((seq_len + 1, hidden)), None
    a = np.zeros((seq_len, hidden))  # (T, H) pre-activations
    for t in range(seq_len):
        a[t] = w_hh @ h[t] + drive[t]
        if overflow_step is None and np.abs(a[t]).max() > STATE_CLAMP:
            overflow_step = t + 1
        a[t] = np.clip(a[t], -STATE_CLAMP, STATE_CLAMP)
        h[t + 1] = act(a[t])
    dact = act_prime(a, h[1:])  # (T, H)
    path = _Path("rnn", w_hh, np.zeros(hidden), h, dact=dact)
    t = _sample(seq_len, points)
    norm, clamped = _clamp(_product_norms(path, seq_len - t, {"h": (slice(None), slice(None))})["h"])
    spec, gamma = spectrum(w_hh), GAMMA[activation]
    with np.errstate(divide="ignore"):
        bound, clamped_bound = _clamp((seq_len - t) * np.log10(spec.sigma_max * gamma))
    sketched = _sketch_step(seq_len, hidden)
    regime, explanation = _rnn_story(spec.sigma_max * gamma, float(norm[0]), seq_len, float(dact.mean()))
    return LabResult(
        cell="rnn", t=t, log10_norm=norm, log10_reference=bound, reference="bound (σ_max·γ)^(T−t)",
        singular_values=spec.singular_values, eigenvalues=spec.eigenvalues, spectral_radius=spec.spectral_radius,
        sigma_max=spec.sigma_max, spectrum_of="W_hh", regime=regime, explanation=explanation,
        note=_notes(len(t), seq_len, clamped or clamped_bound, overflow_step, sketched), gamma=gamma,
        overflow_step=overflow_step, sketched_from=sketched)


def _lstm_story(mean_f: float, total: float, T: int, rho: float) -> tuple[str, str]:
    regime = _measured_regime(total)
    carousel = T * np.log10(mean_f) if mean_f > 0 else -np.inf
    sentence = {
        "vanishing": (f"The mean forget gate f̄ = {mean_f:.3g} makes the cell path shrink like f̄^(T−t) (≈ 10^{carousel:.1f} "
                      f"over T = {T} steps) and ‖∂c_T/∂c_0‖ ≈ 10^{total:.1f}: raise the forget-gate bias to push f̄ toward 1."),
        "edge": (f"The mean forget gate f̄ = {mean_f:.3g} keeps the cell path open (Hochreiter & Schmidhuber's constant "
                 f"error carousel): ‖∂c_T/∂c_0‖ ≈ 10^{total:.1f} after T = {T} steps."),
        "exploding": (f"‖∂c_T/∂c_0‖ ≈ 10^{total:.1f}: with ρ = {rho:g} the paths from c through h and the gates back "
                      f"into c amplify more than the forget gates (f̄ = {mean_f:.3g}) damp."),
    }[regime]
    return regime, sentence


def lab_lstm(hidden: int = 64, seq_len: int = 100, forget_bias: float = 1.0, rho: float = 1.0, input_scale: float = 1.0,
             seed: int = 0, points: int | None = LAB_POINTS) -> LabResult:
    """An LSTM (PyTorch equations) with each H x H gate block of W_hh orthogonal·rho, W_ih ~ N(0, 1/H),
    zero biases except the forget gate's = forget_bias, x_t ~ N(0, input_scale²), h_0 = c_0 = 0.
    Returns ‖∂c_T/∂c_t‖₂ and ‖∂h_T/∂h_t‖₂ (blocks of the product through s = (h, c)), the cell path
    alone max_j ∏_{k>t} f_kj for reference, the mean forget gate, and the spectrum of ∂s_T/∂s_{T−1}."""
    _check_lab(hidden, seq_len, rho, input_scale)
    check_range("forget_bias", forget_bias, "forget bias")
    rng, H, T = np.random.default_rng(seed), hidden, seq_len
    w_hh = np.concatenate([rho * _orthogonal(rng, H) for _ in range(4)])  # (4H, H), blocks i f g o
    bias = np.zeros(4 * H)
    bias[H:2 * H] = forget_bias
    drive = input_scale * rng.standard_normal((T, H)) @ (rng.standard_normal((4 * H, H)) / np.sqrt(H)).T + bias  # (T, 4H)
    h, c = np.zeros((T + 1, H)), np.zeros((T + 1, H))
    gates = {g: np.zeros((T, H)) for g in "ifgo"}
    for t in range(T):
        z = drive[t] + w_hh @ h[t]  # (4H,) gates stay bounded, so no clamping is needed
        i, f, o = _sigmoid(z[:H]), _sigmoid(z[H:2 * H]), _sigmoid(z[3 * H:])
        g = np.tanh(z[2 * H:3 * H])
        c[t + 1] = f * c[t] + i * g
        h[t + 1] = o * np.tanh(c[t + 1])
        for name, value in zip("ifgo", (i, f, g, o)):
            gates[name][t] = value
    path = _Path("lstm", w_hh, np.zeros(4 * H), h, c=c, gates=gates)
    t = _sample(T, points)
    blocks = {"c": (slice(H, None), slice(H, None)), "h": (slice(None, H), slice(None, H))}
    norms = _product_norms(path, T - t, blocks, dtype=np.float32)  # float32 halves the 2H x 2H products' time
    norm_c, clamped_c = _clamp(norms["c"])
    norm_h, clamped_h = _clamp(norms["h"])
    with np.errstate(divide="ignore"):
        log_f = np.log10(gates["f"])  # (T, H)
    tail = np.concatenate([np.cumsum(log_f[::-1], axis=0)[::-1], np.zeros((1, H))])  # (T+1, H): Σ_{k>t} log10 f_k
    reference, clamped_r = _clamp(tail.max(axis=1)[t])
    spec = spectrum(_dense_jacobians(path, T - 1, T)[0])
    mean_f = float(gates["f"].mean())
    sketched = _sketch_step(T, 2 * H)
    regime, explanation = _lstm_story(mean_f, float(norm_c[0]), T, rho)
    return LabResult(
        cell="lstm", t=t, log10_norm=norm_c, log10_reference=reference, reference="cell path alone max_j ∏ f_j",
        singular_values=spec.singular_values, eigenvalues=spec.eigenvalues, spectral_radius=spec.spectral_radius,
        sigma_max=spec.sigma_max, spectrum_of="∂s_T/∂s_{T−1}", regime=regime, explanation=explanation,
        note=_notes(len(t), T, clamped_c or clamped_h or clamped_r, None, sketched), log10_norm_h=norm_h,
        mean_forget=mean_f, sketched_from=sketched)


# --- 4. Pascanu et al.'s cliff ---------------------------------------------------------------------

CLIFF_STEPS, CLIFF_X0, CLIFF_TARGET = 50, 0.5, 0.7
# The wall runs from the cusp near (w, b) = (4, -2) down to (8, -4.5); the low-loss valley b ≈ 0.85 - 0.7 w
# ends at it. Above w ≈ 5 the wall is thinner than a grid cell and shows as a sharp edge.
CLIFF_GRID = {"w": (2.0, 8.0), "b": (-5.0, 1.0)}
# A start on the wall's face (‖∇‖ ≈ 76): the unclipped first step flies ≈ 7.6 to (8.3, 4.3), onto a flat
# plateau (loss 0.09) where descent stalls; clipped to norm 1 it moves 0.1 and reaches loss < 1e-3.
CLIFF_START, CLIFF_LR, CLIFF_CLIP, CLIFF_DESCENT_STEPS = (4.4, -2.242), 0.1, 1.0, 100


def _cliff_forward(w, b) -> np.ndarray:
    """States x_0..x_50 for every (w, b): (51, *broadcast shape)."""
    w, b = np.broadcast_arrays(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
    xs = np.empty((CLIFF_STEPS + 1, *w.shape))
    xs[0] = CLIFF_X0
    for t in range(CLIFF_STEPS):
        xs[t + 1] = w * _sigmoid(xs[t]) + b
    return xs


def cliff_loss(w, b) -> np.ndarray:
    """(σ(x_50) − 0.7)² for x_t = w σ(x_{t−1}) + b, x_0 = 0.5; w and b broadcast (numpy grids)."""
    return (_sigmoid(_cliff_forward(w, b)[-1]) - CLIFF_TARGET) ** 2


def cliff_grad(w, b) -> tuple[np.ndarray, np.ndarray]:
    """Exact (∂L/∂w, ∂L/∂b) by backpropagation through the 50 steps, vectorised over w and b."""
    w = np.asarray(w, dtype=np.float64)
    xs = _cliff_forward(w, b)
    s = _sigmoid(xs)  # (51, ...)
    delta = 2 * (s[-1] - CLIFF_TARGET) * s[-1] * (1 - s[-1])  # ∂L/∂x_50
    dw, db = np.zeros_like(delta), np.zeros_like(delta)
    for t in range(CLIFF_STEPS, 0, -1):  # x_t = w σ(x_{t−1}) + b
        dw += delta * s[t - 1]
        db += delta
        delta = delta * w * s[t - 1] * (1 - s[t - 1])  # ∂L/∂x_{t−1}
    return dw, db


def cliff_surface(n: int = 201) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """w axis (n,), b axis (n,) over CLIFF_GRID and the loss on that grid, (n_b, n_w)."""
    ws, bs = np.linspace(*CLIFF_GRID["w"], n), np.linspace(*CLIFF_GRID["b"], n)
    return ws, bs, cliff_loss(ws[None, :], bs[:, None])


def cliff_descent(w0: float = CLIFF_START[0], b0: float = CLIFF_START[1], lr: float = CLIFF_LR,
                  steps: int = CLIFF_DESCENT_STEPS, clip: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Plain gradient descent on the cliff: path (steps+1, 2) of (w, b) and the loss at each point (steps+1,).
    With clip, a gradient whose norm exceeds clip is rescaled to norm clip, so no step is longer than lr·clip."""
    path = np.empty((steps + 1, 2))
    path[0] = w0, b0
    for k in range(steps):
        g = np.array(cliff_grad(*path[k]))
        norm = np.hypot(*g)
        if clip is not None and norm > clip:
            g *= clip / norm
        path[k + 1] = path[k] - lr * g
    return path, cliff_loss(path[:, 0], path[:, 1])
