"""The batched reverse pass (a leading axis of B cotangents through one pass, Op.vjp_batching): every op of
the table against one direction at a time, in the numpy namespace and recorded (Tensors), to second
order; jacrev against jacfwd and central differences; nested transforms; chunking; the engine's
checks on what a batched rule returns.
"""
import numpy as np
import pytest

import tinygrad_mat as tm
from tinygrad_mat import functional
from tinygrad_mat.errors import RuleError
from tinygrad_mat.functional import Pullback
from tinygrad_mat.ops import REGISTRY

from helpers import assert_close, central_jacobian, random_inputs
from op_cases import CASES, Case

BATCH = 3
# Index arrays separated by a slice: numpy moves their axes to the front, so a batch axis put before the
# index would not stay first (these ops must go direction by direction); and shapes the table lacks.
SEPARATED = (np.array([0, 1, 1]), slice(None), np.array([1, 0, 1]))
EXTRA = [
    Case("getitem", lambda a: a[SEPARATED], [(2, 3, 2)], lambda a: a[SEPARATED], label="separated-arrays"),
    Case("scatter_add", lambda v: tm.scatter_add(v, SEPARATED, (2, 3, 2)), [(3, 3)], None, label="separated-arrays"),
    Case("index_update", lambda a, v: tm.index_update(a, (np.array([0, 1]), slice(None), np.array([1, 0])), v),
         [(2, 3, 2), (2, 3)], None, label="separated-arrays"),
    Case("cumsum", lambda a: a.cumsum(), [(4,)], np.cumsum, label="flat-vector"),
    Case("linear", tm.linear, [(5, 3), (4, 3), (5, 1)], None, label="column-bias"),
    Case("matmul", lambda a, b: a @ b, [(2, 3, 4), (2, 4, 2)], np.matmul, label="stacked-both"),
    Case("max", lambda a: a.max(axis=0), [(3, 4)], None, label="axis0"),
]
CASES = CASES + EXTRA


def _setup(case, seed):
    rng = np.random.default_rng(seed)
    xs = random_inputs(rng, case.shapes, case.domain)
    with tm.no_grad():
        out_shape = case.fn(*[tm.tensor(x) for x in xs]).shape
    cotangents = rng.standard_normal((BATCH,) + out_shape)
    return xs, cotangents, rng


def _one_at_a_time(case, primals, cotangents):
    """Each direction's cotangents from its own (plain) reverse pass, stacked: (B, *shape) per input."""
    pullback = Pullback(case.fn, tuple(primals), False, "vjp", {})
    pieces = [pullback(u) for u in cotangents]
    return [np.stack([np.asarray(getattr(p[i], "_data", p[i])) for p in pieces]) for i in range(len(primals))]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_batched_cotangents_equal_one_direction_at_a_time(case):
    """Three cotangents pushed back in one pass give what three reverse passes give, whether the op
    handles the batch itself (its vjp_batching) or the engine loops; with numpy arrays (the rules run
    in numpy) and with Tensors (the pass is recorded, the rules run on Tensors)."""
    xs, cotangents, _ = _setup(case, 31)
    expected = _one_at_a_time(case, xs, cotangents)
    arrays = Pullback(case.fn, tuple(xs), False, "vjp", {}).batched(cotangents)
    for got, want, x in zip(arrays, expected, xs):
        assert isinstance(got, np.ndarray) and got.shape == (BATCH,) + x.shape, case.id
        assert_close(got, want, rtol=1e-12, atol=1e-12, what=case.id + " (arrays)")
    tensors = Pullback(case.fn, tuple(tm.tensor(x) for x in xs), False, "vjp", {}).batched(cotangents)
    for got, want in zip(tensors, expected):
        assert isinstance(got, tm.Tensor), case.id
        assert_close(got.numpy(), want, rtol=1e-12, atol=1e-12, what=case.id + " (Tensors)")


@pytest.mark.parametrize("case", [c for c in CASES if c.second_order], ids=lambda c: c.id)
def test_recorded_batched_cotangents_differentiate_again(case):
    """The recorded batched pass is differentiable: d/dx Σ_b ⟨Ḡ_b, W_b⟩ through it equals the same
    through one recorded reverse pass per direction (the batched pass's own derivative rules)."""
    xs, cotangents, rng = _setup(case, 32)
    weights = [rng.standard_normal((BATCH,) + x.shape) for x in xs]

    def second_derivative(batched):
        ts = [tm.tensor(x, requires_grad=True) for x in xs]
        pullback = Pullback(case.fn, tuple(ts), False, "vjp", {})
        if batched:
            grads = pullback.batched(cotangents)
        else:
            per_direction = [pullback(u) for u in cotangents]
            grads = [tm.stack([p[i] for p in per_direction]) for i in range(len(ts))]
        total = sum((g * w).sum() for g, w in zip(grads, weights))
        if not total.requires_grad:  # the first derivative does not depend on x (a linear op)
            return [np.zeros(x.shape) for x in xs]
        total.backward()
        return [np.zeros(t.shape) if t.grad is None else t.grad.numpy() for t in ts]

    for got, want in zip(second_derivative(True), second_derivative(False)):
        assert_close(got, want, rtol=1e-10, atol=1e-10, what=case.id)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_jacrev_matches_jacfwd_and_central_differences(case):
    """jacrev (one batched reverse pass) against jacfwd (one batched forward pass) to 1e-10, and against
    central differences, for each input in turn (the others held as constant Tensors)."""
    xs, _, _ = _setup(case, 33)

    def f(*arrays):
        with tm.no_grad():
            return np.asarray(case.fn(*[tm.tensor(a) for a in arrays]))

    central = central_jacobian(f, xs, h=case.tol.get("h", 1e-6))
    columns = np.split(central, np.cumsum([x.size for x in xs])[:-1], axis=1)
    out_shape = f(*xs).shape
    for n, (x, column) in enumerate(zip(xs, columns)):
        def f_n(x, n=n):
            return case.fn(*[x if i == n else tm.tensor(a) for i, a in enumerate(xs)])

        rev = tm.jacrev(f_n)(x)
        assert isinstance(rev, np.ndarray) and rev.shape == out_shape + x.shape, case.id
        assert_close(rev, tm.jacfwd(f_n)(x), rtol=1e-10, atol=1e-10, what=f"{case.id} input {n} (jacfwd)")
        assert_close(rev.reshape(-1, x.size), column, rtol=case.tol.get("rtol", 1e-6),
                     atol=case.tol.get("atol", 1e-7), what=f"{case.id} input {n} (central differences)")


def test_every_op_declares_a_known_reverse_batching():
    for name, record in REGISTRY.items():
        if isinstance(record, tm.ops.Op):
            assert record.vjp_batching in (None, "leading", "params", "rule"), name


# ---------------------------------------------------------------- nested transforms


A = np.array([[2.0, -1.0, 0.5], [0.3, 1.5, -0.7], [0.1, 0.4, 1.2]])


def test_jacrev_of_grad_is_the_hessian():
    """Reverse over reverse, batched outside: the Hessian of log det X is −X⁻ᵀ ⊗ X⁻¹ in numerator layout,
    H[i, j, k, l] = −(X⁻¹)[j, k] (X⁻¹)[l, i]."""
    X = A + 2.0 * np.eye(3)
    inverse = np.linalg.inv(X)
    expected = -np.einsum("jk,li->ijkl", inverse, inverse)
    assert_close(tm.jacrev(tm.grad(lambda X: tm.log(tm.det(X))))(X), expected, rtol=1e-10, atol=1e-12)


def test_jacrev_of_jacrev_equals_jacfwd_of_jacfwd():
    """Both passes batched, the inner one recorded: the third-order-free second derivative of a vector f."""
    def f(x):
        return tm.concatenate([tm.tanh(A @ x) * x[::-1], tm.stack([x.prod(), x @ x, tm.logsumexp(x)])])

    x = np.array([0.3, -0.8, 1.1])
    rev = tm.jacrev(tm.jacrev(f))(x)
    fwd = tm.jacfwd(tm.jacfwd(f))(x)
    assert rev.shape == (6, 3, 3)
    assert_close(rev, fwd, rtol=1e-10, atol=1e-12)


def test_hessian_of_a_function_with_tuple_outputs():
    """Each scalar output's Hessian, in f's container; against closed forms."""
    def f(x):
        return (x @ A @ x, tm.sum(tm.sin(x)))

    x = np.array([0.5, -1.0, 2.0])
    h_quadratic, h_sines = tm.hessian(f)(x)
    assert_close(h_quadratic, A + A.T, rtol=1e-12, atol=1e-12)
    assert_close(h_sines, np.diag(-np.sin(x)), rtol=1e-12, atol=1e-12)


def test_jacrev_with_tuple_outputs_takes_one_pass_for_all():
    def f(x):
        return x * x, tm.sum(x) * x[0]

    x = np.array([1.0, 2.0, 3.0])
    jac_square, jac_product = tm.jacrev(f)(x)
    assert_close(jac_square, np.diag(2 * x), rtol=1e-12, atol=1e-12)
    assert_close(jac_product, np.array([2 * x[0] + x[1] + x[2], x[0], x[0]]), rtol=1e-12, atol=1e-12)


def test_jacrev_inside_jvp():
    """d/dt J(x + t v) with J from a batched reverse pass recorded inside a forward-mode transform,
    against central differences of the Jacobian."""
    def f(x):
        return tm.exp(A @ x) * x

    x, v = np.array([0.2, -0.4, 0.6]), np.array([1.0, 0.5, -2.0])
    _, tangent = tm.jvp(tm.jacrev(f), (x,), (v,))
    h = 1e-6
    expected = (tm.jacfwd(f)(x + h * v) - tm.jacfwd(f)(x - h * v)) / (2 * h)
    assert_close(tangent, expected, rtol=1e-6, atol=1e-8)


def test_jacrev_of_tensors_stays_connected():
    """Tensors in: a Tensor Jacobian whose own gradient flows back to x (the pass is recorded)."""
    x = tm.tensor([0.5, 1.5], requires_grad=True)
    jac = tm.jacrev(lambda x: x * x * x)(x)  # diag(3x²)
    assert isinstance(jac, tm.Tensor)
    jac.sum().backward()
    assert_close(x.grad.numpy(), 6 * x.numpy(), rtol=1e-12, atol=1e-12)


def test_chunked_passes_equal_one_pass(monkeypatch):
    """A batch larger than the chunk bound goes through in chunks: the same Jacobian."""
    def f(X):
        return tm.tanh(A @ X @ A.T) * X

    X = np.arange(9.0).reshape(3, 3) / 10
    whole = tm.jacrev(f)(X)
    monkeypatch.setattr(functional, "CHUNK_ENTRIES", 20)  # 9-entry arrays: chunks of 2 directions
    chunked = tm.jacrev(f)(X)
    assert_close(chunked, whole, rtol=1e-14, atol=1e-14)
    assert_close(whole, tm.jacfwd(f)(X), rtol=1e-12, atol=1e-12)


def test_jacrev_of_a_constant_function_is_zero():
    jac = tm.jacrev(lambda x: tm.tensor([1.0, 2.0]))(np.ones(3))
    assert jac.shape == (2, 3) and not jac.any()


def test_jacrev_of_the_identity():
    assert_close(tm.jacrev(lambda x: x)(np.ones((2, 2))), np.eye(4).reshape(2, 2, 2, 2), rtol=0, atol=0)


# ---------------------------------------------------------------- what the engine checks


def test_a_batched_rule_that_drops_the_batch_axis_is_refused(monkeypatch):
    """trace's rule reshapes Z̄ by its own axes: declared "leading", its cotangent loses the batch axis,
    and the engine names the op and the declaration instead of returning a wrong Jacobian."""
    monkeypatch.setattr(type(REGISTRY["trace"]), "vjp_batching", "leading")
    with pytest.raises(RuleError, match=r"trace \(backward.*batch of 3.*vjp_batching"):
        tm.jacrev(lambda x: tm.trace(x) * tm.ones(3))(np.eye(3))


def test_hooks_see_one_direction_at_a_time():
    """A hook is written for one gradient of its tensor's shape: a batched pass shows it each direction."""
    seen = []
    x = tm.tensor([1.0, 2.0])

    def f(x):
        y = x * 3.0
        y.register_hook(lambda g: seen.append(g.shape))
        return y * y

    tm.jacrev(f)(x)
    assert seen == [(2,), (2,)]


def test_results_are_the_callers_own_arrays():
    """The identity batch is shared between calls (read-only); what jacrev returns is a writeable array
    of its own, and two inputs never share one array."""
    first = tm.jacrev(lambda x: x)(np.ones(3))
    first[0, 0] = 7.0  # the caller's to write
    assert_close(tm.jacrev(lambda x: x)(np.ones(3)), np.eye(3), rtol=0, atol=0)
    grads = Pullback(lambda x, y: x + y, (np.ones(2), np.ones(2)), False, "vjp", {}).batched(np.eye(2))
    grads[0][0, 0] = 5.0
    assert grads[1][0, 0] == 1.0


# ---------------------------------------------------------------- hessian and hvp: reverse over reverse


def _smooth(x):
    return tm.sum(tm.sin(x) * (A @ x)) + tm.logsumexp(x * x) + tm.prod(x)


def test_hessian_equals_forward_over_reverse():
    """hessian is now one batched reverse pass over the recorded gradient; the composition it replaces,
    forward over reverse, gives the same matrix, and both match central differences of the gradient."""
    x = np.array([0.4, -0.3, 0.9])
    forward_over_reverse = tm.jacobian(tm.grad(_smooth), mode="fwd")(x)
    assert_close(tm.hessian(_smooth)(x), forward_over_reverse, rtol=1e-12, atol=1e-12)
    central = central_jacobian(lambda x: tm.grad(_smooth)(x), [x], h=1e-5)
    assert_close(tm.hessian(_smooth)(x), central, rtol=1e-6, atol=1e-8)


def test_hvp_equals_forward_over_reverse_and_differentiates_again():
    """hvp (a reverse pass over the recorded gradient, vᵀH) equals H v from forward mode; given Tensors it
    stays connected: d/dx ⟨Hv, w⟩ against central differences."""
    x, v, w = np.array([0.4, -0.3, 0.9]), np.array([1.0, 2.0, -0.5]), np.array([0.3, -1.0, 0.7])
    _, forward = tm.jvp(tm.grad(_smooth), (x,), (v,))
    assert_close(tm.hvp(_smooth, x, v), forward, rtol=1e-12, atol=1e-12)
    t = tm.tensor(x, requires_grad=True)
    (tm.hvp(_smooth, t, v) * w).sum().backward()
    expected = central_jacobian(lambda x: np.sum(tm.hvp(_smooth, x, v) * w), [x], h=1e-5)[0]
    assert_close(t.grad.numpy(), expected, rtol=1e-6, atol=1e-8)


def test_the_interleaved_benchmark_builds_and_checks_its_cases():
    """bench/batched_reverse.py never rots: its implementations (JAX's included) are built and checked
    against the closed forms at a tiny size (nothing is timed)."""
    pytest.importorskip("jax")  # JAX is an optional peer (not in the test extra): the script compares with it
    import importlib.util
    import os
    import pathlib
    import sys

    bench = pathlib.Path(__file__).resolve().parents[1] / "bench"
    sys.path.insert(0, str(bench))
    environment = dict(os.environ)  # the script fixes thread counts for itself
    try:
        spec = importlib.util.spec_from_file_location("batched_reverse", bench / "batched_reverse.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases = module.cases(3)
    finally:
        sys.path.remove(str(bench))
        os.environ.clear()
        os.environ.update(environment)
    assert set(cases) == {"jacrev of A X A, 3 × 3", "hessian of log det X, 3 × 3"}
    assert all("JAX jit" in implementations and "tinygrad_mat" in implementations for implementations in cases.values())
