"""det at singular matrices, in every mode: one cofactor rule, finite at rank n−1 and n−2.

References are computed from definitions, never from tinygrad_mat: the cofactor from minors,
cof(A)[i, j] = (−1)^(i+j) det(A without row i and column j), and det's second derivative from
central differences of that polynomial (exact up to rounding: det is a polynomial of degree n).
Matrices are non-symmetric and batched, so a transposition or sign error cannot hide.
"""
import numpy as np
import pytest

import tinygrad_mat as tm

from helpers import assert_close, cofactor_by_minors


def det_hessian_by_differences(a, h=1e-4):
    """H[i, j, k, l] = ∂² det / ∂A_ij ∂A_kl from central differences of the cofactor (a polynomial)."""
    n = a.shape[-1]
    H = np.empty((n, n, n, n))
    for k in range(n):
        for l in range(n):
            e = np.zeros((n, n))
            e[k, l] = h
            H[:, :, k, l] = (cofactor_by_minors(a + e) - cofactor_by_minors(a - e)) / (2 * h)
    return H


def low_rank(rng, n, rank, batch=()):
    """A non-symmetric n×n matrix of the given rank (a product of n×r and r×n factors)."""
    return rng.standard_normal(batch + (n, rank)) @ rng.standard_normal(batch + (rank, n))


RNG = np.random.default_rng(42)
SINGULAR = {
    "2x2-rank1": np.array([[1.0, 2.0], [2.0, 4.0]]),
    "3x3-rank2": low_rank(RNG, 3, 2),
    "4x4-rank3": low_rank(RNG, 4, 3),
    "4x4-rank2": low_rank(RNG, 4, 2),
    "3x3-rank1": low_rank(RNG, 3, 1),
    "exactly-singular-integers": np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]),
}


@pytest.mark.parametrize("name", list(SINGULAR))
def test_reverse_and_forward_first_order_at_singular_matrices(name):
    a = SINGULAR[name]
    cof = cofactor_by_minors(a)
    v = RNG.standard_normal(a.shape)
    assert_close(tm.grad(tm.det)(a), cof, rtol=1e-9, atol=1e-10, what="grad")
    t = tm.tensor(a, requires_grad=True)
    tm.det(t).backward()
    assert_close(t.grad.numpy(), cof, rtol=1e-9, atol=1e-10, what="backward")
    _, tangent = tm.jvp(tm.det, (a,), (v,))
    assert_close(tangent, np.sum(cof * v), rtol=1e-9, atol=1e-10, what="jvp")


def test_the_tangent_jax_gives():
    """JAX: d/dt det(A + tV) at A = [[1, 2], [2, 4]], V = I is 5 (= tr cof(A) = 4 + 1)."""
    _, tangent = tm.jvp(tm.det, (np.array([[1.0, 2.0], [2.0, 4.0]]),), (np.eye(2),))
    assert float(tangent) == pytest.approx(5.0, abs=1e-12)


@pytest.mark.parametrize("name", list(SINGULAR))
def test_second_order_at_singular_matrices_in_every_mode(name):
    a = SINGULAR[name]
    n = a.shape[-1]
    H = det_hessian_by_differences(a)
    v = RNG.standard_normal(a.shape)
    tol = dict(rtol=1e-6, atol=1e-7)
    assert_close(tm.hessian(tm.det)(a), H, what="hessian", **tol)
    assert_close(tm.jacfwd(tm.grad(tm.det))(a), H, what="jacfwd(grad)", **tol)
    assert_close(tm.jacrev(tm.grad(tm.det))(a), H, what="jacrev(grad)", **tol)
    assert_close(tm.hvp(tm.det, a, v), np.einsum("ijkl,kl->ij", H, v), what="hvp", **tol)
    w = RNG.standard_normal(a.shape)
    assert_close(tm.grad(lambda x: (tm.grad(tm.det)(x) * w).sum())(a), np.einsum("ijkl,ij->kl", H, w),
                 what="grad of grad", **tol)
    t = tm.tensor(a, requires_grad=True)
    tm.det(t).backward(create_graph=True)
    first = t.grad
    t.grad = None
    (first * w).sum().backward()
    assert_close(t.grad.numpy(), np.einsum("ijkl,ij->kl", H, w), what="create_graph", **tol)
    assert np.isfinite(H).all() and n >= 2


def test_batched_singular_matrices_of_mixed_rank():
    a = np.stack([low_rank(RNG, 3, 2), low_rank(RNG, 3, 1), RNG.standard_normal((3, 3))])
    cof = cofactor_by_minors(a)
    assert_close(tm.grad(lambda x: tm.det(x).sum())(a), cof, rtol=1e-9, atol=1e-10)
    v = RNG.standard_normal(a.shape)
    _, tangent = tm.jvp(tm.det, (a,), (v,))
    assert_close(tangent, np.sum(cof * v, axis=(-2, -1)), rtol=1e-9, atol=1e-10)
    for k in range(3):
        H = det_hessian_by_differences(a[k])
        hv = tm.hvp(lambda x: tm.det(x).sum(), a, v)[k]
        assert_close(hv, np.einsum("ijkl,kl->ij", H, v[k]), rtol=1e-6, atol=1e-7)


def test_third_order_needs_an_invertible_matrix_and_says_so():
    a = RNG.standard_normal((3, 3)) + 3 * np.eye(3)
    h = 1e-4
    v = RNG.standard_normal((3, 3))
    # third derivative: the directional derivative of the Hessian-vector product, against differences
    third = tm.jvp(lambda x: tm.hvp(tm.det, x, v), (a,), (v,))[1]
    expected = (np.einsum("ijkl,kl->ij", det_hessian_by_differences(a + h * v), v)
                - np.einsum("ijkl,kl->ij", det_hessian_by_differences(a - h * v), v)) / (2 * h)
    assert_close(third, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(tm.SingularMatrixError, match="cofactor_derivative"):
        tm.jvp(lambda x: tm.hvp(tm.det, x, v), (SINGULAR["3x3-rank2"],), (v,))


def test_slogdet_rules_use_solves_and_match_the_inverse():
    a = RNG.standard_normal((2, 3, 3)) + 2 * np.eye(3)
    assert_close(tm.grad(lambda x: tm.slogdet(x)[1].sum())(a), np.linalg.inv(a).swapaxes(-1, -2), rtol=1e-12)
    v = RNG.standard_normal(a.shape)
    _, tangent = tm.jvp(lambda x: tm.slogdet(x)[1], (a,), (v,))
    assert_close(tangent, np.trace(np.linalg.inv(a) @ v, axis1=-2, axis2=-1), rtol=1e-12)
