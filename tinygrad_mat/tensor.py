"""Tensor: a read-only numpy array plus what reverse and forward mode need.

The array is read-only for as long as the Tensor lives: a graph may have saved it
for backward, and a silent in-place edit would corrupt a gradient. Updates go
through ``t.data = new`` or the in-place operators under ``no_grad()``, which
rebind the Tensor to a new array and leave any saved one untouched.
"""
import numpy as np

from . import engine, modes
from .errors import DTypeError, GraphError
from .ops import REGISTRY as _OPS

# Binary operators go straight to the engine: they are the hottest path of the library.
_apply = engine.apply
_ADD, _SUB, _MUL, _DIV, _POW, _MATMUL = (_OPS[n] for n in ("add", "sub", "mul", "div", "pow", "matmul"))


def to_float_array(data, opname="tensor"):
    """``data`` as a new read-only float array: float32 kept, everything else real becomes float64."""
    if isinstance(data, Tensor):
        data = data._data
    if isinstance(data, (complex, np.complexfloating)):
        raise DTypeError(f"{opname}: complex input ({data!r}) is not supported")
    try:
        array = np.array(data)
    except (ValueError, TypeError) as error:
        raise DTypeError(f"{opname}: cannot make an array of {type(data).__name__}: {error}") from error
    kind = array.dtype.kind
    if kind == "c":
        raise DTypeError(f"{opname}: complex input (dtype {array.dtype}) is not supported")
    if kind not in "fiub":
        raise DTypeError(f"{opname}: cannot differentiate an array of dtype {array.dtype}")
    if array.dtype != np.float32 and array.dtype != np.float64:
        array = array.astype(np.float64)
    array.setflags(write=False)
    return array


class Tensor:
    """An array that records the operations applied to it.

    >>> import tinygrad_mat as tm
    >>> x = tm.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> y = (x @ x).trace()
    >>> y.backward()
    >>> x.grad.numpy()          # d tr(XX)/dX = 2Xᵀ
    array([[2., 6.],
           [4., 8.]])
    """

    __slots__ = ("_data", "requires_grad", "grad", "_node", "_tangents", "__weakref__")
    # numpy defers to Tensor's reflected operators and __array_ufunc__.
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False):
        self._data = to_float_array(data)
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._node = None
        self._tangents = None

    @classmethod
    def _wrap(cls, array):
        """A Tensor around a float array the library owns; no copy. The array is made read-only."""
        array.setflags(write=False)
        t = cls.__new__(cls)
        t._data = array
        t.requires_grad = False
        t.grad = None
        t._node = None
        t._tangents = None
        return t

    # -------------------------------------------------------------- array-like
    @property
    def data(self):
        """The values, as a read-only numpy array."""
        return self._data

    @data.setter
    def data(self, value):
        self._data = to_float_array(value, "data")

    shape = property(lambda self: self._data.shape, doc="Shape, as numpy's.")
    ndim = property(lambda self: self._data.ndim, doc="Number of axes.")
    dtype = property(lambda self: self._data.dtype, doc="float64 or float32.")
    size = property(lambda self: self._data.size, doc="Number of elements.")

    @property
    def T(self):
        """All axes reversed, as numpy's ``.T`` (for a matrix, the transpose)."""
        return F.transpose(self)

    @property
    def mT(self):
        """The last two axes swapped: the transpose of each matrix in a stack."""
        return F.matrix_transpose(self)

    @property
    def is_leaf(self):
        """True when the tensor was made by the user, not by an op in a recorded graph."""
        return self._node is None

    @property
    def op(self):
        """Name of the op that made this tensor in the recorded graph, or None for a leaf."""
        return None if self._node is None else self._node.op.name

    def numpy(self):
        """The values as a numpy array (read-only; ``.copy()`` it to edit)."""
        return self._data

    def item(self):
        """The value of a one-element tensor as a Python float."""
        if self._data.size != 1:
            raise ValueError(f"item: tensor has {self._data.size} elements, only a one-element tensor converts")
        return self._data.item()

    def detach(self):
        """A new leaf sharing the values, cut from the graph and from any tangents."""
        return Tensor._wrap(self._data)

    def astype(self, dtype):
        """Cast to float32 or float64 (differentiable)."""
        return F.astype(self, dtype)

    def zero_grad(self):
        """Reset the accumulated gradient (same as ``t.grad = None``)."""
        self.grad = None

    def __array__(self, dtype=None, copy=None):
        if dtype is None and not copy:
            return self._data
        return np.array(self._data, dtype=dtype, copy=True)

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __float__(self):
        return float(self.item())

    def __bool__(self):
        raise TypeError("the truth value of a Tensor is ambiguous; compare t.numpy() or t.item()")

    def __repr__(self):
        body = np.array2string(self._data, separator=", ", prefix="Tensor(")
        extra = []
        if self._data.dtype != np.float64:
            extra.append(f"dtype={self._data.dtype}")
        if self._node is not None:
            extra.append(f"op={self._node.op.name}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self._tangents:
            extra.append(f"tangent_levels={sorted(self._tangents)}")
        return f"Tensor({body}{''.join(', ' + e for e in extra)})"

    # -------------------------------------------------------------- reverse mode
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Add d(self)/d(leaf) to ``.grad`` of every leaf that requires grad.

        For a scalar (size-1) tensor ``gradient`` may be omitted; otherwise pass
        the cotangent (same shape as self). Gradients accumulate across calls
        until reset with ``t.grad = None`` or ``tm.zero_grad``. The graph is
        released unless ``retain_graph``; ``create_graph`` records the backward
        pass so that the gradients can be differentiated again (and then keeps
        the graph unless ``retain_graph=False`` is given).

        >>> import tinygrad_mat as tm
        >>> x = tm.tensor(3.0, requires_grad=True)
        >>> (x * x).backward()
        >>> x.grad.item()
        6.0
        """
        engine.backward(self, gradient, retain_graph, create_graph)

    # -------------------------------------------------------------- operators
    def __add__(self, other):
        return _apply(_ADD, (self, other))

    def __radd__(self, other):
        return _apply(_ADD, (other, self))

    def __sub__(self, other):
        return _apply(_SUB, (self, other))

    def __rsub__(self, other):
        return _apply(_SUB, (other, self))

    def __mul__(self, other):
        return _apply(_MUL, (self, other))

    def __rmul__(self, other):
        return _apply(_MUL, (other, self))

    def __truediv__(self, other):
        return _apply(_DIV, (self, other))

    def __rtruediv__(self, other):
        return _apply(_DIV, (other, self))

    def __pow__(self, other):
        return _apply(_POW, (self, other))

    def __rpow__(self, other):
        return _apply(_POW, (other, self))

    def __matmul__(self, other):
        return _apply(_MATMUL, (self, other))

    def __rmatmul__(self, other):
        return _apply(_MATMUL, (other, self))

    def __neg__(self):
        return F.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return F.abs(self)

    def __getitem__(self, index):
        return F.getitem(self, index)

    # In-place updates rebind to a new array, so a graph that saved the old one stays right.
    def _inplace(self, other, fn, symbol):
        if modes.is_grad_enabled() and (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)):
            raise GraphError(
                f"in-place {symbol}: the operands require grad and grad mode is on; "
                f"write the update inside `with tm.no_grad():` (as in PyTorch), or use t = t {symbol[0]} ..."
            )
        if self._node is not None:
            raise GraphError(f"in-place {symbol}: tensor is the output of {self.op} in a recorded graph")
        value = fn(self, other)
        if value.shape != self.shape:
            raise GraphError(f"in-place {symbol}: result shape {value.shape} differs from the tensor's {self.shape}")
        self._data = value._data.astype(self.dtype, copy=False)
        self._data.setflags(write=False)
        return self

    def __iadd__(self, other):
        return self._inplace(other, F.add, "+=")

    def __isub__(self, other):
        return self._inplace(other, F.sub, "-=")

    def __imul__(self, other):
        return self._inplace(other, F.mul, "*=")

    def __itruediv__(self, other):
        return self._inplace(other, F.div, "/=")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """Lets ``ndarray + Tensor``, ``ndarray @ Tensor`` and ``np.exp(t)`` give Tensors."""
        fn = F.UFUNCS.get(ufunc)
        if method != "__call__" or kwargs or fn is None:
            return NotImplemented
        return fn(*inputs)

    # -------------------------------------------------------------- methods
    def sum(self, axis=None, keepdims=False):
        """Sum over ``axis`` (None: all), as ``numpy.sum``."""
        return F.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        """Mean over ``axis`` (None: all), as ``numpy.mean``."""
        return F.mean(self, axis, keepdims)

    def logsumexp(self, axis=None, keepdims=False):
        """log Σ exp over ``axis``, computed stably."""
        return F.logsumexp(self, axis, keepdims)

    def reshape(self, *shape):
        """Same values, new shape (one entry may be -1)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return F.reshape(self, shape)

    def flatten(self):
        """The values as a 1-D tensor (row-major, as numpy)."""
        return F.reshape(self, (-1,))

    def transpose(self, *axes):
        """Permute axes, as ``numpy.transpose`` (no argument: reverse them)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return F.transpose(self, axes or None)

    def broadcast_to(self, shape):
        """Broadcast to ``shape`` as numpy does; the gradient is summed back."""
        return F.broadcast_to(self, shape)

    def matmul(self, other):
        """Matrix product, numpy's rules (1-D, 2-D, stacked)."""
        return F.matmul(self, other)

    def dot(self, other):
        """Same as ``matmul``."""
        return F.matmul(self, other)

    def trace(self):
        """Sum of the diagonal of each matrix (last two axes)."""
        return F.trace(self)

    def norm(self, axis=None, keepdims=False):
        """Euclidean norm of all entries (Frobenius for a matrix), or along ``axis``."""
        return F.norm(self, axis, keepdims)

    def inv(self):
        """Matrix inverse (of each matrix in a stack)."""
        return F.inv(self)

    def det(self):
        """Determinant (of each matrix in a stack)."""
        return F.det(self)

    def slogdet(self):
        """(sign, log|det|); the second is differentiable."""
        return F.slogdet(self)

    def exp(self):
        """eˣ elementwise."""
        return F.exp(self)

    def log(self):
        """Natural logarithm elementwise."""
        return F.log(self)

    def sqrt(self):
        """Square root elementwise."""
        return F.sqrt(self)

    def tanh(self):
        """Hyperbolic tangent elementwise."""
        return F.tanh(self)

    def sigmoid(self):
        """Logistic function elementwise (stable)."""
        return F.sigmoid(self)

    def relu(self):
        """max(x, 0) elementwise."""
        return F.relu(self)

    def abs(self):
        """|x| elementwise."""
        return F.abs(self)


engine.Tensor = Tensor

# functions builds on Tensor; methods look its names up at call time.
from . import functions as F  # noqa: E402
