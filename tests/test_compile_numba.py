"""tm.compile(step, backend="numba"): each run of array code in the replay is one generated numba
function. A replayed step leaves what the eager step leaves (returned value, .grad of every leaf,
updated parameters) to 1e-12, over every case of the op sweep whose ops have a numba lowering and
over training loops; a step it cannot write is refused with a CompileError naming what is missing.

Each case compiles a numba function (0.2–6 s), so this file takes about a minute."""
import numpy as np
import pytest

import tinygrad_mat as tm
from tinygrad_mat.errors import CompileError

from helpers import random_inputs
from op_cases import CASES
from test_compile import _case_step, _data, assert_same, check_training_loop

BY_ID = {case.id: case for case in CASES}

# The sweep cases whose every op (forward and rule) has a numba lowering; test_the_lowered_cases_are_
# exactly_these keeps this list true as ops gain lowerings.
LOWERED = [
    'atleast_2d-(3,)',
    'atleast_3d-(2, 3)',
    'expand_dims-(3, 2)',
    'kron-(2, 3)x(2, 2)',
    'logsumexp-rows',
    'ravel-(2, 3)',
    'reshape-(2, 3)',
    'softmax-(2, 4)',
    'squeeze-(3, 1, 2)',
    'sum_to-(2, 3, 4)',
    'add-(3, 4)x(4,)',
    'add-broadcast-both',
    'add-scalar',
    'sub-(3, 1)x(1, 4)',
    'sub-rsub',
    'mul-(2, 3, 4)x(3, 1)',
    'mul-same',
    'div-(3, 4)x(4,)',
    'div-rdiv',
    'neg-(2, 3)',
    'pow-cube',
    'pow-real-exponent',
    'exp-(2, 3)',
    'log-(2, 3)',
    'sqrt-(2, 3)',
    'tanh-(2, 3)',
    'sigmoid-(2, 3)',
    'relu-(2, 3)',
    'abs-(2, 3)',
    'sum-all',
    'sum-axis1',
    'sum-keepdims',
    'mean-all',
    'mean-keepdims',
    'transpose-matrix',
    'matmul-matrix',
    'matmul-vec-mat',
    'matmul-mat-vec',
    'matmul-vec-vec',
    'dot-(3, 4)x(4,)',
    'alias-(2, 3)',
    'sin-(2, 3)',
    'cos-(2, 3)',
    'tan-(2, 3)',
    'arctan-(2, 3)',
    'sinh-(2, 3)',
    'cosh-(2, 3)',
    'log1p-(2, 3)',
    'expm1-(2, 3)',
    'square-(2, 3)',
    'reciprocal-(2, 3)',
    'softplus-(2, 3)',
    'log_sigmoid-(2, 3)',
    'argmax-(3, 4)',
    'argmin-(3, 4)',
    'argsort-(5,)',
    'var-(4, 3)',
    'std-(3, 4)',
    'linear-vector-no-bias',
    'vector_norm-(2, 3)',
    # numpy's other spellings, written through lowered ops
    'deg2rad-(2, 3)', 'radians-(3,)', 'rad2deg-(2, 3)', 'degrees-(3,)', 'fabs-(2, 3)', 'real-(2, 3)',
    'real_if_close-(2, 3)', 'conjugate-(2, 3)', 'imag-(2, 3)', 'angle-(2, 3)', 'sqrt_flat_at_zero-(2, 3)',
    'sqrt_flat_at_zero-length-one-axis',
]


@pytest.mark.parametrize("case_id", LOWERED)
def test_a_numba_replay_equals_the_eager_step(case_id):
    """Three calls, the leaves' data replaced each time; the third accumulates onto the gradients."""
    case = BY_ID[case_id]
    rng = np.random.default_rng(5)
    draws = [random_inputs(np.random.default_rng(seed), case.shapes, case.domain) for seed in (1, 2, 3)]
    leaves = [tm.tensor(x, requires_grad=True) for x in draws[0]]
    twins = [tm.tensor(x, requires_grad=True) for x in draws[0]]
    compiled = tm.compile(_case_step(case, leaves), backend="numba")
    eager = _case_step(case, twins)
    with tm.no_grad():
        shape = case.fn(*[tm.tensor(x) for x in draws[0]]).shape
    for call, xs in enumerate(draws):
        u = rng.standard_normal(shape)
        for a, b, x in zip(leaves, twins, xs):
            a.data, b.data = x, x
            if call < 2:
                a.grad = b.grad = None
        got, want = compiled(u), eager(u)
        assert_same(got.numpy(), want.numpy(), f"{case_id}: output, call {call}")
        for i, (a, b) in enumerate(zip(leaves, twins)):
            assert_same(a.grad.numpy(), b.grad.numpy(), f"{case_id}: gradient {i}, call {call}")
    assert "NUMBA1(" in compiled.source, "the replay runs no numba function"


def test_the_lowered_cases_are_exactly_these():
    """Every other case of the sweep is refused with a CompileError that names the missing lowering
    (never another error, never a silent fallback)."""
    lowered = set(LOWERED)
    for case in CASES:
        if case.id in lowered or case.op == "sparse_matmul":  # every backend refuses scipy.sparse (test_compile)
            continue
        leaves = [tm.tensor(x, requires_grad=True) for x in random_inputs(np.random.default_rng(1), case.shapes, case.domain)]
        compiled = tm.compile(_case_step(case, leaves), backend="numba")
        with tm.no_grad():
            u = np.ones(case.fn(*leaves).shape)
        with pytest.raises(CompileError, match="no numba lowering for|float64 only") as info:
            compiled(u)
        assert "backend='numpy'" in str(info.value)


@pytest.mark.parametrize("kind, optimizer", [("linear", "sgd"), ("ridge", "momentum"), ("logistic", "adam"),
                                             ("logistic", "adamw"), ("softmax", "sgd")])
def test_a_numba_training_loop_equals_the_eager_loop(kind, optimizer):
    """zero_grad, forward, backward and the update in one numba function (the schedule's step stays a
    call). Softmax regression gathers the labels' log-probabilities with an index it guards by value:
    each of the four batches is a trace of its own."""
    compiled = check_training_loop(kind, optimizer, "numba")
    assert compiled.trace_count == (4 if kind == "softmax" else 1)
    assert compiled.source.count("NUMBA") == 1, "zero_grad, forward, backward and update: one numba function"
    assert "step() written out" in compiled.tape


def test_a_step_it_cannot_write_is_refused_before_it_runs_again():
    """A cumulative sum has no numba lowering. The call that traced the step ran eagerly; later calls
    raise without updating anything; the numpy backend replays the same step."""
    X, y = _data("linear")
    w = tm.zeros((5, 1), requires_grad=True)
    opt = tm.optim.SGD([w], lr=0.1)

    def step(X, y):
        opt.zero_grad()
        loss = (tm.cumsum(X @ w - y, axis=0) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    compiled = tm.compile(step, backend="numba")
    with pytest.raises(CompileError, match="no numba lowering for cumsum") as info:
        compiled(X, y)
    assert "ran it eagerly" in str(info.value)
    before = w.numpy().copy()
    with pytest.raises(CompileError, match="cumsum"):
        compiled(X, y)
    np.testing.assert_array_equal(w.numpy(), before)
    assert tm.compile(step)(X, y).shape == ()  # the numpy backend replays it


def test_float32_is_refused_by_the_numba_backend():
    w = tm.tensor(np.ones(3, dtype=np.float32), requires_grad=True)

    def step(x):
        loss = (w * x).sum()
        loss.backward()
        return loss

    with pytest.raises(CompileError, match="float64 only"):
        tm.compile(step, backend="numba")(np.ones(3, dtype=np.float32))


def test_an_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="'numpy' or 'numba'"):
        tm.compile(lambda: None, backend="jax")
