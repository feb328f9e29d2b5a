"""Thread-local switches read on every op: grad recording, the forward-mode ceiling, active transforms.

This module is the bottom of the package: it imports nothing of tinygrad_mat.
"""
import contextlib
import functools
import itertools
import threading

INFINITE_LEVEL = float("inf")


class _State(threading.local):
    # Class attributes are each thread's defaults; reading them is as fast as a plain attribute.
    grad = True
    ceiling = INFINITE_LEVEL
    transforms = ()  # the active transforms, innermost last (ActiveTransform records)
    observers = ()   # tools watching ops and rules (see tinygrad_mat.observe)


state = _State()
_levels = itertools.count(1)


def is_grad_enabled():
    """True when ops record the graph for reverse mode (the default); False inside ``no_grad()``."""
    return state.grad


class _GradMode:
    """Sets grad mode on entering a ``with`` block and restores it on leaving; also a decorator."""

    def __init__(self, enabled):
        self.enabled = bool(enabled)
        self.previous = []

    def __enter__(self):
        self.previous.append(state.grad)
        state.grad = self.enabled
        return self

    def __exit__(self, *exc):
        state.grad = self.previous.pop()

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _GradMode(self.enabled):
                return fn(*args, **kwargs)

        return wrapper


class set_grad_enabled:
    """Turn graph recording on or off, as ``torch.set_grad_enabled``: at once as a plain call,
    or for a ``with`` block, after which the previous mode comes back (thread-local).

    >>> import tinygrad_mat as tm
    >>> with tm.set_grad_enabled(False):
    ...     tm.is_grad_enabled()
    False
    >>> tm.is_grad_enabled()
    True
    >>> _ = tm.set_grad_enabled(False); tm.is_grad_enabled()
    False
    >>> _ = tm.set_grad_enabled(True)
    """

    def __init__(self, enabled):
        self.previous = state.grad
        state.grad = bool(enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        state.grad = self.previous


def no_grad():
    """Context manager (or decorator): ops inside record no graph, like ``torch.no_grad()``.

    >>> import tinygrad_mat as tm
    >>> x = tm.tensor([1.0, 2.0], requires_grad=True)
    >>> with tm.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """
    return _GradMode(False)


def enable_grad():
    """Context manager (or decorator): turn recording back on inside a ``no_grad()`` block."""
    return _GradMode(True)


# Forward mode: every jvp() gets a fresh level; tangents are stored per level on Tensors.
# While an op computes the tangent of level k, ops inside see only levels below k
# (the "ceiling"), so an inner derivative never leaks into an outer one.
@contextlib.contextmanager
def ceiling(level):
    previous = state.ceiling
    state.ceiling = level
    try:
        yield
    finally:
        state.ceiling = previous


def new_level():
    return next(_levels)


class ActiveTransform:
    """One running transform: its public name, the first node number it may have made, the ids of
    the Tensors standing for its inputs (reverse mode), and its forward-mode level (jvp)."""

    __slots__ = ("name", "start", "handles", "level")

    def __init__(self, name, start, level=None):
        self.name = name
        self.start = start
        self.handles = set()
        self.level = level


@contextlib.contextmanager
def transform(name, start, level=None):
    """Mark a functional transform as running in this thread (for the traced-value checks)."""
    record = ActiveTransform(name, start, level)
    previous = state.transforms
    state.transforms = previous + (record,)
    try:
        yield record
    finally:
        state.transforms = previous


def inside_transform():
    """True while a functional transform (grad, vjp, jvp, jacobian, hessian, ...) runs in this thread."""
    return bool(state.transforms)


@contextlib.contextmanager
def observing(observer):
    """Add ``observer`` to this thread's observers inside a ``with`` block."""
    previous = state.observers
    state.observers = previous + (observer,)
    try:
        yield observer
    finally:
        state.observers = previous
