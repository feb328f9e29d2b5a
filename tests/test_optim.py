"""Optimizers: updates against numpy references written here (and PyTorch's where installed),
convergence of L-BFGS and Newton, groups, state dicts, schedulers, bad input, and live graphs."""
import importlib.util
import math

import numpy as np
import pytest

import tinygrad_mat as tm

rng = np.random.default_rng(11)
X, Y = rng.standard_normal((30, 4)), rng.standard_normal(30)
W0 = np.array([0.5, -1.0, 2.0, 0.1])


def loss_of(w):
    return ((X @ w - Y) ** 2).mean() + 0.01 * (w**4).sum()


def grad_of(w):
    return 2 * X.T @ (X @ w - Y) / len(Y) + 0.04 * w**3


def trajectory(make, steps=8, w0=W0):
    w = tm.tensor(w0, requires_grad=True)
    opt = make([w])
    for _ in range(steps):
        opt.zero_grad()
        loss_of(w).backward()
        opt.step()
    return w.numpy()


def reference_sgd(lr, momentum=0.0, dampening=0.0, wd=0.0, nesterov=False, steps=8):
    w, buf = W0.copy(), None
    for _ in range(steps):
        g = grad_of(w) + wd * w
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        w = w - lr * g
    return w


def reference_adam(lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False, steps=8):
    w, m, v = W0.copy(), np.zeros(4), np.zeros(4)
    for t in range(1, steps + 1):
        g = grad_of(w)
        if decoupled:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return w


def reference_rmsprop(lr, alpha=0.99, eps=1e-8, steps=8):
    w, s = W0.copy(), np.zeros(4)
    for _ in range(steps):
        g = grad_of(w)
        s = alpha * s + (1 - alpha) * g * g
        w = w - lr * g / (np.sqrt(s) + eps)
    return w


def test_first_order_updates_match_their_formulas():
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    close(trajectory(lambda p: tm.optim.SGD(p, lr=0.05)), reference_sgd(0.05))
    close(trajectory(lambda p: tm.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.1)),
          reference_sgd(0.05, 0.9, 0.2, 0.1))
    close(trajectory(lambda p: tm.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
          reference_sgd(0.05, 0.9, nesterov=True))
    close(trajectory(lambda p: tm.optim.Adam(p, lr=0.05, weight_decay=0.1)), reference_adam(0.05, wd=0.1))
    close(trajectory(lambda p: tm.optim.AdamW(p, lr=0.05, weight_decay=0.1)),
          reference_adam(0.05, wd=0.1, decoupled=True))
    close(trajectory(lambda p: tm.optim.RMSprop(p, lr=0.01)), reference_rmsprop(0.01))


def test_fused_adam_kernel_agrees_with_the_formula_on_large_parameters():
    n = tm.dispatch.ADAM_KERNEL_MIN_SIZE * 2
    p0, g0 = rng.standard_normal(n), rng.standard_normal(n)
    w = tm.tensor(p0, requires_grad=True)
    opt = tm.optim.Adam([w], lr=0.01, weight_decay=0.1)
    for _ in range(3):
        w.grad = tm.tensor(g0)
        opt.step()
    m, v, p = np.zeros(n), np.zeros(n), p0.copy()
    for t in range(1, 4):
        g = g0 + 0.1 * p
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        p = p - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(w.numpy(), p, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("n", [tm.dispatch.SGD_KERNEL_MIN_SIZE * 2, tm.dispatch.PARALLEL_MIN_SIZE * 2],
                         ids=["serial-kernel", "parallel-kernel-when-threads"])
@pytest.mark.parametrize("options", [dict(momentum=0.9, dampening=0.2, weight_decay=0.1),
                                     dict(momentum=0.9, nesterov=True, maximize=True)], ids=["damped", "nesterov"])
def test_fused_sgd_momentum_kernel_agrees_with_the_formula_on_large_parameters(n, options):
    p0 = rng.standard_normal(n)
    grads = [rng.standard_normal(n) for _ in range(3)]
    w = tm.tensor(p0, requires_grad=True)
    opt = tm.optim.SGD([w], lr=0.01, **options)
    for g in grads:
        w.grad = tm.tensor(g)
        opt.step()
    momentum, dampening = options["momentum"], options.get("dampening", 0.0)
    p, buf = p0.copy(), None
    for g in grads:
        g = (-g if options.get("maximize") else g) + options.get("weight_decay", 0.0) * p
        buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
        p = p - 0.01 * (g + momentum * buf if options.get("nesterov") else buf)
    np.testing.assert_array_equal(w.numpy(), p)  # the kernel does numpy's operations, in its order


# PyTorch is an optional oracle (several hundred MB, never in the test extra); the formulas above run everywhere.
@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="PyTorch is an optional oracle (pip install torch==2.13.0); the formulas above stand")
def test_updates_equal_pytorchs():
    import torch

    def torch_trajectory(make, steps=8):
        w = torch.tensor(W0, requires_grad=True)
        Xt, Yt = torch.tensor(X), torch.tensor(Y)
        opt = make([w])
        for _ in range(steps):
            opt.zero_grad()
            (((Xt @ w - Yt) ** 2).mean() + 0.01 * (w**4).sum()).backward()
            opt.step()
        return w.detach().numpy()

    pairs = [
        (lambda p: tm.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
         lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
        (lambda p: tm.optim.Adam(p, lr=0.05, amsgrad=True, weight_decay=0.1),
         lambda p: torch.optim.Adam(p, lr=0.05, amsgrad=True, weight_decay=0.1)),
        (lambda p: tm.optim.AdamW(p, lr=0.05), lambda p: torch.optim.AdamW(p, lr=0.05)),
        (lambda p: tm.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True, weight_decay=0.1),
         lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(trajectory(ours), torch_trajectory(theirs), rtol=1e-12, atol=1e-14)


def test_lbfgs_with_strong_wolfe_minimises_rosenbrock():
    x = tm.tensor([-1.2, 1.0], requires_grad=True)
    opt = tm.optim.LBFGS([x], max_iter=200, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                         tolerance_change=1e-14)

    def closure():
        loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=1e-8)


def test_newton_exact_and_cg_reach_the_logistic_optimum():
    Xc = np.hstack([X, np.ones((30, 1))])
    labels = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.standard_normal(30) > 0).astype(float)
    objective = lambda w: (tm.nn.functional.binary_cross_entropy_with_logits(Xc @ w, labels, reduction="sum")
                           + 0.5 * (w[:4] * w[:4]).sum())
    results = []
    for method in ("exact", "cg"):
        w = tm.zeros(5, requires_grad=True)
        opt = tm.optim.Newton([w], method=method)
        for _ in range(12):
            opt.step(lambda: objective(w))
        results.append(w.numpy())
        gradient = tm.grad(objective)(w.numpy())
        assert np.max(np.abs(gradient)) < 1e-8, method
    np.testing.assert_allclose(results[0], results[1], rtol=1e-7, atol=1e-9)


def test_preconditioned_step_with_the_inverse_hessian_solves_least_squares():
    w = tm.zeros(4, requires_grad=True)
    opt = tm.optim.Preconditioned([w], lr=np.linalg.inv(2 * X.T @ X))
    (tm.norm(X @ w - Y) ** 2).backward()
    opt.step()
    np.testing.assert_allclose(w.numpy(), np.linalg.solve(X.T @ X, X.T @ Y), rtol=1e-10)
    v = tm.zeros(4, requires_grad=True)  # per-coordinate: Jacobi scaling
    opt = tm.optim.Preconditioned([v], lr=np.full(4, 0.01))
    (tm.norm(X @ v - Y) ** 2).backward()
    opt.step()
    np.testing.assert_allclose(v.numpy(), -0.01 * 2 * X.T @ (-Y), rtol=1e-12)


def test_param_groups_have_their_own_options_and_state_dicts_round_trip():
    a, b = tm.tensor([1.0], requires_grad=True), tm.tensor([1.0], requires_grad=True)
    opt = tm.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    (a * a + b * b).sum().backward()
    opt.step()
    np.testing.assert_allclose([a.item(), b.item()], [1 - 0.1 * 2, 1 - 0.5 * 2])
    saved = opt.state_dict()
    fresh = tm.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[1]["lr"] == 0.5
    np.testing.assert_array_equal(fresh.state[a]["momentum_buffer"], opt.state[a]["momentum_buffer"])
    with pytest.raises(ValueError, match="saved groups do not match"):
        tm.optim.SGD([a, b], lr=0.1).load_state_dict(saved)


def test_schedulers_follow_their_closed_forms():
    opt = tm.optim.SGD([tm.zeros(1, requires_grad=True)], lr=0.8)
    cosine = tm.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.1)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        cosine.step()
    np.testing.assert_allclose(lrs, [0.1 + 0.7 * (1 + math.cos(math.pi * k / 10)) / 2 for k in range(10)], rtol=1e-14)
    opt = tm.optim.Adam([tm.zeros(1, requires_grad=True)], lr=1.0)
    step = tm.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    seen = []
    for _ in range(7):
        seen.append(step.get_last_lr()[0])
        step.step()
    assert seen == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]


def test_bad_input_is_refused_before_anything_changes():
    w = tm.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="SGD: lr must be a finite number > 0"):
        tm.optim.SGD([w], lr=0.0)
    with pytest.raises(ValueError, match="Adam: lr must be a finite number > 0"):
        tm.optim.Adam([w], lr=-1e-3)
    with pytest.raises(ValueError, match="parameter 0 .* does not require grad"):
        tm.optim.SGD([tm.tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        tm.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="nesterov needs momentum > 0"):
        tm.optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="LBFGS.step needs a closure"):
        tm.optim.LBFGS([w]).step()
    with pytest.raises(tm.ShapeError, match="Preconditioned: lr of shape"):
        tm.optim.Preconditioned([w], lr=np.ones((2, 3)))
    w2 = tm.tensor([1.0], requires_grad=True)
    opt = tm.optim.Newton([w2])
    with pytest.raises(tm.GraphError, match="without calling backward"):
        opt.step(lambda: (lambda loss: (loss.backward(), loss)[1])((w2 * w2).sum()))


def test_an_update_leaves_a_live_graph_correct():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    opt = tm.optim.Adam([w], lr=0.5)
    live = (w * w).sum()  # saved w = [1, 2]
    (w * 3.0).sum().backward()
    opt.step()
    assert not np.allclose(w.numpy(), [1.0, 2.0])
    w.grad = None
    live.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])
