"""First-order optimizers, each computing exactly PyTorch's update: SGD, Adam, AdamW, RMSprop; and
``Preconditioned``, the notes' update x ← x − α∇f with α a number, an array or a matrix."""
import math

import numpy as np

from .. import dispatch
from ..errors import ShapeError
from .optimizer import Optimizer, positive


def _big(u, p):
    """True where a fused numba kernel does the eager update (large float64 parameters)."""
    return u.fused and p.size >= dispatch.ADAM_KERNEL_MIN_SIZE and p.dtype == np.float64


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

    def update(self, group, u, index):
        lr = u.option(self, index, "lr", dynamic=True)
        momentum, dampening, decay, nesterov, maximize = (
            u.option(self, index, key) for key in ("momentum", "dampening", "weight_decay", "nesterov", "maximize"))
        for p in group["params"]:
            if p.grad is None:
                continue
            x, g = u.param(p), u.grad(p)
            if maximize:
                g = -g
            buf = u.state(self, p, "momentum_buffer") if momentum else None
            if momentum and _big(u, p):  # one fused pass over p, g and the buffer
                first = buf is None
                if first:
                    buf = self._state(p)["momentum_buffer"] = np.empty(p.shape, dtype=p.dtype)
                u.set_param(p, dispatch.sgd_momentum(x, g, buf, lr, momentum, dampening, decay, nesterov, first))
                continue
            if decay:
                g = g + decay * x
            if momentum:  # as PyTorch: the first step's buffer is the gradient itself
                buf = g if buf is None else buf * momentum + (1.0 - dampening) * g
                u.set_state(self, p, "momentum_buffer", buf)
                g = g + momentum * buf if nesterov else buf
            u.set_param(p, x - lr * g)


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

    def update(self, group, u, index):
        lr = u.option(self, index, "lr", dynamic=True)
        (beta1, beta2), eps, decay, amsgrad, maximize = (
            u.option(self, index, key) for key in ("betas", "eps", "weight_decay", "amsgrad", "maximize"))
        for p in group["params"]:
            if p.grad is None:
                continue
            x, g = u.param(p), u.grad(p)
            if maximize:
                g = -g
            step = u.state(self, p, "step")
            m, v = u.state(self, p, "exp_avg"), u.state(self, p, "exp_avg_sq")
            if step is None:
                step, m, v = 0, u.zeros(p), u.zeros(p)
            t = step + 1
            u.set_state(self, p, "step", t)
            bias_correction1 = 1.0 - beta1 ** t
            bias_correction2_sqrt = u.sqrt(1.0 - beta2 ** t)
            if not amsgrad and _big(u, p) and m.flags.writeable and v.flags.writeable:  # one fused pass
                self._state(p).update(exp_avg=m, exp_avg_sq=v)
                u.set_param(p, dispatch.adam(x, g, m, v, lr, beta1, beta2, eps, bias_correction1,
                                             bias_correction2_sqrt, decay, self.decoupled))
                continue
            if self.decoupled:
                x = x * (1.0 - lr * decay)
            elif decay:
                g = g + decay * x
            m = m + (g - m) * (1.0 - beta1)
            v = v * beta2 + (1.0 - beta2) * g * g
            u.set_state(self, p, "exp_avg", m)
            u.set_state(self, p, "exp_avg_sq", v)
            if amsgrad:
                v_max = u.state(self, p, "max_exp_avg_sq")
                v = np.maximum(u.zeros(p) if v_max is None else v_max, v)
                u.set_state(self, p, "max_exp_avg_sq", v)
            u.set_param(p, x - (lr / bias_correction1) * m / (u.sqrt(v) / bias_correction2_sqrt + eps))


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

    def update(self, group, u, index):
        lr = u.option(self, index, "lr", dynamic=True)
        alpha, eps, momentum, decay, centered, maximize = (
            u.option(self, index, key) for key in ("alpha", "eps", "momentum", "weight_decay", "centered", "maximize"))
        for p in group["params"]:
            if p.grad is None:
                continue
            x, g = u.param(p), u.grad(p)
            if maximize:
                g = -g
            if decay:
                g = g + decay * x
            step, square_avg = u.state(self, p, "step"), u.state(self, p, "square_avg")
            if step is None:
                step, square_avg = 0, u.zeros(p)
            u.set_state(self, p, "step", step + 1)
            square_avg = square_avg * alpha + (1.0 - alpha) * g * g
            u.set_state(self, p, "square_avg", square_avg)
            if centered:
                grad_avg = u.state(self, p, "grad_avg")
                grad_avg = u.zeros(p) if grad_avg is None else grad_avg
                grad_avg = grad_avg + (g - grad_avg) * (1.0 - alpha)
                u.set_state(self, p, "grad_avg", grad_avg)
                avg = u.sqrt(square_avg - grad_avg * grad_avg) + eps
            else:
                avg = u.sqrt(square_avg) + eps
            if momentum:
                buf = u.state(self, p, "momentum_buffer")
                buf = (u.zeros(p) if buf is None else buf) * momentum + g / avg
                u.set_state(self, p, "momentum_buffer", buf)
                u.set_param(p, x - lr * buf)
            else:
                u.set_param(p, x - lr * g / avg)


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

    def update(self, group, u, index):
        alpha = u.option(self, index, "lr", dynamic=np.isscalar(group["lr"]))
        for p in group["params"]:
            if p.grad is None:
                continue
            x, g = u.param(p), u.grad(p)
            if np.ndim(alpha) == 2 and np.shape(alpha) != p.shape:  # a matrix on the flattened gradient
                step = (alpha @ g.reshape(-1)).reshape(p.shape)
            else:
                step = alpha * g
            u.set_param(p, x - step)
