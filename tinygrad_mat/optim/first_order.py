"""First-order optimizers, each computing exactly PyTorch's update: SGD, Adam, AdamW, RMSprop; and
``Preconditioned``, the notes' update x ← x − α∇f with α a number, an array or a matrix."""
import math

import numpy as np

from .. import dispatch
from ..errors import ShapeError
from .optimizer import Optimizer, array_problem, positive, rebind


def _gradient(p, maximize=False):
    g = p.grad._data
    return -g if maximize else g


def _entry(state, key, p):
    """The state array ``key``, made (zeros of p's shape and dtype, as at a first step) where an
    option that needs it was turned on after the state was made."""
    if key not in state:
        state[key] = np.zeros(p.shape, dtype=p.dtype)
    return state[key]


def _state_array(tape, optimizer, p, key):
    """``tape.state_array(p, key)`` and a guard: a replay applies only while that state array still
    fits p as traced (else the step is traced again, and the eager step's check says what is wrong)."""
    var = tape.state_array(p, key)
    shape, dtype = p.shape, p.dtype
    tape.tracer.checks.append(
        lambda: array_problem(key, optimizer.state.get(p, {}).get(key), shape, dtype) is None)
    return var


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay, as
    ``torch.optim.SGD``. With momentum, large parameters are updated by one fused numba kernel.
    State: ``momentum_buffer`` (with momentum, from the first step).

    >>> import numpy as np, tinygrad_mat as tm
    >>> w = tm.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tm.optim.SGD([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step(); w
    Tensor([ 0.8, -1.6], requires_grad=True)
    """

    state_arrays = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def check(self, group):
        positive("lr", group["lr"], "SGD")
        positive("momentum", group["momentum"], "SGD", allow_zero=True)
        positive("weight_decay", group["weight_decay"], "SGD", allow_zero=True)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening 0")

    def update(self, group):
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        for p in group["params"]:
            if p.grad is None:
                continue
            g = _gradient(p, group["maximize"])
            if momentum:  # one fused pass for large parameters (dispatch.sgd_momentum)
                state = self._state(p)
                buf = state.get("momentum_buffer")
                first = buf is None
                if first:
                    buf = state["momentum_buffer"] = np.empty(p.shape, dtype=p.dtype)
                rebind(p, dispatch.sgd_momentum(p._data, g, buf, lr, momentum, dampening, group["weight_decay"],
                                                group["nesterov"], first))
                continue
            if group["weight_decay"]:
                g = g + group["weight_decay"] * p._data
            rebind(p, p._data - lr * g)

    def lower_step(self, tape, closure=None):
        """``update`` written into a compiled step: the same numpy operations (dispatch.numpy_sgd_momentum
        for momentum), the learning rate read at every call, the other options guarded."""
        plan = self._known_gradients(tape, closure)
        if plan is None:
            return False
        for index, group, params in plan:
            momentum, dampening, decay, nesterov, maximize = (
                tape.fixed(index, key) for key in ("momentum", "dampening", "weight_decay", "nesterov", "maximize"))
            lr = tape.option(index, "lr") if params else None
            for p, g in params:
                x = tape.data(p)
                if maximize:
                    g = tape.compute(f"-{g}", p)
                if decay:
                    g = tape.compute(f"{g} + {decay!r} * {x}", p)
                if momentum:  # after the first step, which the eager trace ran (the buffer exists)
                    buf = _state_array(tape, self, p, "momentum_buffer")
                    tape.store(buf, f"{buf} * {momentum!r} + {1.0 - dampening!r} * {g}")
                    g = tape.compute(f"{g} + {momentum!r} * {buf}", p) if nesterov else buf
                tape.rebind(p, tape.compute(f"{x} - {lr} * {g}", p))
        return True


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (``weight_decay`` as an L2 term, ``amsgrad`` optional). Large
    parameters are updated by one fused numba kernel. State: ``step``, ``exp_avg``, ``exp_avg_sq``
    (and ``max_exp_avg_sq`` with amsgrad).

    >>> import numpy as np, tinygrad_mat as tm
    >>> w = tm.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tm.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step(); w.numpy().round(6)    # the first step is lr · sign(g)
    array([ 0.9, -1.9])
    """

    decoupled = False
    state_counts = ("step",)
    state_arrays = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    state_required = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def check(self, group):
        name = type(self).__name__
        positive("lr", group["lr"], name)
        positive("eps", group["eps"], name, allow_zero=True)
        positive("weight_decay", group["weight_decay"], name, allow_zero=True)
        beta1, beta2 = group["betas"]
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"{name}: betas must lie in [0, 1), got {group['betas']}")

    def update(self, group):
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        for p in group["params"]:
            if p.grad is None:
                continue
            g = _gradient(p, group["maximize"])
            state = self._state(p)
            if not state:
                state["step"] = 0
                state["exp_avg"] = np.zeros(p.shape, dtype=p.dtype)
                state["exp_avg_sq"] = np.zeros(p.shape, dtype=p.dtype)
            state["step"] += 1
            t = float(state["step"])  # a Python number, whatever type of count was loaded (PyTorch: .item())
            bias_correction1 = 1.0 - beta1**t
            bias_correction2_sqrt = math.sqrt(1.0 - beta2**t)
            if group["amsgrad"]:
                rebind(p, self._amsgrad(p._data, g, state, lr, beta1, beta2, eps, wd, bias_correction1,
                                        bias_correction2_sqrt))
                continue
            rebind(p, dispatch.adam(p._data, g, state["exp_avg"], state["exp_avg_sq"], lr, beta1, beta2, eps,
                                    bias_correction1, bias_correction2_sqrt, wd, self.decoupled))

    def lower_step(self, tape, closure=None):
        """``update`` written into a compiled step: dispatch.numpy_adam's operations, the step count and
        bias corrections kept in the state at every call, the learning rate read at every call, the
        other options guarded. amsgrad stays a call."""
        plan = self._known_gradients(tape, closure)
        if plan is None or any(group["amsgrad"] for _, group, _ in plan):
            return False
        for index, group, params in plan:
            (beta1, beta2), eps, decay, maximize, _ = (
                tape.fixed(index, key) for key in ("betas", "eps", "weight_decay", "maximize", "amsgrad"))
            lr = tape.option(index, "lr") if params else None
            for p, g in params:
                x = tape.data(p)
                if maximize:
                    g = tape.compute(f"-{g}", p)
                step = tape.state(p, "step")
                t = tape.number(f"{step} + 1")
                correction1 = tape.number(f"1.0 - {beta1!r} ** {t}")
                correction2 = tape.number(f"_sqrt(1.0 - {beta2!r} ** {t})")
                if self.decoupled:
                    x = tape.compute(f"{x} * (1.0 - {lr} * {decay!r})", p)
                elif decay:
                    g = tape.compute(f"{g} + {decay!r} * {x}", p)
                m, v = _state_array(tape, self, p, "exp_avg"), _state_array(tape, self, p, "exp_avg_sq")
                tape.store(m, f"{m} + ({g} - {m}) * {1.0 - beta1!r}")
                tape.store(v, f"{v} * {beta2!r} + {1.0 - beta2!r} * {g} * {g}")
                tape.rebind(p, tape.compute(f"{x} - ({lr} / {correction1}) * {m} / (np.sqrt({v}) / {correction2} + {eps!r})", p))
                tape.effect(f"{step} = {t}")
        return True

    def _amsgrad(self, p, g, state, lr, beta1, beta2, eps, wd, bias_correction1, bias_correction2_sqrt):
        if self.decoupled:
            p = p * (1.0 - lr * wd)
        elif wd:
            g = g + wd * p
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (g - m) * (1.0 - beta1)
        v *= beta2
        v += (1.0 - beta2) * g * g
        v_max = _entry(state, "max_exp_avg_sq", p)
        np.maximum(v_max, v, out=v_max)
        return p - (lr / bias_correction1) * m / (np.sqrt(v_max) / bias_correction2_sqrt + eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (p ← p(1 − lr·wd) before the step), as ``torch.optim.AdamW``."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)


class RMSprop(Optimizer):
    """RMSprop (``centered`` and ``momentum`` optional), as ``torch.optim.RMSprop``. State: ``step``,
    ``square_avg`` (and ``momentum_buffer`` with momentum, ``grad_avg`` when centered)."""

    state_counts = ("step",)
    state_arrays = ("square_avg", "momentum_buffer", "grad_avg")
    state_required = ("step", "square_avg")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def check(self, group):
        positive("lr", group["lr"], "RMSprop")
        positive("eps", group["eps"], "RMSprop", allow_zero=True)
        positive("momentum", group["momentum"], "RMSprop", allow_zero=True)
        if not 0.0 <= group["alpha"] <= 1.0:
            raise ValueError(f"RMSprop: alpha must lie in [0, 1], got {group['alpha']}")

    def update(self, group):
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        for p in group["params"]:
            if p.grad is None:
                continue
            g = _gradient(p, group["maximize"])
            if group["weight_decay"]:
                g = g + group["weight_decay"] * p._data
            state = self._state(p)
            if not state:
                state["step"] = 0
                state["square_avg"] = np.zeros(p.shape, dtype=p.dtype)
            state["step"] += 1
            square_avg = state["square_avg"]
            square_avg *= alpha
            square_avg += (1.0 - alpha) * g * g
            if group["centered"]:
                grad_avg = _entry(state, "grad_avg", p)
                grad_avg += (g - grad_avg) * (1.0 - alpha)
                avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
            else:
                avg = np.sqrt(square_avg) + eps
            if momentum:
                buf = _entry(state, "momentum_buffer", p)
                buf *= momentum
                buf += g / avg
                rebind(p, p._data - lr * buf)
            else:
                rebind(p, p._data - lr * g / avg)


class Preconditioned(Optimizer):
    """The notes' update x ← x − α ∇f(x), with α a positive number, an array of the parameter's shape
    (per coordinate), or a matrix acting on the flattened gradient. With α = (2XᵀX)⁻¹, one step
    minimises ‖Xw − y‖² exactly (Newton's method for a quadratic).

    >>> import numpy as np, tinygrad_mat as tm
    >>> X, y = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]), np.array([1.0, 2.0, 2.0])
    >>> w = tm.zeros(2, requires_grad=True)
    >>> opt = tm.optim.Preconditioned([w], lr=np.linalg.inv(2 * X.T @ X))
    >>> (tm.norm(X @ w - y) ** 2).backward(); opt.step()
    >>> bool(np.allclose(w.numpy(), np.linalg.lstsq(X, y, rcond=None)[0]))
    True
    """

    def __init__(self, params, lr):
        super().__init__(params, dict(lr=lr))

    def check(self, group):
        lr = group["lr"]
        if np.isscalar(lr):
            positive("lr", lr, "Preconditioned")
            return
        alpha = np.asarray(lr, dtype=float)
        for p in group["params"]:
            if alpha.shape == p.shape:
                if (alpha <= 0).any():
                    raise ValueError("Preconditioned: a per-coordinate lr must be positive")
            elif alpha.shape != (p.size, p.size):
                raise ShapeError(f"Preconditioned: lr of shape {alpha.shape} fits neither the parameter's shape "
                                 f"{p.shape} nor a ({p.size}, {p.size}) matrix")
        group["lr"] = alpha

    def update(self, group):
        alpha = group["lr"]
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad._data
            if np.isscalar(alpha) or np.shape(alpha) == p.shape:
                step = alpha * g
            else:
                step = (alpha @ g.reshape(-1)).reshape(p.shape)
            rebind(p, p._data - step)
