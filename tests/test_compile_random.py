"""Random steps, compiled against eager: random op sequences over several parameters, closures over
arrays and scalars, random optimizers, several calls with new data, both backends, to 1e-10.

Each program is drawn from a seed; a failure names it (``PROGRAMS`` reproduces it)."""
import numpy as np
import pytest

import tinygrad_mat as tm

F = tm.nn.functional

# (name, function): ops that keep values bounded, so no program overflows (a NaN everywhere would
# compare equal and test nothing)
UNARY = [("tanh", tm.tanh), ("sigmoid", tm.sigmoid), ("sin", tm.sin), ("square_of_tanh", lambda x: tm.tanh(x) ** 2.0),
         ("softplus", lambda x: F.softplus(tm.tanh(x))), ("exp_small", lambda x: tm.exp(0.1 * tm.tanh(x))),
         ("neg", lambda x: -x), ("relu", tm.relu), ("abs", tm.abs), ("cube_damped", lambda x: x ** 3.0 / (1.0 + x * x))]
BINARY = [("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
          ("max", tm.maximum), ("div", lambda a, b: a / (1.5 + b * b))]
OPTIMIZERS = [lambda p: tm.optim.SGD(p, lr=0.05), lambda p: tm.optim.SGD(p, lr=0.05, momentum=0.9),
              lambda p: tm.optim.Adam(p, lr=0.01), lambda p: tm.optim.AdamW(p, lr=0.01, weight_decay=0.1),
              lambda p: tm.optim.RMSprop(p, lr=0.01, momentum=0.5)]


def program(seed):
    """A step drawn from ``seed``: (make(), data), where make() returns (params, step) with fresh state."""
    rng = np.random.default_rng(seed)
    n, d, k = rng.integers(2, 6), rng.integers(2, 5), rng.integers(1, 4)
    ops = [(rng.integers(len(UNARY)), rng.integers(len(BINARY)), rng.integers(3)) for _ in range(rng.integers(2, 6))]
    closure_array = rng.standard_normal((n, k))
    closure_scale = float(rng.uniform(0.5, 2.0))
    optimizer = OPTIMIZERS[rng.integers(len(OPTIMIZERS))]
    # how gradients are handled: zeroed by the optimizer, accumulated over calls, or a hand-written
    # update under no_grad with the gradients cleared after it
    handling = ("zero_grad", "accumulate", "by hand")[rng.integers(3)]
    init = [rng.standard_normal((d, k)) * 0.5, rng.standard_normal(k) * 0.5, rng.standard_normal((n, k)) * 0.5]
    data = [(rng.standard_normal((n, d)), rng.standard_normal((n, k))) for _ in range(4)]

    def make():
        W, b, V = (tm.tensor(a, requires_grad=True) for a in init)
        opt = optimizer([W, b, V])

        def step(X, Y):
            if handling == "zero_grad":
                opt.zero_grad()
            h = X @ W + b
            for unary, binary, operand in ops:
                other = (V, closure_array, Y)[operand]
                h = BINARY[binary][1](UNARY[unary][1](h), other)
            loss = ((h - Y) ** 2).mean() * closure_scale + 0.01 * (W * W).sum()
            loss.backward()
            if handling == "by hand":
                with tm.no_grad():
                    for p in (W, b, V):
                        if p.grad is not None:
                            p -= 0.01 * p.grad
                        p.grad = None
            else:
                opt.step()
            return loss, h.detach()

        return [W, b, V], step

    return make, data


def check(seed, backend):
    make, data = program(seed)
    (params, step), (twins, eager) = make(), make()
    compiled = tm.compile(step, backend=backend)
    for call, (X, Y) in enumerate(data):
        (loss, h), (loss_e, h_e) = compiled(X, Y), eager(X, Y)
        where = f"program {seed}, backend {backend}, call {call}"
        assert np.isfinite(loss_e.numpy()), where  # the program stays finite: the comparison means something
        np.testing.assert_allclose(loss.numpy(), loss_e.numpy(), rtol=1e-10, atol=1e-10, err_msg=where)
        np.testing.assert_allclose(h.numpy(), h_e.numpy(), rtol=1e-10, atol=1e-10, err_msg=where)
        for p, q in zip(params, twins):
            np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-10, atol=1e-10, err_msg=where)
            assert (p.grad is None) == (q.grad is None), where  # a parameter the program never used
            if q.grad is not None:
                np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=where)


@pytest.mark.parametrize("seed", range(60))
def test_random_steps_compiled_with_numpy_equal_eager(seed):
    check(seed, "numpy")


@pytest.mark.parametrize("seed", range(60, 68))  # each numba program compiles a function (about 2 s)
def test_random_steps_compiled_with_numba_equal_eager(seed):
    check(seed, "numba")


@pytest.mark.parametrize("seed", range(60))
def test_random_steps_with_every_temporary_in_a_planned_buffer_equal_eager(seed, monkeypatch):
    """The numpy backend's buffer plan (jit/buffers.py), made to cover every temporary: a buffer
    reused while a value or a view of it is still read would show here."""
    from tinygrad_mat.jit import buffers

    monkeypatch.setattr(buffers, "MIN_ENTRIES", 1)
    check(seed, "numpy")
