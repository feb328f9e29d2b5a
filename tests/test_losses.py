"""Losses: values against numpy closed forms written here (and PyTorch's where installed), gradients
against central differences in both modes and at second order, stability at logits of ±1000, and
clear errors for bad input."""
import importlib.util

import numpy as np
import pytest

import tinygrad_mat as tm
from tinygrad_mat.nn import functional as F

from helpers import assert_close, central_jacobian

rng = np.random.default_rng(7)
N, C = 6, 4
X = rng.standard_normal((N, C)) * 2
Z = rng.standard_normal((N, C))
Y = rng.integers(0, C, N)
P = rng.dirichlet(np.ones(C), N)
T01 = rng.uniform(0.05, 0.95, (N, C))
W = rng.uniform(0.5, 2.0, C)
SW = rng.uniform(0.5, 2.0, N)


def log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def softplus(x):
    return np.logaddexp(0.0, x)


# name: (our loss of x, numpy closed form of x)
LOSSES = {
    "mse": (lambda x: F.mse_loss(x, Z), lambda x: ((x - Z) ** 2).mean()),
    "mse-weight": (lambda x: F.mse_loss(x, Z, weight=T01), lambda x: (T01 * (x - Z) ** 2).sum() / T01.sum()),
    "l1-sum": (lambda x: F.l1_loss(x, Z, reduction="sum"), lambda x: np.abs(x - Z).sum()),
    "huber": (lambda x: F.huber_loss(x, Z, delta=0.5),
              lambda x: np.where(np.abs(x - Z) < 0.5, 0.5 * (x - Z) ** 2, 0.5 * (np.abs(x - Z) - 0.25)).mean()),
    "bce-logits": (lambda x: F.binary_cross_entropy_with_logits(x, T01, pos_weight=W),
                   lambda x: (W * T01 * softplus(-x) + (1 - T01) * softplus(x)).mean()),
    "bce": (lambda x: F.binary_cross_entropy(F.sigmoid(x), T01, weight=W),
            lambda x: -(W * (T01 * np.log(1 / (1 + np.exp(-x))) + (1 - T01) * np.log(1 - 1 / (1 + np.exp(-x))))).mean()),
    "cross-entropy": (lambda x: F.cross_entropy(x, Y), lambda x: -log_softmax(x)[np.arange(N), Y].mean()),
    "cross-entropy-weight-smoothing": (
        lambda x: F.cross_entropy(x, Y, weight=W, label_smoothing=0.1),
        lambda x: (0.9 * (-(W[Y] * log_softmax(x)[np.arange(N), Y])).sum()
                   + 0.1 / C * (-(log_softmax(x) * W).sum())) / W[Y].sum()),
    "cross-entropy-probabilities": (lambda x: F.cross_entropy(x, P), lambda x: -(P * log_softmax(x)).sum(1).mean()),
    "cross-entropy-sample-weight": (lambda x: F.cross_entropy(x, Y, sample_weight=SW),
                                    lambda x: -(SW * log_softmax(x)[np.arange(N), Y]).sum() / SW.sum()),
    "nll": (lambda x: F.nll_loss(F.log_softmax(x, 1), Y, weight=W, reduction="sum"),
            lambda x: -(W[Y] * log_softmax(x)[np.arange(N), Y]).sum()),
    "multi-margin": (lambda x: F.multi_margin_loss(x, Y, margin=0.5),
                     lambda x: (np.maximum(0, 0.5 - x[np.arange(N), Y][:, None] + x) * (np.arange(C) != Y[:, None])).sum(1).mean() / C),
    "multi-margin-squared": (lambda x: F.multi_margin_loss(x, Y, p=2, weight=W, reduction="sum"),
                             lambda x: (W[Y][:, None] * np.maximum(0, 1 - x[np.arange(N), Y][:, None] + x) ** 2
                                        * (np.arange(C) != Y[:, None])).sum() / C),
}
KINKED = {"l1-sum", "huber", "multi-margin", "multi-margin-squared"}


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_values_match_the_closed_form(name):
    ours, closed = LOSSES[name]
    assert_close(ours(X), closed(X), rtol=1e-12, what=name)


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_gradients_in_both_modes_and_second_order(name):
    ours, closed = LOSSES[name]
    expected = central_jacobian(closed, [X]).reshape(N, C)
    assert_close(tm.grad(lambda x: ours(x))(X), expected, rtol=1e-6, atol=1e-7, what=name)
    v = rng.standard_normal((N, C))
    assert_close(tm.jvp(ours, (X,), (v,))[1], float((expected * v).sum()), rtol=1e-6, atol=1e-7, what=name)
    if name not in KINKED:
        hessian = tm.hessian(ours)(X).reshape(N * C, N * C)
        numeric = central_jacobian(lambda x: tm.grad(ours)(x.reshape(N, C)).reshape(-1), [X.reshape(-1)], h=1e-5)
        assert_close(hessian, numeric, rtol=1e-5, atol=1e-6, what=name)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_reductions_and_shapes(reduction):
    out = F.cross_entropy(X, Y, reduction=reduction)
    assert out.shape == {"none": (N,), "sum": (), "mean": ()}[reduction]
    assert isinstance(F.mse_loss(X, Z, reduction=reduction), tm.Tensor)
    per_sample = -log_softmax(X)[np.arange(N), Y]
    assert_close(out, {"none": per_sample, "sum": per_sample.sum(), "mean": per_sample.mean()}[reduction])


def test_stable_at_logits_of_a_thousand():
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    labels = np.array([1, 2])
    loss = F.cross_entropy(logits, labels)
    assert np.isfinite(loss.item())
    assert loss.item() == pytest.approx((2000.0 + (1000.0 + np.log1p(np.exp(-1.0)) - 999.0)) / 2, rel=1e-12)
    g = tm.grad(lambda x: F.cross_entropy(x, labels))(logits)
    softmax = np.exp(log_softmax(logits))
    assert_close(g, (softmax - np.eye(3)[labels]) / 2, rtol=1e-12, atol=1e-15)
    z = np.array([1000.0, -1000.0, 0.0])
    y = np.array([0.0, 1.0, 1.0])
    assert_close(F.binary_cross_entropy_with_logits(z, y, reduction="none"), [1000.0, 1000.0, np.log(2.0)], rtol=1e-12)
    assert_close(tm.grad(lambda z: F.binary_cross_entropy_with_logits(z, y, reduction="sum"))(z),
                 0.5 * (1 + np.tanh(z / 2)) - y, rtol=1e-12, atol=1e-300)


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="cross_entropy: class label 4 is out of range for 4 classes"):
        F.cross_entropy(X, np.array([0, 1, 2, 3, 4, 0]))
    with pytest.raises(ValueError, match="class labels must be integers"):
        F.cross_entropy(X, Y + 0.5)
    with pytest.raises(tm.ShapeError, match="cross_entropy: target has shape"):
        F.cross_entropy(X, Y[:3])
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
        F.mse_loss(X, Z, reduction="avg")
    with pytest.raises(tm.ShapeError, match=r"mse_loss: input has shape \(6, 4\), target \(6, 3\)"):
        F.mse_loss(X, Z[:, :3])
    with pytest.raises(ValueError, match="binary_cross_entropy: input must be probabilities"):
        F.binary_cross_entropy(X, T01)
    with pytest.raises(tm.ShapeError, match="sample_weight has shape"):
        F.mse_loss(X, Z, sample_weight=np.ones(3))
    assert_close(F.cross_entropy(X, Y.astype(float)), F.cross_entropy(X, Y))  # integer-valued floats


# PyTorch is an optional oracle (several hundred MB, never in the test extra); the closed forms above run everywhere.
@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="PyTorch is an optional oracle (pip install torch==2.13.0); the closed forms above stand")
def test_values_equal_pytorchs():
    import torch
    import torch.nn.functional as TF

    t = torch.tensor
    yi = Y.copy()
    yi[1] = -100
    cases = [
        (F.mse_loss(X, Z, weight=T01), TF.mse_loss(t(X), t(Z), weight=t(T01))),
        (F.l1_loss(X, Z, reduction="none"), TF.l1_loss(t(X), t(Z), reduction="none")),
        (F.huber_loss(X, Z, delta=0.7, weight=T01), TF.huber_loss(t(X), t(Z), delta=0.7, weight=t(T01))),
        (F.binary_cross_entropy_with_logits(X * 300, T01, weight=W, pos_weight=W),
         TF.binary_cross_entropy_with_logits(t(X * 300), t(T01), weight=t(W), pos_weight=t(W))),
        (F.binary_cross_entropy(T01, (Z > 0) * 1.0, weight=W), TF.binary_cross_entropy(t(T01), t((Z > 0) * 1.0), weight=t(W))),
        (F.cross_entropy(X * 300, yi, weight=W, label_smoothing=0.2),
         TF.cross_entropy(t(X * 300), t(yi), weight=t(W), label_smoothing=0.2)),
        (F.cross_entropy(X, P, weight=W, label_smoothing=0.1, reduction="sum"),
         TF.cross_entropy(t(X), t(P), weight=t(W), label_smoothing=0.1, reduction="sum")),
        (F.nll_loss(X, Y, weight=W), TF.nll_loss(t(X), t(Y), weight=t(W))),
        (F.multi_margin_loss(X, Y, p=2, margin=0.8, weight=W), TF.multi_margin_loss(t(X), t(Y), p=2, margin=0.8, weight=t(W))),
    ]
    x3, y3 = rng.standard_normal((2, 3, 5)), rng.integers(0, 3, (2, 5))
    cases.append((F.cross_entropy(x3, y3, weight=W[:3], label_smoothing=0.1),
                  TF.cross_entropy(t(x3), t(y3), weight=t(W[:3]), label_smoothing=0.1)))
    for ours, theirs in cases:
        assert_close(ours, theirs.numpy(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- the fused least-squares loss


@pytest.mark.parametrize("n, d, k, bias", [(50, 3, None, True), (40, 4, 3, True), (2000, 40, None, False),
                                           (3000, 20, 4, True), (30, 2, 1, False)],
                         ids=["vector", "columns", "kernel-rows-in-parallel", "blas-blocks", "one-column-matrix"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_linear_mse_loss_equals_the_closed_form_in_value_and_gradient(n, d, k, bias, reduction):
    rng = np.random.default_rng(n + d)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d,) if k is None else (d, k))
    b = rng.standard_normal(() if k is None else (k,)) if bias else None
    Y = rng.standard_normal((n,) if k is None else (n, k))
    w = tm.tensor(W, requires_grad=True)
    bt = tm.tensor(b, requires_grad=True) if bias else None
    loss = F.linear_mse_loss(X, w, bt, Y, reduction=reduction)
    loss.backward()
    r = X @ W + (b if bias else 0.0) - Y
    scale = 1.0 / r.size if reduction == "mean" else 1.0
    assert_close(loss.item(), scale * np.sum(r * r), rtol=1e-12, atol=0, what="loss")
    assert_close(w.grad.numpy(), 2 * scale * X.T @ r, rtol=1e-11, atol=1e-12, what="∂L/∂W = 2s Xᵀ(XW + b − Y)")
    if bias:
        assert_close(bt.grad.numpy(), 2 * scale * r.sum(axis=0), rtol=1e-11, atol=1e-12, what="∂L/∂b")


def test_linear_mse_loss_in_x_and_y_second_order_and_forward_mode():
    rng = np.random.default_rng(3)
    X, Y, W = rng.standard_normal((12, 3)), rng.standard_normal((12, 2)), rng.standard_normal((3, 2))
    f = lambda X, W, Y: F.linear_mse_loss(X, W, 0.3, Y)
    numeric = central_jacobian(lambda X, W, Y: np.mean((X @ W + 0.3 - Y) ** 2), [X, W, Y])
    grads = tm.grad(f, argnums=(0, 1, 2))(X, W, Y)
    assert_close(np.concatenate([g.reshape(-1) for g in grads]), numeric.reshape(-1), rtol=1e-6, atol=1e-8, what="grad")
    H = tm.hessian(lambda w: f(X, w, Y))(W).reshape(6, 6)
    assert_close(H, np.kron(2 * X.T @ X / Y.size, np.eye(2)), rtol=1e-12, atol=1e-12, what="hessian 2XᵀX/N ⊗ I")
    V = rng.standard_normal(X.shape)
    tangent = tm.jvp(lambda X: f(X, W, Y), (X,), (V,))[1]
    assert_close(tangent, np.sum(numeric.reshape(-1)[: X.size] * V.reshape(-1)), rtol=1e-6, atol=1e-8, what="jvp in X")


def test_linear_mse_loss_refuses_shapes_that_do_not_fit():
    X = np.ones((5, 3))
    with pytest.raises(tm.ShapeError, match=r"linear_mse_loss: W must be \(3,\) or \(3, k\)"):
        F.linear_mse_loss(X, np.ones(4), None, np.ones(5))
    with pytest.raises(tm.ShapeError, match=r"linear_mse_loss: Y has shape \(4,\), but X @ W has shape \(5,\)"):
        F.linear_mse_loss(X, np.ones(3), None, np.ones(4))
    with pytest.raises(tm.ShapeError, match=r"linear_mse_loss: b must be a scalar or of shape \(2,\)"):
        F.linear_mse_loss(X, np.ones((3, 2)), np.ones(3), np.ones((5, 2)))
    with pytest.raises(ValueError, match="linear_mse_loss"):
        F.linear_mse_loss(X, np.ones(3), None, np.ones(5), reduction="max")
