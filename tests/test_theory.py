"""Theory: spectra, step Jacobians against autograd, Jacobian products, the gradient lab and Pascanu's cliff."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz.theory import cliff, jacobians, lab
from rnnviz.config import ModelConfig
from rnnviz.models import make_model
from rnnviz.tasks.base import IOSpec

F, H, T = 3, 4, 6


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


def test_recurrent_matrices_name_every_layer_and_gate_block():
    model = make_model(ModelConfig(cell="lstm", hidden=H, layers=2), IOSpec(9, True, 8, "seq2seq"), seed=0)
    mats = jacobians.recurrent_matrices(model)
    assert set(mats) == {"0", "1", "dec.0", "dec.1"}
    assert set(mats["1"]) == {"W_hh", "i", "f", "g", "o"}
    w = model.decoder.weight_hh_l1.detach().double().numpy()
    np.testing.assert_array_equal(mats["dec.1"]["W_hh"], w)
    np.testing.assert_array_equal(mats["dec.1"]["g"], w[2 * H:3 * H])


# ---- step Jacobians against autograd -------------------------------------------------------------
def fused_stack(cell: str, nonlinearity: str = "tanh", layers: int = 1) -> nn.Module:
    torch.manual_seed(0)
    if cell == "rnn":
        stack = nn.RNN(F, H, layers, nonlinearity=nonlinearity, batch_first=True)
    else:
        stack = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](F, H, layers, batch_first=True)
    with torch.no_grad():
        for p in stack.parameters():
            p.mul_(3)  # larger weights: saturation and relu switching make the Jacobians vary along the path
    return stack


def autograd_step_jacobians(stack: nn.Module, x: torch.Tensor, layer: int) -> np.ndarray:
    """(T, S, S) by torch.autograd.functional.jacobian of one torch.nn step, s = h or (h, c), float64."""
    stack = stack.double()
    lstm = isinstance(stack, nn.LSTM)
    one = type(stack)(stack.input_size if layer == 0 else H, H, 1, batch_first=True,
                      **({"nonlinearity": stack.nonlinearity} if isinstance(stack, nn.RNN) else {})).double()
    one.load_state_dict({k.replace(f"_l{layer}", "_l0"): v for k, v in stack.state_dict().items() if k.endswith(f"_l{layer}")})
    inputs = x.double()
    for below in range(layer):  # the layer's inputs: the outputs of the layers below
        lower = type(one)(inputs.shape[-1], H, 1, batch_first=True,
                          **({"nonlinearity": stack.nonlinearity} if isinstance(stack, nn.RNN) else {})).double()
        lower.load_state_dict({k.replace(f"_l{below}", "_l0"): v for k, v in stack.state_dict().items() if k.endswith(f"_l{below}")})
        inputs = lower(inputs)[0]

    def step(s, t):
        hx = (s[:H].view(1, 1, H), s[H:].view(1, 1, H)) if lstm else s.view(1, 1, H)
        _, state = one(inputs[:, t:t + 1], hx)
        return torch.cat([state[0].flatten(), state[1].flatten()]) if lstm else state.flatten()

    s = torch.zeros(2 * H if lstm else H, dtype=torch.float64)
    jacobians = []
    for t in range(x.shape[1]):
        jacobians.append(torch.autograd.functional.jacobian(lambda v: step(v, t), s).numpy())
        s = step(s, t).detach()
    return np.stack(jacobians)


@pytest.mark.parametrize("layer", [0, 1])
@pytest.mark.parametrize("cell,nonlinearity", [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")])
def test_step_jacobians_match_autograd(cell, nonlinearity, layer):
    stack = fused_stack(cell, nonlinearity, layers=2)
    x = torch.randn(2, T, F, generator=torch.Generator().manual_seed(1))
    got = jacobians.step_jacobians(stack, x, example=1, layer=layer)
    want = autograd_step_jacobians(stack, x[1:2], layer)
    S = 2 * H if cell == "lstm" else H
    assert got.shape == (T, S, S)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert np.abs(np.diff(got, axis=0)).max() > 1e-3  # the Jacobians really change along the trajectory


def test_step_jacobians_of_a_token_model_read_through_the_embedding():
    model = make_model(ModelConfig(cell="gru", hidden=H, embed_dim=F), IOSpec(5, True, 5, "per_step"), seed=0)
    ids = torch.tensor([[1, 4, 0, 2, 3, 3]])
    got = jacobians.step_jacobians(model, ids)
    with torch.no_grad():
        want = autograd_step_jacobians(model.rnn, model.embed(ids), 0)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_jacobian_norms_are_the_norms_of_the_products(cell):
    stack = fused_stack(cell)
    x = torch.randn(1, T, F, generator=torch.Generator().manual_seed(2))
    steps = jacobians.step_jacobians(stack, x)
    result = jacobians.jacobian_norms(stack, x)
    assert result.k.tolist() == list(range(1, T + 1))
    product = np.eye(steps.shape[1])
    for k in range(1, T + 1):
        product = product @ steps[T - k]  # J_T J_{T-1} ... J_{T-k+1}
        assert result.log10_norm[k - 1] == pytest.approx(math.log10(np.linalg.norm(product, 2)), abs=1e-9)
    if cell == "rnn":  # Pascanu's bound (σ_max γ)^k holds and is the one stated
        sigma = np.linalg.norm(stack.weight_hh_l0.detach().double().numpy(), 2)
        np.testing.assert_allclose(result.log10_bound, result.k * math.log10(sigma), rtol=1e-12)
        assert (result.log10_norm <= result.log10_bound + 1e-9).all()
    else:
        assert result.log10_bound is None and result.state == ("(h, c)" if cell == "lstm" else "h")


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
    assert result.regime == regime


def test_tanh_rnn_stays_under_its_bound_and_sampling_keeps_both_ends():
    result = lab.lab_rnn(hidden=16, seq_len=300, rho=1.5, activation="tanh", points=50)
    assert result.t[0] == 0 and result.t[-1] == 300 and len(result.t) == 50
    assert (result.log10_norm <= result.log10_reference + 1e-9).all()
    assert "evenly spaced" in result.note
    sigmoid_lab = lab.lab_rnn(hidden=8, seq_len=20, rho=2.0, activation="sigmoid", points=None)
    assert sigmoid_lab.gamma == 0.25 and sigmoid_lab.regime == "vanishing"  # 2 * 1/4 < 1


def test_lstm_lab_forget_bias_opens_the_cell_path():
    open_ = lab.lab_lstm(hidden=8, seq_len=60, forget_bias=8.0, rho=0.5, points=None)
    shut = lab.lab_lstm(hidden=8, seq_len=60, forget_bias=-4.0, rho=0.5, points=None)
    assert open_.mean_forget > 0.99 and open_.regime == "edge"
    assert shut.mean_forget < 0.1 and shut.regime == "vanishing"
    assert open_.log10_norm[-1] == pytest.approx(0, abs=1e-6)  # ∂c_T/∂c_T = I
    assert (open_.log10_norm >= open_.log10_reference - 1).all() and open_.log10_norm_h.shape == open_.t.shape


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
    ws, bs, surface = cliff.surface(n=41)
    assert surface.shape == (41, 41) and ws[0] == 2 and bs[-1] == 1
    assert np.abs(np.diff(surface, axis=0)).max() > 0.2  # a jump of ~0.3 between neighbouring b: the cliff


def test_clipping_bounds_every_step_on_the_cliff():
    clipped, _ = cliff.descent(clip=1.0, steps=20)
    assert (np.linalg.norm(np.diff(clipped, axis=0), axis=1) <= cliff.LR * 1.0 + 1e-12).all()
    unclipped, _ = cliff.descent(steps=1)
    assert np.linalg.norm(unclipped[1] - unclipped[0]) > 10 * cliff.LR  # the wall throws the point far away
