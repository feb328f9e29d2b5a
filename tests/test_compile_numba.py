"""tm.compile(step, backend="numba"): each run of array code in the replay is one generated numba
function. A replayed step leaves what the eager step leaves (returned value, .grad of every leaf,
updated parameters) to 1e-12, over every case of the op sweep whose ops have a numba lowering and
over training loops; a step it cannot write is refused with a CompileError naming what is missing.

Each case compiles a numba function (0.2–6 s), so this file takes about a minute."""
import os

import numpy as np
import pytest

import tinygrad_mat as tm
from tinygrad_mat.errors import CompileError

from helpers import random_inputs
from op_cases import CASES
from test_compile import _case_step, _data, assert_same, check_training_loop

BY_ID = {case.id: case for case in CASES}

# Cases the numba backend must write (the ops training steps use); every other case of the sweep either
# equals the eager step too or is refused with a CompileError naming the missing lowering.
MUST_LOWER = ["add-(3, 4)x(4,)", "sub-(3, 1)x(1, 4)", "mul-(2, 3, 4)x(3, 1)", "div-(3, 4)x(4,)", "pow-cube",
              "exp-(2, 3)", "log-(2, 3)", "tanh-(2, 3)", "sigmoid-(2, 3)", "relu-(2, 3)", "abs-(2, 3)", "sum-axis1",
              "mean-all", "matmul-matrix", "matmul-mat-vec", "logsumexp-rows", "softmax-(2, 4)", "softplus-(2, 3)",
              "log_sigmoid-(2, 3)", "linear-vector-no-bias"]


SWEPT = [case.id for case in CASES if case.op != "sparse_matmul"]
# Every numba replay compiles a function (about a second each): the full sweep runs with TM_FULL_SWEEP=1;
# by default the cases above and every sixth other case, while every case is traced and written (or
# refused) by test_every_case_is_written_or_refused_cleanly, which compiles nothing.
REPLAYED = SWEPT if os.environ.get("TM_FULL_SWEEP") else [c for i, c in enumerate(SWEPT) if c in MUST_LOWER or i % 6 == 0]


def test_every_case_is_written_or_refused_cleanly():
    """The first call traces the step, runs it eagerly and writes the numba source; a step the backend
    cannot write is refused with the missing lowering named, and nothing of it is applied."""
    written = 0
    for case_id in SWEPT:
        case = BY_ID[case_id]
        leaves = [tm.tensor(x, requires_grad=True) for x in random_inputs(np.random.default_rng(1), case.shapes, case.domain)]
        compiled = tm.compile(_case_step(case, leaves), backend="numba")
        with tm.no_grad():
            u = np.ones(case.fn(*leaves).shape)
        try:
            compiled(u)
        except CompileError as error:
            assert case_id not in MUST_LOWER, error
            assert "no numba lowering for" in str(error) or "float64 only" in str(error), error
            assert "backend='numpy'" in str(error) and all(a.grad is None for a in leaves), error
            continue
        written += 1
        assert "= NUMBA0(" in compiled.source, case_id
    assert written >= 110, written


@pytest.mark.parametrize("case_id", REPLAYED)
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
    try:
        compiled(rng.standard_normal(shape))
    except CompileError as error:  # refused before anything ran: a clear message, never another error
        assert case_id not in MUST_LOWER, error
        assert "no numba lowering for" in str(error) or "float64 only" in str(error), error
        assert "backend='numpy'" in str(error)
        assert all(a.grad is None for a in leaves)  # nothing was applied
        return
    for a in leaves:
        a.grad = None
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
    assert "NUMBA0(" in compiled.source, "the replay runs no numba function"


@pytest.mark.parametrize("kind, optimizer", [("linear", "sgd"), ("ridge", "momentum"), ("logistic", "adam"),
                                             ("logistic", "adamw"), ("softmax", "sgd")])
def test_a_numba_training_loop_equals_the_eager_loop(kind, optimizer):
    """zero_grad, forward, backward and the update in one numba function (the schedule's step stays a
    call). Softmax regression's labels are guarded by value: each of the four batches is a trace of
    its own."""
    compiled = check_training_loop(kind, optimizer, "numba")
    stateful = optimizer != "sgd"
    assert compiled.trace_count <= (4 if kind == "softmax" else 1) + stateful
    assert compiled.source.count("= NUMBA") == 1, "zero_grad, forward, backward and update: one numba function"


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
    before = w.numpy().copy()
    with pytest.raises(CompileError, match="no numba lowering for cumsum") as info:
        compiled(X, y)
    assert "Nothing was applied" in str(info.value)
    np.testing.assert_array_equal(w.numpy(), before)
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
