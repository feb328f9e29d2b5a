"""Tensor: a read-only numpy array plus what reverse and forward mode need; ``apply``, the one path
by which every op output is made.

The array is read-only for as long as the Tensor lives: a graph may have saved it for backward,
and a silent in-place edit would corrupt a gradient. Updates go through ``t.data = new`` or the
in-place operators under ``no_grad()``, which rebind the Tensor to a new array and leave any saved
one untouched. Numpy arrays used as constants by a recorded op are locked the same way while the
graph lives (``arraylock``).

Methods and operators are derived from the op records (``Record.method``, ``Record.dunder``), as
are the Tensor-valued namespace ``TensorNS`` (whose functions are the public ``tm.<name>``) and
numpy's dispatch (``numpy_protocol``).
"""
import threading
import weakref

import numpy as np

from . import arraylock, engine, foreign, forward, modes, namespaces, numpy_protocol, observe
from .errors import DTypeError, GraphError, ShapeError, TracedValueError
from .ops import REGISTRY
from .ops.base import values_of

_state = modes.state
_new = object.__new__
_Node = engine.Node
_next_sequence = engine.next_sequence_number
_NO_PARAMS = {}


# ---------------------------------------------------------------- conversions


def to_float_array(data, opname="tensor", dtype=None):
    """``data`` as a new read-only float array: float32 kept, everything else real becomes float64."""
    if isinstance(data, (complex, np.complexfloating)):
        raise DTypeError(f"{opname}: complex input ({data!r}) is not supported")
    if type(data) is not np.ndarray and not isinstance(data, (list, tuple, float, int, np.generic)):
        if foreign.is_sparse(data):
            raise TypeError(f"{opname}: a scipy.sparse matrix; a Tensor is dense: write tm.tensor(S.toarray()), "
                            "or keep S sparse and multiply, S @ t (differentiable in t)")
        converted = foreign.to_constant(data, opname)
        if converted is not None:
            data = converted
    try:
        array = np.array(data)
    except (ValueError, TypeError) as error:
        raise DTypeError(f"{opname}: cannot make an array of {type(data).__name__}: {error}") from error
    kind = array.dtype.kind
    if kind == "c":
        raise DTypeError(f"{opname}: complex input (dtype {array.dtype}) is not supported")
    if kind not in "fiub":
        raise DTypeError(f"{opname}: cannot differentiate an array of dtype {array.dtype}")
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise DTypeError(f"{opname}: dtype must be float32 or float64, not {dtype}")
        array = array.astype(dtype, copy=False)
    elif array.dtype != np.float32 and array.dtype != np.float64:
        array = array.astype(np.float64)
    array.setflags(write=False)
    return array


def _contains_tensor(data):
    if isinstance(data, Tensor):
        return True
    return isinstance(data, (list, tuple)) and any(_contains_tensor(item) for item in data)


def _stack_nested(data):
    """A (nested) list holding Tensors, stacked differentiably (as ``jnp.array`` does)."""
    return TensorNS.stack([_stack_nested(item) if isinstance(item, (list, tuple)) else item for item in data])


def _constant(value, opname):
    """A non-Tensor operand converted once, as numpy sees it: Python floats stay weak scalars, the
    rest float arrays; a list holding Tensors becomes their differentiable stack (a Tensor)."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int or kind is bool:
        return float(value)
    if isinstance(value, (np.ndarray, np.generic)):
        if type(value) is not np.ndarray and isinstance(value, np.ndarray):
            value = foreign.to_constant(value, opname)  # np.memmap: a plain view; masked arrays refused
        dtype = value.dtype
        if dtype.char in "fd":  # float32 or float64 (comparing dtypes with == is slow)
            return value
        dtype_kind = dtype.kind
        if dtype_kind == "f":
            return value.astype(np.float64)
        if dtype_kind in "iub":
            return value.astype(np.float64)
        if dtype_kind == "c":
            raise DTypeError(f"{opname}: complex input (dtype {value.dtype}) is not supported")
        raise DTypeError(f"{opname}: cannot use an array of dtype {value.dtype} as an operand")
    if isinstance(value, (list, tuple)):
        if _contains_tensor(value):
            return _stack_nested(value)
        return _constant(np.asarray(value), opname)
    if isinstance(value, complex):
        raise DTypeError(f"{opname}: complex input ({value!r}) is not supported")
    converted = foreign.to_constant(value, opname)  # pandas, scipy.sparse (refused), anything with __array__
    if converted is not None:
        return _constant(converted, opname)
    raise DTypeError(f"{opname}: cannot use {kind.__name__} as an operand")


def values(x):
    """The values of a Tensor or constant as a numpy array (no check: for masks and shapes)."""
    if isinstance(x, Tensor):
        if _state.tracer is not None:
            _state.tracer.read(x, "a mask or index from its values")
        return x._data
    return np.asarray(x)


# ---------------------------------------------------------------- apply: every op output is made here


def _convert_operands(args, opname):
    """Operands with constants converted once: (operands, arrays, needs, has_tangents, the positions
    of the caller's own arrays, kept without a copy, or None)."""
    operands, arrays, needs = [], [], []
    has_tangents = False
    user_arrays = None
    for position, a in enumerate(args):
        if not isinstance(a, Tensor):
            c = _constant(a, opname)
            if c is not a and _state.tracer is not None:
                _state.tracer.converted(a, c)  # tm.compile converts the call's own array again at replay
            if not isinstance(c, Tensor):
                operands.append(c)
                arrays.append(c)
                needs.append(False)
                if (c is a and type(c) is np.ndarray) or (isinstance(a, np.ndarray) and c.base is a):
                    user_arrays = [position] if user_arrays is None else user_arrays + [position]
                continue
            a = c
        operands.append(a)
        arrays.append(a._data)
        needs.append(a.requires_grad)
        if a._tangents is not None:
            has_tangents = True
    return operands, arrays, needs, has_tangents, user_arrays


def _protect(operands, arrays, positions):
    """The caller's arrays a node is about to save: small ones replaced by copies, large ones
    returned to be locked (``arraylock``), so that editing them cannot change a gradient."""
    to_lock = None
    for i in positions:
        c = arrays[i]
        if c.size <= arraylock.COPY_AT_MOST:
            original, c = c, c.copy()
            c.setflags(False)
            arrays[i] = operands[i] = c
            if _state.tracer is not None:  # tm.compile reads the caller's array itself at replay
                _state.tracer.converted(original, c, "copy")
        else:
            to_lock = [c] if to_lock is None else to_lock + [c]
    return to_lock


def apply(op, args, params=_NO_PARAMS):
    """Run ``op`` on ``args`` (Tensors or constants) and return the output Tensor.

    Constants are converted once, here, so rules never see a Python list or int. Records a node when
    grad mode is on and an input requires grad (locking the user's arrays it keeps), and propagates
    forward-mode tangents when an input carries any.
    """
    # The hot path: operands that are Tensors, Python floats or float arrays (a caller's constant), no
    # tangents. Everything else (conversions, forward mode) goes through _apply_general.
    arrays = []
    needs = []
    record = False
    user = None  # positions of the caller's own arrays
    position = 0
    for a in args:
        if isinstance(a, Tensor):
            if a._tangents is not None:
                return _apply_general(op, args, params)
            arrays.append(a._data)
            if a.requires_grad:
                needs.append(True)
                record = True
            else:
                needs.append(False)
        elif type(a) is float:
            arrays.append(a)
            needs.append(False)
        elif type(a) is np.ndarray and a.dtype.char in "fd":
            arrays.append(a)
            needs.append(False)
            user = (position,) if user is None else user + (position,)
        else:
            return _apply_general(op, args, params)
        position += 1
    try:
        out = op.forward(*arrays, **params) if params else op.forward(*arrays)
    except (ValueError, IndexError, TypeError, np.linalg.LinAlgError) as error:
        raise op.explain(error, arrays, params) from error
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if user is not None and out.base is not None and any(np.may_share_memory(out, arrays[i]) for i in user):
        out = out.copy()  # a view of the caller's array would let an edit of it change this Tensor
    out.setflags(False)  # write=False; positional, because numpy parses the keyword slowly (2x)
    result = _new(Tensor)
    result._data = out
    result._grad = result._tangents = None
    if record and _state.grad:
        result.requires_grad = True
        inputs = args
        if user is not None and op.reads_inputs:  # the graph keeps the caller's arrays: protect them
            operands, arrays = list(args), list(arrays)
            to_lock = _protect(operands, arrays, user)
            if to_lock is not None:
                result._node = engine.LockingNode(op, operands, arrays, out, params, needs, to_lock)
                return _observed(op, args, arrays, result, params)
            inputs = operands
        # A Node built in place: no __init__ frame on the hot path (engine.Node documents the fields).
        node = _new(_Node)
        node.seq = _next_sequence()
        node.op = op
        node.inputs = inputs
        node.saved = arrays
        node.out = out
        node.params = params
        node.needs = needs
        node.pending = None
        result._node = node
    else:
        result.requires_grad = False
        result._node = None
    if _state.observers:  # tools watching (explain, anomaly detection, sites, compile): off, one check
        # The caller's operands as given (not the protective copies): compile identifies them.
        return _observed(op, args, arrays, result, params)
    return result


def _observed(op, operands, arrays, result, params):
    """``result``, after the tools watching ops (if any) have seen it."""
    for observer in _state.observers:
        observer.forward(op, operands, arrays, result, params)
    return result


def _apply_general(op, args, params):
    """``apply`` for every other case: constants to convert, tangents to carry, any number of operands."""
    arrays = []
    needs = []
    has_tangents = False
    user_arrays = None
    operands = args
    for a in args:  # Tensors and Python floats need no conversion
        if not isinstance(a, Tensor):
            if type(a) is float:
                arrays.append(a)
                needs.append(False)
                continue
            operands = None
            break
        arrays.append(a._data)
        needs.append(a.requires_grad)
        if a._tangents is not None:
            has_tangents = True
    if operands is None:
        try:
            operands, arrays, needs, has_tangents, user_arrays = _convert_operands(args, op.name)
        except foreign.SparseOperand as sparse:  # S @ t: the op's sparse form, if it has one
            result = op.sparse_form(TensorNS, args, params)
            if result is None:
                raise TypeError(str(sparse)) from None
            return result
    try:
        out = op.forward(*arrays, **params) if params else op.forward(*arrays)
    except (ValueError, IndexError, TypeError, np.linalg.LinAlgError) as error:
        raise op.explain(error, arrays, params) from error
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if user_arrays is not None and out.base is not None and any(
        np.may_share_memory(out, arrays[i]) for i in user_arrays
    ):
        out = out.copy()  # a view of the caller's array would let an edit of it change this Tensor
    out.setflags(False)  # write=False; positional, because numpy parses the keyword slowly (2x)
    result = _new(Tensor)
    result._data = out
    result.requires_grad = False
    result._grad = result._node = result._tangents = None
    if True in needs and _state.grad:
        result.requires_grad = True
        to_lock = None if user_arrays is None or not op.reads_inputs else _protect(operands, arrays, user_arrays)
        if to_lock is None:
            result._node = _Node(op, operands, arrays, out, params, needs)
        else:  # the graph keeps the caller's large arrays: they stay read-only while it lives
            result._node = engine.LockingNode(op, operands, arrays, out, params, needs, to_lock)
    if _state.observers:  # tools watching (explain, anomaly detection, sites, compile): off, one check
        _observed(op, operands, arrays, result, params)  # before the tangents, which use the output
    if has_tangents:
        forward.propagate(op, operands, result, params, TensorNS)
    return result


def as_tensor(x, opname="as_tensor"):
    """``x`` itself if it is a Tensor, else a constant Tensor holding a copy of it (a list holding
    Tensors: their differentiable stack)."""
    if isinstance(x, Tensor):
        return x
    if _contains_tensor(x):
        return _stack_nested(x)
    return Tensor._wrap(to_float_array(x, opname))


def _constant_tensor(array):
    copy = np.array(array)
    if _state.tracer is not None:  # tm.compile reads the caller's array itself at replay, not this copy
        _state.tracer.copied(array, copy)
    return Tensor._wrap(copy)


# ---------------------------------------------------------------- values out of a traced computation


def _refuse_if_traced(tensor, what):
    """Raise if ``tensor`` carries the derivative of a running transform (its value would be used as a
    constant, silently dropping that derivative): the forward level it carries, or a reverse handle
    it depends on."""
    for record in reversed(_state.transforms):
        traced = (
            (record.level is not None and tensor._tangents is not None and record.level in tensor._tangents)
            or (record.handles and tensor.requires_grad
                and engine.reaches(tensor, record.handles, record.start))
        )
        if traced:
            raise TracedValueError(
                f"{what} of a Tensor that carries the derivative of tm.{record.name} (it depends on the "
                f"function's input): the value would be used as a constant and the derivative silently "
                "lost. Keep computing with Tensors (tm functions; comparisons such as t > 0 give masks "
                "for tm.where), or write t.detach().numpy() where the value is meant as a constant."
            )


_accumulate_lock = threading.Lock()
_NOT_AN_ARRAY = np.empty((), dtype=object)  # what scipy.sparse's product is shown (see foreign.py)


# ---------------------------------------------------------------- the class


class _ArrayUfunc:
    """``Tensor.__array_ufunc__``: the method for numpy (which looks it up on the type) and for
    everyone, except numpy's masked arrays deciding whether to defer (see ``foreign``)."""

    def __init__(self, method):
        self.method = method
        self.__doc__ = method.__doc__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self.method
        if foreign.asked_by_masked_array():
            return None
        return self.method.__get__(instance, owner)


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

    __slots__ = ("_data", "requires_grad", "_grad", "_node", "_tangents", "__weakref__")
    # numpy defers to Tensor's reflected operators, __array_ufunc__ and __array_function__.
    __array_priority__ = 1000
    __pandas_priority__ = 5000  # pandas' operators defer to ours: df + t is t.__radd__(df), a Tensor
    __hash__ = object.__hash__  # by identity, as PyTorch's (== is elementwise)

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data._values("tensor()")
        elif _contains_tensor(data):
            raise TypeError(
                "Tensor(): the list holds Tensors; tm.tensor(...) or tm.stack(...) stacks them "
                "differentiably"
            )
        self._data = to_float_array(data, "tensor", dtype)
        if _state.tracer is not None and not isinstance(data, (int, float, bool)):
            # made inside a step tm.compile traces: the replay reads the caller's array itself, not this copy
            _state.tracer.copied(data, self._data)
        self.requires_grad = bool(requires_grad)
        self._grad = None
        self._node = None
        self._tangents = None

    @classmethod
    def _wrap(cls, array):
        """A Tensor around a float array the library owns; no copy. The array is made read-only."""
        array.setflags(False)  # write=False (positional: faster)
        t = _new(cls)
        t._data = array
        t.requires_grad = False
        t._grad = None
        t._node = None
        t._tangents = None
        return t

    # -------------------------------------------------------------- data and gradient
    @property
    def data(self):
        """The values, as a read-only numpy array (the explicit escape hatch, as in PyTorch)."""
        if _state.tracer is not None:
            _state.tracer.read(self, "t.data")
        return self._data

    @data.setter
    def data(self, value):
        array = to_float_array(value._data if isinstance(value, Tensor) else value, "data")
        grad = self._grad
        if grad is not None and (array.shape != grad.shape or array.dtype != grad.dtype):
            raise ShapeError(
                f"data: the new array has shape {array.shape} and dtype {array.dtype}, but the accumulated "
                f"gradient has shape {grad.shape} and dtype {grad.dtype}; set t.grad = None first"
            )
        if _state.tracer is not None:  # before the change: the tracer reads what it replaces
            _state.tracer.rebind(self, value if isinstance(value, Tensor) else array)
        self._data = array

    def _set_grad(self, value):
        if _state.tracer is not None:
            _state.tracer.set_grad(self, value)
        if value is None:  # the common case (zeroing), first
            self._grad = None
            return
        if not isinstance(value, Tensor):
            raise TypeError(
                f"grad: assign None or a Tensor (of shape {self.shape}, dtype {self.dtype}), not "
                f"{type(value).__name__}; wrap an array with tm.tensor(...)"
            )
        if value.shape != self.shape or value.dtype != self.dtype:
            raise ShapeError(
                f"grad: a gradient of shape {value.shape} and dtype {value.dtype} does not fit a tensor "
                f"of shape {self.shape} and dtype {self.dtype}"
            )
        self._grad = value

    def _get_grad(self):
        grad = self._grad
        if _state.tracer is not None:  # tm.compile: what the step read, and when
            _state.tracer.read_grad(self, grad)
        return grad

    grad = property(_get_grad, _set_grad,
                    doc="The accumulated gradient (a Tensor of this tensor's shape and dtype), or None.")

    shape = property(lambda self: self._data.shape, doc="Shape, as numpy's.")
    ndim = property(lambda self: self._data.ndim, doc="Number of axes.")
    dtype = property(lambda self: self._data.dtype, doc="float64 or float32.")
    size = property(lambda self: self._data.size, doc="Number of elements.")

    @property
    def T(self):
        """All axes reversed, as numpy's ``.T`` (for a matrix, the transpose)."""
        return TensorNS.transpose(self)

    @property
    def mT(self):
        """The last two axes swapped: the transpose of each matrix in a stack."""
        return TensorNS.matrix_transpose(self)

    @property
    def is_leaf(self):
        """True when the tensor was made by the user, not by an op in a recorded graph."""
        return self._node is None

    @property
    def op(self):
        """Name of the op that made this tensor in the recorded graph, or None for a leaf."""
        return None if self._node is None else self._node.op.name

    @property
    def inputs(self):
        """The op's operands (Tensors, or the constants it used) in the recorded graph; () for a leaf
        or once backward() has released the graph."""
        node = self._node
        return () if node is None or node.inputs is None else tuple(node.inputs)

    @property
    def creation_site(self):
        """"file:line in function" of the user's code that made this tensor, when it was made under
        ``tm.track_sites()`` or ``tm.detect_anomaly()``; else None."""
        return None if self._node is None else observe.site_of(self._node)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed, as PyTorch's: it may return a
        replacement gradient. Returns a handle whose ``remove()`` takes the hook away.

        >>> import tinygrad_mat as tm
        >>> x = tm.tensor([1.0, 2.0], requires_grad=True)
        >>> y = x * 3
        >>> handle = y.register_hook(lambda g: g * 0)      # cut the gradient through y
        >>> (y.sum() + x.sum()).backward(); x.grad
        Tensor([1., 1.])
        """
        if not self.requires_grad:
            raise GraphError("register_hook: this tensor does not require grad, so no gradient reaches it")

        def on_gradient(g):
            seen = g if isinstance(g, Tensor) else Tensor._wrap(np.array(g))
            replaced = hook(seen)
            if replaced is None:
                return None
            replaced = replaced if isinstance(replaced, Tensor) else Tensor._wrap(np.array(replaced))
            if replaced.shape != seen.shape:
                raise ShapeError(f"register_hook: the hook returned shape {replaced.shape}, the gradient has {seen.shape}")
            return replaced if isinstance(g, Tensor) else replaced._data

        return observe.add_hook(self, on_gradient)

    def retain_grad(self):
        """Keep this intermediate's gradient in ``.grad`` after backward (leaves keep theirs anyway)."""
        if self._node is None:
            return
        if not self.requires_grad:
            raise GraphError("retain_grad: this tensor does not require grad")

        owner = weakref.ref(self)  # the hook table holds store: a strong reference would keep self alive

        def store(g):
            tensor = owner()
            if tensor is None:
                return
            g = g if isinstance(g, Tensor) else Tensor._wrap(np.array(g))
            tensor._grad = g if tensor._grad is None else Tensor._wrap(tensor._grad._data + g._data)

        observe.retain(self, store)

    # -------------------------------------------------------------- values out
    def _values(self, what):
        if _state.transforms and (self.requires_grad or self._tangents):
            _refuse_if_traced(self, what)
        if _state.tracer is not None:
            _state.tracer.read(self, what)
        return self._data

    def numpy(self):
        """The values as a numpy array (read-only; ``.copy()`` it to edit)."""
        return self._values("numpy()")

    def _scalar(self, what):
        data = self._values(what)
        if data.size != 1:
            raise ValueError(f"{what}: tensor has {data.size} elements, only a one-element tensor converts")
        return data.item()

    def item(self):
        """The value of a one-element tensor as a Python float."""
        return self._scalar("item()")

    def tolist(self):
        """The values as (nested) Python lists of floats."""
        return self._values("tolist()").tolist()

    def __float__(self):
        return self._scalar("float()")

    def __int__(self):
        return int(self._scalar("int()"))

    def __bool__(self):
        if self._data.size != 1:
            raise TypeError(
                f"the truth value of a Tensor with {self._data.size} elements is ambiguous; "
                "use (t > 0).any() or (t > 0).all()"
            )
        if _state.tracer is not None:
            _state.tracer.read(self, "bool()")
        return bool(self._data)  # control flow drops no derivative

    def __array__(self, dtype=None, copy=None):
        converter = foreign.conversion_by()  # None unless another array library is converting
        if converter is not None:
            if converter == "sparse product":  # scipy then returns NotImplemented: Tensor.__rmatmul__ runs
                return _NOT_AN_ARRAY
            if self.requires_grad or self._tangents:
                raise foreign.foreign_conversion_error(converter)
        data = self._values("np.asarray()")
        if dtype is None and not copy:
            return data
        return np.array(data, dtype=dtype, copy=True)

    def detach(self):
        """A new leaf sharing the values, cut from the graph and from any tangents."""
        if _state.tracer is not None:  # the same values as an op output: recorded as one
            return _state.tracer.detach(self, Tensor._wrap(self._data))
        return Tensor._wrap(self._data)

    def zero_grad(self):
        """Reset the accumulated gradient (same as ``t.grad = None``)."""
        if _state.tracer is not None:
            _state.tracer.set_grad(self, None)
        self._grad = None

    # -------------------------------------------------------------- numpy's protocols
    @_ArrayUfunc
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """``ndarray + Tensor``, ``np.exp(t)``, ``t > ndarray``: the op, a boolean mask, or an error."""
        if method == "__call__" and not kwargs:
            op = _UFUNC_OPS.get(ufunc)
            if op is not None:  # the common case, ``X @ w`` with X a numpy array: straight to the op
                inputs, params = op.prepare(*inputs)
                return apply(op, inputs, params)
        return numpy_protocol.array_ufunc(ufunc, method, inputs, kwargs, TensorNS)

    def __array_function__(self, func, types, args, kwargs):
        """``np.trace(t)``, ``np.linalg.inv(t)``, ...: the op if there is one, else a TypeError."""
        if not all(issubclass(t, (Tensor, np.ndarray)) for t in types):
            return NotImplemented
        return numpy_protocol.array_function(func, args, kwargs, TensorNS)

    # -------------------------------------------------------------- comparisons: masks, no gradient
    def _compare(self, other, ufunc):
        if not isinstance(other, (Tensor, np.ndarray, np.generic, int, float, bool, list, tuple)):
            return NotImplemented
        if _state.tracer is not None:
            _state.tracer.read(self, f"a comparison ({ufunc.__name__})")
        return ufunc(self._data, values_of(other))

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    # -------------------------------------------------------------- the Python protocols
    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __pos__(self):
        return self

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

    def __format__(self, spec):
        if spec and self._data.size == 1:
            return format(self._data.item(), spec)  # display only: no derivative is lost
        return format(repr(self), spec)

    # Copies: a leaf copies to a leaf; copying a non-leaf would copy its values without its graph, so
    # gradients through the copy could never reach the original's leaves: refused, as in PyTorch.
    def _copyable(self, what):
        if self._node is not None or self._tangents:
            source = f"the output of {self.op}" if self._node is not None else "carrying forward-mode tangents"
            raise GraphError(
                f"{what}: this Tensor is {source} in a recorded computation; a copy would drop its graph "
                f"and its gradient could not reach the leaves. Copy t.detach() (a leaf with the same values)"
            )

    def __copy__(self):
        self._copyable("copy.copy")
        return _rebuild(self._data, self.requires_grad, self._grad)

    def __deepcopy__(self, memo):
        self._copyable("copy.deepcopy")
        grad = None if self._grad is None else self._grad._data.copy()
        return _rebuild(self._data.copy(), self.requires_grad, grad)

    def __reduce_ex__(self, protocol):
        self._copyable("pickle")
        grad = None if self._grad is None else self._grad._data
        return _rebuild, (self._data, self.requires_grad, grad)

    # -------------------------------------------------------------- reverse mode
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Add d(self)/d(leaf) to ``.grad`` of every leaf that requires grad.

        For a scalar (size-1) tensor ``gradient`` may be omitted; otherwise pass the cotangent (same
        shape as self). Gradients accumulate across calls until reset with ``t.grad = None`` or
        ``tm.zero_grad``. The graph is released unless ``retain_graph``; ``create_graph`` records the
        backward pass so that the gradients can be differentiated again (and then keeps the graph
        unless ``retain_graph=False`` is given). Safe from several threads on separate graphs.

        >>> import tinygrad_mat as tm
        >>> x = tm.tensor(3.0, requires_grad=True)
        >>> (x * x).backward()
        >>> x.grad.item()
        6.0
        """
        if retain_graph is None:
            retain_graph = create_graph
        if not self.requires_grad:
            raise GraphError(
                "backward: this tensor does not require grad (no input of the computation that made it "
                "has requires_grad=True, or it was computed under no_grad())"
            )
        tracer = _state.tracer  # tm.compile records this pass (the rules it runs, what it accumulates)
        if tracer is not None:
            return tracer.run_backward(self, gradient, retain_graph, create_graph)
        seed = _seed(self, gradient, create_graph, "backward")
        if self._node is None:
            reached = {id(self): [self, seed, self._data]}
        else:
            reached = engine.propagate(self, seed, TensorNS if create_graph else namespaces.NUMPY,
                                       None, retain_graph, create_graph)
        _accumulate(list(reached.values()), create_graph)

    # -------------------------------------------------------------- in-place updates
    # They rebind to a new array, so a graph that saved the old one stays right.
    def _inplace(self, other, fn, symbol):
        if _state.grad and (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)):
            raise GraphError(
                f"in-place {symbol}: the operands require grad and grad mode is on; write the update "
                f"inside `with tm.no_grad():` (as in PyTorch), or use t = t {symbol[:-1]} ..."
            )
        if self._node is not None:
            raise GraphError(f"in-place {symbol}: tensor is the output of {self.op} in a recorded graph")
        value = fn(self, other)
        if value.shape != self.shape:
            raise ShapeError(f"in-place {symbol}: result shape {value.shape} differs from the tensor's {self.shape}")
        if _state.tracer is not None:  # before the change: the tracer reads what it replaces
            _state.tracer.rebind(self, value)
        self._data = value._data.astype(self.dtype, copy=False)
        self._data.setflags(write=False)
        return self


def _rebuild(data, requires_grad, grad):
    """A leaf with these values (unpickling and copies)."""
    t = Tensor._wrap(np.array(data))
    t.requires_grad = requires_grad
    if grad is not None:
        t._grad = Tensor._wrap(np.array(grad))
    return t


_ONES = {}


def _ones(shape, dtype):
    """A read-only array of ones, made once per (shape, dtype): the seed of a scalar's backward."""
    key = (shape, dtype)
    ones = _ONES.get(key)
    if ones is None:
        ones = np.ones(shape, dtype=dtype)
        ones.setflags(False)
        if len(_ONES) < 64:  # scalars and small outputs; never grows without bound
            _ONES[key] = ones
    return ones


def _seed(root, cotangent, create_graph, opname):
    """The cotangent of ``root``: ones for a size-1 output, else the given one, checked and copied."""
    if cotangent is None:
        if root._data.size != 1:
            raise GraphError(
                f"{opname}: the output has shape {root.shape}; without a cotangent only a scalar "
                f"(size-1) output can be differentiated; pass a cotangent of shape {root.shape}"
            )
        seed = _ones(root.shape, root.dtype)
    elif isinstance(cotangent, Tensor):
        seed = cotangent if create_graph else cotangent._data
    else:
        array = cotangent if type(cotangent) is np.ndarray else np.asarray(cotangent)
        if array.dtype.kind == "c":
            raise DTypeError(f"{opname}: a complex cotangent (dtype {array.dtype}) is not supported")
        if array.dtype.kind not in "fiub":
            raise DTypeError(f"{opname}: cotangent of dtype {array.dtype} is not a float array")
        seed = np.array(array, dtype=root.dtype)
        if _state.tracer is not None:  # tm.compile reads the caller's cotangent itself at replay, not this copy
            _state.tracer.copied(cotangent, seed)
    if seed.shape != root.shape:
        raise ShapeError(
            f"{opname}: cotangent has shape {tuple(seed.shape)}, but the output has shape {root.shape}"
        )
    if create_graph and not isinstance(seed, Tensor):
        seed = Tensor._wrap(seed)
    return seed


def _accumulate(reached, create_graph):
    """Add each leaf's cotangent into its ``.grad``: all checked first, then all written, under one
    lock, so that threads never lose an update and an error leaves no gradient half-updated."""
    if observe.hooked():  # a leaf's hooks see its whole gradient of this pass, before accumulation
        reached = [[leaf, _unwrapped(observe.run_hooks(leaf, g), create_graph), seen] for leaf, g, seen in reached]
    with _accumulate_lock:
        for leaf, g, seen in reached:  # every check before any write
            data = leaf._data
            if data is not seen and (g.shape != data.shape or g.dtype != data.dtype):
                raise GraphError(
                    f"backward: the gradient for a leaf of shape {data.shape} ({data.dtype}) has shape "
                    f"{g.shape} ({g.dtype}): the leaf's data was replaced after the forward pass"
                )
        for leaf, g, _ in reached:
            current = leaf._grad
            if create_graph:
                leaf._grad = g if current is None else current + g
                continue
            # Sharing one array between two leaves' .grad is safe: it is read-only, and the seed was
            # copied from the caller's cotangent, so no caller holds a writeable alias.
            total = g if current is None else current._data + g
            total.setflags(False)  # write=False (positional: faster)
            wrapped = _new(Tensor)
            wrapped._data = total
            wrapped.requires_grad = False
            wrapped._grad = wrapped._node = wrapped._tangents = None
            leaf._grad = wrapped


def _unwrapped(g, create_graph):
    """A hook's result as the engine carries it: an array, or a Tensor in a recorded pass."""
    if create_graph:
        return g if isinstance(g, Tensor) else Tensor._wrap(np.array(g))
    return g._data if isinstance(g, Tensor) else np.asarray(g)


def gradients(output, inputs, cotangent=None, retain_graph=None, create_graph=False, created_after=-1):
    """Cotangents of ``inputs`` (Tensors) for ``output``; no ``.grad`` is touched.

    Returns one entry per input: an array (a Tensor when ``create_graph``), or None where the input
    does not influence the output. ``created_after``: a node number taken before the inputs were made;
    the walk skips older nodes (a transform's function may use an outer graph).
    """
    if retain_graph is None:
        retain_graph = create_graph
    traced = _state.tracer is not None  # tm.compile: the pass runs as ops the tracer sees
    seed = _seed(output, cotangent, create_graph or traced, "grad")
    if not output.requires_grad:
        return [None] * len(inputs)
    if output._node is None:
        reached = {id(output): [output, seed, output._data]}
    else:
        reached = engine.propagate(output, seed, TensorNS if create_graph or traced else namespaces.NUMPY,
                                   inputs, retain_graph, create_graph, created_after, traced=traced)
    return [reached[id(t)][1] if id(t) in reached else None for t in inputs]


def _is_tensor(x):
    return isinstance(x, Tensor)


def _fixed_value(t):
    """t's values when a step tm.compile traces has them fixed (made from its own constants alone)."""
    tracer = _state.tracer
    if tracer is None or not isinstance(t, Tensor):
        return None
    return tracer.fixed_value(t)


TensorNS = namespaces.tensor_namespace(apply, as_tensor, _is_tensor, values, _constant_tensor, _fixed_value)
_UFUNC_OPS = {ufunc: REGISTRY[name] for ufunc, name in numpy_protocol.UFUNCS.items()}


# ---------------------------------------------------------------- methods and operators, from the records


def _method(fn, varargs):
    if varargs:  # x.reshape(2, 3) as well as x.reshape((2, 3)); x.transpose() reverses the axes
        def method(self, *args):
            if len(args) == 1 and isinstance(args[0], (tuple, list)):
                args = tuple(args[0])
            return fn(self, args if args else None)
    else:
        def method(self, *args, **kwargs):
            return fn(self, *args, **kwargs)
    return method


def _binary_operators(op):
    symbol = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "pow": "**", "matmul": "@", "mod": "%"}[op.dunder]

    def forward(self, other):
        if type(other) is int:  # x ** 2: a float here keeps apply on its fast path
            other = float(other)
        return apply(op, (self, other))

    def reflected(self, other):
        if type(other) is int:
            other = float(other)
        return apply(op, (other, self))

    function = getattr(TensorNS, op.name)

    def inplace(self, other):
        return self._inplace(other, function, symbol + "=")

    return {f"__{op.dunder}__": forward, f"__r{op.dunder}__": reflected, f"__i{op.dunder}__": inplace}


def _unary_operator(op):
    def operator(self):
        return apply(op, (self,))

    return {f"__{op.dunder}__": operator}


def _derived_members():
    members = {}
    for record in REGISTRY.values():
        fn = getattr(TensorNS, record.name)
        names = (record.method,) if isinstance(record.method, str) else (record.method or ())
        for name in names:
            method = _method(fn, record.method_varargs)
            method.__name__ = method.__qualname__ = name
            method.__doc__ = fn.__doc__
            members[name] = method
        if record.dunder in ("neg", "abs"):
            members.update(_unary_operator(record))
        elif record.dunder:
            members.update(_binary_operators(record))
    return members


for _name, _member in _derived_members().items():
    if _name in Tensor.__dict__:
        raise RuntimeError(f"Tensor.{_name} is defined by hand and by an op record")
    setattr(Tensor, _name, _member)
del _name, _member
