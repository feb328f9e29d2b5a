"""numpy's reductions and layout functions without their Python wrappers.

``np.sum``, ``np.mean``, ``np.reshape``, ``np.transpose`` and ``np.broadcast_to`` are Python
functions around a C call; on small arrays the wrapper costs 3–10× the call (measured on this
project's machine: ``np.sum`` 5.3 µs against 1.8 µs for ``np.add.reduce``, ``np.broadcast_to``
6.5 µs against 1.0 µs for ``empty`` + fill on a 32 × 10 result). Every function here returns the
same values (and dtype) as the numpy function it replaces; ops and the numpy namespace call these.

This module imports nothing of tinygrad_mat.
"""
import numpy as np

_add_reduce = np.add.reduce
_empty = np.empty
_copyto = np.copyto
# Above this many entries a broadcast stays a view (np.broadcast_to): filling would cost more memory
# traffic than the wrapper costs time.
FILL_AT_MOST = 4096


def sum(x, axis=None, keepdims=False):  # noqa: A001 - numpy's name, on purpose
    """``np.sum(x, axis, keepdims=keepdims)`` for float arrays; ``axis`` None, an int or a tuple."""
    return _add_reduce(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """``np.mean(x, axis, keepdims=keepdims)`` for float arrays (an empty mean goes to numpy: nan and
    numpy's own warning)."""
    shape = x.shape
    if axis is None:
        count = x.size
    elif type(axis) is int:
        count = shape[axis]
    else:
        count = 1
        for a in axis:
            count *= shape[a]
    if count == 0:
        return np.mean(x, axis=axis, keepdims=keepdims)
    return _add_reduce(x, axis=axis, keepdims=keepdims) / count


def reshape(x, shape):
    """``np.reshape(x, shape)``."""
    return np.asarray(x).reshape(shape)


def transpose(x, axes=None):
    """``np.transpose(x, axes)``."""
    return np.asarray(x).transpose(axes)


def broadcast_to(x, shape):
    """``np.broadcast_to(x, shape)``: a read-only view above ``FILL_AT_MOST`` entries, a filled
    read-only copy below (same values; nothing may write into either)."""
    x = np.asarray(x)
    if x.shape == shape:
        return x
    if x.ndim > len(shape):  # copyto would drop leading 1s; broadcast_to refuses, with its message
        return np.broadcast_to(x, shape)
    size = 1
    for n in shape:
        size *= n
    if size > FILL_AT_MOST:
        return np.broadcast_to(x, shape)
    out = _empty(shape, dtype=x.dtype)
    _copyto(out, x)  # raises numpy's own ValueError when x does not broadcast to shape
    out.setflags(False)
    return out


def sum_to(x, shape):
    """``x`` summed over the axes that broadcasting added or stretched, giving ``shape`` (the
    reverse of a broadcast). Raises ValueError when ``x`` does not broadcast from ``shape``."""
    x = np.asarray(x)
    x_shape = x.shape
    if x_shape == shape:
        return x
    lead = len(x_shape) - len(shape)
    if lead < 0:
        raise ValueError(f"sum_to: cannot sum shape {x_shape} to the larger {shape}")
    axes = tuple(range(lead))
    for i, n in enumerate(shape):
        m = x_shape[lead + i]
        if n == 1 and m != 1:
            axes += (lead + i,)
        elif n != m:
            raise ValueError(f"sum_to: cannot sum shape {x_shape} to {shape}")
    summed = _add_reduce(x, axis=axes, keepdims=True) if axes else x
    return summed.reshape(shape)
