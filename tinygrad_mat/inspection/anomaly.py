"""Anomaly detection and creation sites, as PyTorch's ``detect_anomaly``: a NaN or inf produced by an
op from finite inputs, in its forward computation, its reverse rule or its forward rule, raises an
error naming the op, the direction and the line of user code that created the node."""
import contextlib

import numpy as np

from .. import modes, observe
from .sites import user_site


class AnomalyError(FloatingPointError):
    """A NaN or inf appeared where the inputs were finite (raised under ``tm.detect_anomaly()``)."""


def _finite(x):
    value = getattr(x, "_data", x)
    return value is None or not isinstance(value, (np.ndarray, np.generic, float)) or bool(np.all(np.isfinite(value)))


def _what(x):
    value = np.asarray(getattr(x, "_data", x))
    return "NaN" if np.isnan(value).any() else "inf"


class _Sites:
    """Records each new node's creation site (``Tensor.creation_site``)."""

    def forward(self, op, inputs, arrays, result, params=None):
        if result._node is not None:
            result._node.site = user_site()

    def backward(self, node, tensor, g, cotangents, seconds):
        pass

    def tangent(self, op, inputs, out, tangent, level):
        pass


class _Anomaly(_Sites):
    def forward(self, op, inputs, arrays, result, params=None):
        super().forward(op, inputs, arrays, result)
        if not _finite(result) and all(_finite(a) for a in arrays):
            raise AnomalyError(f"{op.name} (forward) produced {_what(result)} from finite inputs; "
                               f"created at {user_site()}")

    def backward(self, node, tensor, g, cotangents, seconds):
        if not _finite(g):
            return  # not this rule's doing: an earlier rule is blamed when it happens there
        for position, c in enumerate(cotangents):
            if c is not None and not _finite(c):
                site = observe.site_of(node) or "an unknown line (created before tm.detect_anomaly())"
                raise AnomalyError(f"{node.op.name} (backward) produced {_what(c)} in the cotangent of input "
                                   f"{position} from a finite cotangent; the node was created at {site}")

    def tangent(self, op, inputs, out, tangent, level):
        if not _finite(tangent):
            raise AnomalyError(f"{op.name} (forward mode) produced {_what(tangent)} in a tangent; "
                               f"created at {user_site()}")


@contextlib.contextmanager
def detect_anomaly():
    """Inside the block, a NaN or inf produced from finite inputs raises ``AnomalyError`` naming the op,
    the direction and the user's line that created the node. Outside it costs nothing.

    >>> import numpy as np, tinygrad_mat as tm
    >>> x = tm.tensor([0.0, 1.0], requires_grad=True)
    >>> with tm.detect_anomaly(), np.errstate(divide="ignore"):
    ...     y = tm.sqrt(x).sum()
    ...     try:
    ...         y.backward()
    ...     except tm.AnomalyError as error:
    ...         print(str(error).split(";")[0])
    sqrt (backward) produced inf in the cotangent of input 0 from a finite cotangent
    """
    with modes.observing(_Anomaly()):
        yield


@contextlib.contextmanager
def track_sites():
    """Inside the block every new node remembers the line of user code that created it
    (``t.creation_site``; ``tm.check_graph`` and ``tm.graph`` show it)."""
    with modes.observing(_Sites()):
        yield
