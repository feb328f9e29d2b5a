"""L-BFGS against torch.optim.LBFGS (2.13): iterates, losses, evaluation counts and the state kept
across steps, on a quadratic, Rosenbrock's function and a logistic regression, with history sizes 2,
5 and 100 and both line searches, over several step calls; its state checked, saved and loaded; a
step that raises changes nothing."""
import importlib.util

import numpy as np
import pytest

import tinygrad_mat as tm
from tinygrad_mat.nn import functional as F

HAS_TORCH = importlib.util.find_spec("torch") is not None
NEEDS_TORCH = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is the oracle of these comparisons (pip install "
                                 "torch==2.13.0); test_optim.py checks L-BFGS's convergence without it")

rng = np.random.default_rng(3)
_Q = rng.standard_normal((6, 6))
A = _Q @ _Q.T + 0.5 * np.eye(6)  # condition number in the hundreds
B = rng.standard_normal(6)
X = rng.standard_normal((40, 3))
LABELS = (X @ np.array([1.5, -2.0, 0.5]) + 0.5 * rng.standard_normal(40) > 0).astype(float)


def quadratic(parts):
    """½ xᵀAx − bᵀx over x = (parts[0] flattened, parts[1]), and its gradient."""
    x = np.concatenate([parts[0].reshape(-1), parts[1]])
    g = A @ x - B
    return 0.5 * x @ A @ x - B @ x, [g[:4].reshape(2, 2), g[4:]]


def rosenbrock(parts):
    """Rosenbrock's function in 4 dimensions, and its gradient."""
    x = parts[0]
    inner = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] = -2 * (1 - x[:-1]) - 400 * x[:-1] * inner
    g[1:] += 200 * inner
    return np.sum((1 - x[:-1]) ** 2) + 100 * np.sum(inner**2), [g]


def logistic(parts):
    """The mean log-loss of a logistic regression plus 0.01‖w‖², and its gradient."""
    w, b = parts
    z = X @ w + b[0]
    residual = 1 / (1 + np.exp(-z)) - LABELS
    loss = np.mean(np.logaddexp(0, z) - LABELS * z) + 0.01 * w @ w
    return loss, [X.T @ residual / len(z) + 0.02 * w, np.array([residual.mean()])]


def wiggly(parts):
    """0.05‖x‖² + Σ sin(3xᵢ): many local minima, so the line search sees bumps (non-monotone profiles)."""
    x = parts[0]
    return 0.05 * x @ x + np.sum(np.sin(3 * x)), [0.1 * x + 3 * np.cos(3 * x)]


# How closely the iterates agree. Both optimizers see the same losses and gradients, and differ only
# in the last bit of their own arithmetic (PyTorch's fused multiply-adds and reductions); on
# Rosenbrock's curved valley those differences grow from 1e-16 to about 1e-9 before they shrink again
# near the minimum (measured iteration by iteration), elsewhere they stay near 1e-14.
TOLERANCE = {"quadratic": 1e-10, "logistic": 1e-10, "wiggly": 1e-10, "rosenbrock": 1e-8}

# name: (objective and gradient in numpy, starting parameters, fixed step lr when there is no line search)
PROBLEMS = {
    "quadratic": (quadratic, [np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([-1.0, 2.0])], 0.5),
    "rosenbrock": (rosenbrock, [np.array([-1.2, 1.0, -0.5, 0.8])], 0.1),
    "logistic": (logistic, [np.zeros(3), np.zeros(1)], 1.0),
    "wiggly": (wiggly, [np.array([2.0, -1.3, 0.4, 3.1, -2.2])], 0.1),
}


class Pair:
    """The same problem and options in tinygrad_mat and in PyTorch, stepped together. The closures
    compute the loss and gradient with the same numpy code and set .grad, so both optimizers see the
    same numbers at the same point: what differs is the optimizers' own arithmetic."""

    def __init__(self, problem, history_size, line_search_fn, **options):
        import torch

        objective, start, lr = PROBLEMS[problem]
        options = dict(dict(lr=1.0 if line_search_fn else lr, max_iter=6, history_size=history_size,
                            line_search_fn=line_search_fn, tolerance_grad=1e-12, tolerance_change=1e-14), **options)
        self.ours = [tm.tensor(a, requires_grad=True) for a in start]
        self.theirs = [torch.tensor(a, requires_grad=True) for a in start]
        self.opt = tm.optim.LBFGS(self.ours, **options)
        self.topt = torch.optim.LBFGS(self.theirs, **options)
        self.objective, self.tolerance = objective, TOLERANCE[problem]

    def closures(self):
        import torch

        def ours():
            loss, grads = self.objective([p.numpy() for p in self.ours])
            for p, g in zip(self.ours, grads):
                p.grad = tm.tensor(g)
            return tm.tensor(loss)

        def theirs():
            loss, grads = self.objective([q.detach().numpy() for q in self.theirs])
            for q, g in zip(self.theirs, grads):
                q.grad = torch.tensor(g)
            return torch.tensor(loss)

        return ours, theirs

    def step(self):
        ours, theirs = self.closures()
        return self.opt.step(ours).item(), self.topt.step(theirs).item()

    def place(self, arrays):
        """Both copies' parameters set to ``arrays``."""
        import torch

        for p, q, a in zip(self.ours, self.theirs, arrays):
            p.data = a.copy()
            with torch.no_grad():
                q.copy_(torch.tensor(a))

    def assert_same_iterates(self, what):
        for p, q in zip(self.ours, self.theirs):
            expected = q.detach().numpy()
            scale = max(1.0, np.abs(expected).max())
            np.testing.assert_allclose(p.numpy(), expected, rtol=0, atol=self.tolerance * scale, err_msg=what)


def assert_same_state(ours, theirs, tolerance=1e-10):
    """PyTorch's L-BFGS state (tensors, floats, lists of them) against ours, entry by entry."""
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        mine = ours[key]
        if isinstance(value, list):
            assert len(mine) == len(value), key
            pairs = zip(mine, value)
        else:
            pairs = [(mine, value)]
        for a, b in pairs:
            if b is None:
                assert a is None, key
                continue
            b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
            scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
            np.testing.assert_allclose(np.asarray(a, dtype=float), b, rtol=0, atol=tolerance * scale, err_msg=key)


CASES = [(problem, history, search) for problem in PROBLEMS for history in (2, 5, 100)
         for search in (None, "strong_wolfe")]


@NEEDS_TORCH
@pytest.mark.parametrize("problem, history_size, line_search_fn", CASES,
                         ids=[f"{p}-h{h}-{s or 'fixed'}" for p, h, s in CASES])
def test_iterates_losses_and_state_equal_pytorchs(problem, history_size, line_search_fn):
    """Five step calls of up to six iterations each: the history spans calls, is cut at
    history_size, and the last iterations run where the curvature test yᵀs > 1e-10 can fail."""
    pair = Pair(problem, history_size, line_search_fn)
    for call in range(5):
        ours, theirs = pair.step()
        assert ours == pytest.approx(theirs, rel=pair.tolerance, abs=1e-14), f"returned loss, call {call}"
        pair.assert_same_iterates(f"call {call}")
        state, tstate = pair.opt.state[pair.ours[0]], pair.topt.state[pair.theirs[0]]
        assert (state["n_iter"], state["func_evals"]) == (tstate["n_iter"], tstate["func_evals"]), f"call {call}"
    assert_same_state(pair.opt.state[pair.ours[0]], pair.topt.state[pair.theirs[0]], pair.tolerance)


@NEEDS_TORCH
@pytest.mark.parametrize("options", [dict(max_iter=3, max_eval=4), dict(max_iter=50, max_eval=9),
                                     dict(max_iter=40, tolerance_grad=1e-5), dict(max_iter=40, tolerance_change=1e-4),
                                     dict(max_iter=7, lr=0.3)],
                         ids=["max-eval-4", "max-eval-9", "tolerance-grad", "tolerance-change", "lr"])
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"], ids=["fixed", "wolfe"])
def test_stopping_tests_and_evaluation_budget_equal_pytorchs(options, line_search_fn):
    pair = Pair("rosenbrock", 5, line_search_fn, **options)
    for call in range(3):
        pair.step()
        pair.assert_same_iterates(f"call {call}")
        state, tstate = pair.opt.state[pair.ours[0]], pair.topt.state[pair.theirs[0]]
        assert (state["n_iter"], state["func_evals"]) == (tstate["n_iter"], tstate["func_evals"]), f"call {call}"


@NEEDS_TORCH
def test_cubic_interpolation_equals_pytorchs():
    """Random points and slopes, either order, with and without bounds, including cubics without a
    minimiser (the midpoint) and minimisers outside the bounds (clamped)."""
    import torch
    from torch.optim.lbfgs import _cubic_interpolate as theirs

    from tinygrad_mat.optim.second_order import _cubic_interpolate as ours

    draws = np.random.default_rng(0).standard_normal((2000, 8))
    kinds = set()
    for x1, f1, g1, x2, f2, g2, a, b in draws:
        bounds = None if a > 0 else (min(x1, x2) - abs(b), max(x1, x2) + abs(b))
        expected = float(theirs(x1, f1, torch.tensor(g1), x2, f2, torch.tensor(g2), bounds=bounds))
        assert float(ours(x1, f1, g1, x2, f2, g2, bounds=bounds)) == pytest.approx(expected, rel=1e-13, abs=1e-13)
        kinds.add((x1 <= x2, (g1 + g2 - 3 * (f1 - f2) / (x1 - x2)) ** 2 >= g1 * g2))
    assert len(kinds) == 4  # both orders, with and without a real minimiser


@NEEDS_TORCH
def test_the_strong_wolfe_line_search_equals_pytorchs():
    """PyTorch's _strong_wolfe and ours on the same line profiles (sums of sines and a quadratic
    along random directions; descending lines with ripples), steps from 1e-5 to 30, budgets from 1
    to 25 (to 4 for the ripples): the step, the loss and the number of evaluations agree, and the gradient returned is the
    one at the step returned."""
    import torch
    from torch.optim.lbfgs import _strong_wolfe as theirs

    from tinygrad_mat.optim.second_order import _strong_wolfe as ours

    draws = np.random.default_rng(1)
    for trial in range(1000):
        if trial % 2:  # sines and a quadratic in 3 dimensions
            frequency, curvature, tilt = draws.uniform(0.5, 8.0, 3), 10 ** draws.uniform(-4, 0), 0.0
            x = draws.standard_normal(3)
        else:  # a descending line with ripples in 1 dimension: long extrapolations, bumps, exhausted budgets
            frequency, curvature, tilt = draws.uniform(0.5, 8.0, 1), 0.0, draws.uniform(0.5, 20.0)
            x = draws.standard_normal(1)
        f_of = lambda z: float(np.sum(np.sin(frequency * z)) + curvature * z @ z - tilt * z.sum())
        g_of = lambda z: frequency * np.cos(frequency * z) + 2 * curvature * z - tilt
        g = g_of(x)
        d = -g * draws.uniform(0.1, 2.0, x.size)  # a descent direction, not the gradient's
        t, budget = 10 ** draws.uniform(-5, 1.5), int(draws.integers(1, 26))
        if tilt:  # a chain of extrapolations amplifies last-bit differences (see LBFGS's docstring): short ones
            t, budget = min(t, 1.0), min(budget, 4)

        def numpy_line(x, t, d):
            return f_of(x + t * d), g_of(x + t * d)

        def torch_line(x, t, d):  # the point computed as numpy_line computes it
            point = x.numpy() + float(t) * d.numpy()
            return f_of(point), torch.tensor(g_of(point))

        mine = ours(numpy_line, x, t, d, f_of(x), g, g @ d, max_ls=budget)
        reference = theirs(torch_line, torch.tensor(x), t, torch.tensor(d), f_of(x), torch.tensor(g),
                           torch.tensor(g) @ torch.tensor(d), max_ls=budget)
        f_ref, g_ref, t_ref, evals_ref = reference
        assert mine[3] == evals_ref, trial
        assert float(mine[2]) == pytest.approx(float(t_ref), rel=1e-9, abs=1e-14), trial
        assert mine[0] == pytest.approx(f_ref, rel=1e-9, abs=1e-14), trial
        np.testing.assert_array_equal(mine[1], numpy_line(x, mine[2], d)[1])  # the gradient at the step it returns


@NEEDS_TORCH
@pytest.mark.parametrize("problem", ["rosenbrock", "wiggly"])
def test_a_long_run_to_the_last_bit_equals_pytorchs(problem):
    """One call, up to 300 iterations, no tolerance: the line search ends in tiny brackets (its own
    tolerance_change, 1e-9, stops it) and in repeated evaluations at the minimum."""
    pair = Pair(problem, 5, "strong_wolfe", max_iter=300, max_eval=1000, tolerance_grad=0.0, tolerance_change=0.0)
    pair.step()
    pair.assert_same_iterates("after the run")
    state, tstate = pair.opt.state[pair.ours[0]], pair.topt.state[pair.theirs[0]]
    assert (state["n_iter"], state["func_evals"]) == (tstate["n_iter"], tstate["func_evals"])


@NEEDS_TORCH
def test_a_state_dict_moves_between_pytorch_and_tinygrad_mat():
    """Our state dict loaded into PyTorch's L-BFGS, and PyTorch's into ours: both continue as the
    optimizer that made it does."""
    import torch

    made = Pair("logistic", 5, "strong_wolfe")
    for _ in range(2):
        made.step()
    ours, theirs = made.opt.state_dict(), made.topt.state_dict()
    assert ours["state"].keys() == theirs["state"].keys() == {0}
    assert_same_state(ours["state"][0], theirs["state"][0])

    def to_torch(value):
        if isinstance(value, list):
            return [to_torch(v) for v in value]
        return torch.tensor(value) if isinstance(value, np.ndarray) else value

    def to_numpy(value):
        if isinstance(value, list):
            return [to_numpy(v) for v in value]
        return value.numpy() if isinstance(value, torch.Tensor) else value

    crossed = Pair("logistic", 5, "strong_wolfe")
    crossed.place([p.numpy() for p in made.ours])
    crossed.opt.load_state_dict({"state": {0: {k: to_numpy(v) for k, v in theirs["state"][0].items()}},
                                 "param_groups": ours["param_groups"]})
    crossed.topt.load_state_dict({"state": {0: {k: to_torch(v) for k, v in ours["state"][0].items()}},
                                  "param_groups": theirs["param_groups"]})
    for _ in range(2):
        made.step()
        crossed.step()
    for p, q, r in zip(crossed.ours, crossed.theirs, made.theirs):
        np.testing.assert_allclose(p.numpy(), r.detach().numpy(), rtol=1e-10)
        np.testing.assert_allclose(q.detach().numpy(), r.detach().numpy(), rtol=1e-10)


@NEEDS_TORCH
def test_a_closure_that_calls_backward_gives_pytorchs_iterates():
    """The usual closure (loss, backward) in both libraries: the gradients come from each one's
    reverse mode, equal to rounding, so the iterates agree to rounding too."""
    import torch

    ours = [tm.tensor(np.zeros(3), requires_grad=True), tm.tensor(np.zeros(1), requires_grad=True)]
    theirs = [torch.zeros(3, dtype=torch.float64, requires_grad=True), torch.zeros(1, dtype=torch.float64, requires_grad=True)]
    options = dict(max_iter=8, history_size=5, line_search_fn="strong_wolfe")
    opt, topt = tm.optim.LBFGS(ours, **options), torch.optim.LBFGS(theirs, **options)

    def closure():
        loss = F.binary_cross_entropy_with_logits(X @ ours[0] + ours[1], LABELS) + 0.01 * (ours[0] * ours[0]).sum()
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        logits = torch.tensor(X) @ theirs[0] + theirs[1]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor(LABELS)) + \
            0.01 * (theirs[0] * theirs[0]).sum()
        loss.backward()
        return loss

    for _ in range(3):
        assert opt.step(closure).item() == pytest.approx(topt.step(tclosure).item(), rel=1e-12)
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- its state, checked


def _stepped(history_size=3):
    w = tm.tensor(np.array([1.0, -1.0, 2.0]), requires_grad=True)
    b = tm.tensor(np.array([0.5]), requires_grad=True)
    opt = tm.optim.LBFGS([w, b], max_iter=4, history_size=history_size, line_search_fn="strong_wolfe")
    calls = []

    def closure():  # any sizes of w and b
        calls.append(1)
        loss = ((w - 1.0) ** 4).sum() + (w * w).sum() + ((b + 2.0) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w, b, opt, closure, calls


def _copy(state):
    """A deep copy of an L-BFGS state (arrays, and lists of arrays or numbers)."""
    def copy(value):
        if isinstance(value, list):
            return [copy(v) for v in value]
        return np.array(value) if isinstance(value, np.ndarray) else value

    return {key: copy(value) for key, value in state.items()}


def _assert_state_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], list):
            assert len(a[key]) == len(b[key]), key
            for x, y in zip(a[key], b[key]):
                assert (x is None and y is None) or np.array_equal(x, y), key
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_step_refuses_parameters_rebound_to_another_size():
    w, b, opt, closure, _ = _stepped()
    w.grad = None
    w.data = np.ones(5)
    before = _copy(opt.state[w])
    with pytest.raises(tm.ShapeError, match=r"LBFGS.step: state '(d|prev_flat_grad|old_dirs\[0\]|old_stps\[0\])' has "
                                            r"shape \(4,\), but the parameters \(shapes \(5,\), \(1,\)\) have 6 entries in all .*nothing was "
                                            r"updated.*opt.state.clear\(\)"):
        opt.step(closure)
    np.testing.assert_array_equal(w.numpy(), np.ones(5))
    _assert_state_equal(opt.state[w], before)
    opt.state.clear()  # what the message says
    opt.step(closure)
    assert opt.state[w]["d"].shape == (6,)


def test_load_state_dict_refuses_a_history_that_does_not_fit():
    w, b, opt, closure, _ = _stepped()
    saved = opt.state_dict()
    before = _copy(opt.state[w])
    for change, message in [
        (dict(d=np.zeros(3)), r"state 'd' has shape \(3,\), but the parameters \(shapes \(3,\), \(1,\)\) have 4 entries"),
        (dict(old_dirs=[np.zeros(4)] * (len(saved["state"][0]["old_stps"]) + 1)), "its history lists old_dirs, old_stps and ro differ in length"),
        (dict(ro="x"), "state 'ro' must be a list of numbers"),
        (dict(n_iter=-2), "state 'n_iter' must be a number ≥ 0"),
        (dict(momentum=np.zeros(4)), "state 'momentum' is not one LBFGS keeps"),
    ]:
        state = {0: dict(saved["state"][0], **change)}
        with pytest.raises((ValueError, TypeError), match=rf"LBFGS.load_state_dict: parameter 0: {message}"):
            opt.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
        _assert_state_equal(opt.state[w], before)
    with pytest.raises(ValueError, match="LBFGS.load_state_dict: parameter 1: LBFGS keeps its state under the first"):
        opt.load_state_dict({"state": {1: saved["state"][0]}, "param_groups": saved["param_groups"]})
    missing = {k: v for k, v in saved["state"][0].items() if k != "prev_flat_grad"}
    with pytest.raises(ValueError, match=r"its state lacks \['prev_flat_grad'\]"):
        opt.load_state_dict({"state": {0: missing}, "param_groups": saved["param_groups"]})


def test_a_step_whose_closure_raises_changes_nothing():
    w, b, opt, closure, calls = _stepped()
    before = _copy(opt.state[w])
    values = (w.numpy().copy(), b.numpy().copy())
    count = len(calls)

    def failing():
        if len(calls) >= count + 3:  # inside the line search of the first iteration
            raise RuntimeError("the data went away")
        return closure()

    with pytest.raises(RuntimeError, match="the data went away"):
        opt.step(failing)
    np.testing.assert_array_equal(w.numpy(), values[0])
    np.testing.assert_array_equal(b.numpy(), values[1])
    _assert_state_equal(opt.state[w], before)


def test_a_non_finite_loss_at_the_start_raises_and_changes_nothing():
    w, b, opt, closure, _ = _stepped()
    before = _copy(opt.state[w])

    def nan_loss():
        loss = closure() * np.nan
        return loss

    with pytest.raises(FloatingPointError, match="LBFGS.step: the closure's loss at the starting point is nan"):
        opt.step(nan_loss)
    _assert_state_equal(opt.state[w], before)


def test_options_are_checked():
    w = tm.tensor([1.0], requires_grad=True)
    for options, message in [(dict(history_size=0), "history_size must be a positive integer, got 0"),
                             (dict(max_iter=2.5), "max_iter must be a positive integer, got 2.5"),
                             (dict(max_eval=0), "max_eval must be a positive integer, got 0"),
                             (dict(tolerance_grad=-1.0), "tolerance_grad must be a finite number ≥ 0")]:
        with pytest.raises(ValueError, match=f"LBFGS: {message}"):
            tm.optim.LBFGS([w], **options)


def test_the_iteration_count_reads_as_before():
    """tinygrad_mat.sklearn reads opt.state['lbfgs']['iterations'] (the key of earlier versions)."""
    w, b, opt, closure, _ = _stepped()
    assert opt.state["lbfgs"] == {"iterations": opt.state[w]["n_iter"]} and opt.state[w]["n_iter"] >= 1
    opt.step(closure)
    assert opt.state["lbfgs"]["iterations"] == opt.state[w]["n_iter"]
    assert "lbfgs" not in opt.state and list(opt.state) == [w]  # not a stored entry
    with pytest.raises(KeyError):
        opt.state["other"]


def test_float32_parameters_keep_a_float32_history():
    """The line search's step once made the history float64, and the next step refused it."""
    x = tm.tensor(np.array([-1.2, 1.0], dtype=np.float32), requires_grad=True)
    opt = tm.optim.LBFGS([x], max_iter=30, line_search_fn="strong_wolfe")

    def closure():
        loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    state = opt.state[x]
    assert x.dtype == np.float32 and state["d"].dtype == state["prev_flat_grad"].dtype == np.float32
    assert all(v.dtype == np.float32 for v in state["old_dirs"] + state["old_stps"])
    assert np.abs(x.numpy() - 1.0).max() < 1e-3
