"""Jacobians in both layouts and vec form, Hessians, and derivatives of derivatives.

Closed forms are written out here (the notes' R4–R8, R10, N4 and N6 at second order, and the
three examples of note 001 section 2); forward and reverse Jacobians are checked against each
other and against central differences.
"""
import numpy as np
import pytest

import tinygrad_mat as tm

from helpers import assert_close, central_jacobian, random_inputs
from op_cases import CASES

rng = np.random.default_rng(11)
MODES = ["fwd", "rev", "auto"]


def randn(*shape):
    return rng.standard_normal(shape)


# ---------------------------------------------------------------- note 001, section 2


@pytest.mark.parametrize("mode", MODES)
def test_note001_scalar_to_vector(mode):
    """f(x) = [x, x²]: ∂f/∂x = [1, 2x]; as vec, a 2×1 column (numerator) or 1×2 row (denominator)."""
    f = lambda x: tm.stack([x, x**2])
    x = 1.5
    closed = np.array([1.0, 2 * x])
    assert_close(tm.jacobian(f, mode=mode)(x), closed, rtol=1e-14)
    assert_close(tm.jacobian(f, mode=mode, layout="denominator")(x), closed, rtol=1e-14)
    assert_close(tm.jacobian(f, mode=mode, vec=True)(x), closed.reshape(2, 1), rtol=1e-14)
    assert_close(tm.jacobian(f, mode=mode, layout="denominator", vec=True)(x), closed.reshape(1, 2), rtol=1e-14)


@pytest.mark.parametrize("mode", MODES)
def test_note001_scalar_to_matrix(mode):
    """f(x) = [[x, x²], [x³, x⁴]]: ∂f/∂x = [[1, 2x], [3x², 4x³]]; vec(f) = [x, x³, x², x⁴]."""
    f = lambda x: tm.stack([tm.stack([x, x**2]), tm.stack([x**3, x**4])])
    x = 0.7
    closed = np.array([[1.0, 2 * x], [3 * x**2, 4 * x**3]])
    assert_close(tm.jacobian(f, mode=mode)(x), closed, rtol=1e-14)
    assert_close(tm.jacobian(f, mode=mode, layout="denominator")(x), closed, rtol=1e-14)
    column_major = np.array([[1.0], [3 * x**2], [2 * x], [4 * x**3]])
    assert_close(tm.jacobian(f, mode=mode, vec=True)(x), column_major, rtol=1e-14)
    assert_close(tm.jacobian(f, mode=mode, layout="denominator", vec=True)(x), column_major.T, rtol=1e-14)


@pytest.mark.parametrize("mode", MODES)
def test_note001_vector_to_matrix(mode):
    """f(x) = [[x₁+x₂, x₁²+x₂²], [x₁³+x₂³, x₁⁴+x₂⁴]] of x ∈ R²."""
    f = lambda x: tm.stack([tm.stack([x.sum(), (x**2).sum()]), tm.stack([(x**3).sum(), (x**4).sum()])])
    x1, x2 = 0.5, -1.25
    x = np.array([x1, x2])
    numerator = np.array([  # J[i, j, k] = ∂f_ij/∂x_k, shape (2, 2) + (2,)
        [[1.0, 1.0], [2 * x1, 2 * x2]],
        [[3 * x1**2, 3 * x2**2], [4 * x1**3, 4 * x2**3]],
    ])
    denominator = np.array([  # J[k, i, j], shape (2,) + (2, 2)
        [[1.0, 2 * x1], [3 * x1**2, 4 * x1**3]],
        [[1.0, 2 * x2], [3 * x2**2, 4 * x2**3]],
    ])
    vec = np.array([  # rows follow vec(f) = [f11, f21, f12, f22]
        [1.0, 1.0],
        [3 * x1**2, 3 * x2**2],
        [2 * x1, 2 * x2],
        [4 * x1**3, 4 * x2**3],
    ])
    assert_close(tm.jacobian(f, mode=mode)(x), numerator, rtol=1e-14)
    assert_close(tm.jacobian(f, mode=mode, layout="denominator")(x), denominator, rtol=1e-14)
    assert_close(tm.jacobian(f, mode=mode, vec=True)(x), vec, rtol=1e-14)
    assert_close(tm.jacobian(f, mode=mode, layout="denominator", vec=True)(x), vec.T, rtol=1e-14)


# ---------------------------------------------------------------- the nine kinds


KINDS = {"scalar": (), "vector": (3,), "matrix": (2, 3)}


@pytest.mark.parametrize("f_kind", list(KINDS))
@pytest.mark.parametrize("x_kind", list(KINDS))
def test_nine_kinds_of_derivative_shapes_and_values(f_kind, x_kind):
    f_shape, x_shape = KINDS[f_kind], KINDS[x_kind]
    n_f, n_x = int(np.prod(f_shape)), int(np.prod(x_shape))
    M = randn(n_f, n_x)

    def f(x):  # a smooth map from X to F: reshape(M tanh(vec x)) with row-major flattening
        return tm.reshape(tm.matmul(M, tm.tanh(tm.reshape(x, (n_x,)))), f_shape)

    x = randn(*x_shape)
    flat = M * (1 - np.tanh(x.reshape(-1)) ** 2)  # ∂F_flat/∂x_flat, row-major on both sides
    numerator = flat.reshape(f_shape + x_shape)
    for mode in MODES:
        J = tm.jacobian(f, mode=mode)(x)
        assert J.shape == f_shape + x_shape
        assert_close(J, numerator, rtol=1e-13)
        D = tm.jacobian(f, mode=mode, layout="denominator")(x)
        assert D.shape == x_shape + f_shape
        assert_close(D, np.moveaxis(numerator, range(len(f_shape)), range(len(x_shape), len(x_shape) + len(f_shape))), rtol=1e-13)
        V = tm.jacobian(f, mode=mode, vec=True)(x)
        assert V.shape == (n_f, n_x)
        # column-major vec on both sides, from the entry formula
        f_order = np.arange(n_f).reshape(f_shape).reshape(-1, order="F") if f_shape else np.arange(1)
        x_order = np.arange(n_x).reshape(x_shape).reshape(-1, order="F") if x_shape else np.arange(1)
        assert_close(V, flat[np.ix_(f_order, x_order)], rtol=1e-13)
        assert_close(tm.jacobian(f, mode=mode, layout="denominator", vec=True)(x), V.T, rtol=1e-13)


# ---------------------------------------------------------------- the notes' rules


def test_R4_chain_rule_in_denominator_layout():
    """∂f/∂u = (∂y/∂u)(∂f/∂y) for f(y(u)), every Jacobian in denominator layout."""
    W = randn(4, 3)
    y = lambda u: tm.tanh(W @ u)
    f = lambda y: (y**3).sum() + y[0] * y[1]
    u = randn(3)
    dy_du = tm.jacobian(y, layout="denominator")(u)  # 3 × 4
    df_dy = tm.grad(f)(np.tanh(W @ u))  # 4
    assert_close(tm.grad(lambda u: f(y(u)))(u), dy_du @ df_dy, rtol=1e-12)


def test_R5_product_rule_in_denominator_layout():
    """∂(uᵀv)/∂x = (∂u/∂x) v + (∂v/∂x) u, Jacobians in denominator layout."""
    A, B = randn(4, 3), randn(4, 3)
    u = lambda x: tm.exp(A @ x)
    v = lambda x: (B @ x) ** 2
    x = randn(3) * 0.3
    du, dv = tm.jacobian(u, layout="denominator")(x), tm.jacobian(v, layout="denominator")(x)
    u_val, v_val = np.exp(A @ x), (B @ x) ** 2
    assert_close(tm.grad(lambda x: u(x) @ v(x))(x), du @ v_val + dv @ u_val, rtol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_R6_identity_and_linear_map(mode):
    A, x = randn(3, 4), randn(4)
    assert_close(tm.jacobian(lambda x: x * 1.0, mode=mode)(x), np.eye(4), rtol=1e-15)
    assert_close(tm.jacobian(lambda x: A @ x, mode=mode)(x), A, rtol=1e-14)
    assert_close(tm.jacobian(lambda x: A @ x, mode=mode, layout="denominator")(x), A.T, rtol=1e-14)


@pytest.mark.parametrize("mode", MODES)
def test_R7_vec_of_AXB_is_a_kronecker_product(mode):
    A, X, B = randn(2, 3), randn(3, 4), randn(4, 5)
    J = tm.jacobian(lambda X: A @ X @ B, mode=mode, vec=True)(X)
    assert J.shape == (10, 12)
    assert_close(J, np.kron(B.T, A), rtol=1e-13)
    assert_close(tm.jacobian(lambda X: A @ X @ B, mode=mode, layout="denominator", vec=True)(X), np.kron(B, A.T), rtol=1e-13)
    # and in 4-way form, entry by entry: ∂(AXB)ᵢⱼ/∂Xₖₗ = Aᵢₖ Bₗⱼ
    assert_close(tm.jacobian(lambda X: A @ X @ B, mode=mode)(X), np.einsum("ik,lj->ijkl", A, B), rtol=1e-13)


def test_R8_hessian_of_quadratic_form_and_symmetry():
    A, x = randn(4, 4), randn(4)
    assert_close(tm.hessian(lambda x: x @ A @ x)(x), A + A.T, rtol=1e-13)
    # f(X) = tr(XᵀCX): H = I ⊗ (C + Cᵀ) in vec form, and symmetric
    C, X = randn(3, 3), randn(3, 2)
    H = tm.hessian(lambda X: tm.trace(X.T @ C @ X), vec=True)(X)
    assert H.shape == (6, 6)
    assert_close(H, np.kron(np.eye(2), C + C.T), rtol=1e-13)
    # a non-quadratic matrix function: log det(XᵀX + I); its vec Hessian is symmetric
    Y = randn(3, 2)
    H = tm.hessian(lambda Y: tm.log(tm.det(Y.T @ Y + np.eye(2))), vec=True)(Y)
    assert_close(H, H.T, rtol=1e-12, atol=1e-13)
    assert_close(H, central_jacobian(lambda Y: tm.grad(lambda Y: tm.log(tm.det(Y.T @ Y + np.eye(2))))(Y).reshape(-1, order="F"),
                                     [Y])[:, np.arange(6).reshape(3, 2).reshape(-1, order="F")], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
def test_R10_polynomial_differentiation_matrix(mode):
    """Coefficients c₀…cₙ (ascending powers) ↦ coefficients of p′: the matrix D with D[i, i+1] = i + 1."""
    n = 4
    differentiate = lambda c: tm.concatenate([c[1:] * np.arange(1.0, n + 1), np.zeros(1)])
    D = np.zeros((n + 1, n + 1))
    for i in range(n):
        D[i, i + 1] = i + 1
    c = randn(n + 1)
    assert_close(tm.jacobian(differentiate, mode=mode)(c), D, rtol=1e-15)
    # the map agrees with numpy's own polynomial derivative
    assert_close(np.asarray(differentiate(tm.tensor(c)))[:n], np.polynomial.polynomial.polyder(c), rtol=1e-14)


def test_N4_and_N6_at_second_order():
    A, x = randn(5, 5), randn(5)
    assert_close(tm.hessian(lambda x: x @ A @ x)(x), A + A.T, rtol=1e-13)
    X, Y, b = randn(8, 3), randn(8), randn(3)
    H = tm.hessian(lambda b: (Y - X @ b) @ (Y - X @ b))(b)
    assert_close(H, 2 * X.T @ X, rtol=1e-13)
    assert_close(tm.jacfwd(tm.jacrev(lambda b: (Y - X @ b) @ (Y - X @ b)))(b), 2 * X.T @ X, rtol=1e-13)


# ---------------------------------------------------------------- forward vs reverse, on the op table


@pytest.mark.parametrize("case", [c for c in CASES if len(c.shapes) == 1], ids=lambda c: c.id)
def test_forward_and_reverse_jacobians_agree(case):
    (x,) = random_inputs(np.random.default_rng(5), case.shapes, case.domain)
    J_fwd = tm.jacobian(case.fn, mode="fwd")(x)
    J_rev = tm.jacobian(case.fn, mode="rev")(x)
    assert J_fwd.shape == J_rev.shape
    assert_close(J_fwd, J_rev, rtol=case.tol.get("dot", 1e-12), atol=case.tol.get("dot", 1e-12))


def test_random_compositions_forward_reverse_and_central_differences():
    W1, W2 = randn(4, 3), randn(2, 4)
    functions = [
        lambda x: tm.logsumexp(W1 @ x) * tm.sigmoid(x),
        lambda x: tm.inv(tm.reshape(tm.concatenate([x, x[:1]]), (2, 2)) + 2 * np.eye(2)) @ tm.tanh(x[1:3]),
        lambda x: W2 @ tm.relu(W1 @ x + 0.1) + tm.norm(x) * x[0],
        lambda x: tm.solve(np.eye(3) * 2 + tm.stack([x, x**2, x * 0.5]), x),
    ]
    x = np.array([0.3, -0.6, 0.9])
    for f in functions:
        J_fwd, J_rev = tm.jacfwd(f)(x), tm.jacrev(f)(x)
        assert_close(J_fwd, J_rev, rtol=1e-12, atol=1e-12)
        assert_close(J_rev, central_jacobian(lambda x: np.asarray(f(tm.tensor(x))), [x]).reshape(J_rev.shape), rtol=1e-6, atol=1e-8)


def test_several_argnums():
    A, B = randn(2, 3), randn(3)
    f = lambda a, b: a @ b
    Ja, Jb = tm.jacobian(f, argnums=(0, 1))(A, B)
    assert_close(Ja, np.einsum("ik,l->ikl", np.eye(2), B), rtol=1e-15)
    assert_close(Jb, A, rtol=1e-15)
    H = tm.hessian(lambda a, b: (a * b).sum() ** 2, argnums=(0, 1))(randn(3), randn(3))
    assert len(H) == 2 and all(len(row) == 2 for row in H)
    assert_close(H[0][1], H[1][0].T, rtol=1e-13)


def test_float32_jacobian_keeps_its_dtype():
    x = np.ones(3, dtype=np.float32)
    for mode in MODES:
        assert tm.jacobian(lambda x: x * 2.0, mode=mode)(x).dtype == np.float32


# ---------------------------------------------------------------- derivatives of derivatives


def test_hvp_without_forming_the_hessian():
    A, x, v = randn(4, 4), randn(4), randn(4)
    f = lambda x: x @ A @ x + tm.exp(x).sum()
    assert_close(tm.hvp(f, x, v), (A + A.T) @ v + np.exp(x) * v, rtol=1e-13)


def test_composition_of_transforms():
    f = lambda x: tm.exp(x[0]) * (x**3).sum() + tm.det(tm.reshape(x, (2, 2)))
    x = randn(4) * 0.5
    assert_close(tm.jacfwd(tm.jacrev(f))(x), tm.hessian(f)(x), rtol=1e-12, atol=1e-12)
    assert_close(tm.jacrev(tm.jacfwd(f))(x), tm.hessian(f)(x), rtol=1e-12, atol=1e-12)
    assert_close(tm.jacrev(tm.grad(f))(x), tm.hessian(f)(x), rtol=1e-12, atol=1e-12)
    g = lambda x: x**4
    assert float(tm.grad(g)(2.0)) == 32.0
    assert float(tm.grad(tm.grad(g))(2.0)) == 48.0
    assert float(tm.grad(tm.grad(tm.grad(g)))(2.0)) == 48.0
    assert float(tm.jacfwd(tm.jacfwd(tm.jacfwd(g)))(2.0)) == 48.0
    assert float(tm.jacrev(tm.jacfwd(tm.grad(g)))(2.0)) == 48.0


@pytest.mark.parametrize("outer", ["grad", "jacfwd", "jacrev"])
@pytest.mark.parametrize("inner", ["grad", "jvp"])
def test_no_perturbation_confusion(outer, inner):
    """d/dx [x · d/dy (x + y)] at x = 1, y = 1 is 1, not 2, however the two derivatives are taken."""
    if inner == "grad":
        inner_derivative = lambda x: tm.grad(lambda y: x + y)(1.0)
    else:
        inner_derivative = lambda x: tm.jvp(lambda y: x + y, (1.0,), (1.0,))[1]
    h = lambda x: x * inner_derivative(x)
    outer_transform = {"grad": tm.grad, "jacfwd": tm.jacfwd, "jacrev": tm.jacrev}[outer]
    assert float(outer_transform(h)(1.0)) == 1.0


def test_functional_grad_inside_leaves_other_grads_alone():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    before = w.grad.numpy().copy()
    x = tm.tensor([0.5, 0.5], requires_grad=True)
    y = (tm.grad(lambda x: (w * x * x).sum())(x) * x).sum()  # grad uses w, asks only about x
    np.testing.assert_array_equal(w.grad.numpy(), before)
    assert x.grad is None
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * w.numpy() * x.numpy())  # d/dx Σ 2wx·x


# ---------------------------------------------------------------- bad input


def test_bad_input():
    with pytest.raises(ValueError, match="jacobian: layout must be 'numerator' or 'denominator', not 'rows'"):
        tm.jacobian(lambda x: x, layout="rows")
    with pytest.raises(ValueError, match="jacobian: mode must be"):
        tm.jacobian(lambda x: x, mode="backward")
    with pytest.raises(TypeError, match="jacobian: vec=True needs f to return one array .* got tuple"):
        tm.jacobian(lambda x: (x, x), vec=True)(np.ones(2))
    with pytest.raises(TypeError, match="jacobian: vec=True needs f to return one array .* got NoneType"):
        tm.jacobian(lambda x: None, vec=True, mode="rev")(np.ones(2))
    with pytest.raises(tm.ShapeError, match=r"hessian: f must return a scalar .*\(2,\)"):
        tm.hessian(lambda x: x * 2)(np.ones(2))
    with pytest.raises(tm.ShapeError, match=r"hvp: f must return a scalar"):
        tm.hvp(lambda x: x * 2, np.ones(2), np.ones(2))
    with pytest.raises(tm.ShapeError, match=r"hvp: v has shape \(3,\)"):
        tm.hvp(lambda x: x.sum(), np.ones(2), np.ones(3))
    for transform in (tm.jacobian, tm.jacfwd, tm.jacrev, tm.hessian):
        with pytest.raises(ValueError, match="argnums 1 is out of range"):
            transform(lambda x: (x * x).sum(), argnums=1)(np.ones(2))


def test_a_finished_batched_level_is_not_carried_on_by_a_later_pass():
    """jvp of grad of a function that uses jacfwd: the batched tangents jacfwd left on the Tensors
    its graph saved must not run through the recorded backward (they no longer fit: an error then)."""
    x, v = np.array([0.3, 0.7]), np.array([1.0, 0.5])
    with_jacfwd = lambda x: np.sum(np.sin(tm.jacfwd(np.sin)(x)))
    with_jacrev = lambda x: np.sum(np.sin(tm.jacrev(np.sin)(x)))
    _, tangent = tm.jvp(tm.grad(with_jacfwd), (x,), (v,))
    _, reference = tm.jvp(tm.grad(with_jacrev), (x,), (v,))
    gradient = lambda x: -np.cos(np.cos(x)) * np.sin(x)  # the sum is Σ sin(cos xᵢ) + constants
    h = 1e-6
    np.testing.assert_allclose(tangent, (gradient(x + h * v) - gradient(x - h * v)) / (2 * h), rtol=1e-7)
    np.testing.assert_allclose(tangent, reference, rtol=1e-12)
