"""Decompositions and matrix functions against closed forms written here, and reconstructions
differentiated through (the factors' derivatives must recombine into the identity map)."""
import math

import numpy as np
import pytest

import tinygrad_mat as tm

from helpers import assert_close

rng = np.random.default_rng(2024)


def spd(n, batch=()):
    a = rng.standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def symmetric(v):
    return 0.5 * (v + np.swapaxes(v, -1, -2))


def onto_lower(g):
    """The gradient of a function that reads only A's lower triangle (numpy's cholesky and eigh), from
    the symmetric gradient g: gᵢⱼ + gⱼᵢ below the diagonal, gᵢᵢ on it, 0 above."""
    return np.tril(g + np.swapaxes(g, -1, -2), -1) + g * np.eye(g.shape[-1])


def test_logdet_through_cholesky_has_gradient_inverse_and_tangent_trace():
    """d log det A = tr(A⁻¹ dA): gradient A⁻¹, tangent tr(A⁻¹ V) (The Matrix Cookbook, eq. 57)."""
    A = spd(4, (2,))
    V = symmetric(rng.standard_normal((2, 4, 4)))
    assert_close(tm.logdet(A), np.log(np.linalg.det(A)), rtol=1e-12)
    assert_close(tm.grad(lambda a: tm.logdet(a).sum())(A), np.linalg.inv(A), rtol=1e-10)
    assert_close(tm.jvp(tm.logdet, (A,), (V,))[1], np.trace(np.linalg.solve(A, V), axis1=-2, axis2=-1), rtol=1e-10)
    # second order: d² log det = −tr(A⁻¹ V A⁻¹ V)
    inv = np.linalg.inv(A[0])
    assert_close(tm.hvp(tm.logdet, A[0], V[0]), -inv @ V[0] @ inv, rtol=1e-9)


def test_eigenvalue_derivative_is_v_transpose_da_v():
    """dλᵢ = vᵢᵀ dA vᵢ for a symmetric A with distinct eigenvalues (The Matrix Cookbook, eq. 67)."""
    A = symmetric(rng.standard_normal((4, 4)))
    dA = symmetric(rng.standard_normal((4, 4)))
    w, V = np.linalg.eigh(A)
    expected = np.einsum("ji,jk,ki->i", V, dA, V)
    assert_close(tm.jvp(lambda a: tm.eigh(a)[0], (A,), (dA,))[1], expected, rtol=1e-10)
    assert_close(tm.jvp(tm.eigvalsh, (A,), (dA,))[1], expected, rtol=1e-10)
    for i in range(4):
        assert_close(tm.grad(lambda a: tm.eigvalsh(a)[i])(A), onto_lower(np.outer(V[:, i], V[:, i])), rtol=1e-10)


def test_only_eigenvalues_used_is_finite_at_repeated_eigenvalues():
    A = np.diag([1.0, 1.0, 3.0])  # a repeated eigenvalue: eigenvectors not unique, eigenvalues fine
    for g in (tm.grad(lambda a: tm.eigh(a)[0].sum())(A), tm.grad(lambda a: tm.eigvalsh(a).sum())(A)):
        assert np.isfinite(g).all()
        assert_close(g, np.eye(3), rtol=1e-12)  # d tr(A) = tr(dA)


def test_reconstructions_differentiated_through_are_the_identity_map():
    """A → factors → A again: the composite's derivative must be the identity, whatever the rules."""
    W = rng.standard_normal((5, 3))
    A = rng.standard_normal((5, 3))
    recon = {
        "svd": lambda a: (lambda u, s, vh: (u * s[None, :]) @ vh)(*tm.svd(a, full_matrices=False)),
        "qr": lambda a: (lambda q, r: q @ r)(*tm.qr(a)),
    }
    for name, f in recon.items():
        assert_close(tm.grad(lambda a: (f(a) * W).sum())(A), W, rtol=1e-9, atol=1e-10, what=name)
        assert_close(tm.jvp(f, (A,), (W,))[1], W, rtol=1e-9, atol=1e-10, what=name)
    S = spd(4)
    Ws = rng.standard_normal((4, 4))
    chol = lambda a: (lambda L: L @ L.mT)(tm.cholesky(a))
    assert_close(tm.grad(lambda a: (chol(a) * Ws).sum())(S), onto_lower(symmetric(Ws)), rtol=1e-9, what="cholesky")
    eig = lambda a: (lambda w, v: (v * w[None, :]) @ v.mT)(*tm.eigh(a))
    assert_close(tm.grad(lambda a: (eig(a) * Ws).sum())(symmetric(Ws) + 3 * np.diag([1.0, 2, 3, 4])),
                 onto_lower(symmetric(Ws)), rtol=1e-8, what="eigh")


def test_singular_value_gradient_is_u_v_transpose():
    """ds_i = u_iᵀ dA v_i: the gradient of s_i is u_i v_iᵀ (Townsend 2016)."""
    A = rng.standard_normal((4, 3))
    U, s, Vh = np.linalg.svd(A, full_matrices=False)
    for i in range(3):
        assert_close(tm.grad(lambda a: tm.svdvals(a)[i])(A), np.outer(U[:, i], Vh[i]), rtol=1e-10)
    assert_close(tm.grad(lambda a: tm.norm(a, "nuc"))(A), U @ Vh, rtol=1e-10)
    assert_close(tm.grad(lambda a: tm.norm(a, 2))(A), np.outer(U[:, 0], Vh[0]), rtol=1e-10)


def test_expm_against_its_series_and_the_commuting_case():
    A = 0.3 * rng.standard_normal((3, 3))
    series = sum(np.linalg.matrix_power(A, k) / math.factorial(k) for k in range(30))
    assert_close(tm.expm(A), series, rtol=1e-12)
    assert_close(tm.expm(np.diag([1.0, -2.0])), np.diag(np.exp([1.0, -2.0])), rtol=1e-13)
    # for a direction that commutes with A, d e^A = e^A dA
    D = np.diag([0.5, -1.0, 2.0])
    assert_close(tm.jvp(tm.expm, (D,), (np.diag([1.0, 2.0, 3.0]),))[1], np.diag(np.exp([0.5, -1, 2]) * [1, 2, 3]),
                 rtol=1e-11)
    # large norm: scaling and squaring
    big = np.array([[0.0, 6.0], [-6.0, 0.0]])
    assert_close(tm.expm(big), np.array([[np.cos(6), np.sin(6)], [-np.sin(6), np.cos(6)]]), rtol=1e-12, atol=1e-13)


def test_pinv_and_lstsq_against_the_normal_equations():
    A, b = rng.standard_normal((6, 3)), rng.standard_normal(6)
    x, residuals, rank, s = tm.lstsq(A, b)
    x_ref = np.linalg.solve(A.T @ A, A.T @ b)
    assert_close(x, x_ref, rtol=1e-10)
    assert rank == 3 and residuals.shape == (1,)
    assert_close(residuals, [np.sum((A @ x_ref - b) ** 2)], rtol=1e-10)
    # d x / d b = pinv(A): the gradient of c·x with respect to b is pinv(A)ᵀ c
    c = rng.standard_normal(3)
    assert_close(tm.grad(lambda b: tm.lstsq(A, b)[0] @ c)(b), np.linalg.pinv(A).T @ c, rtol=1e-10)
    deficient = np.array([[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]])  # rank 1: through the SVD
    assert_close(tm.pinv(deficient), np.linalg.pinv(deficient), rtol=1e-10, atol=1e-12)


def test_matrix_and_vector_norms_of_every_order_match_numpy():
    A = rng.standard_normal((3, 4))
    for ord_ in ("fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf):
        assert_close(tm.norm(A, ord_), np.linalg.norm(A, ord_), rtol=1e-12, what=str(ord_))
        assert_close(np.linalg.norm(tm.tensor(A), ord_), np.linalg.norm(A, ord_), rtol=1e-12, what=str(ord_))
    v = rng.standard_normal(5)
    for ord_ in (0, 0.5, 1, 2, 3, np.inf, -np.inf, -1):
        assert_close(tm.norm(v, ord_), np.linalg.norm(v, ord_), rtol=1e-12, what=str(ord_))
    assert_close(tm.norm(A, 1, axis=1, keepdims=True), np.linalg.norm(A, 1, axis=1, keepdims=True), rtol=1e-12)
    assert_close(tm.norm(A[None], "nuc", axis=(1, 2)), np.linalg.norm(A[None], "nuc", axis=(1, 2)), rtol=1e-12)


def test_decomposition_errors_are_clear():
    with pytest.raises(np.linalg.LinAlgError, match="cholesky: matrix is not positive definite"):
        tm.cholesky(-np.eye(2))
    with pytest.raises(ValueError, match="full_matrices=False"):
        tm.svd(np.ones((3, 2)))
    with pytest.raises(tm.ShapeError, match="qr: the derivative needs a tall or square matrix"):
        tm.qr(np.ones((2, 3)))
    with pytest.raises(TypeError, match="matrix_power: the exponent must be an integer"):
        tm.matrix_power(np.eye(2), 0.5)
