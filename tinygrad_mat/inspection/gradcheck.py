"""Gradient checks, as JAX's ``check_grads`` and PyTorch's ``gradcheck``: derivatives against float64
central differences in random directions, to any order; and ``check_graph``, which checks every node
of a recorded graph on its own and names the first whose rule is wrong."""
import numpy as np

from .. import functional, namespaces, observe
from ..tensor import Tensor, TensorNS


class GradcheckError(AssertionError):
    """A derivative disagreed with central differences (the message shows where and by how much)."""


def _array(x):
    return np.asarray(x._data if isinstance(x, Tensor) else x, dtype=np.float64)


def _compare(got, expected, rtol, atol, what):
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    error = np.abs(got - expected)
    bound = atol + rtol * np.abs(expected)
    if not np.all(error <= bound):
        raise GradcheckError(f"{what}: got {np.array2string(got, precision=10)}, central differences give "
                             f"{np.array2string(expected, precision=10)} (max abs error {error.max():.3g})")


def gradcheck(f, *inputs, modes=("rev", "fwd"), order=2, eps=1e-6, rtol=1e-5, atol=1e-6, seed=0):
    """Check f's derivatives at ``inputs`` against central differences in random directions: forward
    mode J·v, reverse mode ⟨u, J v⟩ = ⟨Jᵀu, v⟩, and for ``order`` 2 the same for the derivative
    functions themselves. Returns True, or raises ``GradcheckError`` showing the mismatch.

    >>> import numpy as np, tinygrad_mat as tm
    >>> tm.gradcheck(lambda A: tm.logdet(A @ A.mT + np.eye(3)), np.random.default_rng(0).standard_normal((3, 3)))
    True
    """
    for mode in modes:
        if mode not in ("rev", "fwd"):
            raise ValueError(f"gradcheck: modes are 'rev' and 'fwd', not {mode!r}")
    rng = np.random.default_rng(seed)
    args = tuple(_array(x) for x in inputs)

    def value(fun, xs):
        return _array(fun(*xs))

    def check(fun, xs, level):
        directions = tuple(rng.standard_normal(x.shape) for x in xs)
        plus = value(fun, tuple(x + eps * v for x, v in zip(xs, directions)))
        minus = value(fun, tuple(x - eps * v for x, v in zip(xs, directions)))
        numeric = (plus - minus) / (2 * eps)
        where = f"order {order - level + 1}"
        if "fwd" in modes:
            tangent = functional.jvp(fun, xs, directions)[1]
            _compare(tangent, numeric, rtol, atol, f"gradcheck, forward mode ({where})")
        cotangent = rng.standard_normal(numeric.shape)
        if "rev" in modes:
            _, vjp_fn = functional.vjp(fun, *xs)
            pulled = vjp_fn(cotangent)
            got = sum(float(np.sum(_array(p) * v)) for p, v in zip(pulled, directions))
            _compare(got, float(np.sum(cotangent * numeric)), rtol, atol, f"gradcheck, reverse mode ({where})")
        if level > 1:
            if "fwd" in modes:
                check(lambda *a: functional.jvp(fun, a, directions)[1], xs, level - 1)
            if "rev" in modes:
                def pullback(*a):
                    pieces = functional.vjp(fun, *a)[1](cotangent)
                    return TensorNS.concatenate([TensorNS.reshape(p, (-1,)) for p in pieces])
                check(pullback, xs, level - 1)

    check(f, args, order)
    return True


def check_graph(y, eps=1e-6, rtol=1e-5, atol=1e-6, seed=0):
    """Check the reverse and forward rule of every node in ``y``'s recorded graph against central
    differences of that op alone, at the values it saw. Returns the number of nodes checked, or raises
    ``GradcheckError`` naming the first node that fails (its op, or a custom op by its function's name)
    and the line that created it (recorded under ``tm.track_sites()`` or ``tm.detect_anomaly()``).
    Call it before ``backward()`` releases the graph."""
    from .graph import Graph

    rng = np.random.default_rng(seed)
    graph = Graph(y)
    for view in graph:
        node = view.node
        op, params = node.op, node.params or {}
        arrays = [np.asarray(a, dtype=np.float64) if np.ndim(a) or isinstance(a, np.ndarray) else float(a)
                  for a in node.saved]
        evaluate = getattr(op, "evaluate", op.forward)
        # Only the inputs the graph differentiates move: a constant (the 2 of w ** 2) has no derivative
        # to check, and perturbing it can leave the op's domain (w ** 2.000001 at a negative w).
        needs = list(node.needs)
        directions = [rng.standard_normal(np.shape(a)) if need else np.zeros(np.shape(a))
                      for a, need in zip(arrays, needs)]
        plus = evaluate(*[a + eps * v if need else a for a, v, need in zip(arrays, directions, needs)], **params)
        minus = evaluate(*[a - eps * v if need else a for a, v, need in zip(arrays, directions, needs)], **params)
        numeric = (np.asarray(plus) - np.asarray(minus)) / (2 * eps)
        out = np.asarray(node.out)
        u = rng.standard_normal(out.shape)
        site = view.site or "unknown (create the graph under tm.track_sites() to see the line)"
        where = f"node %{view.index} ({op.name}), created at {site}"
        cotangents = op.vjp(namespaces.NUMPY, u, arrays, out, needs, **params)
        got = sum(float(np.sum(np.asarray(c) * v)) for c, v, need in zip(cotangents, directions, needs)
                  if need and c is not None)
        _compare(got, float(np.sum(u * numeric)), rtol, atol, f"check_graph: the reverse rule of {where}")
        inputs = [Tensor._wrap(np.array(a, dtype=np.float64)) for a in arrays]
        tangents = [Tensor._wrap(v) if need else None for v, need in zip(directions, needs)]
        tangent = op.jvp(TensorNS, tangents, inputs, Tensor._wrap(np.array(out)), **params)
        got = np.zeros(out.shape) if tangent is None else np.broadcast_to(_array(tangent), out.shape)
        _compare(got, numeric, rtol, atol, f"check_graph: the forward rule of {where}")
    return len(graph)
