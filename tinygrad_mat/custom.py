"""Your own op with your own rules: ``tm.custom_vjp`` and ``tm.custom_jvp``, with JAX's conventions.

    @tm.custom_vjp
    def f(x, y): ...                          # the primal
    def f_fwd(x, y): return f(x, y), residuals
    def f_bwd(residuals, g): return (x̄, ȳ)    # one cotangent (or None) per argument
    f.defvjp(f_fwd, f_bwd)

    @tm.custom_jvp
    def g(x): ...
    @g.defjvp
    def g_jvp(primals, tangents): return g(*primals), tangent_out   # linear in the tangents

Each decorated function is an op named after it, usable in every transform:
  * custom_vjp: reverse mode runs ``bwd``; a recorded backward (create_graph, Hessians) re-runs
    ``fwd`` on the input Tensors so that the residuals carry their own derivatives; forward mode
    differentiates ``fwd``'s primal output (as JAX's forward-over-reverse does).
  * custom_jvp: forward mode runs the jvp rule; reverse mode transposes it (the tangent map is linear,
    so its vjp gives the cotangents), as JAX does.
"""
import functools

import numpy as np

from . import modes
from .functional import jvp, vjp
from .ops.base import Op
from .tensor import Tensor, as_tensor, apply


def _array(x):
    return np.asarray(x._data if isinstance(x, Tensor) else x, dtype=float)


def _as_xp(xp, x):
    """A rule's result in the namespace's type: numpy arrays, or Tensors when recorded."""
    if x is None:
        return None
    return as_tensor(x) if xp.recorded else _array(x)


def _check_cotangents(name, cotangents, n):
    if not isinstance(cotangents, (tuple, list)) or len(cotangents) != n:
        raise TypeError(f"{name} (custom_vjp bwd): must return a tuple of {n} cotangents (one per argument), "
                        f"got {type(cotangents).__name__}")
    return tuple(cotangents)


class _CustomVJPOp(Op):
    reads_inputs = True

    def __init__(self, fn):
        self.fn = fn
        self.name = fn.__name__
        self.vjp_text = f"{self.name}'s bwd(residuals, Z̄)"
        self.jvp_text = f"the derivative of {self.name}'s fwd"

    def prepare(self, *args):
        return args, {}

    def forward(self, *arrays, value, residuals):
        return value

    def evaluate(self, *arrays, value=None, residuals=None):
        """The primal on arrays (for checks that perturb the inputs)."""
        with modes.no_grad():
            return _array(self.fn.primal(*arrays))

    def vjp(self, xp, g, inputs, out, needs, value, residuals):
        fn = self.fn
        if xp.recorded:  # a recorded backward: residuals that carry their own derivatives
            _, residuals = fn.fwd(*inputs)
        cotangents = _check_cotangents(self.name, fn.bwd(residuals, g), len(inputs))
        return tuple(_as_xp(xp, c) if need else None for c, need in zip(cotangents, needs))

    def jvp(self, xp, tangents, inputs, out, value, residuals):
        filled = [np.zeros(np.shape(_array(x))) if t is None else t for t, x in zip(tangents, inputs)]
        return jvp(lambda *xs: self.fn.fwd(*xs)[0], tuple(inputs), tuple(filled), _name=self.name)[1]


class custom_vjp:
    """A function with a reverse rule you give (JAX's ``jax.custom_vjp``).

    >>> import numpy as np, tinygrad_mat as tm
    >>> @tm.custom_vjp
    ... def clip_gradient(x):
    ...     return x
    >>> def fwd(x):
    ...     return x, None
    >>> def bwd(residuals, g):
    ...     return (tm.clip(g, -1.0, 1.0),)
    >>> clip_gradient.defvjp(fwd, bwd)
    >>> tm.grad(lambda x: (3.0 * clip_gradient(x)).sum())(np.ones(2))   # 3 clipped to 1
    array([1., 1.])
    """

    def __init__(self, fn):
        functools.update_wrapper(self, fn)
        self.primal = fn
        self.fwd = self.bwd = None
        self.op = _CustomVJPOp(self)

    def defvjp(self, fwd, bwd):
        """``fwd(*args) -> (output, residuals)``; ``bwd(residuals, g) -> tuple of cotangents``."""
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args):
        if self.fwd is None:
            raise TypeError(f"{self.__name__}: custom_vjp needs its rules: call {self.__name__}.defvjp(fwd, bwd)")
        with modes.no_grad():
            value, residuals = self.fwd(*[_array(a) if not isinstance(a, Tensor) else a.detach() for a in args])
        value = _array(value)
        return apply(self.op, args, {"value": value, "residuals": residuals})


class _CustomJVPOp(Op):
    reads_inputs = True

    def __init__(self, fn):
        self.fn = fn
        self.name = fn.__name__
        self.vjp_text = f"the transpose of {self.name}'s jvp rule (linear in the tangents)"
        self.jvp_text = f"{self.name}'s jvp rule"

    def prepare(self, *args):
        return args, {}

    def forward(self, *arrays, value):
        return value

    def evaluate(self, *arrays, value=None):
        with modes.no_grad():
            return _array(self.fn.primal(*arrays))

    def _tangent_map(self, inputs):
        def tangent_out(*tangents):
            return self.fn.jvp_rule(tuple(inputs), tuple(tangents))[1]
        return tangent_out

    def vjp(self, xp, g, inputs, out, needs, value):
        zeros = [np.zeros(np.shape(_array(x))) for x in inputs]
        _, transpose = vjp(self._tangent_map(inputs), *zeros, _name=self.name)
        cotangents = transpose(g)
        return tuple(_as_xp(xp, c) if need else None for c, need in zip(cotangents, needs))

    def jvp(self, xp, tangents, inputs, out, value):
        filled = [np.zeros(np.shape(_array(x))) if t is None else t for t, x in zip(tangents, inputs)]
        return self.fn.jvp_rule(tuple(inputs), tuple(filled))[1]


class custom_jvp:
    """A function with a forward rule you give (JAX's ``jax.custom_jvp``); reverse mode transposes it.

    >>> import numpy as np, tinygrad_mat as tm
    >>> @tm.custom_jvp
    ... def softplus(x):
    ...     return tm.log1p(tm.exp(x))
    >>> @softplus.defjvp
    ... def softplus_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return softplus(x), tm.sigmoid(x) * t
    >>> tm.grad(lambda x: softplus(x).sum())(np.zeros(2))
    array([0.5, 0.5])
    """

    def __init__(self, fn):
        functools.update_wrapper(self, fn)
        self.primal = fn
        self.jvp_rule = None
        self.op = _CustomJVPOp(self)

    def defjvp(self, rule):
        """``rule(primals, tangents) -> (output, tangent_out)``, tangent_out linear in the tangents."""
        self.jvp_rule = rule
        return rule

    def __call__(self, *args):
        if self.jvp_rule is None:
            raise TypeError(f"{self.__name__}: custom_jvp needs its rule: decorate it with @{self.__name__}.defjvp")
        with modes.no_grad():
            value = _array(self.primal(*[_array(a) if not isinstance(a, Tensor) else a.detach() for a in args]))
        return apply(self.op, args, {"value": value})


__all__ = ["custom_vjp", "custom_jvp"]
