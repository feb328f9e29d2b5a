"""The public functions: one per op (plus softmax helpers built from them).

Each checks and normalises its arguments (axes, shapes, indices) and hands the op
to the engine. Operands may be Tensors, numpy arrays or Python numbers.
"""
import operator

import numpy as np

from . import engine
from .errors import ShapeError
from .ops import REGISTRY as OPS
from .tensor import Tensor, to_float_array
from .xp import TensorNS

apply = engine.apply


def tensor(data, requires_grad=False):
    """A new Tensor holding a copy of ``data`` (float64, or float32 if given float32).

    >>> import tinygrad_mat as tm
    >>> tm.tensor([1, 2, 3])
    Tensor([1., 2., 3.])
    """
    return Tensor(data, requires_grad=requires_grad)


def as_tensor(x, opname="as_tensor"):
    """``x`` itself if it is a Tensor, else a constant Tensor holding a copy of it."""
    if isinstance(x, Tensor):
        return x
    return Tensor._wrap(to_float_array(x, opname))


def _axes(axis, ndim, opname):
    """None, or a sorted tuple of distinct non-negative axes; a clear error otherwise."""
    if axis is None:
        return None
    raw = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = []
    for a in raw:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            raise ShapeError(f"{opname}: axis {a} is out of range for a tensor with {ndim} axes")
        axes.append(operator.index(a) % ndim)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{opname}: repeated axis in {axis}")
    return tuple(sorted(axes))


# ------------------------------------------------------------------ arithmetic
def add(a, b):
    """a + b with numpy broadcasting.

    >>> import tinygrad_mat as tm
    >>> tm.add(tm.tensor([1.0, 2.0]), 1.0)
    Tensor([2., 3.])
    """
    return apply(OPS["add"], (a, b))


def sub(a, b):
    """a − b with numpy broadcasting."""
    return apply(OPS["sub"], (a, b))


def mul(a, b):
    """a ⊙ b (elementwise product) with numpy broadcasting."""
    return apply(OPS["mul"], (a, b))


def div(a, b):
    """a ⊘ b (elementwise quotient) with numpy broadcasting."""
    return apply(OPS["div"], (a, b))


def neg(x):
    """−x."""
    return apply(OPS["neg"], (as_tensor(x, "neg"),))


def pow(x, y):
    """x ** y elementwise; either may be a constant (x ** 3, 2 ** x) or both Tensors.

    >>> import tinygrad_mat as tm
    >>> tm.grad(lambda x: 2.0 ** x)(3.0)     # d(aˣ)/dx = aˣ ln a
    array(5.54517744)
    """
    return apply(OPS["pow"], (x, y))


def astype(x, dtype):
    """x cast to float32 or float64; the gradient is cast back."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"astype: only float32 and float64 are differentiable, not {dtype}")
    x = as_tensor(x, "astype")
    if x.dtype == dtype:
        return x
    return apply(OPS["cast"], (x,), {"dtype": dtype})


# ------------------------------------------------------------------ unary
def exp(x):
    """eˣ elementwise."""
    return apply(OPS["exp"], (as_tensor(x, "exp"),))


def log(x):
    """Natural logarithm elementwise."""
    return apply(OPS["log"], (as_tensor(x, "log"),))


def sqrt(x):
    """Square root elementwise."""
    return apply(OPS["sqrt"], (as_tensor(x, "sqrt"),))


def tanh(x):
    """Hyperbolic tangent elementwise."""
    return apply(OPS["tanh"], (as_tensor(x, "tanh"),))


def sigmoid(x):
    """Logistic function 1 / (1 + e⁻ˣ) elementwise, stable for large |x|.

    >>> import tinygrad_mat as tm
    >>> tm.sigmoid(tm.tensor([0.0, 800.0, -800.0]))
    Tensor([0.5, 1. , 0. ])
    """
    return apply(OPS["sigmoid"], (as_tensor(x, "sigmoid"),))


def relu(x):
    """max(x, 0) elementwise; its derivative at 0 is taken as 0."""
    return apply(OPS["relu"], (as_tensor(x, "relu"),))


def abs(x):
    """|x| elementwise; its derivative at 0 is taken as 0."""
    return apply(OPS["abs"], (as_tensor(x, "abs"),))


# ------------------------------------------------------------------ reductions
def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (an int, a tuple, or None for all), as ``numpy.sum``.

    >>> import tinygrad_mat as tm
    >>> tm.sum(tm.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    Tensor([4., 6.])
    """
    x = as_tensor(x, "sum")
    return apply(OPS["sum"], (x,), {"axis": _axes(axis, x.ndim, "sum"), "keepdims": bool(keepdims)})


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (an int, a tuple, or None for all), as ``numpy.mean``."""
    x = as_tensor(x, "mean")
    return apply(OPS["mean"], (x,), {"axis": _axes(axis, x.ndim, "mean"), "keepdims": bool(keepdims)})


def logsumexp(x, axis=None, keepdims=False):
    """log Σ exp(x) over ``axis``, computed without overflow.

    >>> import tinygrad_mat as tm
    >>> round(tm.logsumexp(tm.tensor([1000.0, 1000.0])).item() - 1000.0, 10)   # ln 2
    0.6931471806
    """
    x = as_tensor(x, "logsumexp")
    axes = _axes(axis, x.ndim, "logsumexp")
    return apply(OPS["logsumexp"], (x,), {"axis": axes, "keepdims": bool(keepdims)})


def log_softmax(x, axis=-1):
    """x − logsumexp(x) along ``axis``: log-probabilities, stable."""
    return sub(x, logsumexp(x, axis, keepdims=True))


def softmax(x, axis=-1):
    """exp(x) normalised to sum to 1 along ``axis``."""
    return exp(log_softmax(x, axis))


# ------------------------------------------------------------------ shapes
def reshape(x, shape):
    """Same values in a new shape (one entry may be -1), as ``numpy.reshape``."""
    x = as_tensor(x, "reshape")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if shape == x.shape:
        return x
    return apply(OPS["reshape"], (x,), {"shape": shape})


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape``; its gradient is summed back to x's shape."""
    x = as_tensor(x, "broadcast_to")
    shape = tuple(shape)
    if shape == x.shape:
        return x
    return apply(OPS["broadcast_to"], (x,), {"shape": shape})


def transpose(x, axes=None):
    """Permute the axes (None: reverse them), as ``numpy.transpose``; a matrix's transpose.

    >>> import tinygrad_mat as tm
    >>> tm.transpose(tm.tensor([[1.0, 2.0]])).shape
    (2, 1)
    """
    x = as_tensor(x, "transpose")
    n = x.ndim
    if axes is None:
        axes = tuple(range(n - 1, -1, -1))
    else:
        axes = tuple(operator.index(a) % n if -n <= a < n else a for a in axes)
        if sorted(axes) != list(range(n)):
            raise ShapeError(f"transpose: axes {axes} are not a permutation of the {n} axes of shape {x.shape}")
    if axes == tuple(range(n)):
        return x
    return apply(OPS["transpose"], (x,), {"axes": axes})


def matrix_transpose(x):
    """Swap the last two axes: the transpose of every matrix in a stack (``x.mT``)."""
    x = as_tensor(x, "matrix_transpose")
    if x.ndim < 2:
        raise ShapeError(f"matrix_transpose: needs at least 2 axes, got shape {x.shape}")
    n = x.ndim
    return apply(OPS["transpose"], (x,), {"axes": tuple(range(n - 2)) + (n - 1, n - 2)})


def _normalise_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for part in parts:
        if isinstance(part, Tensor):
            raise TypeError("getitem: index with a numpy integer or boolean array, not a Tensor (Tensors are float)")
        if isinstance(part, (list, np.ndarray)):
            part = np.array(part)
            if part.dtype.kind not in "iub":
                raise TypeError(f"getitem: index arrays must be integers or booleans, not {part.dtype}")
            part.setflags(write=False)
        out.append(part)
    return tuple(out) if isinstance(index, tuple) else out[0]


def getitem(x, index):
    """``x[index]`` for ints, slices, None, Ellipsis, integer and boolean arrays.

    The gradient scatters back; where an integer index repeats, contributions add.

    >>> import tinygrad_mat as tm
    >>> tm.grad(lambda x: tm.sum(x[[0, 0, 2]]))(tm.tensor([1.0, 2.0, 3.0]).numpy())
    array([2., 0., 1.])
    """
    x = as_tensor(x, "getitem")
    return apply(OPS["getitem"], (x,), {"index": _normalise_index(index)})


def scatter_add(values, index, shape):
    """zeros(shape) with ``values`` added at ``index`` (the adjoint of ``getitem``)."""
    values = as_tensor(values, "scatter_add")
    return apply(OPS["scatter_add"], (values,), {"index": _normalise_index(index), "shape": tuple(shape)})


def stack(tensors, axis=0):
    """Join same-shape Tensors (or numbers, arrays) along a new axis, as ``numpy.stack``.

    >>> import tinygrad_mat as tm
    >>> x = tm.tensor(3.0)
    >>> tm.stack([x, x**2])                      # the notes' f(x) = [x, x²]
    Tensor([3., 9.])
    """
    tensors = tuple(tensors)
    if not tensors:
        raise ShapeError("stack: needs at least one array")
    ndim = np.ndim(tensors[0]._data if isinstance(tensors[0], Tensor) else tensors[0]) + 1
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ShapeError(f"stack: axis {axis} is out of range for the {ndim} axes of the result")
    return apply(OPS["stack"], tensors, {"axis": int(axis) % ndim})


def concatenate(tensors, axis=0):
    """Join Tensors (or arrays) along an existing axis, as ``numpy.concatenate``."""
    tensors = tuple(tensors)
    if not tensors:
        raise ShapeError("concatenate: needs at least one array")
    ndim = np.ndim(tensors[0]._data if isinstance(tensors[0], Tensor) else tensors[0])
    if ndim == 0:
        raise ShapeError("concatenate: zero-dimensional arrays cannot be concatenated; use stack")
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ShapeError(f"concatenate: axis {axis} is out of range for arrays with {ndim} axes")
    return apply(OPS["concatenate"], tensors, {"axis": int(axis) % ndim})


def sum_to(x, shape):
    """Sum ``x`` over the axes broadcasting added, giving ``shape`` (unbroadcast)."""
    x = as_tensor(x, "sum_to")
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    if lead < 0:
        raise ShapeError(f"sum_to: cannot sum shape {x.shape} to the larger {shape}")
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    summed = sum(x, axes, keepdims=True) if axes else x
    return reshape(summed, shape)


# ------------------------------------------------------------------ matrices
def matmul(a, b):
    """Matrix product with numpy's rules: 1-D, 2-D and stacked (batch axes broadcast).

    >>> import tinygrad_mat as tm
    >>> tm.matmul(tm.tensor([[1.0, 2.0]]), tm.tensor([[3.0], [4.0]]))
    Tensor([[11.]])
    """
    return apply(OPS["matmul"], (a, b))


def trace(x):
    """Sum of the diagonal of each matrix (the last two axes).

    >>> import tinygrad_mat as tm
    >>> tm.trace(tm.tensor([[1.0, 2.0], [3.0, 4.0]])).item()
    5.0
    """
    return apply(OPS["trace"], (as_tensor(x, "trace"),))


def norm(x, axis=None, keepdims=False):
    """Euclidean norm: of all entries (a vector's length, a matrix's Frobenius norm), or along ``axis``.

    Its gradient at 0 is taken as 0. For the norm of each matrix in a stack use ``axis=(-2, -1)``.

    >>> import tinygrad_mat as tm
    >>> tm.norm(tm.tensor([3.0, 4.0])).item()
    5.0
    """
    x = as_tensor(x, "norm")
    return apply(OPS["norm"], (x,), {"axis": _axes(axis, x.ndim, "norm"), "keepdims": bool(keepdims)})


def inv(a):
    """Inverse of a square matrix (or of each in a stack); a singular one raises.

    >>> import tinygrad_mat as tm
    >>> tm.inv(tm.tensor([[2.0, 0.0], [0.0, 4.0]]))
    Tensor([[0.5 , 0.  ],
            [0.  , 0.25]])
    """
    return apply(OPS["inv"], (as_tensor(a, "inv"),))


def det(a):
    """Determinant of a square matrix (or of each in a stack).

    >>> import tinygrad_mat as tm
    >>> round(tm.det(tm.tensor([[1.0, 2.0], [3.0, 4.0]])).item(), 12)
    -2.0
    """
    return apply(OPS["det"], (as_tensor(a, "det"),))


def slogdet(a):
    """(sign, log|det a|) as ``numpy.linalg.slogdet``; the log is differentiable, the sign constant.

    >>> import tinygrad_mat as tm
    >>> sign, logabs = tm.slogdet(tm.tensor([[1.0, 2.0], [3.0, 4.0]]))
    >>> sign.item(), round(logabs.item(), 12)
    (-1.0, 0.69314718056)
    """
    a = as_tensor(a, "slogdet")
    logabs = apply(OPS["slogdet"], (a,))
    sign = np.asarray(np.linalg.slogdet(a._data)[0], dtype=a.dtype)
    sign.setflags(write=False)
    return Tensor._wrap(sign), logabs


def solve(a, b):
    """X with a X = b, without forming a⁻¹. As numpy 2: 1-D b is one vector, else a stack of matrices.

    >>> import tinygrad_mat as tm
    >>> tm.solve(tm.tensor([[2.0, 0.0], [0.0, 4.0]]), tm.tensor([2.0, 2.0]))
    Tensor([1. , 0.5])
    """
    return apply(OPS["solve"], (as_tensor(a, "solve"), as_tensor(b, "solve")))


def zero_grad(*tensors):
    """Reset ``.grad`` of each tensor to None (gradients accumulate until reset)."""
    for t in tensors:
        t.grad = None


# The namespace rules run in when a backward pass is recorded: these same functions.
for _name in (
    "exp", "log", "sqrt", "tanh", "inv", "solve", "det", "sum", "mean", "trace",
    "reshape", "broadcast_to", "transpose", "scatter_add", "sum_to", "astype", "stack", "concatenate",
):
    setattr(TensorNS, _name, staticmethod(globals()[_name]))
TensorNS.value = staticmethod(lambda x: np.asarray(x._data if isinstance(x, Tensor) else x))
TensorNS.cofactor = staticmethod(
    lambda a: reshape(det(a), a.shape[:-2] + (1, 1)) * matrix_transpose(inv(a))
)
del _name

# The numpy ufuncs a Tensor answers (``ndarray + Tensor``, ``np.exp(t)``), see Tensor.__array_ufunc__.
UFUNCS = {
    np.add: add, np.subtract: sub, np.multiply: mul, np.true_divide: div, np.power: pow,
    np.negative: neg, np.matmul: matmul, np.exp: exp, np.log: log, np.sqrt: sqrt,
    np.tanh: tanh, np.absolute: abs,
}
