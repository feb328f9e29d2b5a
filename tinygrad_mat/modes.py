"""Thread-local switches read on every op: grad recording, forward-mode level ceiling, transform depth."""
import contextlib
import itertools
import threading

INFINITE_LEVEL = float("inf")


class _State(threading.local):
    # Class attributes are each thread's defaults; reading them is as fast as a plain attribute.
    grad = True
    ceiling = INFINITE_LEVEL
    depth = 0


state = _State()
_levels = itertools.count(1)


def is_grad_enabled():
    """True when ops record the graph for reverse mode (the default); False inside ``no_grad()``."""
    return state.grad


@contextlib.contextmanager
def set_grad_enabled(enabled):
    """Turn graph recording on or off inside a ``with`` block (thread-local)."""
    previous = state.grad
    state.grad = bool(enabled)
    try:
        yield
    finally:
        state.grad = previous


def no_grad():
    """Context manager: ops inside record no graph, like ``torch.no_grad()``.

    >>> import tinygrad_mat as tm
    >>> x = tm.tensor([1.0, 2.0], requires_grad=True)
    >>> with tm.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """
    return set_grad_enabled(False)


def enable_grad():
    """Context manager: turn recording back on inside a ``no_grad()`` block."""
    return set_grad_enabled(True)


# Forward mode: every jvp() gets a fresh level; tangents are stored per level on Tensors.
# While an op computes the tangent of level k, ops inside see only levels below k
# (the "ceiling"), so an inner derivative never leaks into an outer one.
def forward_ceiling():
    return state.ceiling


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


def transform_depth():
    """How many functional transforms (grad, vjp, jvp) are running around this call."""
    return state.depth


@contextlib.contextmanager
def inside_transform():
    state.depth += 1
    try:
        yield
    finally:
        state.depth -= 1
