"""The closed-form identities of the notes (shared/identities.md: N1–N17, R1–R3, R6, R9).

Each closed form is written out here. The framework's gradient is computed in reverse
mode (tm.grad) and, independently, in forward mode (one jvp per input entry), and both
are compared with the formula on random float64 inputs.
"""
import numpy as np
import pytest

import tinygrad_mat as tm

from helpers import assert_close

rng = np.random.default_rng(2024)


def randn(*shape):
    return rng.standard_normal(shape)


def forward_gradient(f, args, argnum):
    """∂f/∂args[argnum] built from forward mode alone: one jvp per entry (R3: ḟ = ⟨G, V⟩)."""
    x = np.asarray(args[argnum], dtype=np.float64)
    grad = np.zeros(x.shape)
    for k in range(x.size):
        direction = np.zeros(x.size)
        direction[k] = 1.0
        tangents = [np.zeros_like(np.asarray(a, dtype=np.float64)) for a in args]
        tangents[argnum] = direction.reshape(x.shape)
        grad.reshape(-1)[k] = tm.jvp(f, tuple(args), tuple(tangents))[1]
    return grad


def check(f, args, argnum, closed_form):
    """Reverse and forward gradients of f w.r.t. args[argnum] both equal ``closed_form``."""
    reverse = tm.grad(f, argnums=argnum)(*args)
    assert_close(reverse, closed_form, rtol=1e-9, atol=1e-10, what="reverse mode")
    forward = forward_gradient(f, args, argnum)
    assert_close(forward, closed_form, rtol=1e-9, atol=1e-10, what="forward mode")


def frob2(M):
    return (M * M).sum()


def test_N1_least_squares_frobenius():
    X, W, Y = randn(6, 3), randn(3, 2), randn(6, 2)
    check(lambda X, W, Y: frob2(X @ W - Y), (X, W, Y), 1, 2 * X.T @ (X @ W - Y))


def test_N2_mean_squared_error_and_its_minimiser():
    n = 8
    X, W, Y = randn(n, 3), randn(3, 2), randn(n, 2)
    loss = lambda X, W, Y: frob2(X @ W - Y) / n
    check(loss, (X, W, Y), 1, (2 / n) * X.T @ (X @ W - Y))
    W_star = np.linalg.inv(X.T @ X) @ X.T @ Y
    assert_close(tm.grad(loss, argnums=1)(X, W_star, Y), np.zeros((3, 2)), atol=1e-12)


def test_N3_linear_form():
    a, x = randn(4), randn(4)
    check(lambda a, x: a @ x, (a, x), 1, a)


def test_N4_quadratic_form():
    A, x = randn(4, 4), randn(4)
    check(lambda A, x: x @ A @ x, (A, x), 1, (A + A.T) @ x)


def test_N5_squared_length():
    x = randn(5)
    check(lambda x: x @ x, (x,), 0, 2 * x)


def test_N6_least_squares_vector_and_minimiser():
    X, Y, b = randn(7, 3), randn(7), randn(3)
    loss = lambda X, Y, b: (Y - X @ b) @ (Y - X @ b)
    check(loss, (X, Y, b), 2, -2 * X.T @ Y + 2 * X.T @ X @ b)
    b_hat = np.linalg.inv(X.T @ X) @ X.T @ Y
    assert_close(tm.grad(loss, argnums=2)(X, Y, b_hat), np.zeros(3), atol=1e-12)


def test_N7_frobenius_as_a_trace():
    X, U, V = randn(3, 4), randn(4, 2), randn(3, 2)
    f = lambda X, U, V: tm.trace((X @ U - V).T @ (X @ U - V))
    check(f, (X, U, V), 0, 2 * (X @ U - V) @ U.T)


def test_N8_bilinear_trace_and_vector_form():
    U, X, V = randn(3, 2), randn(3, 4), randn(4, 2)
    check(lambda U, X, V: tm.trace(U.T @ X @ V), (U, X, V), 1, U @ V.T)
    u, v = randn(3), randn(4)
    check(lambda u, X, v: u @ X @ v, (u, X, v), 1, np.outer(u, v))


def test_N9_quadratic_in_the_matrix():
    X, u = randn(3, 4), randn(4)
    check(lambda X, u: u @ X.T @ X @ u, (X, u), 0, 2 * X @ np.outer(u, u))


def test_N10_trace_of_product():
    A, B = randn(3, 4), randn(4, 3)
    check(lambda A, B: tm.trace(A @ B), (A, B), 0, B.T)


def test_N11_trace_ABAtC():
    A, B, C = randn(3, 4), randn(4, 4), randn(3, 3)
    check(lambda A, B, C: tm.trace(A @ B @ A.T @ C), (A, B, C), 0, C @ A @ B + C.T @ A @ B.T)


def test_N12_determinant():
    A = randn(4, 4) + 3 * np.eye(4)
    check(tm.det, (A,), 0, np.linalg.det(A) * np.linalg.inv(A).T)


def test_N13_trace_AtB():
    A, B = randn(3, 4), randn(3, 4)
    check(lambda A, B: tm.trace(A.T @ B), (A, B), 0, B)


def test_N14_trace_AtBA():
    A, B = randn(3, 2), randn(3, 3)
    check(lambda A, B: tm.trace(A.T @ B @ A), (A, B), 0, (B + B.T) @ A)


def test_N15_trace_ABAt():
    A, B = randn(2, 3), randn(3, 3)
    check(lambda A, B: tm.trace(A @ B @ A.T), (A, B), 0, A @ (B + B.T))


@pytest.mark.parametrize("a", [0.5, 2.0, np.e, 10.0])
def test_N16_exponential_with_constant_base(a):
    x = rng.uniform(-2, 2, size=3)
    check(lambda x: (a**x).sum(), (x,), 0, a**x * np.log(a))


def test_N17_mse_cost_of_linear_regression():
    m = 9
    X, y, theta = randn(m, 3), randn(m), randn(3)
    cost = lambda X, y, theta: ((y - X @ theta) ** 2).sum() / (2 * m)
    check(cost, (X, y, theta), 2, X.T @ (X @ theta - y) / m)


def test_R1_gradient_with_respect_to_the_transpose():
    A, B = randn(3, 4), randn(4, 3)
    f = lambda A: tm.trace(A @ B @ A @ B)
    g = lambda At: f(tm.transpose(At))  # the same function, as a function of Aᵀ
    assert_close(tm.grad(g)(A.T), tm.grad(f)(A).T, rtol=1e-12, atol=1e-12)


def test_R2_trace_rules():
    A, B, C = randn(3, 4), randn(4, 2), randn(2, 3)
    values = [tm.trace(A @ B @ C).item(), tm.trace(C @ A @ B).item(), tm.trace(B @ C @ A).item()]
    assert_close(values, [values[0]] * 3, rtol=1e-12)
    for form in (lambda A: tm.trace(A @ B @ C), lambda A: tm.trace(C @ A @ B), lambda A: tm.trace(B @ C @ A)):
        check(form, (A,), 0, (B @ C).T)  # ∂ tr(ABC)/∂A = (BC)ᵀ whichever cyclic form is used
    S = randn(3, 3)
    assert tm.trace(S).item() == pytest.approx(tm.trace(tm.tensor(S).T).item(), rel=1e-15)
    assert tm.trace(2.5 * tm.tensor(S)).item() == pytest.approx(2.5 * np.trace(S), rel=1e-12)
    check(lambda S: tm.trace(S.T), (S,), 0, np.eye(3))
    check(lambda S: tm.trace(2.5 * S), (S,), 0, 2.5 * np.eye(3))


@pytest.mark.parametrize(
    "f, closed_form",
    [
        (lambda X: tm.trace(X @ X), lambda X: 2 * X.T),
        (lambda X: tm.log(tm.det(X @ X.T)), lambda X: 2 * np.linalg.inv(X @ X.T) @ X),
        (lambda X: tm.norm(X), lambda X: X / np.linalg.norm(X)),
    ],
)
def test_R3_differential_method(f, closed_form):
    """The forward-mode derivative in direction V is tr(Gᵀ V) with G the gradient."""
    X = randn(3, 3) + 2 * np.eye(3)
    G = closed_form(X)
    for _ in range(4):
        V = randn(3, 3)
        directional = tm.jvp(f, (X,), (V,))[1]
        assert float(directional) == pytest.approx(np.trace(G.T @ V), rel=1e-9, abs=1e-12)


def test_R6_jacobians_of_identity_and_linear_map():
    """J of F(x) = x is I; of F(x) = Ax, A in numerator layout and Aᵀ in denominator layout."""
    A, x = randn(3, 4), randn(4)
    for F, numerator in ((lambda x: x * 1.0, np.eye(4)), (lambda x: A @ x, A)):
        out = F(tm.tensor(x))
        m, n = out.shape[0], x.shape[0]
        _, vjp_fn = tm.vjp(F, x)
        rows = np.stack([vjp_fn(np.eye(m)[i])[0] for i in range(m)])           # reverse: row i = eᵢᵀ J
        columns = np.stack([tm.jvp(F, (x,), (np.eye(n)[j],))[1] for j in range(n)], axis=1)  # forward: J eⱼ
        assert_close(rows, numerator, rtol=1e-12)
        assert_close(columns, numerator, rtol=1e-12)
        assert_close(rows.T, numerator.T, rtol=1e-12)  # denominator layout is the transpose


def test_R9_gradient_descent_with_scalar_diagonal_and_matrix_steps():
    """x ← x − α∇f(x) minimises f(x) = ½xᵀQx − bᵀx for a scalar, per-coordinate or matrix α."""
    M = randn(4, 4)
    Q = M @ M.T + 4 * np.eye(4)
    b = randn(4)
    f = lambda x: 0.5 * (x @ Q @ x) - b @ x
    grad_f = tm.grad(f)
    x_star = np.linalg.solve(Q, b)
    step_size = 1.0 / np.linalg.eigvalsh(Q).max()
    for alpha in (step_size, step_size * np.ones(4)):
        x = np.zeros(4)
        for _ in range(500):
            x = x - alpha * grad_f(x)
        assert_close(x, x_star, rtol=1e-8, atol=1e-10)
    # A matrix step: the preconditioner Q⁻¹ (Newton's step) lands on the minimiser at once.
    x = np.zeros(4)
    x = x - np.linalg.inv(Q) @ grad_f(x)
    assert_close(x, x_star, rtol=1e-10, atol=1e-12)
