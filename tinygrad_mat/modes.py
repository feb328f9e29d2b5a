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
    levels = {}      # forward levels with a batch or plain-array tangents: {level: LevelSpec}
    tracer = None    # the tm.compile trace being recorded on this thread (tinygrad_mat.compiler)
    # (replaced, never changed in place: the class default is shared by every thread)


state = _State()
_levels = itertools.count(1)


def is_grad_enabled():
    """True when ops record the graph for reverse mode (the default); False inside ``no_grad()``."""
    return state.grad


def replayed_as_call(changes_data=True):
    """A method that ``tm.compile`` replays as a call (an optimizer's ``step``): while a step is traced,
    it runs untraced and the tape records the call. ``changes_data``: it may rebind leaves' data."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            tracer = state.tracer
            if tracer is not None:
                label = f"{type(self).__name__}.{method.__name__}()"
                return tracer.call(method, (self,) + args, kwargs, changes_data, label)
            return method(self, *args, **kwargs)

        return wrapper

    return decorate


class _GradMode:
    """Sets grad mode on entering a ``with`` block and restores it on leaving; also a decorator.
    Entering twice before leaving (the same object nested) restores correctly too."""

    __slots__ = ("previous",)
    enabled = True

    def __enter__(self):
        previous = self.previous
        self.previous = (state.grad, previous)  # a linked stack: nested use of one object is safe
        state.grad = self.enabled
        return self

    def __exit__(self, *exc):
        state.grad, self.previous = self.previous

    def __call__(self, fn):
        cls = type(self)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with cls():
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


class no_grad(_GradMode):
    """Context manager (or decorator): ops inside record no graph, like ``torch.no_grad()``.

    >>> import tinygrad_mat as tm
    >>> x = tm.tensor([1.0, 2.0], requires_grad=True)
    >>> with tm.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    __slots__ = ()
    enabled = False

    def __init__(self):
        self.previous = None


class enable_grad(_GradMode):
    """Context manager (or decorator): turn recording back on inside a ``no_grad()`` block."""

    __slots__ = ()
    enabled = True

    def __init__(self):
        self.previous = None


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


class LevelSpec:
    """How one forward level carries its tangents. ``batch``: None, or B when each tangent has a
    leading axis of B directions (jacfwd pushes every basis direction in one pass). ``arrays``: the
    tangents are plain numpy arrays and rules run on arrays, which only the outermost level of a
    computation no outer transform can differentiate may do (see ``functional.jvp``)."""

    __slots__ = ("batch", "arrays")

    def __init__(self, batch, arrays):
        self.batch = batch
        self.arrays = arrays


@contextlib.contextmanager
def forward_level(level, batch=None, arrays=False):
    """Declare ``level``'s batch and tangent kind for the duration of a ``with`` block."""
    previous = state.levels
    if batch is None and not arrays:
        yield
        return
    state.levels = {**previous, level: LevelSpec(batch, arrays)}
    try:
        yield
    finally:
        state.levels = previous


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
