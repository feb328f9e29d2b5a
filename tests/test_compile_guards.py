"""Attacks on tm.compile's guards: each way a replay could silently differ from the eager step is a
trace of its own, a documented refusal, or an error, never a stale replay. Each test compares the
compiled step with the same step run eagerly on twin objects."""
import gc
import warnings

import numpy as np
import pytest

import tinygrad_mat as tm
from tinygrad_mat.errors import CompileError

F = tm.nn.functional


def same(a, b, what=""):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-12, atol=1e-12,
                               err_msg=what)


def test_the_same_tensor_in_two_places_then_two_tensors():
    def step(a, b):
        a.grad = b.grad = None
        (a * b).sum().backward()
        return a.grad, b.grad

    compiled = tm.compile(step)
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    grads = compiled(x, x)  # traced with one object in both places: d(x·x) = 2x
    same(grads[0].numpy(), [2.0, 4.0])
    u, v = tm.tensor([1.0, 2.0], requires_grad=True), tm.tensor([3.0, 5.0], requires_grad=True)
    gu, gv = compiled(u, v)
    same(gu.numpy(), [3.0, 5.0])
    same(gv.numpy(), [1.0, 2.0])
    assert u.grad is gu and v.grad is gv and compiled.trace_count == 2


def test_an_optimizers_parameter_passed_as_an_argument_then_another_tensor():
    w = tm.tensor([1.0, -1.0], requires_grad=True)
    opt = tm.optim.SGD([w], lr=0.1)

    def step(p):
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
        return p

    compiled = tm.compile(step)
    compiled(w)
    other = tm.tensor([5.0, 5.0], requires_grad=True)
    compiled(other)  # eagerly: other gets a gradient, w (no gradient now) is not updated
    same(w.numpy(), [0.8, -0.8])
    same(other.numpy(), [5.0, 5.0])
    same(other.grad.numpy(), [10.0, 10.0])
    assert compiled.trace_count == 2


def test_zero_and_negative_zero_are_different_calls():
    compiled = tm.compile(lambda x, s: 1.0 / (x * s) if False else x / s)
    same(compiled(np.ones(2), 0.0).numpy(), [np.inf, np.inf])
    same(compiled(np.ones(2), -0.0).numpy(), [-np.inf, -np.inf])
    assert compiled.trace_count == 2


def test_a_parameter_group_added_after_tracing_is_updated():
    w, v = tm.tensor([1.0], requires_grad=True), tm.tensor([2.0], requires_grad=True)
    opt = tm.optim.SGD([w], lr=0.5)

    @tm.compile
    def step():
        opt.zero_grad()
        (w * w + v * v).sum().backward()
        opt.step()

    step()
    opt.add_param_group({"params": [v]})
    step()
    same(v.numpy(), [0.0])  # 2 − 0.5 · 4
    same(w.numpy(), [0.0])
    opt.param_groups[0]["params"].append(tm.tensor([3.0], requires_grad=True))  # edited by hand: traced again
    step()
    assert step.trace_count == 3


def test_a_zero_exponent_when_traced_does_not_stay_zero():
    """pow's mask (Y = 0 and X = 0) is an op the replay recomputes: nothing of the traced values stays."""
    x = tm.tensor([0.0, 2.0], requires_grad=True)

    @tm.compile
    def step(y):
        x.grad = None
        (x ** y).sum().backward()
        return x.grad

    same(step(np.zeros(2)).numpy(), [0.0, 0.0])
    same(step(np.array([2.0, 3.0])).numpy(), [0.0, 12.0])  # Y·X^(Y−1)
    assert step.trace_count == 1


def test_closed_over_labels_edited_in_place_and_arrays_and_floats_rebound():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3))
    labels = np.array([0, 1, 2, 0, 1, 2])
    scale = 1.0

    def make():
        tm.random.seed(0)
        model = tm.nn.Linear(3, 3)

        def step():
            model.zero_grad()
            loss = F.cross_entropy(model(X), labels) * scale
            loss.backward()
            return loss

        return model, step

    (model, step), (twin, eager) = make(), make()
    compiled = tm.compile(step)
    for change in ("none", "labels edited", "scale rebound", "X rebound", "X edited"):
        if change == "labels edited":
            labels[:] = labels[::-1]
        elif change == "scale rebound":
            scale = 2.5
        elif change == "X rebound":
            X = rng.standard_normal((6, 3))
        elif change == "X edited":
            X[0, 0] = 10.0
        same(compiled().numpy(), eager().numpy(), change)
        same(model.weight.grad.numpy(), twin.weight.grad.numpy(), change)


def test_a_modules_parameter_replaced_is_the_one_trained():
    def make():
        tm.random.seed(1)
        model = tm.nn.Linear(2, 1)
        opt_holder = {}

        def step(X):
            model.zero_grad()
            F.mse_loss(model(X), np.ones((3, 1))).backward()
            return model.weight.grad

        return model, step

    X = np.arange(6.0).reshape(3, 2)
    (model, step), (twin, eager) = make(), make()
    compiled = tm.compile(step)
    compiled(X), eager(X)
    for m in (model, twin):
        m.weight = tm.tensor([[0.5, -0.5]], requires_grad=True)
    same(compiled(X).numpy(), eager(X).numpy())
    assert model.weight.grad is not None and compiled.trace_count == 2


def test_requires_grad_and_a_leafs_dtype_are_guarded():
    @tm.compile
    def step(x):
        y = (x * x).sum()
        if x.requires_grad:
            y.backward()
        return y.detach()

    a = tm.tensor([1.0, 2.0], requires_grad=True)
    step(a)
    b = tm.tensor([1.0, 2.0])
    step(b)
    assert b.grad is None and step.trace_count == 2  # never a .grad on a Tensor that does not require grad
    w = tm.tensor([1.0, 2.0], requires_grad=True)

    @tm.compile
    def with_leaf(x):
        w.grad = None
        (w * x).sum().backward()
        return w.grad

    with_leaf(np.ones(2))
    w.grad = None
    w.data = np.array([1.0, 2.0], dtype=np.float32)
    assert with_leaf(np.ones(2)).dtype == np.float32 and with_leaf.trace_count == 2


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_errors_of_a_replay_are_the_eager_ones(backend):
    A = tm.tensor(np.eye(2), requires_grad=True)

    def solve(b):
        A.grad = None
        x = tm.solve(A, b)
        x.sum().backward()
        return x

    if backend == "numpy":
        compiled = tm.compile(solve)
        compiled(np.ones(2))
        A.data = np.zeros((2, 2))
        with pytest.raises(tm.SingularMatrixError):
            compiled(np.ones(2))
    w = tm.tensor([1.0, 2.0], requires_grad=True)

    @tm.compile(backend=backend)
    def divide(x):
        w.grad = None
        out = (w / x).sum()
        out.backward()
        return out

    divide(np.ones(2))
    with np.errstate(divide="ignore", invalid="ignore"):
        same(divide(np.array([0.0, 1.0])).numpy(), np.inf)
        assert np.isinf(w.grad.numpy()[0])


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_a_number_parameter_under_numba(optimizer):
    def make():
        b = tm.tensor(0.5, requires_grad=True)
        opt = tm.optim.SGD([b], lr=0.1, momentum=0.9) if optimizer == "momentum" else tm.optim.Adam([b], lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = ((x - b) ** 2).sum()
            loss.backward()
            opt.step()
            return loss

        return b, step

    (b, step), (twin, eager) = make(), make()
    compiled = tm.compile(step, backend="numba")
    for i in range(4):
        same(compiled(np.array([1.0, 2.0])).numpy(), eager(np.array([1.0, 2.0])).numpy(), f"step {i}")
        same(b.numpy(), twin.numpy(), f"step {i}")


def test_many_kinds_of_call_keep_a_bounded_number_of_traces():
    compiled = tm.compile(lambda x: x * 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in range(1, 200):
            compiled(np.ones(n))
    from tinygrad_mat.jit import step as jit_step

    assert len(compiled.traces) <= jit_step.MAX_KEYS
    assert sum(map(len, compiled.traces.values())) <= jit_step.MAX_KEYS * jit_step.TRACES_PER_KEY


def test_a_refused_step_leaves_everything_as_before():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    w.grad = tm.tensor([7.0, 7.0])
    opt = tm.optim.Adam([w], lr=0.1)
    opt.state[w] = {"step": 3, "exp_avg": np.ones(2), "exp_avg_sq": np.ones(2)}
    state_before = {k: np.array(v) for k, v in opt.state[w].items()}
    data_before = w.numpy().copy()

    @tm.compile
    def step(x):
        opt.zero_grad()
        loss = (w * x).sum()
        loss.backward()
        opt.step()
        return loss.item()  # a value of a Tensor computed in the step: refused

    with pytest.raises(CompileError, match=r"item\(\)"):
        step(np.ones(2))
    same(w.numpy(), data_before)
    same(w.grad.numpy(), [7.0, 7.0])
    for key, value in state_before.items():
        same(opt.state[w][key], value, key)
    assert opt.state[w]["step"] == 3


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_what_the_user_holds_is_never_written_behind_their_back(backend):
    """A replay updates parameters and gradients in buffers it owns (numba) or rebinds them (numpy);
    either way, values a user or a live graph holds keep their values."""
    w = tm.tensor([1.0, -2.0, 0.5], requires_grad=True)
    opt = tm.optim.SGD([w], lr=0.1, momentum=0.9)

    @tm.compile(backend=backend)
    def step(x):
        opt.zero_grad()
        loss = ((w * x) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    x = np.array([1.0, 2.0, 3.0])
    for _ in range(3):
        step(x)
    data, grad, grad_values = w.data, w.grad, w.grad.numpy().copy()
    data_values = data.copy()
    graph = (w * w).sum()  # a live graph saves w's values as they are now
    first = step(x)
    np.testing.assert_array_equal(data, data_values)  # the array the user kept
    np.testing.assert_array_equal(grad.numpy(), grad_values)  # the gradient Tensor the user kept
    assert not np.array_equal(w.numpy(), data_values)  # the parameter moved on
    step_grad = w.grad.numpy().copy()
    graph.backward()  # adds d/dw Σw² at the saved values: 2w as it was, not 2 × the updated w
    np.testing.assert_allclose(w.grad.numpy(), step_grad + 2 * data_values)
    w.grad = None
    graph2 = (w * 1.0).sum()
    kept = first.numpy().copy()
    step(x)
    np.testing.assert_array_equal(first.numpy(), kept)  # a returned value is the caller's
    assert not data.flags.writeable and not w.data.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        w.data[0] = 1.0
    del graph2


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_graph_that_saved_a_parameter_before_a_replay_gives_the_old_gradient(backend):
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    opt = tm.optim.SGD([w], lr=0.5)

    @tm.compile(backend=backend)
    def step():
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()

    step()
    step()
    before = w.numpy().copy()
    held = (w * w * w).sum()  # saves w's current values
    step()  # moves w
    w.grad = None
    held.backward()
    np.testing.assert_allclose(w.grad.numpy(), 3 * before ** 2)
