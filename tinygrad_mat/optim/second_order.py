"""Optimizers that use curvature: L-BFGS (with a strong-Wolfe line search, as scikit-learn's default
logistic solver) and Newton's method (the exact Hessian, or Hessian-vector products with conjugate
gradients; damping and a backtracking line search).

Both take a closure that evaluates the loss on the current parameters; they change the parameters
several times inside one ``step``. Sources: Nocedal & Wright, "Numerical Optimization" (2nd ed.),
Algorithms 3.5 and 3.6 (strong-Wolfe line search), 7.4 (two-loop recursion), 5.2 (conjugate gradients).
"""
import math

import numpy as np

from .. import modes
from ..errors import GraphError
from ..tensor import gradients
from .optimizer import Optimizer, positive, rebind


class _Flat:
    """The parameters as one vector: read, write, and their gradients."""

    def __init__(self, params):
        self.params = params
        self.sizes = [p.size for p in params]

    def get(self):
        return np.concatenate([p._data.reshape(-1) for p in self.params]).astype(np.float64)

    def set(self, x):
        start = 0
        for p, n in zip(self.params, self.sizes):
            rebind(p, np.array(x[start:start + n]).reshape(p.shape))
            start += n

    def grad(self):
        return np.concatenate([np.zeros(p.size) if p.grad is None else p.grad._data.reshape(-1).astype(np.float64)
                               for p in self.params])

    def split(self, v):
        pieces, start = [], 0
        for p, n in zip(self.params, self.sizes):
            pieces.append(v[start:start + n].reshape(p.shape))
            start += n
        return pieces


def _cubic_minimum(x1, f1, g1, x2, f2, g2, low, high):
    """The minimiser of the cubic through two points with slopes, kept inside [low, high]."""
    d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2)
    square = d1 * d1 - g1 * g2
    if square >= 0.0:
        d2 = math.copysign(math.sqrt(square), x2 - x1)
        t = x2 - (x2 - x1) * (g2 + d2 - d1) / (g2 - g1 + 2.0 * d2)
        if low <= t <= high:
            return t
    return 0.5 * (low + high)


def strong_wolfe(phi, t, f0, slope0, c1=1e-4, c2=0.9, max_evaluations=25):
    """A step t along a descent direction with f(t) ≤ f0 + c1·t·slope0 and |f′(t)| ≤ c2·|slope0|.

    ``phi(t)`` returns (f, gradient vector, directional derivative). Returns (t, f, gradient, count).
    """
    t_prev, f_prev, d_prev = 0.0, f0, slope0
    evaluations, best = 0, None
    while evaluations < max_evaluations:
        f_t, g_t, d_t = phi(t)
        evaluations += 1
        if best is None or f_t < best[1]:
            best = (t, f_t, g_t)
        if f_t > f0 + c1 * t * slope0 or (evaluations > 1 and f_t >= f_prev):
            return _zoom(phi, t_prev, f_prev, d_prev, t, f_t, d_t, f0, slope0, c1, c2, evaluations, max_evaluations, best)
        if abs(d_t) <= -c2 * slope0:
            return t, f_t, g_t, evaluations
        if d_t >= 0:
            return _zoom(phi, t, f_t, d_t, t_prev, f_prev, d_prev, f0, slope0, c1, c2, evaluations, max_evaluations, best)
        t_prev, f_prev, d_prev, t = t, f_t, d_t, 2.0 * t
    return best + (evaluations,)


def _zoom(phi, lo, f_lo, d_lo, hi, f_hi, d_hi, f0, slope0, c1, c2, evaluations, max_evaluations, best):
    while evaluations < max_evaluations and abs(hi - lo) > 1e-16 * max(1.0, abs(lo)):
        low, high = min(lo, hi), max(lo, hi)
        margin = 0.1 * (high - low)
        t = _cubic_minimum(lo, f_lo, d_lo, hi, f_hi, d_hi, low + margin, high - margin)
        f_t, g_t, d_t = phi(t)
        evaluations += 1
        if f_t < best[1]:
            best = (t, f_t, g_t)
        if f_t > f0 + c1 * t * slope0 or f_t >= f_lo:
            hi, f_hi, d_hi = t, f_t, d_t
        else:
            if abs(d_t) <= -c2 * slope0:
                return t, f_t, g_t, evaluations
            if d_t * (hi - lo) >= 0:
                hi, f_hi, d_hi = lo, f_lo, d_lo
            lo, f_lo, d_lo = t, f_t, d_t
    return best + (evaluations,)


class LBFGS(Optimizer):
    """Limited-memory BFGS, as ``torch.optim.LBFGS``: ``step(closure)`` runs up to ``max_iter``
    iterations; ``line_search_fn='strong_wolfe'`` (recommended) or None (fixed step ``lr``).

    The closure computes the loss and calls ``backward()``; gradients are reset before each call.
    """

    needs_closure = True

    def __init__(self, params, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval or max_iter * 5 // 4,
                                      tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS: takes a single parameter group")

    def check(self, group):
        positive("lr", group["lr"], "LBFGS")
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', not {group['line_search_fn']!r}")

    @modes.replayed_as_call()
    def step(self, closure=None):
        if closure is None:
            raise TypeError("LBFGS.step needs a closure that computes the loss and calls backward()")
        group = self.param_groups[0]
        flat = _Flat(group["params"])
        state = self.state.setdefault("lbfgs", {"s": [], "y": [], "iterations": 0})
        evaluations = 0

        def evaluate(x):
            nonlocal evaluations
            evaluations += 1
            flat.set(x)
            self.zero_grad()
            with modes.enable_grad():
                loss = closure()
            return float(loss.item() if hasattr(loss, "item") else loss), flat.grad(), loss

        x = flat.get()
        f, g, first_loss = evaluate(x)
        if np.max(np.abs(g), initial=0.0) <= group["tolerance_grad"]:
            return first_loss
        for _ in range(group["max_iter"]):
            d = -self._two_loop(g, state["s"], state["y"])
            slope = float(g @ d)
            if slope > -group["tolerance_change"]:
                break
            t = group["lr"] if state["iterations"] else min(1.0, 1.0 / np.sum(np.abs(g))) * group["lr"]
            state["iterations"] += 1
            if group["line_search_fn"] == "strong_wolfe":
                def phi(step):
                    f_t, g_t, _ = evaluate(x + step * d)
                    return f_t, g_t, float(g_t @ d)

                t, f_new, g_new, _ = strong_wolfe(phi, t, f, slope)
            else:
                f_new, g_new, _ = evaluate(x + t * d)
            x_new = x + t * d
            s, y = x_new - x, g_new - g
            if float(y @ s) > 1e-10:
                state["s"].append(s)
                state["y"].append(y)
                if len(state["s"]) > group["history_size"]:
                    state["s"].pop(0)
                    state["y"].pop(0)
            converged = (np.max(np.abs(g_new), initial=0.0) <= group["tolerance_grad"]
                         or np.max(np.abs(t * d), initial=0.0) <= group["tolerance_change"]
                         or abs(f_new - f) < group["tolerance_change"])
            x, f, g = x_new, f_new, g_new
            if converged or evaluations >= group["max_eval"]:
                break
        flat.set(x)
        return first_loss

    @staticmethod
    def _two_loop(g, s_list, y_list):
        """H g from the stored pairs (Nocedal & Wright, Algorithm 7.4), H₀ = (sᵀy / yᵀy) I."""
        q = g.copy()
        alphas = []
        for s, y in zip(reversed(s_list), reversed(y_list)):
            rho = 1.0 / float(y @ s)
            alpha = rho * float(s @ q)
            q -= alpha * y
            alphas.append((rho, alpha))
        if s_list:
            q *= float(s_list[-1] @ y_list[-1]) / float(y_list[-1] @ y_list[-1])
        for (s, y), (rho, alpha) in zip(zip(s_list, y_list), reversed(alphas)):
            beta = rho * float(y @ q)
            q += (alpha - beta) * s
        return q

    def state_dict(self):
        raise NotImplementedError("LBFGS: its history is not saved (as in PyTorch, save the parameters instead)")


class Newton(Optimizer):
    """Newton's method: d = −(H + λI)⁻¹ g from the exact Hessian of the loss in all parameters
    (``method='exact'``, assembled from Hessian-vector products), or from conjugate gradients on
    Hessian-vector products (``method='cg'``, for larger models); then a backtracking line search
    from step ``lr``. ``damping`` λ is raised automatically when H + λI is not positive definite.

    The closure computes the loss and returns it *without* calling ``backward()``.

    >>> import numpy as np, tinygrad_mat as tm
    >>> A = np.array([[3.0, 1.0], [1.0, 2.0]]); b = np.array([1.0, -1.0])
    >>> x = tm.zeros(2, requires_grad=True)
    >>> opt = tm.optim.Newton([x])
    >>> _ = opt.step(lambda: 0.5 * x @ A @ x - b @ x)         # a quadratic: one step
    >>> bool(np.allclose(x.numpy(), np.linalg.solve(A, b)))
    True
    """

    needs_closure = True

    def __init__(self, params, lr=1.0, damping=0.0, method="exact", cg_max_iter=100, cg_tol=1e-10,
                 line_search=True, max_backtracks=40):
        super().__init__(params, dict(lr=lr, damping=damping, method=method, cg_max_iter=cg_max_iter,
                                      cg_tol=cg_tol, line_search=line_search, max_backtracks=max_backtracks))
        if len(self.param_groups) != 1:
            raise ValueError("Newton: takes a single parameter group")

    def check(self, group):
        positive("lr", group["lr"], "Newton")
        positive("damping", group["damping"], "Newton", allow_zero=True)
        if group["method"] not in ("exact", "cg"):
            raise ValueError(f"Newton: method must be 'exact' or 'cg', not {group['method']!r}")

    @modes.replayed_as_call()
    def step(self, closure=None):
        if closure is None:
            raise TypeError("Newton.step needs a closure that returns the loss (without calling backward())")
        group = self.param_groups[0]
        params = group["params"]
        flat = _Flat(params)
        with modes.enable_grad():
            loss = closure()
        try:
            grads = gradients(loss, params, retain_graph=True, create_graph=True)
        except GraphError as error:
            raise GraphError("Newton: the closure must return the loss without calling backward() "
                             f"({error})") from None
        grads = [g if g is not None else np.zeros(p.shape) for g, p in zip(grads, params)]
        g_flat = np.concatenate([np.asarray(g._data if hasattr(g, "_data") else g).reshape(-1) for g in grads])

        def hvp(v):
            dot = None
            for g, piece in zip(grads, flat.split(v)):
                if hasattr(g, "_data") and g.requires_grad:
                    term = (g * piece).sum()
                    dot = term if dot is None else dot + term
            if dot is None:  # the gradient does not depend on the parameters: H = 0
                return np.zeros_like(v)
            pieces = gradients(dot, params, retain_graph=True)
            return np.concatenate([np.zeros(p.size) if h is None else np.asarray(h).reshape(-1)
                                   for h, p in zip(pieces, params)])

        direction = self._direction(group, g_flat, hvp)
        x0, f0 = flat.get(), float(loss.item())
        slope = float(g_flat @ direction)
        if slope >= 0:  # not a descent direction: fall back to the gradient
            direction, slope = -g_flat, -float(g_flat @ g_flat)
        t = group["lr"]
        if group["line_search"]:
            for _ in range(group["max_backtracks"]):
                flat.set(x0 + t * direction)
                with modes.no_grad():
                    f_t = float(closure().item())
                if f_t <= f0 + 1e-4 * t * slope:
                    break
                t *= 0.5
            else:
                t = 0.0
        flat.set(x0 + t * direction)
        return loss

    @staticmethod
    def _direction(group, g, hvp):
        n = g.size
        damping = group["damping"]
        if group["method"] == "exact":
            H = np.stack([hvp(e) for e in np.eye(n)], axis=1)
            H = 0.5 * (H + H.T)
            scale = max(1.0, float(np.max(np.abs(np.diag(H)), initial=0.0)))
            for _ in range(20):
                try:
                    L = np.linalg.cholesky(H + damping * np.eye(n))
                    return -np.linalg.solve(L.T, np.linalg.solve(L, g))
                except np.linalg.LinAlgError:
                    damping = max(2.0 * damping, 1e-10 * scale)
            return -g
        # conjugate gradients on (H + λI) d = −g, stopping at negative curvature
        d, r = np.zeros(n), -g.copy()
        p = r.copy()
        rr = float(r @ r)
        for _ in range(group["cg_max_iter"]):
            hp = hvp(p) + damping * p
            curvature = float(p @ hp)
            if curvature <= 0:
                return d if d.any() else -g
            alpha = rr / curvature
            d += alpha * p
            r -= alpha * hp
            rr_new = float(r @ r)
            if math.sqrt(rr_new) <= group["cg_tol"] * max(1.0, float(np.linalg.norm(g))):
                break
            p = r + (rr_new / rr) * p
            rr = rr_new
        return d
