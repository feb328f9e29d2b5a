"""Operands from other array libraries: taken as constants with the right values, or refused with a
TypeError that says what to write. Never a silent loss of a derivative.

Two directions meet here:

* **A Tensor first** (``t + df``, ``t @ S``, ``tm.sum(series)``): the tensor layer converts a
  non-Tensor operand with ``to_constant``. pandas objects give their values by position (no index
  alignment), copied; an ndarray subclass (``np.memmap``) its plain-array view; anything else with
  ``__array__`` (JAX, PyTorch without grad) a copy of its values. Masked arrays and ``np.matrix``
  are refused: numpy's result would ignore the mask or change ``*`` into a matrix product. A
  scipy.sparse matrix raises ``SparseOperand``: the op may have a sparse form (``S @ t``), which the
  tensor layer then runs; if not, the message says what to write.
* **The foreign object first** (``S @ t``, ``df @ t``, ``masked + t``): its own operator runs and
  turns the Tensor into a numpy array through ``Tensor.__array__``, which asks ``conversion_by``
  who is converting. scipy.sparse's matrix product is told "not an array" so that it returns
  NotImplemented and Python calls ``Tensor.__rmatmul__`` (the differentiable sparse product);
  any other conversion by pandas, scipy or numpy's masked-array and matrix code of a Tensor that
  carries a derivative raises a TypeError naming what to write. pandas' arithmetic defers to
  Tensors on its own (``Tensor.__pandas_priority__``), so ``df + t`` is ``t.__radd__(df)``; a masked
  array's operators defer when the Tensor tells them it has no ``__array_ufunc__``
  (``asked_by_masked_array``), so ``masked + t`` is ``t.__radd__(masked)``, which refuses the mask.

No library is imported here: objects are recognised by the module their type comes from.
"""
import sys

import numpy as np

from .errors import DTypeError

# Modules whose code, converting a Tensor to an array, would compute on plain values.
_FOREIGN_PREFIXES = ("pandas.", "scipy.", "numpy.ma.", "numpy.matrixlib.")
# scipy.sparse's matrix-product dispatch: told "not an array", it returns NotImplemented.
_SPARSE_PRODUCT_CODE = {"_matmul_dispatch", "_rmatmul_dispatch"}


class SparseOperand(TypeError):
    """A scipy.sparse matrix reached an op as an operand; ``matrix`` is it."""

    def __init__(self, message, matrix):
        super().__init__(message)
        self.matrix = matrix


def _module_of(value):
    return getattr(type(value), "__module__", "") or ""


def is_sparse(value):
    """True for a scipy.sparse matrix or array (without importing scipy)."""
    return _module_of(value).startswith("scipy.sparse") and hasattr(value, "tocsr")


def is_pandas(value):
    return _module_of(value).startswith("pandas.") and hasattr(value, "to_numpy")


def sparse_error(opname):
    """What to write instead of ``opname`` with a scipy.sparse operand (an op without a sparse form)."""
    return (
        f"{opname}: a scipy.sparse operand; only the matrix product has a sparse form (S @ t, t @ S, "
        "np.dot, tm.linear: differentiable in the dense operand). For a scipy.sparse *matrix*, S * t "
        "means S @ t: write that. Otherwise densify first with S.toarray()"
    )


def to_constant(value, opname):
    """A foreign operand's values as a float array the library owns or a plain view (see the module
    docstring), or an error naming what to write. ``None`` when ``value`` is not array-like at all."""
    if isinstance(value, np.ndarray):  # a subclass: plain ndarrays never reach here
        if isinstance(value, np.ma.MaskedArray):
            raise TypeError(
                f"{opname}: a numpy masked array; its mask would be ignored. Write x.filled(value) to fill "
                "the masked entries, or tm.where(~np.ma.getmaskarray(x), t, 0.0)-style masking with "
                "np.ma.getdata(x) for the values"
            )
        if isinstance(value, np.matrix):
            raise TypeError(
                f"{opname}: a np.matrix operand (its * is a matrix product, unlike a Tensor's); write "
                "np.asarray(m), and @ for the matrix product"
            )
        return value.view(np.ndarray)  # np.memmap and other subclasses: the same memory, plain
    if is_sparse(value):
        raise SparseOperand(sparse_error(opname), value)
    if is_pandas(value):
        try:
            return np.array(value.to_numpy(), copy=True)
        except (TypeError, ValueError) as error:
            raise DTypeError(f"{opname}: cannot take the values of a {type(value).__name__}: {error}") from error
    if hasattr(value, "__array__") or hasattr(value, "__array_interface__"):
        try:
            return np.array(np.asarray(value), copy=True)
        except Exception as error:  # the other library refuses (e.g. a torch tensor that requires grad)
            raise TypeError(
                f"{opname}: cannot take the values of a {type(value).__module__}.{type(value).__name__}: "
                f"{error}. Pass its values as a numpy array"
            ) from error
    return None


def conversion_by():
    """Who is turning a Tensor into a numpy array: "sparse product" (scipy.sparse's matrix-product
    dispatch), the name of a foreign module whose code would compute on plain values, or None (the
    user, numpy, tinygrad_mat: an explicit conversion)."""
    frame = sys._getframe(2)  # 0: here, 1: Tensor.__array__, 2: the Python code that asked numpy
    module = frame.f_globals.get("__name__", "")
    # numpy's own helpers (np.asarray_chkfinite, ...) convert for their caller: look past them
    for _ in range(4):
        if not module.startswith("numpy.") or module.startswith(_FOREIGN_PREFIXES) or frame.f_back is None:
            break
        frame = frame.f_back
        module = frame.f_globals.get("__name__", "")
    if not module.startswith(_FOREIGN_PREFIXES):
        return None
    if module.startswith("scipy.sparse") and frame.f_code.co_name in _SPARSE_PRODUCT_CODE:
        return "sparse product"
    return module


def asked_by_masked_array():
    """True when numpy's masked array asks a Tensor for ``__array_ufunc__`` to decide whether its
    operator should defer (``MaskedArray._delegate_binop``): told None, it returns NotImplemented."""
    frame = sys._getframe(2)  # 0: here, 1: the descriptor's __get__, 2: the code reading the attribute
    return frame.f_code.co_name == "_delegate_binop" and frame.f_globals.get("__name__") == "numpy.ma.core"


def foreign_conversion_error(module):
    """The TypeError for a foreign library converting a Tensor that carries a derivative."""
    library = module.split(".")[0] if not module.startswith("numpy.") else ".".join(module.split(".")[:2])
    hints = {
        "pandas": "put the values first: df.to_numpy() @ t, or t's operator first (t.T @ df.to_numpy().T)",
        "numpy.ma": "fill the masked array first (x.filled(value)) and compute with the Tensor",
        "numpy.matrixlib": "use plain arrays (np.asarray(m)) and @ for the matrix product",
        "scipy": "use the tm function (tm.linalg, tm.*) or, for a scipy.sparse matrix, S @ t",
    }
    return TypeError(
        f"{library} is turning a Tensor that carries a derivative into a plain numpy array (in {module}); "
        f"its result would silently have no derivative. Instead, {hints.get(library, 'pass numpy arrays to it')}; "
        "or, where no derivative is wanted, pass t.detach() (or t.numpy())"
    )
