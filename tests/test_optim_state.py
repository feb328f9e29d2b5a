"""Optimizer state is checked against its parameters before anything is written: load_state_dict
(casting as PyTorch does), the start of every step, the dispatch functions and the update kernels.

Calls that crashed the process before these checks (a segmentation fault, an abort, a hang in the
numba kernels) run in a subprocess, so a crash fails its test instead of killing pytest."""
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tinygrad_mat as tm

ROOT = Path(__file__).resolve().parents[1]
HAS_TORCH = importlib.util.find_spec("torch") is not None
NEEDS_TORCH = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is an optional oracle (pip install torch==2.13.0); "
                                 "the checks of our own state above run without it")
BIG = tm.dispatch.ADAM_KERNEL_MIN_SIZE * 2  # large enough for the fused numba kernels
rng = np.random.default_rng(7)

# The optimizers keeping per-parameter state, each with an option set that makes every state entry.
MAKERS = {
    "SGD": lambda p: tm.optim.SGD(p, lr=0.1, momentum=0.9),
    "Adam": lambda p: tm.optim.Adam(p, lr=0.1, amsgrad=True),
    "AdamW": lambda p: tm.optim.AdamW(p, lr=0.1),
    "RMSprop": lambda p: tm.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
}
ARRAY_KEY = {"SGD": "momentum_buffer", "Adam": "exp_avg", "AdamW": "exp_avg_sq", "RMSprop": "square_avg"}


def stepped(make, shapes=((3,), (2, 2)), steps=2):
    """Parameters of ``shapes`` and an optimizer that has made ``steps`` steps on sum(w²)."""
    params = [tm.tensor(rng.standard_normal(shape), requires_grad=True) for shape in shapes]
    opt = make(params)
    for _ in range(steps):
        opt.zero_grad()
        sum((p * p).sum() for p in params).backward()
        opt.step()
    return params, opt


def snapshot(params, opt):
    """Parameter values and every state entry, copied."""
    state = {i: {k: np.array(v) for k, v in opt.state.get(p, {}).items()} for i, p in enumerate(params)}
    return [p.numpy().copy() for p in params], state, [dict(g, params=None) for g in opt.param_groups]


def assert_unchanged(before, after):
    (values0, state0, groups0), (values1, state1, groups1) = before, after
    for a, b in zip(values0, values1):
        np.testing.assert_array_equal(a, b)
    assert state0.keys() == state1.keys()
    for i in state0:
        assert state0[i].keys() == state1[i].keys()
        for key in state0[i]:
            np.testing.assert_array_equal(state0[i][key], state1[i][key])
    assert groups0 == groups1


# ---------------------------------------------------------------- load_state_dict


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_load_state_dict_refuses_state_that_does_not_fit_and_loads_nothing(name):
    params, opt = stepped(MAKERS[name])
    saved = opt.state_dict()
    key = ARRAY_KEY[name]
    bad = {
        "a 0-d array": (np.array(0.0), r"state '%s' has shape \(\), the parameter \(2, 2\)" % key),
        "another shape": (np.zeros(4), r"state '%s' has shape \(4,\), the parameter \(2, 2\)" % key),
        "strings": (np.array([["a", "b"], ["c", "d"]]), "state '%s' holds <U1 values, not real numbers" % key),
    }
    before = snapshot(params, opt)
    for what, (value, message) in bad.items():
        state = {i: dict(entries) for i, entries in saved["state"].items()}
        state[1][key] = value
        with pytest.raises((ValueError, TypeError), match=rf"{name}.load_state_dict: parameter 1: {message}"):
            opt.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
        assert_unchanged(before, snapshot(params, opt))
    for state, message in [
        ({0: saved["state"][0], 5: saved["state"][1]}, r"state key 5 is not a parameter index \(0 to 1\)"),
        ({-1: saved["state"][1]}, r"state key -1 is not a parameter index"),
        ({0: dict(saved["state"][0], velocity=np.zeros(3))}, rf"state 'velocity' is not one {name} keeps"),
    ]:
        with pytest.raises(ValueError, match=rf"{name}.load_state_dict: .*{message}"):
            opt.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
        assert_unchanged(before, snapshot(params, opt))


def test_load_state_dict_refuses_a_missing_entry_and_a_bad_step_count():
    params, opt = stepped(MAKERS["Adam"])
    saved = opt.state_dict()
    for entries, message in [
        ({k: v for k, v in saved["state"][0].items() if k != "exp_avg_sq"}, r"its state lacks \['exp_avg_sq'\] \(it has \['exp_avg', 'max_exp_avg_sq', 'step'\]\)"),
        (dict(saved["state"][0], step=-1), "state 'step' must be a number ≥ 0, not -1"),
        (dict(saved["state"][0], step="2"), "state 'step' must be a number ≥ 0, not '2'"),
    ]:
        with pytest.raises(ValueError, match=rf"Adam.load_state_dict: parameter 0: {message}; nothing was loaded"):
            opt.load_state_dict({"state": {0: entries}, "param_groups": saved["param_groups"]})


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_a_loaded_state_is_cast_to_the_parameters_dtype_and_the_step_count_kept(name):
    """float32 state on float64 parameters becomes float64 (PyTorch casts floating state to the
    parameter's dtype); a step count saved as a float32 0-d array (as a converted PyTorch state
    holds it) stays the count it is, never cast."""
    params, opt = stepped(MAKERS[name])
    saved = opt.state_dict()
    as_float32 = {i: {k: (np.asarray(v, dtype=np.float32) if k != "step" else np.float32(v)) for k, v in entries.items()}
                  for i, entries in saved["state"].items()}
    fresh = MAKERS[name](params)
    fresh.load_state_dict({"state": as_float32, "param_groups": saved["param_groups"]})
    for i, p in enumerate(params):
        for key, value in fresh.state[p].items():
            if key == "step":
                assert value == saved["state"][i]["step"] and type(value) is int
            else:
                assert value.dtype == np.float64 and value.shape == p.shape
                np.testing.assert_array_equal(value, as_float32[i][key].astype(np.float64))
                assert value.flags.writeable and not np.shares_memory(value, as_float32[i][key])


# ---------------------------------------------------------------- step


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_step_refuses_a_parameter_rebound_to_another_shape(name):
    params, opt = stepped(MAKERS[name])
    before = snapshot(params, opt)
    params[1].grad = None
    params[1].data = np.ones((3, 2))
    params[1].grad = tm.tensor(np.ones((3, 2)))
    with pytest.raises(tm.ShapeError) as error:
        opt.step()
    message = str(error.value)
    assert message.startswith(f"{name}.step: parameter 1 (shape (3, 2), dtype float64): state ")
    assert "has shape (2, 2), the parameter (3, 2); nothing was updated" in message
    assert "opt.state.pop(p)" in message and "new optimizer" in message
    np.testing.assert_array_equal(params[0].numpy(), before[0][0])  # parameter 0 was not updated either
    for key, value in before[1][0].items():
        np.testing.assert_array_equal(opt.state[params[0]][key], value)
    opt.state.pop(params[1])  # what the message says: parameter 1 starts afresh
    opt.step()
    assert opt.state[params[1]][ARRAY_KEY[name]].shape == (3, 2)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_a_bad_entry_on_the_second_parameter_leaves_the_first_untouched(name):
    """Two groups; the second group's parameter has a hand-edited state entry: the step raises before
    the first parameter, its state or its step count change."""
    a, b = (tm.tensor(rng.standard_normal(3), requires_grad=True) for _ in range(2))
    opt = MAKERS[name]([{"params": [a]}, {"params": [b], "lr": 0.05}])
    for _ in range(2):
        opt.zero_grad()
        ((a * a).sum() + (b * b).sum()).backward()
        opt.step()
    key = ARRAY_KEY[name]
    read_only = np.zeros(3)
    read_only.setflags(write=False)
    for bad, error in [(np.zeros(4), tm.ShapeError), (np.zeros(3, dtype=np.float32), tm.DTypeError),
                       (read_only, ValueError), ([0.0, 0.0, 0.0], TypeError)]:
        before = snapshot([a, b], opt)
        good = opt.state[b][key]
        opt.state[b][key] = bad
        with pytest.raises(error, match=rf"{name}.step: parameter 1 .*state '{key}'"):
            opt.step()
        opt.state[b][key] = good
        assert_unchanged(before, snapshot([a, b], opt))


def test_adam_step_count_is_checked_too():
    params, opt = stepped(MAKERS["Adam"])
    before = snapshot(params, opt)
    opt.state[params[1]]["step"] = None
    with pytest.raises(ValueError, match=r"Adam.step: parameter 1 .*state 'step' must be a number ≥ 0, not None"):
        opt.step()
    opt.state[params[1]]["step"] = before[1][1]["step"].item()
    assert_unchanged(before, snapshot(params, opt))


def test_group_options_changed_by_hand_are_checked_before_any_write():
    params, opt = stepped(MAKERS["SGD"])
    before = snapshot(params, opt)
    opt.param_groups[0]["lr"] = -0.1
    with pytest.raises(ValueError, match="SGD: lr must be a finite number > 0"):
        opt.step()
    opt.param_groups[0]["lr"] = 0.1
    assert_unchanged(before, snapshot(params, opt))


def test_preconditioned_refuses_a_per_coordinate_rate_that_no_longer_fits():
    """Before: α of shape (3,) broadcast against a parameter rebound to shape (1,), which silently
    became shape (3,)."""
    w = tm.tensor(np.ones(3), requires_grad=True)
    opt = tm.optim.Preconditioned([w], lr=np.full(3, 0.1))
    w.data = np.ones(1)
    w.grad = tm.tensor(np.ones(1))
    with pytest.raises(tm.ShapeError, match=r"Preconditioned: lr of shape \(3,\) fits neither"):
        opt.step()
    assert w.shape == (1,)


@pytest.mark.parametrize("name", ["Newton", "Preconditioned"])
def test_optimizers_without_state_refuse_any(name):
    x = tm.tensor(np.ones(2), requires_grad=True)
    opt = tm.optim.Newton([x]) if name == "Newton" else tm.optim.Preconditioned([x], lr=0.1)
    with pytest.raises(ValueError, match=rf"{name}.load_state_dict: parameter 0: state 'H' is not one {name} keeps "
                                         r"\(it keeps: nothing\)"):
        opt.load_state_dict({"state": {0: {"H": np.eye(2)}}, "param_groups": opt.state_dict()["param_groups"]})
    assert opt.state == {}
    opt.state[x] = {"H": np.eye(2)}
    with pytest.raises(ValueError, match=rf"{name}.step: parameter 0 .*state 'H' is not one {name} keeps"):
        if name == "Newton":
            opt.step(lambda: (x * x).sum())
        else:
            (x * x).sum().backward()
            opt.step()
    np.testing.assert_array_equal(x.numpy(), [1.0, 1.0])


# ---------------------------------------------------------------- dispatch and kernels


def test_dispatch_refuses_arrays_that_do_not_fit_the_parameter():
    p, g = np.ones(BIG), np.ones(BIG)
    options = (0.1, 0.9, 0.999, 1e-8, 0.1, 0.05, 0.0, False)
    with pytest.raises(tm.ShapeError, match=r"adam: the first moment \(exp_avg\) has shape \(\), the parameter \(8192,\)"):
        tm.dispatch.adam(p, g, np.array(0.0), np.zeros(BIG), *options)
    with pytest.raises(tm.ShapeError, match=r"adam: the gradient has shape \(3,\)"):
        tm.dispatch.adam(p[:3].reshape(1, 3), g[:3], np.zeros((1, 3)), np.zeros((1, 3)), *options)
    with pytest.raises(tm.DTypeError, match=r"adam: the second moment \(exp_avg_sq\) has dtype float32"):
        tm.dispatch.adam(p, g, np.zeros(BIG), np.zeros(BIG, dtype=np.float32), *options)
    read_only = np.zeros(BIG)
    read_only.setflags(write=False)
    with pytest.raises(ValueError, match=r"sgd_momentum: the momentum buffer is read-only"):
        tm.dispatch.sgd_momentum(p, g, read_only, 0.1, 0.9, 0.0, 0.0, False, False)
    with pytest.raises(tm.ShapeError, match=r"sgd_momentum: the momentum buffer has shape \(8193,\)"):
        tm.dispatch.sgd_momentum(p, g, np.zeros(BIG + 1), 0.1, 0.9, 0.0, 0.0, False, False)


def test_a_strided_state_array_takes_the_numpy_path_and_is_updated_in_place():
    """A flat view of a non-contiguous array would be a copy: the kernel would update the copy."""
    p, g = np.ones(BIG), np.full(BIG, 0.5)
    m = np.zeros(2 * BIG)[::2]
    v = np.zeros(BIG)
    out = tm.dispatch.adam(p, g, m, v, 0.1, 0.9, 0.999, 1e-8, 0.1, np.sqrt(0.001), 0.0, False)
    np.testing.assert_allclose(m, 0.05)  # (1 − β₁)·g, in place in the strided array
    np.testing.assert_allclose(out, 1.0 - 0.1 / 0.1 * 0.05 / (np.sqrt(0.00025) / np.sqrt(0.001) + 1e-8))


def _run(script):
    """Run ``script`` in a fresh interpreter on this worktree; (return code, stdout + stderr)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env=env)
    return result.returncode, result.stdout + result.stderr


CRASHERS = {
    # a 0-d exp_avg for 8192 entries: the kernel read and wrote past its end (segmentation fault)
    "adam-load-0d": """
        opt = tm.optim.Adam([w], lr=0.1)
        groups = opt.state_dict()["param_groups"]
        opt.load_state_dict({"state": {0: {"step": 1, "exp_avg": np.array(0.0), "exp_avg_sq": np.array(0.0)}},
                             "param_groups": groups})
    """,
    # the parameter rebound to three times its size after its state was made (segmentation fault)
    "adam-rebound-larger": """
        opt = tm.optim.Adam([w], lr=0.1)
        w.grad = tm.tensor(np.ones(n)); opt.step()
        w.grad = None; w.data = np.ones(3 * n); w.grad = tm.tensor(np.ones(3 * n)); opt.step()
    """,
    # the same for SGD's momentum buffer, large enough for the parallel kernel (abort or hang)
    "sgd-rebound-larger-parallel": """
        opt = tm.optim.SGD([w], lr=0.1, momentum=0.9)
        w.grad = tm.tensor(np.ones(n)); opt.step()
        m = 40 * n
        w.grad = None; w.data = np.ones(m); w.grad = tm.tensor(np.ones(m)); opt.step()
    """,
    # a hand-edited state entry
    "sgd-hand-edited": """
        opt = tm.optim.SGD([w], lr=0.1, momentum=0.9)
        w.grad = tm.tensor(np.ones(n)); opt.step()
        opt.state[w]["momentum_buffer"] = np.zeros(3)
        opt.step()
    """,
    # the dispatch function and the kernel called directly
    "dispatch-direct": "tm.dispatch.adam(np.ones(n), np.ones(n), np.zeros(5), np.zeros(5), 0.1, 0.9, 0.999, 1e-8, 0.1, 0.05, 0.0, False)",
    "kernel-direct": """
        from tinygrad_mat.kernels import sgd_momentum_update_parallel
        sgd_momentum_update_parallel(np.ones(n), np.ones(n), np.zeros(5), np.empty(n), 0.1, 0.9, 0.0, 0.0, False, False)
    """,
    # a compiled step (numba backend) whose state was edited between calls
    "compiled-numba-hand-edited": """
        opt = tm.optim.Adam([w], lr=0.1)
        X, y = np.ones((4, n)), np.ones(4)

        @tm.compile(backend="numba")
        def step(X, y):
            opt.zero_grad()
            loss = tm.nn.functional.mse_loss(X @ w, y)
            loss.backward()
            opt.step()
            return loss

        for _ in range(3):
            step(X, y)
        opt.state[w]["exp_avg"] = np.zeros((1, n))
        step(X, y)
    """,
}


@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_calls_that_crashed_the_process_raise_a_python_error(name):
    body = textwrap.indent(textwrap.dedent(CRASHERS[name]), "    ")
    script = f"""
import numpy as np
import tinygrad_mat as tm
n = {BIG}
w = tm.tensor(np.ones(n), requires_grad=True)
try:
{body}
except (ValueError, TypeError) as error:
    print("refused:", type(error).__name__, error)
else:
    print("not refused")
"""
    code, output = _run(script)
    assert code == 0, f"exit code {code} (a negative code is a signal: {-code}):\n{output}"
    assert "refused: " in output and "not refused" not in output, output


def test_a_compiled_step_whose_state_was_edited_traces_again_and_the_eager_check_refuses():
    w = tm.tensor(np.ones(6), requires_grad=True)
    opt = tm.optim.Adam([w], lr=0.1)
    X, y = rng.standard_normal((4, 6)), np.ones(4)

    @tm.compile
    def step(X, y):
        opt.zero_grad()
        loss = tm.nn.functional.mse_loss(X @ w, y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(3):
        step(X, y)
    assert "Adam.state[L0]['exp_avg'] <-" in str(step.tape)
    values = w.numpy().copy()
    opt.state[w]["exp_avg"] = np.zeros((1, 6))  # numpy would broadcast it: w silently of shape (1, 6)
    with pytest.raises(tm.ShapeError, match=r"Adam.step: parameter 0 .*state 'exp_avg' has shape \(1, 6\)"):
        step(X, y)
    assert w.shape == (6,)
    np.testing.assert_array_equal(w.numpy(), values)


# ---------------------------------------------------------------- PyTorch's state dicts

TORCH_MAKERS = {
    "SGD": ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    "Adam": ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    "AdamW": ("AdamW", dict(lr=0.05, weight_decay=0.1)),
    "RMSprop": ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
}


def _objective(params):
    a, b = params
    return (a * a * a).sum() + (b * b).sum() * (a * a).sum()


@NEEDS_TORCH
@pytest.mark.parametrize("name", sorted(TORCH_MAKERS))
def test_state_dicts_and_a_loaded_pytorch_state_match_pytorchs(name):
    """After five steps our state dict holds PyTorch's keys and values; PyTorch's state dict loaded
    into a fresh optimizer (float32, as a checkpoint might be) continues as PyTorch continues after
    loading the same state dict."""
    import torch

    cls, options = TORCH_MAKERS[name]
    start = [rng.standard_normal(3), rng.standard_normal((2, 2))]
    ours = [tm.tensor(a, requires_grad=True) for a in start]
    theirs = [torch.tensor(a, requires_grad=True) for a in start]
    opt, topt = getattr(tm.optim, cls)(ours, **options), getattr(torch.optim, cls)(theirs, **options)

    def run(steps):
        for _ in range(steps):
            opt.zero_grad()
            topt.zero_grad()
            _objective(ours).backward()
            _objective(theirs).backward()
            opt.step()
            topt.step()

    run(5)
    mine, reference = opt.state_dict(), topt.state_dict()
    assert mine["state"].keys() == reference["state"].keys()
    for i, entries in reference["state"].items():
        assert mine["state"][i].keys() == entries.keys()
        for key, value in entries.items():
            np.testing.assert_allclose(mine["state"][i][key], value.numpy(), rtol=1e-12, atol=1e-15, err_msg=key)
    for group, tgroup in zip(mine["param_groups"], reference["param_groups"]):
        assert {key: tgroup[key] for key in group} == group  # PyTorch's groups also hold foreach, fused, ...

    converted = {"state": {i: {k: v.numpy().astype(np.float32) for k, v in entries.items()}
                           for i, entries in reference["state"].items()},
                 "param_groups": mine["param_groups"]}
    theirs_state = {"state": {i: {k: v.float() for k, v in entries.items()} for i, entries in reference["state"].items()},
                    "param_groups": reference["param_groups"]}
    opt = getattr(tm.optim, cls)(ours, **options)
    opt.load_state_dict(converted)
    topt = getattr(torch.optim, cls)(theirs, **options)
    topt.load_state_dict(theirs_state)
    for p, q in zip(ours, theirs):
        for key, value in topt.state[q].items():
            if key != "step":
                assert value.dtype == torch.float64 and opt.state[p][key].dtype == np.float64
                np.testing.assert_array_equal(opt.state[p][key], value.numpy())
            else:
                assert opt.state[p][key] == value.item()
    run(3)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-15)
