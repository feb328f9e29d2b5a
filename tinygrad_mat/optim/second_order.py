"""Optimizers that use curvature: L-BFGS (PyTorch's algorithm, with its strong-Wolfe line search)
and Newton's method (the exact Hessian, or Hessian-vector products with conjugate gradients; damping
and a backtracking line search).

Both take a closure that evaluates the loss on the current parameters; they change the parameters
several times inside one ``step``. A step that raises (a closure's error, a non-finite loss at the
starting point) leaves the parameters and the optimizer's state as they were before it. Sources:
torch/optim/lbfgs.py (PyTorch 2.13; itself a port of minFunc and torch7's lbfgs.lua and lswolfe.lua);
Nocedal & Wright, "Numerical Optimization" (2nd ed.), Algorithms 7.4 (two-loop recursion) and 5.2
(conjugate gradients).
"""
import math

import numpy as np

from .. import modes
from ..errors import DTypeError, GraphError, ShapeError
from ..tensor import gradients
from .optimizer import Optimizer, cast_array, copy_state_value, is_count, is_real, plain_number, positive, rebind


class _Flat:
    """The parameters as one vector (in their common dtype): read, write, and their gradients."""

    def __init__(self, params):
        self.params = params
        self.sizes = [p.size for p in params]
        self.size = sum(self.sizes)
        self.dtype = np.result_type(*[p.dtype for p in params])
        self.single = len(params) == 1

    def get(self):
        """The values (read-only: a view of a lone parameter's array)."""
        if self.single:
            return self.params[0]._data.reshape(-1).astype(self.dtype, copy=False)
        return np.concatenate([p._data.reshape(-1) for p in self.params]).astype(self.dtype, copy=False)

    def set(self, x):
        """Rebind the parameters to the pieces of ``x``, a new vector the caller gives away (never
        written again: the parameters keep views of it)."""
        start = 0
        for p, n in zip(self.params, self.sizes):
            rebind(p, x[start:start + n].reshape(p.shape))
            start += n

    def grad(self):
        """The gradients as one vector (read-only: a view of a lone parameter's gradient)."""
        if self.single:
            g = self.params[0].grad
            if g is not None:
                return g._data.reshape(-1).astype(self.dtype, copy=False)
        return np.concatenate([np.zeros(p.size, dtype=self.dtype) if p.grad is None else p.grad._data.reshape(-1)
                               for p in self.params]).astype(self.dtype, copy=False)

    def split(self, v):
        pieces, start = [], 0
        for p, n in zip(self.params, self.sizes):
            pieces.append(v[start:start + n].reshape(p.shape))
            start += n
        return pieces


def _largest(v):
    """max |vᵢ| (0 for an empty v), as a Python float; ndarray.max is quicker than np.max."""
    return float(np.abs(v).max()) if v.size else 0.0


def _number(loss):
    """The closure's loss as a Python float (a Tensor, an array or a number)."""
    return float(loss.item() if hasattr(loss, "item") else loss)


def _restoring(params, run):
    """``run()``; if it raises, the parameters get back the arrays they had (updates rebind
    parameters and never write into their arrays, so these are their values before)."""
    before = [p._data for p in params]
    try:
        return run()
    except BaseException:
        for p, data in zip(params, before):
            p._data = data
        raise


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """PyTorch's ``_cubic_interpolate``: the minimiser of the cubic through (x1, f1) and (x2, f2)
    with slopes g1 and g2, clamped to ``bounds`` (default: between x1 and x2); their midpoint where
    the cubic has no minimiser. numpy scalars of the slopes' dtype, as PyTorch's 0-d tensors: float32
    parameters interpolate in float32, and a division by zero gives inf or nan (then the midpoint),
    not an exception."""
    dtype = np.result_type(np.asarray(g1), np.asarray(g2))  # Python floats: float64
    x1, f1, g1, x2, f2, g2 = (dtype.type(v) for v in (x1, f1, g1, x2, f2, g2))
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        d2_square = d1**2 - g1 * g2
        if d2_square >= 0:
            d2 = np.sqrt(d2_square)
            if x1 <= x2:
                min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
            else:
                min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
            return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """PyTorch's ``_strong_wolfe``, statement for statement: bracket a step satisfying the strong
    Wolfe conditions (f(t) ≤ f + c1·t·gtd and |f′(t)| ≤ c2·|gtd|), then zoom in by cubic
    interpolation. ``obj_func(x, t, d)`` gives (loss, flat gradient) at x + t·d. Returns
    (loss, gradient, t, evaluations)."""
    d_norm = np.abs(d).max() if d.size else 0.0  # in d's dtype, as PyTorch's d.abs().max()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new @ d

    # bracket an interval containing a point satisfying the Wolfe criteria
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # extrapolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new @ d
        ls_iter += 1

    if ls_iter == max_ls:  # out of evaluations: the better of the start and the last point
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: refine the bracket until a point satisfies the criteria
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:  # the bracket is too small
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # close to a boundary twice in a row (or outside): move 0.1 of the bracket away from it
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new @ d
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # Armijo condition not met, or not below the lowest point: the new point is the high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True  # the Wolfe conditions hold
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old high end becomes the low end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


class _LBFGSState(dict):
    """``LBFGS.state``: a dict, where ``opt.state['lbfgs']['iterations']`` still reads the total
    iteration count (``n_iter``, the earlier versions' name), for callers written against those."""

    def __init__(self, optimizer):
        super().__init__()
        self.optimizer = optimizer

    def __missing__(self, key):
        if key == "lbfgs":
            first = self.optimizer.param_groups[0]["params"][0]
            return {"iterations": self.get(first, {}).get("n_iter", 0)}
        raise KeyError(key)


def _vector_problem(key, value, flat):
    if type(value) is not np.ndarray:
        return TypeError, f"state {key!r} is a {type(value).__name__}, not a numpy array"
    if value.shape != (flat.size,):
        shapes = ", ".join(str(p.shape) for p in flat.params)
        return ShapeError, (f"state {key!r} has shape {value.shape}, but the parameters (shapes {shapes}) have "
                            f"{flat.size} entries in all (it must have shape ({flat.size},))")
    if value.dtype != flat.dtype:
        return DTypeError, f"state {key!r} has dtype {value.dtype}, the parameters {flat.dtype}"
    return None


_HISTORY = ("d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss")


class LBFGS(Optimizer):
    """Limited-memory BFGS, PyTorch's ``torch.optim.LBFGS`` (2.13) statement for statement:
    ``step(closure)`` runs up to ``max_iter`` iterations and at most about ``max_eval`` closure
    calls; ``line_search_fn='strong_wolfe'`` (PyTorch's line search) or None (a fixed step ``lr``).
    Either way the very first iteration tries the step ``min(1, 1/‖g‖₁)·lr``, H₀ = (yᵀs / yᵀy)·I, and
    a pair (s, y) enters the history only when yᵀs > 1e-10. It returns the closure's first loss.

    The closure computes the loss and calls ``backward()``. The state, kept across ``step`` calls
    under the first parameter with PyTorch's names (``opt.state[params[0]]``): ``func_evals``,
    ``n_iter`` (iterations of all steps), ``d``, ``t``, ``old_dirs`` (the y's), ``old_stps`` (the
    s's), ``ro``, ``H_diag``, ``prev_flat_grad``, ``prev_loss``, ``al``; ``state_dict`` saves it,
    and a state dict moves between PyTorch and tinygrad_mat (tests/test_optim_lbfgs.py).

    Given the same losses and gradients, the iterates, returned losses, iteration and evaluation
    counts and the state equal PyTorch's to rounding (tests/test_optim_lbfgs.py: a quadratic, a
    logistic regression and a rippled function to 1e-10, Rosenbrock's function to 1e-8, history
    sizes 2, 5 and 100, both line searches, five calls; the line search alone on 1,000 random line
    profiles, the cubic step on 2,000 random cases). Rounding differs in the last bit: PyTorch divides a Python float by a
    0-d tensor as a product with its reciprocal and may fuse ``add_(…, alpha=)`` into multiply-adds,
    numpy rounds each operation; a badly conditioned problem amplifies that (along Rosenbrock's
    valley from 1e-16 to about 1e-9, then back to 1e-13 at the minimum).

    Where it differs from PyTorch, on purpose:

    * the gradients are reset (set to None) before each call of the closure; PyTorch leaves that to
      the closure, so a closure that does not call ``zero_grad()`` accumulates gradients there;
    * a non-finite loss or gradient at a step's starting point raises FloatingPointError (PyTorch
      goes on and returns NaN parameters); a step that raises, here or in the closure, leaves the
      parameters and the state as they were before it (PyTorch leaves them half-updated);
    * the options are checked (``max_iter``, ``max_eval``, ``history_size`` positive integers,
      ``lr`` > 0, tolerances ≥ 0); when ``history_size`` is lowered between steps the history is cut
      to it (PyTorch would let it grow), when raised the α list grows (PyTorch raises IndexError);
    * the state is checked against the parameters at every step (a parameter rebound to another
      size is refused) and cast on loading to the parameters' common dtype; vectors are computed in
      that dtype.

    ``opt.state['lbfgs']['iterations']`` still reads ``n_iter`` (earlier versions kept it there).

    >>> import numpy as np, tinygrad_mat as tm
    >>> x = tm.tensor([-1.2, 1.0], requires_grad=True)
    >>> opt = tm.optim.LBFGS([x], max_iter=100, tolerance_change=1e-12, line_search_fn="strong_wolfe")
    >>> def closure():                                      # Rosenbrock's function, minimum at (1, 1)
    ...     loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
    ...     loss.backward()
    ...     return loss
    >>> round(opt.step(closure).item(), 6)                  # the loss at the starting point
    24.2
    >>> x.numpy().round(6), opt.state[x]["n_iter"]
    (array([1., 1.]), 36)
    """

    needs_closure = True

    def __init__(self, params, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS: takes a single parameter group")
        self.state = _LBFGSState(self)

    def check(self, group):
        positive("lr", group["lr"], "LBFGS")
        positive("tolerance_grad", group["tolerance_grad"], "LBFGS", allow_zero=True)
        positive("tolerance_change", group["tolerance_change"], "LBFGS", allow_zero=True)
        for key in ("max_iter", "max_eval", "history_size"):
            value = group[key]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"LBFGS: {key} must be a positive integer, got {value!r}")
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', not {group['line_search_fn']!r}")

    # -------------------------------------------------------------- its state, checked against the parameters
    def state_problem(self, p, entries):
        """Why ``entries`` cannot be the state of parameter ``p`` (as (exception class, sentence)):
        all of it sits under the first parameter, its vectors have the parameters' total size and
        common dtype."""
        if p is not self.param_groups[0]["params"][0]:
            return ValueError, "LBFGS keeps its state under the first parameter only"
        flat = _Flat(self.param_groups[0]["params"])
        needed = ("func_evals", "n_iter") + (_HISTORY if entries.get("n_iter") else ())
        missing = [key for key in needed if key not in entries]
        if missing:
            return ValueError, f"its state lacks {missing} (it has {sorted(map(str, entries))})"
        for key, value in entries.items():
            problem = self._entry_problem(key, value, flat)
            if problem is not None:
                return problem
        if "old_dirs" in entries and not len(entries["old_dirs"]) == len(entries["old_stps"]) == len(entries["ro"]):
            return ValueError, "its history lists old_dirs, old_stps and ro differ in length"
        return None

    @staticmethod
    def _entry_problem(key, value, flat):
        if key in ("func_evals", "n_iter", "t", "H_diag", "prev_loss"):
            return None if is_count(value) or key == "prev_loss" and is_real(value) else (
                ValueError, f"state {key!r} must be a number{'' if key == 'prev_loss' else ' ≥ 0'}, not {value!r}")
        if key in ("d", "prev_flat_grad"):
            return _vector_problem(key, value, flat)
        if key in ("old_dirs", "old_stps"):
            if not isinstance(value, list):
                return TypeError, f"state {key!r} is a {type(value).__name__}, not a list of vectors"
            for i, item in enumerate(value):
                problem = _vector_problem(f"{key}[{i}]", item, flat)
                if problem is not None:
                    return problem
            return None
        if key in ("ro", "al"):
            if not isinstance(value, list) or not all(is_real(v) or (key == "al" and v is None) for v in value):
                return TypeError, f"state {key!r} must be a list of numbers, not {value!r}"
            return None
        return ValueError, f"state {key!r} is not one LBFGS keeps (it keeps: func_evals, n_iter, {', '.join(_HISTORY)}, al)"

    def state_error(self, where, index, p, problem):
        kind, sentence = problem
        if where == "load_state_dict":
            return kind(f"LBFGS.load_state_dict: parameter {index}: {sentence}; nothing was loaded")
        hint = ("Was a parameter rebound to an array of another shape or dtype after the state was made? "
                "The history is never resized or cast: " if kind in (ShapeError, DTypeError) else "")
        return kind(f"LBFGS.step: {sentence}; nothing was updated. {hint}drop the state with opt.state.clear(), "
                    "or build a new optimizer")

    def load_entry(self, key, value, p):
        """Vectors cast to the parameters' common dtype (PyTorch casts tensors to the first
        parameter's); numbers and counts as Python numbers."""
        dtype = _Flat(self.param_groups[0]["params"]).dtype
        if key in ("d", "prev_flat_grad"):
            return cast_array(key, value, dtype)
        if key in ("old_dirs", "old_stps") and isinstance(value, (list, tuple)):
            return [cast_array(f"{key}[{i}]", v, dtype) for i, v in enumerate(value)]
        if key in ("ro", "al") and isinstance(value, (list, tuple)):
            return [plain_number(v) for v in value]
        return plain_number(copy_state_value(value))

    @modes.replayed_as_call()
    def step(self, closure=None):
        """Up to ``max_iter`` iterations from the current parameters; returns the closure's first
        loss. Nothing changes (parameters, state) when it raises."""
        if closure is None:
            raise TypeError("LBFGS.step needs a closure that computes the loss and calls backward()")
        self.check_state("step")
        group = self.param_groups[0]
        first = group["params"][0]
        working = {k: (list(v) if isinstance(v, list) else v) for k, v in self.state.get(first, {}).items()}
        loss = _restoring(group["params"], lambda: self._iterate(closure, group, working))
        self.state[first] = working
        return loss

    def _iterate(self, closure, group, state):
        """torch.optim.LBFGS.step's body on the flat parameters; ``state`` (a working copy) is updated."""
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]
        flat = _Flat(group["params"])

        def evaluate():
            self.zero_grad()
            with modes.enable_grad():
                loss = closure()
            return loss, flat.grad()

        def obj_func(x, t, d):  # PyTorch's _directional_evaluate
            flat.set(x + t * d)
            loss, flat_grad = evaluate()
            return _number(loss), flat_grad

        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        orig_loss, flat_grad = evaluate()
        loss = _number(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        if not (math.isfinite(loss) and np.isfinite(flat_grad).all()):
            raise FloatingPointError(f"LBFGS.step: the closure's loss at the starting point is {loss} "
                                     f"(gradient {'finite' if np.isfinite(flat_grad).all() else 'not finite'}); "
                                     "the parameters and the optimizer's state are left as they were")
        opt_cond = _largest(flat_grad) <= tolerance_grad
        if opt_cond:
            return orig_loss
        d, t, old_dirs, old_stps, ro, H_diag, prev_flat_grad, prev_loss = (state.get(k) for k in _HISTORY)

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # the descent direction
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y @ s
                if ys > 1e-10:  # the curvature condition: update the memory
                    while len(old_dirs) >= history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / (y @ y)  # H₀ = (yᵀs / yᵀy) I
                d = self._two_loop(flat_grad, old_dirs, old_stps, ro, H_diag, state, history_size)
            prev_flat_grad = flat_grad
            prev_loss = loss

            # the step length
            t = min(1.0, 1.0 / np.sum(np.abs(flat_grad))) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad @ d  # the directional derivative
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = flat.get()
                loss, flat_grad, t, ls_func_evals = _strong_wolfe(obj_func, x_init, t, d, loss, flat_grad, gtd,
                                                                  max_ls=max_eval - current_evals)
                flat.set(x_init + t * d)
                opt_cond = _largest(flat_grad) <= tolerance_grad
            else:
                flat.set(flat.get() + t * d)
                if n_iter != max_iter:  # PyTorch evaluates no loss after the last iteration
                    loss, flat_grad = evaluate()
                    loss = _number(loss)
                    opt_cond = _largest(flat_grad) <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # the stopping tests
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if _largest(d * t) <= tolerance_change:  # no progress in x
                break
            if abs(loss - prev_loss) < tolerance_change:  # nor in the loss
                break

        state.update(zip(_HISTORY, (d, t, old_dirs, old_stps, ro, H_diag, prev_flat_grad, prev_loss)))
        return orig_loss

    @staticmethod
    def _two_loop(flat_grad, old_dirs, old_stps, ro, H_diag, state, history_size):
        """−H g from the stored pairs, PyTorch's two-loop recursion (Nocedal & Wright, Algorithm 7.4)
        with H₀ = H_diag·I; the α's in ``state['al']``, as PyTorch keeps them."""
        num_old = len(old_dirs)
        if "al" not in state:
            state["al"] = [None] * history_size
        al = state["al"]  # a copy of the saved list (step works on copies), so it may be written
        if len(al) < num_old:  # history_size raised between steps (PyTorch would raise IndexError)
            al.extend([None] * (num_old - len(al)))
        # q and r are new arrays: updated in place (the same roundings, fewer allocations); ndarray.dot
        # is PyTorch's dot for vectors, quicker than @ for short ones
        q = -flat_grad
        for i in range(num_old - 1, -1, -1):
            al[i] = old_stps[i].dot(q) * ro[i]
            q -= al[i] * old_dirs[i]
        r = q * H_diag
        for i in range(num_old):
            be_i = old_dirs[i].dot(r) * ro[i]
            r += (al[i] - be_i) * old_stps[i]
        return r


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
        """One Newton step from the current parameters; returns the closure's loss there. Nothing
        changes when it raises (a closure's error, a non-finite loss or gradient at the start)."""
        if closure is None:
            raise TypeError("Newton.step needs a closure that returns the loss (without calling backward())")
        self.check_state("step")  # Newton keeps no state: any entry is refused
        params = self.param_groups[0]["params"]
        return _restoring(params, lambda: self._step(closure, self.param_groups[0]))

    def _step(self, closure, group):
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
        f0 = _number(loss)
        if not (math.isfinite(f0) and np.isfinite(g_flat).all()):
            raise FloatingPointError(f"Newton.step: the closure's loss at the starting point is {f0} "
                                     f"(gradient {'finite' if np.isfinite(g_flat).all() else 'not finite'}); "
                                     "the parameters are left as they were")

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
        x0 = flat.get()
        slope = float(g_flat @ direction)
        if not slope < 0:  # not a descent direction (or not finite): fall back to the gradient
            direction, slope = -g_flat, -float(g_flat @ g_flat)
        t = group["lr"]
        if group["line_search"]:
            for _ in range(group["max_backtracks"]):
                flat.set(x0 + t * direction)
                with modes.no_grad():
                    f_t = _number(closure())
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


# ------------------------------------------------------------------ Newton's method on a flat vector

_CG_CURVATURE_EPS = 16 * np.finfo(np.float64).eps


def truncated_cg(hessian_product, gradient, max_iter=200):
    """An approximate Newton direction d (H d ≈ −g) by conjugate gradients, scikit-learn's inner
    solver of 'newton-cg' (``sklearn.utils.optimize._cg``, 1.9) statement for statement: it stops
    when Σ|residual| ≤ η·Σ|g| with η = min(0.5, √Σ|g|) (the forcing sequence that makes the outer
    iteration superlinear), at a curvature pᵀHp ≤ 16ε‖p‖² (capped CG) or a negative one (then the
    direction so far; at the first iteration the steepest-descent step ‖g‖²/(pᵀHp)·p, as there),
    or after ``max_iter`` + 1 products. ``hessian_product(v)`` gives H v for a flat vector v.

    >>> import numpy as np
    >>> H = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> d = truncated_cg(lambda v: H @ v, np.array([1.0, 2.0]))     # Σ|g| = 3: one step, Σ|r| ≤ 1.5
    >>> d, np.abs(H @ d + [1.0, 2.0]).sum() <= 1.5
    (array([-0.25, -0.5 ]), np.True_)
    >>> g = np.array([1e-3, 2e-3])                                  # near the minimum: exact (two steps)
    >>> bool(np.allclose(truncated_cg(lambda v: H @ v, g), -np.linalg.solve(H, g), rtol=1e-12))
    True
    """
    size = float(np.sum(np.abs(gradient)))
    tolerance = min(0.5, math.sqrt(size)) * size
    step = np.zeros_like(gradient)
    residual = np.array(gradient)  # residual = g + H·step
    direction = -residual
    rr = float(residual @ residual)
    direction_norm2 = rr
    for i in range(max_iter + 1):
        if float(np.sum(np.abs(residual))) <= tolerance:
            break
        product = hessian_product(direction)
        curvature = float(direction @ product)
        if 0 <= curvature <= _CG_CURVATURE_EPS * direction_norm2:
            break
        if curvature < 0:
            if i == 0:  # steepest descent, scaled by the (negative) curvature, as scikit-learn does
                step = step + (rr / curvature) * direction
            break
        alpha = rr / curvature
        step = step + alpha * direction
        residual = residual + alpha * product
        rr_next = float(residual @ residual)
        beta = rr_next / rr
        direction = beta * direction - residual
        direction_norm2 = rr_next + beta * beta * direction_norm2
        rr = rr_next
    return step


def _wolfe_step(value_and_gradient, x, d, loss, gradient, slope):
    """scikit-learn newton-cg's line search: strong Wolfe from the full step (PyTorch's
    ``_strong_wolfe``, c₁ = 1e-4, c₂ = 0.9); where it finds no sufficient decrease, the full step if
    the loss no longer changes (|Δf| ≤ 16ε|f|) and it lowers Σ|g|. (t, loss, gradient); t = 0: none."""
    new_loss, new_gradient, t, _ = _strong_wolfe(lambda x, t, d: value_and_gradient(x + t * d), x, 1.0, d, loss,
                                                 gradient, slope)
    if t > 0 and new_loss <= loss + 1e-4 * t * slope:
        return t, new_loss, new_gradient
    full_loss, full_gradient = value_and_gradient(x + d)
    if _flat_but_better(loss, gradient, full_loss, full_gradient):
        return 1.0, full_loss, full_gradient
    return 0.0, loss, gradient


def _backtracking_step(value_and_gradient, x, d, loss, gradient, slope):
    """scikit-learn newton-cholesky's line search: t = 1, ½, ¼, ... (21 tries) until the Armijo
    condition f(x + t d) − f(x) ≤ 2⁻¹¹·t·gᵀd holds, or the loss no longer changes and Σ|g| drops."""
    t = 1.0
    for _ in range(21):
        new_loss, new_gradient = value_and_gradient(x + t * d)
        if new_loss - loss <= t * (0.00048828125 * slope) or _flat_but_better(loss, gradient, new_loss, new_gradient):
            return t, new_loss, new_gradient
        t *= 0.5
    return 0.0, loss, gradient


def _flat_but_better(loss, gradient, new_loss, new_gradient):
    """scikit-learn's rule where the loss changes by rounding only: accept if Σ|g| drops."""
    return (abs(new_loss - loss) <= _CG_CURVATURE_EPS * abs(loss)
            and float(np.sum(np.abs(new_gradient))) < float(np.sum(np.abs(gradient))))


LINE_SEARCHES = {"strong_wolfe": _wolfe_step, "backtracking": _backtracking_step}


def minimize_newton(value_and_gradient, x0, direction, tol, max_iter, line_search="strong_wolfe", decrement=False):
    """Newton's method on a flat float64 vector, as scikit-learn's two Newton solvers: at each iterate
    x with gradient g, the step d = ``direction(x, g)`` (e.g. −H⁻¹g, or ``truncated_cg``'s), then
    ``line_search``:

    * 'strong_wolfe' (scikit-learn's newton-cg): strong Wolfe from the full step (PyTorch's
      ``_strong_wolfe``, c₁ = 1e-4, c₂ = 0.9);
    * 'backtracking' (scikit-learn's newton-cholesky): t = 1, ½, ¼, ... (21 tries) until
      f(x + t d) − f(x) ≤ 2⁻¹¹·t·gᵀd;

    either way, where the loss no longer changes (|Δf| ≤ 16ε|f|) a step that lowers Σ|g| is taken.
    It stops when max|g| ≤ ``tol`` (scikit-learn's rule; with ``decrement``, newton-cholesky's second
    test too: the last step's ½·dᵀHd = −½·gᵀd ≤ ``tol``, so at least one step is taken), after
    ``max_iter`` steps, or when the line search finds no decrease. ``value_and_gradient(x)`` returns
    (loss, gradient).

    Returns (x, loss, gradient, iterations, status), status one of 'converged', 'max_iter',
    'stalled' (no decrease found).

    >>> import numpy as np
    >>> A = np.array([[3.0, 1.0], [1.0, 2.0]]); b = np.array([1.0, -1.0])
    >>> f = lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b)
    >>> x, loss, g, iterations, status = minimize_newton(f, np.zeros(2), lambda x, g: -np.linalg.solve(A, g),
    ...                                                  tol=1e-10, max_iter=10)
    >>> bool(np.allclose(x, np.linalg.solve(A, b))), iterations, status
    (True, 1, 'converged')
    """
    if line_search not in LINE_SEARCHES:
        raise ValueError(f"minimize_newton: line_search must be one of {', '.join(map(repr, LINE_SEARCHES))}, "
                         f"not {line_search!r}")
    search = LINE_SEARCHES[line_search]
    x = np.array(x0, dtype=np.float64)
    loss, gradient = value_and_gradient(x)
    if not (math.isfinite(loss) and np.isfinite(gradient).all()):
        raise FloatingPointError(f"minimize_newton: the loss at the starting point is {loss} (gradient "
                                 f"{'finite' if np.isfinite(gradient).all() else 'not finite'})")
    half_decrement = math.inf if decrement else 0.0
    iteration = 0
    while True:
        if _largest(gradient) <= tol and half_decrement <= tol:
            return x, loss, gradient, iteration, "converged"
        if iteration == max_iter:
            return x, loss, gradient, iteration, "max_iter"
        d = direction(x, gradient)
        slope = float(gradient @ d)
        if not slope < 0:  # not a descent direction: the steepest one
            d = -gradient
            slope = -float(gradient @ gradient)
        t, loss, gradient = search(value_and_gradient, x, d, loss, gradient, slope)
        if t == 0:
            return x, loss, gradient, iteration, "stalled"
        x = x + t * d
        half_decrement = -0.5 * slope if decrement else 0.0
        iteration += 1
