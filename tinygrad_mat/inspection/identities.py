"""The notes' identities, live: each closed form of shared/identities.md (N1–N17, R1–R10) beside the
framework's derivative in reverse and in forward mode on random float64 input.

    python -m tinygrad_mat identities          # a table
    python -m tinygrad_mat identities --json   # [{"id": "N1", "status": "ok", ...}, ...]
"""
import json
import math

import numpy as np

from .. import functional, functions as F, jacobians, optim
from ..creation import zeros


def _forward_gradient(f, args, argnum):
    """The gradient from forward mode alone: one jvp per entry (R3)."""
    x = np.asarray(args[argnum], dtype=np.float64)
    grad = np.zeros(x.shape)
    for k in range(x.size):
        tangents = [np.zeros(np.shape(a)) for a in args]
        e = np.zeros(x.size)
        e[k] = 1.0
        tangents[argnum] = e.reshape(x.shape)
        grad.reshape(-1)[k] = functional.jvp(f, tuple(args), tuple(tangents))[1]
    return grad


def _error(got, expected):
    got, expected = np.asarray(got, float), np.asarray(expected, float)
    return float(np.max(np.abs(got - expected)) / max(1.0, float(np.max(np.abs(expected)))))


def _gradient_identity(f, args, argnum, closed):
    return (_error(functional.grad(f, argnums=argnum)(*args), closed),
            _error(_forward_gradient(f, args, argnum), closed))


def _identities(rng):
    r = lambda *shape: rng.standard_normal(shape)
    X, W, Y, U, V = r(6, 3), r(3, 2), r(6, 2), r(2, 4), r(3, 4)
    A, B, C = r(3, 3), r(3, 3), r(3, 3)
    a, x, y = r(3), r(3), r(6)
    spd = A @ A.T + 3 * np.eye(3)
    items = [
        ("N1", "∂‖XW − Y‖²_F/∂W = 2Xᵀ(XW − Y)", lambda: _gradient_identity(
            lambda W: F.norm(X @ W - Y) ** 2, (W,), 0, 2 * X.T @ (X @ W - Y))),
        ("N2", "∂(1/n)‖XW − Y‖²_F/∂W = (2/n)Xᵀ(XW − Y)", lambda: _gradient_identity(
            lambda W: F.sum((X @ W - Y) ** 2) / 6, (W,), 0, 2 / 6 * X.T @ (X @ W - Y))),
        ("N3", "∂aᵀx/∂x = a", lambda: _gradient_identity(lambda x: a @ x, (x,), 0, a)),
        ("N4", "∂xᵀAx/∂x = (A + Aᵀ)x", lambda: _gradient_identity(lambda x: x @ A @ x, (x,), 0, (A + A.T) @ x)),
        ("N5", "∂xᵀx/∂x = 2x", lambda: _gradient_identity(lambda x: x @ x, (x,), 0, 2 * x)),
        ("N6", "∂(Y − Xb)ᵀ(Y − Xb)/∂b = −2XᵀY + 2XᵀXb", lambda: _gradient_identity(
            lambda b: (y - X @ b) @ (y - X @ b), (a,), 0, -2 * X.T @ y + 2 * X.T @ X @ a)),
        ("N7", "∂‖XU − V‖²_F/∂X = 2(XU − V)Uᵀ", lambda: (lambda M: _gradient_identity(
            lambda M: F.trace((M @ U - V).mT @ (M @ U - V)), (M,), 0, 2 * (M @ U - V) @ U.T))(r(3, 2))),
        ("N8", "∂tr(UᵀXV)/∂X = UVᵀ", lambda: (lambda U2, V2: _gradient_identity(
            lambda M: F.trace(U2.T @ M @ V2), (r(3, 4),), 0, U2 @ V2.T))(r(3, 2), r(4, 2))),
        ("N9", "∂uᵀXᵀXu/∂X = 2Xuuᵀ", lambda: (lambda u, M: _gradient_identity(
            lambda M: u @ M.mT @ M @ u, (M,), 0, 2 * M @ np.outer(u, u)))(r(4), r(3, 4))),
        ("N10", "∂tr(AB)/∂A = Bᵀ", lambda: _gradient_identity(lambda A: F.trace(A @ B), (A,), 0, B.T)),
        ("N11", "∂tr(ABAᵀC)/∂A = CAB + CᵀABᵀ", lambda: _gradient_identity(
            lambda A: F.trace(A @ B @ A.mT @ C), (A,), 0, C @ A @ B + C.T @ A @ B.T)),
        ("N12", "∂det(A)/∂A = det(A)(A⁻¹)ᵀ", lambda: _gradient_identity(
            F.det, (A,), 0, np.linalg.det(A) * np.linalg.inv(A).T)),
        ("N13", "∂tr(AᵀB)/∂A = B", lambda: _gradient_identity(lambda A: F.trace(A.mT @ B), (A,), 0, B)),
        ("N14", "∂tr(AᵀBA)/∂A = (B + Bᵀ)A", lambda: _gradient_identity(
            lambda A: F.trace(A.mT @ B @ A), (A,), 0, (B + B.T) @ A)),
        ("N15", "∂tr(ABAᵀ)/∂A = A(B + Bᵀ)", lambda: _gradient_identity(
            lambda A: F.trace(A @ B @ A.mT), (A,), 0, A @ (B + B.T))),
        ("N16", "d aˣ/dx = aˣ ln a", lambda: _gradient_identity(lambda t: 2.5**t, (np.array(0.7),), 0, 2.5**0.7 * math.log(2.5))),
        ("N17", "∂(1/2m)Σ(y − θᵀx)²/∂θ = (1/m)Xᵀ(Xθ − y)", lambda: _gradient_identity(
            lambda t: F.sum((y - X @ t) ** 2) / 12, (a,), 0, X.T @ (X @ a - y) / 6)),
        # f(A) = tr(ABAᵀC) as a function of Aᵀ: its gradient there is (CAB + CᵀABᵀ)ᵀ
        ("R1", "∂f/∂Aᵀ = (∂f/∂A)ᵀ", lambda: (lambda g: (
            _error(functional.grad(lambda At: F.trace(At.mT @ B @ At @ C))(A.T), g.T),
            _error(_forward_gradient(lambda At: F.trace(At.mT @ B @ At @ C), (A.T,), 0), g.T)))(
            C @ A @ B + C.T @ A @ B.T)),
        ("R2", "tr(ABC) = tr(CAB) = tr(BCA), tr(A) = tr(Aᵀ), tr(aA) = a tr(A)", lambda: (
            _error([F.trace(A @ B @ C).item(), F.trace(C @ A @ B).item(), F.trace(B @ C @ A).item()], [np.trace(A @ B @ C)] * 3),
            _error([F.trace(A.T).item(), F.trace(2.5 * A).item()], [np.trace(A), 2.5 * np.trace(A)]))),
        ("R3", "the differential method: ḟ = tr(Gᵀ V)", lambda: (lambda V3: (
            _error(functional.jvp(lambda A: F.trace(A @ B @ A.mT), (A,), (V3,))[1], np.trace((A @ (B + B.T)).T @ V3)),
            _error(functional.jvp(F.det, (A,), (V3,))[1], np.trace((np.linalg.det(A) * np.linalg.inv(A).T).T @ V3))))(r(3, 3))),
        ("R4", "chain rule (denominator layout): ∂f/∂u = (∂y/∂u)(∂f/∂y)", lambda: (lambda M, u: (
            _error(functional.grad(lambda u: F.sum(F.tanh(M @ u) ** 3))(u),
                   jacobians.jacobian(lambda u: F.tanh(M @ u), layout="denominator")(u) @ (3 * np.tanh(M @ u) ** 2)),
            _error(jacobians.jacobian(lambda u: F.tanh(M @ u), layout="denominator", mode="fwd")(u) @ (3 * np.tanh(M @ u) ** 2),
                   M.T @ ((1 - np.tanh(M @ u) ** 2) * 3 * np.tanh(M @ u) ** 2))))(r(4, 3), r(3))),
        ("R5", "product rule: ∂(uᵀv)/∂x = (∂u/∂x)v + (∂v/∂x)u", lambda: (lambda M, N: (
            _error(functional.grad(lambda x: F.exp(M @ x) @ (N @ x))(x), M.T @ (np.exp(M @ x) * (N @ x)) + N.T @ np.exp(M @ x)),
            _error(_forward_gradient(lambda x: F.exp(M @ x) @ (N @ x), (x,), 0), M.T @ (np.exp(M @ x) * (N @ x)) + N.T @ np.exp(M @ x))))(r(4, 3), r(4, 3))),
        ("R6", "Jacobians: of x, I; of Ax, A (numerator) and Aᵀ (denominator)", lambda: (
            _error(jacobians.jacobian(lambda x: A @ x)(x), A),
            _error(jacobians.jacobian(lambda x: A @ x, layout="denominator", mode="fwd")(x), A.T))),
        ("R7", "∂vec(AXB)/∂vec(X)ᵀ = Bᵀ ⊗ A", lambda: (
            _error(jacobians.jacobian(lambda M: A @ M @ B, vec=True, mode="rev")(C), np.kron(B.T, A)),
            _error(jacobians.jacobian(lambda M: A @ M @ B, vec=True, mode="fwd")(C), np.kron(B.T, A)))),
        ("R8", "the Hessian of xᵀAx is A + Aᵀ", lambda: (
            _error(jacobians.hessian(lambda x: x @ A @ x)(x), A + A.T),
            _error(jacobians.jacfwd(jacobians.jacrev(lambda x: x @ A @ x))(x), A + A.T))),
        ("R9", "gradient descent x ← x − α∇f with α = (2XᵀX)⁻¹ minimises ‖Xw − y‖² in one step", lambda: (
            lambda w, opt: (_step(w, opt, lambda: F.norm(X @ w - y) ** 2), (
                _error(w.numpy(), np.linalg.lstsq(X, y, rcond=None)[0]), 0.0))[1])(*_preconditioned(X))),
        ("R10", "d/dx of a polynomial is linear in its coefficients: the Jacobian is the matrix D", lambda: (lambda D: (
            _error(jacobians.jacrev(lambda c: D @ c)(a), D), _error(jacobians.jacfwd(lambda c: D @ c)(a), D)))(
            np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]]))),
    ]
    return items


def _preconditioned(X):
    w = zeros(X.shape[1], requires_grad=True)
    return w, optim.Preconditioned([w], lr=np.linalg.inv(2 * X.T @ X))


def _step(w, opt, loss):
    loss().backward()
    opt.step()


def check_all(seed=0, tolerance=1e-8):
    """[{id, statement, error_reverse, error_forward, status}] for every identity of the notes."""
    results = []
    for ident, statement, run in _identities(np.random.default_rng(seed)):
        try:
            reverse, forward = run()
            status = "ok" if max(reverse, forward) <= tolerance else "fail"
        except Exception as error:  # a broken identity is reported, not hidden
            reverse = forward = None
            status, statement = "fail", f"{statement} ({type(error).__name__}: {error})"
        results.append({"id": ident, "statement": statement, "error_reverse": reverse, "error_forward": forward,
                        "status": status})
    return results


def main(argv):
    results = check_all()
    if "--json" in argv:
        print(json.dumps(results, indent=1, ensure_ascii=False))
    else:
        print("The notes' identities: closed form against tinygrad_mat, reverse and forward mode "
              "(max relative error, random float64 input)\n")
        for r in results:
            errors = "   —   " if r["error_reverse"] is None else f"{r['error_reverse']:.1e}  {r['error_forward']:.1e}"
            print(f"{r['id']:<4} {r['status']:<4}  {errors}  {r['statement']}")
    return 0 if all(r["status"] == "ok" for r in results) else 1
