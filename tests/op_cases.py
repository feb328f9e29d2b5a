"""The op table of the tests: each case is a function of Tensors, input shapes and a domain.

Every op in ``tinygrad_mat.ops.REGISTRY`` must appear in at least one case
(tests/test_rules.py checks), with broadcasting, vectors and stacked matrices
where the op allows them.
"""
from dataclasses import dataclass, field

import numpy as np

import tinygrad_mat as tm
from tinygrad_mat import engine
from tinygrad_mat.ops import REGISTRY


@dataclass
class Case:
    op: str
    fn: object
    shapes: list
    domain: str = "any"
    label: str = ""
    second_order: bool = True
    tol: dict = field(default_factory=dict)

    @property
    def id(self):
        return f"{self.op}-{self.label or 'x'.join(str(s) for s in self.shapes)}"


CASES = [
    Case("add", lambda a, b: a + b, [(3, 4), (4,)]),
    Case("add", lambda a, b: a + b, [(2, 1, 3), (4, 3)], label="broadcast-both"),
    Case("add", lambda a, b: a + b, [(), (2, 3)], label="scalar"),
    Case("sub", lambda a, b: a - b, [(3, 1), (1, 4)]),
    Case("sub", lambda a, b: 2.0 - a * b, [(3,), (3,)], label="rsub"),
    Case("mul", lambda a, b: a * b, [(2, 3, 4), (3, 1)]),
    Case("mul", lambda a, b: a * b, [(4,), (4,)], label="same"),
    Case("div", lambda a, b: a / b, [(3, 4), (4,)], domain="away_from_zero"),
    Case("div", lambda a: 3.0 / a, [(2, 3)], domain="away_from_zero", label="rdiv"),
    Case("neg", lambda a: -a, [(2, 3)]),
    Case("pow", lambda a: a**3, [(2, 3)], label="cube"),
    Case("pow", lambda a: a**2.5, [(4,)], domain="positive", label="real-exponent"),
    Case("pow", lambda a: 2.0**a, [(2, 3)], label="const-base"),
    Case("pow", lambda a, b: a**b, [(3, 1), (3, 4)], domain="positive", label="tensor-tensor"),
    Case("exp", tm.exp, [(2, 3)]),
    Case("log", tm.log, [(2, 3)], domain="positive"),
    Case("sqrt", tm.sqrt, [(2, 3)], domain="positive"),
    Case("tanh", tm.tanh, [(2, 3)]),
    Case("sigmoid", tm.sigmoid, [(2, 3)]),
    Case("relu", tm.relu, [(2, 3)], domain="away_from_zero", second_order=False),
    Case("abs", tm.abs, [(2, 3)], domain="away_from_zero", second_order=False),
    Case("sum", lambda a: a.sum(), [(2, 3)], label="all"),
    Case("sum", lambda a: a.sum(axis=1), [(2, 3, 4)], label="axis1"),
    Case("sum", lambda a: a.sum(axis=(0, 2), keepdims=True), [(2, 3, 4)], label="keepdims"),
    Case("mean", lambda a: a.mean(), [(2, 3)], label="all"),
    Case("mean", lambda a: a.mean(axis=-1, keepdims=True), [(2, 3, 4)], label="keepdims"),
    Case("logsumexp", lambda a: a.logsumexp(axis=-1), [(3, 4)], label="rows"),
    Case("logsumexp", lambda a: a.logsumexp(), [(2, 3)], label="all"),
    Case("logsumexp", lambda a: tm.logsumexp(a, axis=(0, 2), keepdims=True), [(2, 3, 2)], label="keepdims"),
    Case("reshape", lambda a: a.reshape(3, 2) @ a, [(2, 3)]),
    Case("broadcast_to", lambda a: a.broadcast_to((2, 3, 4)), [(3, 1)]),
    Case("transpose", lambda a: a.T, [(2, 3)], label="matrix"),
    Case("transpose", lambda a: a.transpose(1, 2, 0), [(2, 3, 4)], label="axes"),
    Case("transpose", lambda a: a.mT, [(2, 3, 4)], label="mT"),
    Case("getitem", lambda a: a[1], [(3, 4)], label="int"),
    Case("getitem", lambda a: a[:, 1:3], [(3, 4)], label="slice"),
    Case("getitem", lambda a: a[np.array([0, 2, 0, 0])], [(3, 2)], label="repeats"),
    Case("getitem", lambda a: a[np.array([[True, False, True], [False, True, True]])], [(2, 3)], label="mask"),
    Case("getitem", lambda a: a[..., np.array([1, 1]), None], [(2, 3)], label="mixed"),
    Case("scatter_add", lambda a: tm.scatter_add(a, np.array([0, 2, 0]), (4, 2)), [(3, 2)]),
    Case("matmul", lambda a, b: a @ b, [(3, 4), (4, 2)], label="matrix"),
    Case("matmul", lambda a, b: a @ b, [(4,), (4, 3)], label="vec-mat"),
    Case("matmul", lambda a, b: a @ b, [(3, 4), (4,)], label="mat-vec"),
    Case("matmul", lambda a, b: a @ b, [(4,), (4,)], label="vec-vec"),
    Case("matmul", lambda a, b: a @ b, [(2, 3, 4), (4, 2)], label="stacked-broadcast"),
    Case("matmul", lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)], label="batch-broadcast"),
    Case("matmul", lambda a, b: a @ b, [(4,), (2, 4, 3)], label="vec-stack"),
    Case("matmul", lambda a, b: a @ b, [(2, 3, 4), (4,)], label="stack-vec"),
    Case("trace", tm.trace, [(3, 3)], label="square"),
    Case("trace", tm.trace, [(2, 3, 4)], label="stacked-nonsquare"),
    Case("norm", tm.norm, [(4,)], domain="away_from_zero", label="vector"),
    Case("norm", tm.norm, [(3, 2)], domain="away_from_zero", label="frobenius"),
    Case("norm", lambda a: tm.norm(a, axis=(-2, -1)), [(2, 3, 2)], domain="away_from_zero", label="stacked"),
    Case("norm", lambda a: tm.norm(a, axis=0, keepdims=True), [(3, 2)], domain="away_from_zero", label="axis"),
    Case("inv", tm.inv, [(3, 3)], domain="invertible"),
    Case("inv", tm.inv, [(2, 3, 3)], domain="invertible", label="stacked"),
    Case("det", tm.det, [(3, 3)], domain="invertible"),
    Case("det", tm.det, [(2, 3, 3)], domain="invertible", label="stacked"),
    Case("slogdet", lambda a: tm.slogdet(a)[1], [(3, 3)], domain="invertible"),
    Case("slogdet", lambda a: tm.slogdet(a)[1], [(2, 3, 3)], domain="invertible", label="stacked"),
    Case("solve", tm.solve, [(3, 3), (3, 2)], domain="invertible", label="matrix"),
    Case("solve", tm.solve, [(3, 3), (3,)], domain="invertible", label="vector"),
    Case("solve", tm.solve, [(2, 3, 3), (3,)], domain="invertible", label="stacked-vector"),
    Case("solve", tm.solve, [(2, 3, 3), (2, 3, 1)], domain="invertible", label="stacked"),
    Case("stack", lambda a, b: tm.stack([a, b * b, a], axis=1), [(2, 3), (2, 3)]),
    Case("stack", lambda a: tm.stack([a, a**2, 2.0]), [()], label="scalars-and-constant"),
    Case("concatenate", lambda a, b: tm.concatenate([a, b, a], axis=-1), [(2, 3), (2, 1)]),
    Case("concatenate", lambda a: tm.concatenate([a, np.ones(2)]), [(3,)], label="with-constant"),
    Case("alias", lambda a: engine.apply(REGISTRY["alias"], (a,)) * a, [(2, 3)]),
    # Through float32 and back: linear, so a wide step keeps float32 rounding out of the estimate.
    Case("cast", lambda a: tm.astype(tm.astype(a, np.float32), np.float64) * 2.0, [(2, 3)],
         tol={"rtol": 1e-4, "atol": 1e-4, "h": 1e-2, "dot": 1e-6}),  # tangents pass through float32
]
