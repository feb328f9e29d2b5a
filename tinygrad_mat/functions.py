"""The public functions: one per op record (derived, see ``tinygrad_mat.namespaces``), the
constructor ``tensor`` and a few helpers.

Operands may be Tensors, numpy arrays, Python numbers, or lists (a list holding Tensors is stacked
differentiably).
"""
from . import arraylock
from .ops import REGISTRY
from .tensor import Tensor, TensorNS, _contains_tensor, as_tensor

PUBLIC_OPS = tuple(record.name for record in REGISTRY.values() if record.public)
globals().update({name: getattr(TensorNS, name) for name in PUBLIC_OPS})


def tensor(data, requires_grad=False, dtype=None):
    """A new Tensor from ``data`` (float64, or float32 if given float32 or ``dtype=np.float32``).

    * numbers, (nested) lists, numpy arrays: a new leaf holding a copy;
    * a Tensor: a detached copy (a new leaf with the same values), as ``torch.tensor(t)``;
    * a list holding Tensors: their differentiable stack, as ``jnp.array([x, 2 * x])``.

    >>> import tinygrad_mat as tm
    >>> tm.tensor([1, 2, 3])
    Tensor([1., 2., 3.])
    >>> x = tm.tensor(2.0, requires_grad=True)
    >>> v = tm.tensor([x, x * x])                 # differentiable
    >>> v.sum().backward(); x.grad.item()         # d(x + x²)/dx = 1 + 2x
    5.0
    """
    if isinstance(data, Tensor) or not _contains_tensor(data):
        return Tensor(data, requires_grad=requires_grad, dtype=dtype)
    stacked = as_tensor(data)
    if dtype is not None:
        stacked = TensorNS.astype(stacked, dtype)
    if requires_grad:
        if stacked.requires_grad:
            raise ValueError(
                "tensor: requires_grad=True makes a new leaf, which would cut the gradient to the Tensors "
                "in this list; leave requires_grad out to stack them differentiably, or pass t.detach() "
                "for each"
            )
        leaf = stacked.detach()
        leaf.requires_grad = True
        return leaf
    return stacked


def zero_grad(*tensors):
    """Reset ``.grad`` of each tensor to None (gradients accumulate until reset)."""
    for t in tensors:
        t.grad = None


def is_locked(array):
    """True while a live graph holds the numpy ``array`` as a constant, so that it is read-only.

    Arrays of more than ``tm.arraylock.COPY_AT_MOST`` elements are locked this way; smaller ones are
    copied by the graph instead (cheaper), and stay writeable.

    >>> import numpy as np, tinygrad_mat as tm
    >>> X = np.ones((5000, 2)); w = tm.tensor(np.ones(2), requires_grad=True)
    >>> loss = (X @ w).sum()
    >>> tm.is_locked(X), X.flags.writeable
    (True, False)
    >>> loss.backward()                           # the graph is released: X is writeable again
    >>> tm.is_locked(X), X.flags.writeable
    (False, True)
    """
    return arraylock.is_locked(array)


__all__ = ["tensor", "as_tensor", "zero_grad", "is_locked", *PUBLIC_OPS]
