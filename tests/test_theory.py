"""Theory: spectra, the lab's step Jacobians against autograd and their products, the gradient lab, Pascanu's cliff."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz.theory import cliff, jacobians, lab

H, T = 4, 6


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# ---- spectra -------------------------------------------------------------------------------------
def test_spectrum_of_a_scaled_rotation_and_a_triangular_matrix():
    a = 0.3
    rotation = 2 * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    spec = jacobians.spectrum(rotation)
    np.testing.assert_allclose(spec.singular_values, [2, 2])
    np.testing.assert_allclose(np.abs(spec.eigenvalues), [2, 2])
    assert spec.spectral_radius == pytest.approx(2) and spec.sigma_max == pytest.approx(2)
    shear = jacobians.spectrum(torch.tensor([[0.5, 10.0], [0.0, -0.25]]))  # eigenvalues on the diagonal, σ_max far above
    np.testing.assert_allclose(shear.eigenvalues, [0.5, -0.25])
    assert shear.spectral_radius == pytest.approx(0.5) and shear.sigma_max > 10
    with pytest.raises(ValueError, match="square"):
        jacobians.spectrum(np.ones((2, 3)))


# ---- step Jacobians and their products, along the lab's trajectories -----------------------------
def lab_trajectory(cell: str, activation: str = "tanh") -> tuple[jacobians.Trajectory, nn.Module, np.ndarray]:
    """A short trajectory of the lab's RNN or LSTM with weights large enough that the Jacobians vary along it
    (saturation, relu switching), the torch.nn cell that computes the same steps, and the drive it reads."""
    rng = np.random.default_rng(1)
    gates = 1 if cell == "rnn" else 4
    w_hh = 3 * rng.standard_normal((gates * H, H)) / math.sqrt(H)
    drive = rng.standard_normal((T, gates * H))
    if cell == "rnn":
        path, _ = lab.rnn_trajectory(w_hh, drive, activation)
        torch_cell = nn.RNNCell(H, H, nonlinearity=activation)
    else:
        path = lab.lstm_trajectory(w_hh, drive)
        torch_cell = nn.LSTMCell(gates * H, H)
    torch_cell = torch_cell.double()
    with torch.no_grad():  # the drive is the cell's input: input weights I, biases 0
        torch_cell.weight_ih.copy_(torch.eye(gates * H, dtype=torch.float64))
        torch_cell.weight_hh.copy_(torch.from_numpy(w_hh))
        torch_cell.bias_ih.zero_()
        torch_cell.bias_hh.zero_()
    return path, torch_cell, drive


def torch_step(torch_cell: nn.Module, drive: np.ndarray, s: torch.Tensor, t: int) -> torch.Tensor:
    """s_t from s_{t-1} = s by the torch.nn cell, s = h or (h, c) stacked."""
    x = torch.from_numpy(drive[t - 1])[None]
    if isinstance(torch_cell, nn.LSTMCell):
        h, c = torch_cell(x, (s[None, :H], s[None, H:]))
        return torch.cat([h[0], c[0]])
    return torch_cell(x, s[None])[0]


def states(path: jacobians.Trajectory) -> np.ndarray:
    """(T+1, S): s_0..s_T of a trajectory."""
    return path.h if path.c is None else np.concatenate([path.h, path.c], axis=1)


@pytest.mark.parametrize("cell,activation", [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh")])
def test_the_labs_step_jacobians_match_autograd_through_torchs_cells(cell, activation):
    path, torch_cell, drive = lab_trajectory(cell, activation)
    s = torch.from_numpy(states(path))
    want = []
    for t in range(1, T + 1):
        # the lab's forward step is PyTorch's
        torch.testing.assert_close(torch_step(torch_cell, drive, s[t - 1], t), s[t], rtol=1e-12, atol=1e-12)
        step = lambda v, t=t: torch_step(torch_cell, drive, v, t)  # noqa: E731
        want.append(torch.autograd.functional.jacobian(step, s[t - 1]).numpy())
    got = jacobians.dense_jacobians(path, 0, T)
    S = 2 * H if cell == "lstm" else H
    assert got.shape == (T, S, S)
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-9, atol=1e-12)
    assert np.abs(np.diff(got, axis=0)).max() > 1e-3  # the Jacobians really change along the trajectory


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_product_norms_are_the_norms_of_the_products_of_the_step_jacobians(cell):
    path, _, _ = lab_trajectory(cell)
    steps = jacobians.dense_jacobians(path, 0, T)
    blocks = ({"h": (slice(None), slice(None))} if cell == "rnn" else
              {"c": (slice(H, None), slice(H, None)), "h": (slice(None, H), slice(None, H))})
    ks = np.arange(T, -1, -1)  # as the labs ask: k = T − t for t = 0..T
    exact = jacobians.product_norms(path, ks, blocks)
    single = jacobians.product_norms(path, ks, blocks, dtype=np.float32)  # the LSTM lab's precision
    products = [np.eye(steps.shape[1])]
    for k in range(1, T + 1):
        products.append(products[-1] @ steps[T - k])  # ∂s_T/∂s_{T−k} = J_T J_{T-1} ... J_{T-k+1}
    for name, (rows, cols) in blocks.items():
        want = [math.log10(np.linalg.norm(products[k][rows, cols], 2)) for k in ks]
        np.testing.assert_allclose(exact[name], want, atol=1e-9)
        np.testing.assert_allclose(single[name], want, atol=1e-5)


# ---- the gradient lab ----------------------------------------------------------------------------
@pytest.mark.parametrize("rho,regime", [(0.9, "vanishing"), (1.0, "edge"), (1.1, "exploding")])
def test_a_linear_rnn_with_orthogonal_w_hh_times_rho_has_gradient_norms_rho_to_the_t(rho, regime):
    T_lab = 40
    result = lab.lab_rnn(hidden=8, seq_len=T_lab, rho=rho, activation="identity", init="orthogonal", points=None)
    assert result.t.tolist() == list(range(T_lab + 1))
    np.testing.assert_allclose(result.log10_norm, (T_lab - result.t) * math.log10(rho), atol=1e-9)  # exactly rho^(T-t)
    np.testing.assert_allclose(result.log10_reference, result.log10_norm, atol=1e-9)  # the bound is tight here
    np.testing.assert_allclose(result.singular_values, rho, rtol=1e-12)
    assert result.spectral_radius == pytest.approx(rho) and result.gamma == 1.0
    assert result.regime == regime and result.bound_decides == (rho < 1)  # λ₁γ = ρ here
    assert result.notes == {}  # every t, nothing clamped


def test_tanh_rnn_stays_under_its_bound_and_sampling_keeps_both_ends():
    result = lab.lab_rnn(hidden=16, seq_len=300, rho=1.5, activation="tanh", points=50)
    assert result.t[0] == 0 and result.t[-1] == 300 and len(result.t) == 50
    assert (result.log10_norm <= result.log10_reference + 1e-9).all()
    assert result.notes == {"sampled": {"n": 50, "total": 301}}
    assert result.regime == "vanishing" and not result.bound_decides  # λ₁γ = 1.5, yet saturation shrinks it
    sigmoid_lab = lab.lab_rnn(hidden=8, seq_len=20, rho=2.0, activation="sigmoid", points=None)
    assert sigmoid_lab.gamma == 0.25 and sigmoid_lab.regime == "vanishing" and sigmoid_lab.bound_decides  # 2 · 1/4 < 1


def test_lstm_lab_forget_bias_opens_the_cell_path():
    open_ = lab.lab_lstm(hidden=8, seq_len=60, forget_bias=8.0, rho=0.5, points=None)
    shut = lab.lab_lstm(hidden=8, seq_len=60, forget_bias=-4.0, rho=0.5, points=None)
    assert open_.mean_forget > 0.99 and open_.regime == "edge"
    assert shut.mean_forget < 0.1 and shut.regime == "vanishing"
    assert open_.log10_norm[-1] == pytest.approx(0, abs=1e-6)  # ∂c_T/∂c_T = I
    assert (open_.log10_norm >= open_.log10_reference - 1).all() and open_.log10_norm_h.shape == open_.t.shape
    assert open_.log10_carousel == pytest.approx(60 * math.log10(open_.mean_forget))  # f̄^T
    long_shut = lab.lab_lstm(hidden=8, seq_len=1000, forget_bias=-4.0, rho=0.5)
    assert long_shut.log10_carousel == jacobians.LOG10_FLOOR  # f̄^1000 ≈ 10^-1500, floored like the curves
    assert set(long_shut.notes) == {"sampled", "clamped"}


# ---- Pascanu's cliff -----------------------------------------------------------------------------
def test_cliff_loss_at_hand_computed_points():
    # w = 0: x_t = b for every t >= 1, so the loss is (σ(b) - 0.7)²
    assert cliff.loss(0.0, 0.3) == pytest.approx((sigmoid(0.3) - 0.7) ** 2, rel=1e-12)
    # w = 2, b = -1: x -> 2σ(x) - 1 = tanh(x / 2) contracts to its fixed point 0 (slope 1/2), so σ(x_50) = 1/2
    assert cliff.loss(2.0, -1.0) == pytest.approx((0.5 - 0.7) ** 2, rel=1e-12)
    # one unrolled step by hand for a general point, compared over 50 steps with a plain loop
    w, b, x = 5.0, -2.5, 0.5
    for _ in range(50):
        x = w * sigmoid(x) + b
    assert cliff.loss(w, b) == pytest.approx((sigmoid(x) - 0.7) ** 2, rel=1e-12)
    grid = cliff.loss(np.array([[0.0], [2.0]]), np.array([0.3, -1.0]))  # broadcasting
    assert grid.shape == (2, 2)


def test_cliff_gradient_matches_autograd_and_the_surface_has_a_wall():
    for w0, b0 in [(4.4, -2.242), (2.0, -1.0), (7.0, -3.5)]:
        w, b = torch.tensor(w0, dtype=torch.float64, requires_grad=True), torch.tensor(b0, dtype=torch.float64, requires_grad=True)
        x = torch.tensor(0.5, dtype=torch.float64)
        for _ in range(50):
            x = w * torch.sigmoid(x) + b
        loss = (torch.sigmoid(x) - 0.7) ** 2
        dw, db = torch.autograd.grad(loss, (w, b))
        got = cliff.gradient(w0, b0)
        assert got[0] == pytest.approx(dw.item(), rel=1e-9, abs=1e-15) and got[1] == pytest.approx(db.item(), rel=1e-9, abs=1e-15)
    scene = cliff.scene(*cliff.START, cliff.LR, cliff.DESCENT_STEPS, cliff.CLIP)  # what the lab draws
    assert scene["surface"].shape == (len(scene["bs"]), len(scene["ws"]))
    assert np.abs(np.diff(scene["surface"], axis=0)).max() > 0.2  # a jump of ~0.3 between neighbouring b: the cliff


def test_clipping_bounds_every_step_on_the_cliff():
    clipped, _ = cliff.descent(clip=1.0, steps=20)
    assert (np.linalg.norm(np.diff(clipped, axis=0), axis=1) <= cliff.LR * 1.0 + 1e-12).all()
    unclipped, _ = cliff.descent(steps=1)
    assert np.linalg.norm(unclipped[1] - unclipped[0]) > 10 * cliff.LR  # the wall throws the point far away


@pytest.mark.parametrize("run,setting", [
    (lab.lab_rnn, dict(hidden=128, seq_len=100, rho=1.0)),  # near the edge: the top singular values crowd together
    (lab.lab_rnn, dict(hidden=128, seq_len=60, rho=1.5, activation="relu", init="gaussian")),
    (lab.lab_lstm, dict(hidden=64, seq_len=60, rho=0.5))])
def test_the_labs_power_iteration_tolerance_moves_the_plotted_norms_by_under_a_thousandth_of_a_decade(
        monkeypatch, run, setting):
    """POWER_TOL was 1e-9: loosened for speed, on blocks large enough for power iteration (S = 128 > GRAM_MAX)."""
    def norms():
        result = run(points=30, **setting)
        return np.concatenate([result.log10_norm, [] if result.log10_norm_h is None else result.log10_norm_h])
    got = norms()
    monkeypatch.setattr(jacobians, "POWER_TOL", 1e-9)
    np.testing.assert_allclose(got, norms(), atol=1e-3)


@pytest.mark.parametrize("setting", [dict(seq_len=100, rho=1.0), dict(seq_len=300, rho=10.0, activation="identity"),
                                     dict(seq_len=200, rho=0.5, activation="relu", init="gaussian")])
def test_the_rnn_labs_float32_walk_moves_the_plotted_norms_by_under_a_thousandth_of_a_decade(monkeypatch, setting):
    """From H = FLOAT32_FROM the RNN's walk is float32 (as the LSTM's): against the same walk in float64."""
    hidden = lab.FLOAT32_FROM
    got = lab.lab_rnn(hidden=hidden, points=30, **setting)
    monkeypatch.setattr(lab, "FLOAT32_FROM", 10**6)
    want = lab.lab_rnn(hidden=hidden, points=30, **setting)
    np.testing.assert_allclose(got.log10_norm, want.log10_norm, atol=1e-3)
    assert got.regime == want.regime and got.notes == want.notes


def test_the_labs_cached_draws_are_one_stream_from_the_seed():
    """W_hh, then x, then W_ih, as when lab_rnn and lab_lstm drew everything in one go; cached arrays are read-only."""
    rng = np.random.default_rng(3)
    q, r = np.linalg.qr(rng.standard_normal((16, 16)))
    x = rng.standard_normal((30, 16))
    w_ih = rng.standard_normal((16, 16)) / 4
    w_hh = lab._rnn_weights(3, 16, "orthogonal")[0]
    np.testing.assert_array_equal(w_hh, q * np.sign(np.diag(r)))
    np.testing.assert_array_equal(lab._rnn_drive(3, 16, "orthogonal", 30), x @ w_ih.T)
    rng = np.random.default_rng(3)
    blocks = [lab._orthogonal(rng, 8) for _ in range(4)]
    x = rng.standard_normal((20, 8))
    w_ih = rng.standard_normal((32, 8)) / np.sqrt(8)
    np.testing.assert_array_equal(lab._lstm_weights(3, 8)[0], np.concatenate(blocks))
    np.testing.assert_array_equal(lab._lstm_drive(3, 8, 20), x @ w_ih.T)
    assert not (w_hh.flags.writeable or lab._lstm_drive(3, 8, 20).flags.writeable)
