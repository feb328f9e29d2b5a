"""The op table of the tests: each case is a function of Tensors, input shapes, a domain, and an
independent numpy reference for its values.

Every record in ``tinygrad_mat.ops.REGISTRY`` (primitives and composites) must appear in at least one
case (tests/test_rules.py checks), with broadcasting, vectors and stacked matrices where the op
allows them. ``ref`` is written with numpy alone, never with tinygrad_mat.
"""
import math
from dataclasses import dataclass, field

import numpy as np

import tinygrad_mat as tm
from tinygrad_mat.ops import REGISTRY
from tinygrad_mat.tensor import TensorNS, apply

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
SPARSE_DENSE = np.array([[1.0, 0.0, -2.0, 0.0], [0.0, 0.5, 0.0, 0.0], [3.0, 0.0, 0.0, 1.5]])
SPARSE = __import__("scipy.sparse", fromlist=["csr_matrix"]).csr_matrix(SPARSE_DENSE)
WHERE_MASK = np.array([True, False, False, True])


def _sigmoid_ref(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logsumexp_ref(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


def _linear_mse_parts_ref(scale):
    """[L, ∂L/∂W, ∂L/∂b] of L = scale·‖XW + b − Y‖², written with numpy alone."""

    def ref(x, w, b, y):
        w2 = w.reshape(w.shape[0], -1)
        r = x @ w2 + b - y.reshape(y.shape[0], -1)
        gb = 2 * scale * (r.sum() if np.ndim(b) == 0 else r.sum(axis=0))
        return np.concatenate([[scale * np.sum(r * r)], (2 * scale * x.T @ r).reshape(-1), np.ravel(gb)])

    return ref


def _linear_mse_parts(scale):
    return lambda x, w, b, y: TensorNS.linear_mse_parts(x, w, b, y, scale)


CASES = [
    Case("add", lambda a, b: a + b, [(3, 4), (4,)], np.add),
    Case("linear_mse_parts", _linear_mse_parts(0.25), [(6, 3), (3,), (), (6,)], _linear_mse_parts_ref(0.25),
         label="one-column"),
    Case("linear_mse_parts", _linear_mse_parts(1.0), [(5, 3), (3, 2), (2,), (5, 2)], _linear_mse_parts_ref(1.0),
         label="two-columns"),
    Case("linear_mse_parts", _linear_mse_parts(0.5), [(4, 2), (2, 3), (), (4, 3)], _linear_mse_parts_ref(0.5),
         label="scalar-bias"),
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
    Case("cast_float", lambda a: apply(REGISTRY["cast_float"], (a,), {"dtype": np.dtype(np.float32)}) * 2.0, [(2, 3)],
         lambda a: 2.0 * a.astype(np.float32), tol={"rtol": 1e-4, "atol": 1e-4, "h": 1e-2, "dot": 1e-6}),
]

# ---------------------------------------------------------------- elementary functions
UNARY = {
    "sin": ("any", np.sin), "cos": ("any", np.cos), "tan": ("unit", np.tan), "arcsin": ("unit", np.arcsin),
    "arccos": ("unit", np.arccos), "arctan": ("any", np.arctan), "sinh": ("any", np.sinh),
    "cosh": ("any", np.cosh), "arcsinh": ("any", np.arcsinh), "arccosh": ("above_one", np.arccosh),
    "arctanh": ("unit", np.arctanh), "log2": ("positive", np.log2), "log10": ("positive", np.log10),
    "log1p": ("positive", np.log1p), "expm1": ("any", np.expm1), "exp2": ("any", np.exp2),
    "square": ("any", np.square), "reciprocal": ("away_from_zero", np.reciprocal),
    "cbrt": ("away_from_zero", np.cbrt), "erf": ("any", np.vectorize(math.erf)),
    "softplus": ("any", lambda a: np.log1p(np.exp(a))), "log_sigmoid": ("any", lambda a: -np.log1p(np.exp(-a))),
    "sinc": ("any", lambda a: np.sin(np.pi * a) / (np.pi * a)),
    "floor": ("any", np.floor), "ceil": ("any", np.ceil), "round": ("any", np.round), "rint": ("any", np.rint),
    "sign": ("away_from_zero", np.sign),
}
CASES += [Case(name, getattr(tm, name), [(2, 3)], ref, domain=domain) for name, (domain, ref) in UNARY.items()]
CASES += [
    Case("round", lambda a: tm.round(a * 100.0, 1), [(4,)], lambda a: np.round(a * 100.0, 1), label="decimals"),
    Case("arctan2", tm.arctan2, [(3, 1), (3, 4)], np.arctan2, domain="away_from_zero"),
    Case("hypot", tm.hypot, [(3, 4), (4,)], lambda a, b: np.sqrt(a * a + b * b), domain="away_from_zero"),
    Case("logaddexp", tm.logaddexp, [(2, 3), (3,)], lambda a, b: np.log(np.exp(a) + np.exp(b))),
    Case("mod", lambda a, b: a % b, [(3, 4), (4,)], lambda a, b: a - np.floor(a / b) * b, domain="away_from_zero"),
    Case("remainder", tm.remainder, [(3, 4), (4,)], lambda a, b: a - np.floor(a / b) * b, domain="away_from_zero"),
    Case("fmod", tm.fmod, [(3, 4), (4,)], lambda a, b: a - np.trunc(a / b) * b, domain="away_from_zero"),
    # ------------------------------------------------------------ selection
    Case("maximum", tm.maximum, [(3, 4), (4,)], lambda a, b: np.where(a > b, a, b)),
    Case("minimum", tm.minimum, [(3, 1), (3, 4)], lambda a, b: np.where(a < b, a, b)),
    Case("clip", lambda a: tm.clip(a, -0.5, 0.5), [(3, 4)], lambda a: np.minimum(np.maximum(a, -0.5), 0.5)),
    Case("clip", lambda a, lo: a.clip(lo, None), [(3, 4), (4,)], lambda a, lo: np.where(a > lo, a, lo),
         label="tensor-bound"),
    Case("max", lambda a: tm.max(a, axis=1), [(3, 4)], lambda a: np.sort(a, axis=1)[:, -1]),
    Case("max", lambda a: a.max(), [(2, 3, 2)], lambda a: np.sort(a.reshape(-1))[-1], label="all"),
    Case("min", lambda a: tm.min(a, axis=(0, 2), keepdims=True), [(2, 3, 2)],
         lambda a: np.sort(np.moveaxis(a, 1, 0).reshape(3, -1), axis=1)[:, 0].reshape(1, 3, 1)),
    Case("amax", lambda a: tm.amax(a, 0), [(3, 4)], lambda a: np.sort(a, axis=0)[-1]),
    Case("amin", lambda a: tm.amin(a, 0), [(3, 4)], lambda a: np.sort(a, axis=0)[0]),
    Case("argmax", lambda a: a * tm.argmax(a, axis=1)[:, None], [(3, 4)],
         lambda a: a * np.array([list(row).index(max(row)) for row in a])[:, None]),
    Case("argmin", lambda a: a * tm.argmin(a), [(3, 4)], lambda a: a * list(a.reshape(-1)).index(a.min())),
    Case("argsort", lambda a: a * tm.argsort(a), [(5,)], lambda a: a * np.array(sorted(range(5), key=lambda i: a[i]))),
    Case("sort", lambda a: tm.sort(a, axis=0), [(4, 3)], lambda a: np.array([sorted(col) for col in a.T]).T),
    # ------------------------------------------------------------ reductions and scans
    Case("prod", lambda a: tm.prod(a, axis=1), [(3, 4)], lambda a: a[:, 0] * a[:, 1] * a[:, 2] * a[:, 3]),
    Case("prod", lambda a: a.prod(), [(2, 3)], lambda a: np.exp(np.sum(np.log(np.abs(a)))) * np.prod(np.sign(a)),
         domain="away_from_zero", label="all"),
    Case("var", lambda a: tm.var(a, axis=0, ddof=1), [(4, 3)], lambda a: ((a - a.mean(0)) ** 2).sum(0) / 3),
    Case("std", lambda a: a.std(axis=1, keepdims=True), [(3, 4)],
         lambda a: np.sqrt(((a - a.mean(1, keepdims=True)) ** 2).mean(1, keepdims=True))),
    Case("cumsum", lambda a: tm.cumsum(a, axis=1), [(2, 4)], lambda a: np.stack([a[:, :k + 1].sum(1) for k in range(4)], 1)),
    Case("cumsum", lambda a: a.cumsum(), [(2, 3)], lambda a: np.array([a.reshape(-1)[:k + 1].sum() for k in range(6)]),
         label="flat"),
    Case("cumprod", lambda a: tm.cumprod(a, axis=0), [(4, 2)], lambda a: np.stack([a[:k + 1].prod(0) for k in range(4)])),
    # ------------------------------------------------------------ layout and indexing
    Case("moveaxis", lambda a: tm.moveaxis(a, 0, -1), [(2, 3, 4)], lambda a: a.transpose(1, 2, 0)),
    Case("swapaxes", lambda a: a.swapaxes(0, 2), [(2, 3, 4)], lambda a: a.transpose(2, 1, 0)),
    Case("flip", lambda a: tm.flip(a, 1), [(2, 3)], lambda a: a[:, ::-1]),
    Case("take", lambda a: tm.take(a, [2, 0, 2], axis=1), [(2, 3)], lambda a: a[:, [2, 0, 2]]),
    Case("take_along_axis", lambda a: tm.take_along_axis(a, np.array([[1, 1], [0, 2]]), 1), [(2, 3)],
         lambda a: np.array([[a[0, 1], a[0, 1]], [a[1, 0], a[1, 2]]])),
    Case("roll", lambda a: tm.roll(a, 1, axis=1), [(2, 3)], lambda a: a[:, [2, 0, 1]]),
    Case("repeat", lambda a: tm.repeat(a, 2, axis=0), [(2, 3)], lambda a: a[[0, 0, 1, 1]]),
    Case("tile", lambda a: tm.tile(a, (2, 1)), [(2, 3)], lambda a: np.concatenate([a, a])),
    Case("pad", lambda a: tm.pad(a, ((1, 0), (0, 2)), constant_values=3.0), [(2, 3)],
         lambda a: np.block([[np.full((1, 5), 3.0)], [a, np.full((2, 2), 3.0)]])),
    Case("index_update", lambda a, v: tm.index_update(a, (slice(None), [0, 2]), v), [(3, 4), (3, 1)],
         lambda a, v: np.concatenate([v, a[:, 1:2], v, a[:, 3:]], axis=1)),
    Case("split", lambda a: tm.concatenate(tm.split(a, 2, axis=1)[::-1], axis=1), [(2, 4)],
         lambda a: np.concatenate([a[:, 2:], a[:, :2]], axis=1)),
    Case("array_split", lambda a: tm.array_split(a, 2)[0] * 2.0, [(5,)], lambda a: a[:3] * 2.0),
    Case("hsplit", lambda a: tm.hsplit(a, [1])[1], [(2, 3)], lambda a: a[:, 1:]),
    Case("vsplit", lambda a: tm.vsplit(a, 2)[1], [(4, 2)], lambda a: a[2:]),
    Case("atleast_1d", tm.atleast_1d, [()], lambda a: a.reshape(1)),
    Case("atleast_2d", tm.atleast_2d, [(3,)], lambda a: a.reshape(1, 3)),
    Case("atleast_3d", tm.atleast_3d, [(2, 3)], lambda a: a.reshape(2, 3, 1)),
    Case("vstack", lambda a, b: tm.vstack([a, b]), [(3,), (2, 3)], lambda a, b: np.concatenate([a[None], b])),
    Case("hstack", lambda a, b: tm.hstack([a, b]), [(2, 1), (2, 3)], lambda a, b: np.concatenate([a, b], 1)),
    Case("dstack", lambda a, b: tm.dstack([a, b]), [(2, 3), (2, 3)], lambda a, b: np.stack([a, b], 2)),
    Case("diagonal", lambda a: tm.diagonal(a, 1, 1, 2), [(2, 3, 4)], lambda a: np.stack([a[:, i, i + 1] for i in range(3)], -1)),
    Case("diag", lambda v: tm.diag(v, -1), [(3,)], lambda v: np.array([[0, 0, 0, 0], [v[0], 0, 0, 0], [0, v[1], 0, 0], [0, 0, v[2], 0]])),
    Case("diag", lambda a: tm.diag(a), [(3, 3)], lambda a: np.array([a[0, 0], a[1, 1], a[2, 2]]), label="extract"),
    Case("tril", lambda a: tm.tril(a, -1), [(2, 3, 3)], lambda a: a * np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0]])),
    Case("triu", lambda a: tm.triu(a), [(3, 4)], lambda a: a * (np.arange(4)[None, :] >= np.arange(3)[:, None])),
]

# ---------------------------------------------------------------- numpy's other spellings
CASES += [
    Case("deg2rad", tm.deg2rad, [(2, 3)], lambda a: a * math.pi / 180),
    Case("radians", tm.radians, [(3,)], lambda a: a * math.pi / 180),
    Case("rad2deg", tm.rad2deg, [(2, 3)], lambda a: a * 180 / math.pi),
    Case("degrees", tm.degrees, [(3,)], lambda a: a * 180 / math.pi),
    Case("fabs", tm.fabs, [(2, 3)], lambda a: np.sqrt(a * a), domain="away_from_zero", second_order=False),
    Case("logaddexp2", tm.logaddexp2, [(2, 3), (3,)], lambda a, b: np.log2(2.0 ** a + 2.0 ** b)),
    Case("real", lambda a: tm.real(a) * a, [(2, 3)], lambda a: a * a),
    Case("real_if_close", lambda a: tm.real_if_close(a) * a, [(2, 3)], lambda a: a * a),
    Case("conjugate", lambda a: tm.conjugate(a) * a, [(2, 3)], lambda a: a * a),
    Case("imag", lambda a: tm.imag(a) + a, [(2, 3)], lambda a: a),
    Case("angle", lambda a: tm.angle(a) + a, [(2, 3)], lambda a: a + math.pi * (a < 0), domain="away_from_zero"),
    Case("fmax", tm.fmax, [(3, 1), (3, 4)], lambda a, b: (a > b) * a + (a <= b) * b),
    Case("fmax", lambda a: tm.fmax(a, np.array([np.nan, 0.5, np.nan])), [(2, 3)],
         lambda a: np.where([True, False, True], a, (a > 0.5) * a + (a <= 0.5) * 0.5), label="nan"),
    Case("sqrt_flat_at_zero", lambda a: tm.std(a, axis=1), [(2, 3)],
         lambda a: np.sqrt(((a - a.mean(1, keepdims=True)) ** 2).mean(1))),
    Case("sqrt_flat_at_zero", lambda a: tm.std(a, axis=0) + a, [(1, 3)], lambda a: a, label="length-one-axis"),
    Case("fmin", tm.fmin, [(3, 4), (4,)], lambda a, b: (a < b) * a + (a >= b) * b),
    Case("nan_to_num", lambda a: tm.nan_to_num(a + np.array([0.0, np.inf, np.nan]), posinf=7.0), [(2, 3)],
         lambda a: np.where([True, False, False], a, [0.0, 7.0, 0.0])),
    Case("select", lambda a, b: tm.select([MASK, ~MASK], [a, b * 2.0], 5.0), [(2, 3), (2, 3)],
         lambda a, b: MASK * a + ~MASK * 2.0 * b),
    # numpy orders the entries within each side of the kth freely: compare the sides' sums
    Case("partition", lambda a: (lambda p: tm.stack([p[:2].sum(), p[2], p[3:].sum()]))(tm.partition(a, 2)), [(5,)],
         lambda a: (lambda s: np.array([s[:2].sum(), s[2], s[3:].sum()]))(np.sort(a))),
    Case("flipud", tm.flipud, [(3, 2)], lambda a: a[::-1]),
    Case("fliplr", tm.fliplr, [(2, 3)], lambda a: a[:, ::-1]),
    Case("rot90", lambda a: tm.rot90(a, 1, (1, 2)), [(2, 3, 4)], lambda a: np.stack([m.T[::-1] for m in a])),
    Case("rollaxis", lambda a: tm.rollaxis(a, 2), [(2, 3, 4)], lambda a: a.transpose(2, 0, 1)),
    Case("column_stack", lambda a, b: tm.column_stack([a, b]), [(3,), (3, 2)], lambda a, b: np.c_[a, b]),
    Case("dsplit", lambda a: tm.dsplit(a, [1])[1], [(2, 2, 3)], lambda a: a[:, :, 1:]),
    Case("append", lambda a, b: tm.append(a, b), [(2, 2), (3,)], lambda a, b: np.r_[a.reshape(-1), b]),
    Case("linspace_between", lambda a, b: np.linspace(a, b, 4, axis=-1), [(3,), (2, 3)],
         lambda a, b: np.stack([a + (b - a) * t for t in (0, 1 / 3, 2 / 3, 1)], -1)),
    Case("diff", lambda a: tm.diff(a, 2, axis=0, prepend=1.0), [(4, 3)],
         lambda a: np.concatenate([np.ones((1, 3)), a])[2:] - 2 * np.concatenate([np.ones((1, 3)), a])[1:-1]
         + np.concatenate([np.ones((1, 3)), a])[:-2]),
    Case("gradient", lambda a: tm.gradient(a, 0.5, axis=1, edge_order=2), [(2, 4)],
         lambda a: np.stack([(-3 * a[:, 0] + 4 * a[:, 1] - a[:, 2]), a[:, 2] - a[:, 0], a[:, 3] - a[:, 1],
                             (3 * a[:, 3] - 4 * a[:, 2] + a[:, 1])], 1)),
]

# ---------------------------------------------------------------- contractions
CASES += [
    Case("einsum", lambda a, b: tm.einsum("ij,jk->ik", a, b), [(2, 3), (3, 4)], lambda a, b: a @ b),
    Case("einsum", lambda a: tm.einsum("ii->i", a), [(3, 3)], np.diagonal, label="diagonal"),
    Case("einsum", lambda a: tm.einsum("iij->j", a), [(3, 3, 2)], lambda a: a[0, 0] + a[1, 1] + a[2, 2], label="trace"),
    Case("einsum", lambda x, a: tm.einsum("i,ij,j", x, a, x), [(3,), (3, 3)], lambda x, a: x @ a @ x, label="implicit"),
    Case("einsum", lambda a, b: tm.einsum("...ij,...jk", a, b), [(2, 1, 2, 3), (4, 3, 2)],
         lambda a, b: np.matmul(a, b), label="ellipsis-broadcast"),
    Case("einsum", lambda a, b: tm.einsum("ij,kj->", a, b), [(2, 3), (4, 3)],
         lambda a, b: a.sum(0) @ b.sum(0), label="summed-out"),
    Case("einsum_explicit", lambda a, b: tm.einsum("ik,ik->i", a, b), [(3, 4), (3, 4)], lambda a, b: (a * b).sum(1)),
    Case("tensordot", lambda a, b: tm.tensordot(a, b, ([0, 2], [1, 0])), [(2, 3, 4), (4, 2, 5)],
         lambda a, b: np.einsum("ijk,kil->jl", a, b)),
    Case("inner", tm.inner, [(2, 3), (4, 3)], lambda a, b: a @ b.T),
    Case("outer", tm.outer, [(3,), (2, 2)], lambda a, b: a[:, None] * b.reshape(-1)[None, :]),
    Case("vdot", tm.vdot, [(2, 3), (3, 2)], lambda a, b: (a.reshape(-1) * b.reshape(-1)).sum()),
    Case("dot", lambda a, b: tm.dot(a, b), [(2, 3, 4), (4, 2)], lambda a, b: np.einsum("ijk,kl->ijl", a, b), label="nd"),
    Case("linear", tm.linear, [(2, 5, 3), (4, 3), (4,)], lambda x, w, b: np.einsum("bij,kj->bik", x, w) + b),
    Case("linear", tm.linear, [(3,), (4, 3)], lambda x, w: w @ x, label="vector-no-bias"),
    # masks the rules build (internal ops): piecewise constant, derivative 0
    Case("gt", lambda a, b: TensorNS.gt(a, b), [(3, 4), (4,)], lambda a, b: (a > b) * 1.0),
    Case("ge", lambda a: TensorNS.ge(a, 0.0), [(3,)], lambda a: (a >= 0.0) * 1.0),
    Case("eq", lambda a, b: TensorNS.eq(a, b), [(2, 3), (2, 3)], lambda a, b: (a == b) * 1.0),
    Case("eq", lambda a: TensorNS.eq(TensorNS.floor(a * 0.0), 0.0), [(3,)], lambda a: np.ones(3), label="hits"),
    Case("ne", lambda a, b: TensorNS.ne(a, b), [(2, 3), (3,)], lambda a, b: (a != b) * 1.0),
    Case("isfinite_mask", lambda a: TensorNS.isfinite_mask(a), [(4,)], lambda a: np.isfinite(a) * 1.0),
    Case("isnan_mask", lambda a: TensorNS.isnan_mask(a), [(4,)], lambda a: np.isnan(a) * 1.0),
    # scipy.sparse constants (scipy comes with scikit-learn in the test extra)
    Case("sparse_matmul", lambda x: SPARSE @ x, [(4, 2)], lambda x: SPARSE_DENSE @ x, label="left-matrix"),
    Case("sparse_matmul", lambda x: SPARSE @ x, [(4,)], lambda x: SPARSE_DENSE @ x, label="left-vector"),
    Case("sparse_matmul", lambda x: x @ SPARSE.T, [(2, 4)], lambda x: x @ SPARSE_DENSE.T, label="right-matrix"),
    Case("sparse_matmul", lambda x: tm.linear(SPARSE, x), [(2, 4)], lambda w: SPARSE_DENSE @ w.T, label="linear"),
    Case("kron", tm.kron, [(2, 3), (2, 2)], lambda a, b: np.block([[a[i, j] * b for j in range(3)] for i in range(2)])),
    Case("cross", tm.cross, [(2, 3), (3,)], lambda a, b: np.stack([a[:, 1] * b[2] - a[:, 2] * b[1],
                                                                  a[:, 2] * b[0] - a[:, 0] * b[2],
                                                                  a[:, 0] * b[1] - a[:, 1] * b[0]], 1)),
    Case("matrix_power", lambda a: tm.matrix_power(a, 3), [(2, 3, 3)], lambda a: a @ a @ a),
    Case("matrix_power", lambda a: tm.matrix_power(a, -2), [(3, 3)], lambda a: np.linalg.inv(a @ a),
         domain="invertible", label="negative"),
]

# ---------------------------------------------------------------- decompositions (symmetric input symmetrised)
def _sym(a):
    return 0.5 * (a + np.swapaxes(a, -1, -2))


def _mirror(a, uplo):
    """The symmetric matrix made of a's lower ('L') or upper ('U') triangle."""
    part = np.tril(a, -1) if uplo == "L" else np.triu(a, 1)
    return part + np.swapaxes(part, -1, -2) + a * np.eye(a.shape[-1])


def _spd(a):
    return _sym(a) + 4.0 * np.eye(a.shape[-1])


W4 = np.random.default_rng(99).standard_normal((4, 4))
CASES += [
    Case("cholesky", lambda a: tm.cholesky(_spd(a)), [(3, 3)], lambda a: np.linalg.cholesky(_spd(a))),
    Case("cholesky", lambda a: tm.cholesky(_spd(a)), [(2, 3, 3)], lambda a: np.linalg.cholesky(_spd(a)), label="stacked"),
    Case("eigh", lambda a: tm.eigh(_sym(a))[0], [(4, 4)], lambda a: np.linalg.eigvalsh(_sym(a))),
    Case("eigh_packed", lambda a: tm.eigh(_sym(a))[1] ** 2 * W4, [(4, 4)], lambda a: np.linalg.eigh(_sym(a))[1] ** 2 * W4),
    Case("eigvalsh", lambda a: tm.eigvalsh(_sym(a)), [(2, 3, 3)], lambda a: np.linalg.eigvalsh(_sym(a))),
    # numpy's functions of one triangle, on non-symmetric input: the reference mirrors that triangle itself
    Case("cholesky", lambda a: tm.cholesky(0.3 * a + 3.0 * np.eye(3)), [(3, 3)],
         lambda a: np.linalg.cholesky(_mirror(0.3 * a + 3.0 * np.eye(3), "L")), label="lower-triangle-read"),
    Case("eigvalsh", lambda a: tm.eigvalsh(a, "U"), [(3, 3)], lambda a: np.linalg.eigvalsh(_mirror(a, "U")),
         label="upper-triangle-read"),
    Case("eigh_packed", lambda a: tm.eigh(a, UPLO="U")[1] ** 2 * W4, [(4, 4)],
         lambda a: np.linalg.eigh(_mirror(a, "U"))[1] ** 2 * W4, label="upper-triangle-read"),
    Case("svdvals", tm.svdvals, [(4, 3)], lambda a: np.linalg.svd(a, compute_uv=False)),
    Case("svd", lambda a: tm.svd(a, full_matrices=False)[0] ** 2, [(4, 3)],
         lambda a: np.linalg.svd(a, full_matrices=False)[0] ** 2),
    Case("svd_packed", lambda a: tm.svd(a, full_matrices=False)[2] ** 2, [(3, 5)],
         lambda a: np.linalg.svd(a, full_matrices=False)[2] ** 2, label="wide"),
    Case("qr", lambda a: tm.qr(a)[1], [(4, 3)], lambda a: np.linalg.qr(a)[1]),
    Case("qr_packed", lambda a: tm.qr(a)[0], [(2, 4, 3)], lambda a: np.linalg.qr(a)[0], label="stacked"),
    Case("pinv", tm.pinv, [(4, 3)], lambda a: np.linalg.solve(a.T @ a, a.T)),
    Case("pinv", tm.pinv, [(2, 4)], lambda a: a.T @ np.linalg.inv(a @ a.T), label="wide"),
    Case("lstsq", lambda a, b: tm.lstsq(a, b)[0], [(5, 3), (5,)], lambda a, b: np.linalg.solve(a.T @ a, a.T @ b)),
    Case("expm", tm.expm, [(3, 3)], lambda a: sum(np.linalg.matrix_power(a, k) / math.factorial(k) for k in range(40))),
    Case("logdet", lambda a: tm.logdet(_spd(a)), [(2, 3, 3)], lambda a: np.log(np.linalg.det(_spd(a)))),
    Case("vector_norm", lambda a: tm.vector_norm(a, axis=1, ord=3), [(2, 3)],
         lambda a: (np.abs(a) ** 3).sum(1) ** (1 / 3), domain="away_from_zero"),
    Case("vector_norm", lambda a: tm.vector_norm(a, ord=np.inf), [(2, 3)], lambda a: np.abs(a).max(), label="inf",
         domain="away_from_zero"),
    Case("matrix_norm", lambda a: tm.matrix_norm(a, ord="nuc"), [(2, 3, 3)],
         lambda a: np.linalg.svd(a, compute_uv=False).sum(-1)),
    Case("matrix_norm", lambda a: tm.matrix_norm(a, ord=1), [(3, 4)], lambda a: np.abs(a).sum(0).max(), label="ord1",
         domain="away_from_zero"),
    Case("matrix_norm", lambda a: tm.matrix_norm(a, ord=-2), [(3, 3)],
         lambda a: np.linalg.svd(a, compute_uv=False).min(), label="ord-2"),
    Case("euclidean_norm", lambda a: tm.norm(a, axis=1), [(3, 4)], lambda a: np.sqrt((a * a).sum(1)),
         domain="away_from_zero"),
]
