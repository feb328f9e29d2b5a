"""Random leaves from one seedable generator (``tm.random.seed``), as ``numpy.random``'s Generator.

>>> import tinygrad_mat as tm
>>> tm.random.seed(0); a = tm.random.randn(2, 2)
>>> tm.random.seed(0); bool((tm.random.randn(2, 2) == a).all())
True
"""
import numpy as np

from . import modes
from .creation import _leaf

_state = {"generator": np.random.default_rng()}


def seed(value=None):
    """Restart the generator from ``value`` (an int; None: fresh entropy)."""
    _state["generator"] = np.random.default_rng(value)


def generator():
    """The numpy Generator behind tm.random (for initialisers that need one)."""
    if modes.state.tracer is not None:
        modes.state.tracer.refuse("random numbers drawn inside the step (they would be drawn once, when it is "
                                  "traced)", "draw them outside and pass them to the step as an argument")
    return _state["generator"]


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def rand(*shape, dtype=None, requires_grad=False):
    """Uniform on [0, 1), of the given shape (``rand(2, 3)`` or ``rand((2, 3))``)."""
    return _leaf(generator().random(_shape(shape)), dtype, requires_grad, "rand")


def randn(*shape, dtype=None, requires_grad=False):
    """Standard normal, of the given shape (``randn(2, 3)`` or ``randn((2, 3))``)."""
    return _leaf(generator().standard_normal(_shape(shape)), dtype, requires_grad, "randn")


def uniform(low=0.0, high=1.0, size=None, dtype=None, requires_grad=False):
    """Uniform on [low, high), as ``Generator.uniform``."""
    return _leaf(generator().uniform(low, high, size), dtype, requires_grad, "uniform")


def normal(loc=0.0, scale=1.0, size=None, dtype=None, requires_grad=False):
    """Normal with mean ``loc`` and standard deviation ``scale``, as ``Generator.normal``."""
    return _leaf(generator().normal(loc, scale, size), dtype, requires_grad, "normal")


__all__ = ["seed", "generator", "rand", "randn", "uniform", "normal"]
