"""The op table of the tests: each case is a function of Tensors, input shapes, a domain, and an
independent numpy reference for its values.

Every record in ``tinygrad_mat.ops.REGISTRY`` (primitives and composites) must appear in at least one
case (tests/test_rules.py checks), with broadcasting, vectors and stacked matrices where the op
allows them. ``ref`` is written with numpy alone, never with tinygrad_mat.
"""
from dataclasses import dataclass, field

import numpy as np

import tinygrad_mat as tm
from tinygrad_mat.ops import REGISTRY
from tinygrad_mat.tensor import apply

from helpers import cofactor_by_minors


@dataclass
class Case:
    op: str
    fn: object
    shapes: list
    ref: object
    domain: str = "any"
    label: str = ""
    second_order: bool = True
    tol: dict = field(default_factory=dict)

    @property
    def id(self):
        return f"{self.op}-{self.label or 'x'.join(str(s) for s in self.shapes)}"


def _cofactor_derivative_ref(a, e, h=1e-6):
    """D cof(A)[E] by central differences of the definition above (cof is a polynomial)."""
    return (cofactor_by_minors(a + h * e) - cofactor_by_minors(a - h * e)) / (2 * h)


MASK = np.array([[True, False, True], [False, True, True]])
WHERE_MASK = np.array([True, False, False, True])


def _sigmoid_ref(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logsumexp_ref(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


CASES = [
    Case("add", lambda a, b: a + b, [(3, 4), (4,)], np.add),
    Case("add", lambda a, b: a + b, [(2, 1, 3), (4, 3)], np.add, label="broadcast-both"),
    Case("add", lambda a, b: a + b, [(), (2, 3)], np.add, label="scalar"),
    Case("sub", lambda a, b: a - b, [(3, 1), (1, 4)], np.subtract),
    Case("sub", lambda a, b: 2.0 - a * b, [(3,), (3,)], lambda a, b: 2.0 - a * b, label="rsub"),
    Case("mul", lambda a, b: a * b, [(2, 3, 4), (3, 1)], np.multiply),
    Case("mul", lambda a, b: a * b, [(4,), (4,)], np.multiply, label="same"),
    Case("div", lambda a, b: a / b, [(3, 4), (4,)], np.divide, domain="away_from_zero"),
    Case("div", lambda a: 3.0 / a, [(2, 3)], lambda a: 3.0 / a, domain="away_from_zero", label="rdiv"),
    Case("neg", lambda a: -a, [(2, 3)], np.negative),
    Case("pow", lambda a: a**3, [(2, 3)], lambda a: a * a * a, label="cube"),
    Case("pow", lambda a: a**2.5, [(4,)], lambda a: np.exp(2.5 * np.log(a)), domain="positive", label="real-exponent"),
    Case("pow", lambda a: 2.0**a, [(2, 3)], lambda a: np.exp(a * np.log(2.0)), label="const-base"),
    Case("pow", lambda a, b: a**b, [(3, 1), (3, 4)], lambda a, b: np.exp(b * np.log(a)), domain="positive",
         label="tensor-tensor"),
    Case("exp", tm.exp, [(2, 3)], np.exp),
    Case("log", tm.log, [(2, 3)], np.log, domain="positive"),
    Case("sqrt", tm.sqrt, [(2, 3)], np.sqrt, domain="positive"),
    Case("tanh", tm.tanh, [(2, 3)], lambda a: (np.exp(2 * a) - 1) / (np.exp(2 * a) + 1)),
    Case("sigmoid", tm.sigmoid, [(2, 3)], _sigmoid_ref),
    Case("relu", tm.relu, [(2, 3)], lambda a: a * (a > 0), domain="away_from_zero", second_order=False),
    Case("abs", tm.abs, [(2, 3)], lambda a: np.sqrt(a * a), domain="away_from_zero", second_order=False),
    Case("sum", lambda a: a.sum(), [(2, 3)], np.sum, label="all"),
    Case("sum", lambda a: a.sum(axis=1), [(2, 3, 4)], lambda a: a[:, 0] + a[:, 1] + a[:, 2], label="axis1"),
    Case("sum", lambda a: a.sum(axis=(0, 2), keepdims=True), [(2, 3, 4)],
         lambda a: np.sum(a, axis=(0, 2), keepdims=True), label="keepdims"),
    Case("mean", lambda a: a.mean(), [(2, 3)], lambda a: np.sum(a) / a.size, label="all"),
    Case("mean", lambda a: a.mean(axis=-1, keepdims=True), [(2, 3, 4)],
         lambda a: np.sum(a, axis=-1, keepdims=True) / 4, label="keepdims"),
    Case("logsumexp", lambda a: a.logsumexp(axis=-1), [(3, 4)], lambda a: _logsumexp_ref(a, -1), label="rows"),
    Case("logsumexp", lambda a: a.logsumexp(), [(2, 3)], _logsumexp_ref, label="all"),
    Case("logsumexp", lambda a: tm.logsumexp(a, axis=(0, 2), keepdims=True), [(2, 3, 2)],
         lambda a: _logsumexp_ref(a, (0, 2), True), label="keepdims"),
    Case("log_softmax", lambda a: tm.log_softmax(a, axis=0), [(3, 2)],
         lambda a: a - _logsumexp_ref(a, 0, True)),
    Case("softmax", lambda a: a.softmax(), [(2, 4)], lambda a: np.exp(a) / np.exp(a).sum(-1, keepdims=True)),
    Case("where", lambda a, b: tm.where(WHERE_MASK, a, b), [(3, 4), (4,)], lambda a, b: np.where(WHERE_MASK, a, b)),
    Case("where", lambda a: tm.where(a > 0, a, 0.1 * a), [(2, 3)], lambda a: np.where(a > 0, a, 0.1 * a),
         domain="away_from_zero", label="leaky-relu", second_order=False),
    Case("reshape", lambda a: a.reshape(3, 2) @ a, [(2, 3)], lambda a: a.reshape(3, 2) @ a),
    Case("ravel", lambda a: a.flatten() * tm.ravel(a), [(2, 3)], lambda a: a.reshape(-1) ** 2),
    Case("squeeze", lambda a: tm.squeeze(a, axis=1), [(3, 1, 2)], lambda a: a[:, 0, :]),
    Case("expand_dims", lambda a: tm.expand_dims(a, (0, 2)), [(3, 2)], lambda a: a[None, :, None, :]),
    Case("broadcast_to", lambda a: a.broadcast_to((2, 3, 4)), [(3, 1)], lambda a: np.broadcast_to(a, (2, 3, 4))),
    Case("sum_to", lambda a: tm.sum_to(a, (3, 1)), [(2, 3, 4)], lambda a: a.sum(axis=(0, 2)).reshape(3, 1)),
    Case("transpose", lambda a: a.T, [(2, 3)], lambda a: a.swapaxes(0, 1), label="matrix"),
    Case("transpose", lambda a: a.transpose(1, 2, 0), [(2, 3, 4)], lambda a: np.moveaxis(a, 0, 2), label="axes"),
    Case("matrix_transpose", lambda a: a.mT, [(2, 3, 4)], lambda a: a.swapaxes(-1, -2)),
    Case("getitem", lambda a: a[1], [(3, 4)], lambda a: a[1], label="int"),
    Case("getitem", lambda a: a[:, 1:3], [(3, 4)], lambda a: a[:, 1:3], label="slice"),
    Case("getitem", lambda a: a[np.array([0, 2, 0, 0])], [(3, 2)], lambda a: a[[0, 2, 0, 0]], label="repeats"),
    Case("getitem", lambda a: a[MASK], [(2, 3)], lambda a: a[MASK], label="mask"),
    Case("getitem", lambda a: a[..., np.array([1, 1]), None], [(2, 3)], lambda a: a[..., [1, 1], None], label="mixed"),
    Case("scatter_add", lambda a: tm.scatter_add(a, np.array([0, 2, 0]), (4, 2)), [(3, 2)],
         lambda a: np.stack([a[0] + a[2], np.zeros(2), a[1], np.zeros(2)])),
    Case("matmul", lambda a, b: a @ b, [(3, 4), (4, 2)], lambda a, b: np.einsum("ik,kj->ij", a, b), label="matrix"),
    Case("matmul", lambda a, b: a @ b, [(4,), (4, 3)], lambda a, b: np.einsum("k,kj->j", a, b), label="vec-mat"),
    Case("matmul", lambda a, b: a @ b, [(3, 4), (4,)], lambda a, b: np.einsum("ik,k->i", a, b), label="mat-vec"),
    Case("matmul", lambda a, b: a @ b, [(4,), (4,)], lambda a, b: np.einsum("k,k->", a, b), label="vec-vec"),
    Case("matmul", lambda a, b: a @ b, [(2, 3, 4), (4, 2)], lambda a, b: np.einsum("bik,kj->bij", a, b),
         label="stacked-broadcast"),
    Case("matmul", lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)],
         lambda a, b: np.einsum("...ik,...kj->...ij", a, b), label="batch-broadcast"),
    Case("matmul", lambda a, b: a @ b, [(4,), (2, 4, 3)], lambda a, b: np.einsum("k,bkj->bj", a, b), label="vec-stack"),
    Case("matmul", lambda a, b: a @ b, [(2, 3, 4), (4,)], lambda a, b: np.einsum("bik,k->bi", a, b), label="stack-vec"),
    Case("dot", lambda a, b: tm.dot(a, b) + a.dot(b), [(3, 4), (4,)], lambda a, b: 2 * np.einsum("ik,k->i", a, b)),
    Case("trace", tm.trace, [(3, 3)], lambda a: a[0, 0] + a[1, 1] + a[2, 2], label="square"),
    Case("trace", tm.trace, [(2, 3, 4)], lambda a: a[:, 0, 0] + a[:, 1, 1] + a[:, 2, 2], label="stacked-nonsquare"),
    Case("trace", lambda a: tm.trace(a, offset=1, axis1=0, axis2=2), [(3, 2, 4)],
         lambda a: a[0, :, 1] + a[1, :, 2] + a[2, :, 3], label="offset-axes"),
    Case("trace", lambda a: tm.trace(a, offset=-1, axis1=1, axis2=0), [(3, 4)],
         lambda a: a[0, 1] + a[1, 2] + a[2, 3], label="offset-reversed-axes"),
    Case("norm", tm.norm, [(4,)], lambda a: np.sqrt(np.sum(a * a)), domain="away_from_zero", label="vector"),
    Case("norm", tm.norm, [(3, 2)], lambda a: np.sqrt(np.sum(a * a)), domain="away_from_zero", label="frobenius"),
    Case("norm", lambda a: tm.norm(a, axis=(-2, -1)), [(2, 3, 2)], lambda a: np.sqrt(np.sum(a * a, axis=(1, 2))),
         domain="away_from_zero", label="stacked"),
    Case("norm", lambda a: tm.norm(a, axis=0, keepdims=True), [(3, 2)],
         lambda a: np.sqrt(np.sum(a * a, axis=0, keepdims=True)), domain="away_from_zero", label="axis"),
    Case("inv", tm.inv, [(3, 3)], lambda a: np.linalg.solve(a, np.eye(3)), domain="invertible"),
    Case("inv", tm.inv, [(2, 3, 3)], lambda a: np.linalg.solve(a, np.eye(3)), domain="invertible", label="stacked"),
    Case("det", tm.det, [(3, 3)], lambda a: np.prod(np.linalg.eigvals(a)).real, domain="invertible"),
    Case("det", tm.det, [(2, 3, 3)], lambda a: np.prod(np.linalg.eigvals(a), axis=-1).real,
         domain="invertible", label="stacked"),
    Case("cofactor", tm.cofactor, [(3, 3)], cofactor_by_minors, domain="invertible"),
    Case("cofactor", tm.cofactor, [(2, 4, 4)], cofactor_by_minors, label="stacked"),
    Case("cofactor_derivative", lambda a, e: apply(REGISTRY["cofactor_derivative"], (a, e)), [(3, 3), (3, 3)],
         _cofactor_derivative_ref, domain="invertible", tol={"rtol": 1e-5, "atol": 1e-6}),
    Case("logabsdet", tm.logabsdet, [(3, 3)], lambda a: np.log(np.abs(np.prod(np.linalg.eigvals(a)))),
         domain="invertible"),
    Case("slogdet", lambda a: tm.slogdet(a)[1], [(2, 3, 3)],
         lambda a: np.log(np.abs(np.prod(np.linalg.eigvals(a), axis=-1))), domain="invertible", label="stacked"),
    Case("solve", tm.solve, [(3, 3), (3, 2)], lambda a, b: np.linalg.inv(a) @ b, domain="invertible", label="matrix"),
    Case("solve", tm.solve, [(3, 3), (3,)], lambda a, b: np.linalg.inv(a) @ b, domain="invertible", label="vector"),
    Case("solve", tm.solve, [(2, 3, 3), (3,)], lambda a, b: np.einsum("bij,j->bi", np.linalg.inv(a), b),
         domain="invertible", label="stacked-vector"),
    Case("solve", tm.solve, [(2, 3, 3), (2, 3, 1)], lambda a, b: np.linalg.inv(a) @ b, domain="invertible",
         label="stacked"),
    Case("stack", lambda a, b: tm.stack([a, b * b, a], axis=1), [(2, 3), (2, 3)],
         lambda a, b: np.concatenate([a[:, None], (b * b)[:, None], a[:, None]], axis=1)),
    Case("stack", lambda a: tm.stack([a, a**2, 2.0]), [()], lambda a: np.array([a, a * a, 2.0]),
         label="scalars-and-constant"),
    Case("concatenate", lambda a, b: tm.concatenate([a, b, a], axis=-1), [(2, 3), (2, 1)],
         lambda a, b: np.hstack([a, b, a])),
    Case("concatenate", lambda a: tm.concatenate([a, np.ones(2)]), [(3,)], lambda a: np.r_[a, 1.0, 1.0],
         label="with-constant"),
    Case("alias", lambda a: apply(REGISTRY["alias"], (a,)) * a, [(2, 3)], lambda a: a * a),
    # Through float32 and back: linear, so a wide step keeps float32 rounding out of the estimate.
    Case("astype", lambda a: tm.astype(tm.astype(a, np.float32), np.float64) * 2.0, [(2, 3)],
         lambda a: 2.0 * a.astype(np.float32).astype(np.float64),
         tol={"rtol": 1e-4, "atol": 1e-4, "h": 1e-2, "dot": 1e-6}),  # tangents pass through float32
]
