"""What an op record provides, the structures an op can declare, and the registry of all records.

An op is one record (a class, registered once): its public name and Tensor method, the numpy
functions that dispatch to it, ``prepare`` (the public signature: checks and normalises the
arguments into inputs and parameters), ``forward`` on numpy arrays, ``vjp`` (reverse rule), ``jvp``
(forward rule), and both rules as text in matrix notation with the source of the formula. Everything
else (``tm.<name>``, ``Tensor.<method>``, numpy's ``__array_function__`` table, the README's op
table, the namespaces rules run in) is derived from the records.

Rules are written against a namespace ``xp`` that has one function per record, with the record's
public signature: numpy arrays in and out on the fast path of ``backward()`` (``xp.sum(g, axis)`` is
numpy), recorded Tensors for ``create_graph=True`` and forward mode. One rule serves all three.

Conventions of the rules (stated once, here):
  * a gradient has the shape of its input and dL = tr(Ḡᵀ dX) (denominator layout);
  * ``g`` is the cotangent Z̄ of the output Z; a rule may return a cotangent with the output's
    broadcast shape: the engine sums it back to the input's shape;
  * ``needs[i]`` says whether input i wants a cotangent; a rule returns None for the others (None is
    the zero symbol, never a materialised array); in ``jvp`` a tangent of None is zero;
  * rules never see a Python list or int: the tensor layer converts constants once, before ``forward``.

Declared structure, so that fewer rules are written by hand (as JAX's ``deflinear``/``defbilinear``):
  * ``Elementwise``: Z = f(X) entry by entry; write f′ only (``derivative``).
  * ``Linear``: linear in every input; write the transpose (``vjp``) only: the forward rule is the
    op itself applied to the tangents.
  * ``Bilinear``: linear in each of two inputs (mul, matmul); write the two transposes (``vjp``):
    the forward rule f(Ȧ, B) + f(A, Ḃ) follows.
  * ``Composite``: not a primitive; ``compute`` builds it from other records' functions, so its
    derivatives are those of its pieces.
"""
import math
import operator

import numpy as np

from .. import modes
from ..errors import ShapeError, SingularMatrixError

REGISTRY = {}


def register(record_class):
    """Class decorator: instantiate the record once and list it in ``REGISTRY`` by name."""
    record = record_class()
    if record.name in REGISTRY:
        raise ValueError(f"op {record.name!r} registered twice")
    REGISTRY[record.name] = record
    return record_class


class Record:
    """What every record has: names, the public signature (``prepare``), numpy dispatch."""

    name = None          # registry key; also the public name tm.<name> unless ``public`` says otherwise
    public = True        # False: internal (no tm.<name>, still in every xp namespace)
    method = None        # name of the Tensor method, or None
    method_varargs = False  # x.reshape(2, 3) as well as x.reshape((2, 3))
    dunder = None        # Python operator: "add" gives __add__, __radd__ and __iadd__; "neg" gives __neg__
    numpy = {}           # {numpy function: {numpy's defaults that differ from ours}} dispatching here
    ufunc = None         # the numpy ufunc that dispatches here (np.exp(t))

    def prepare(self, x):
        """The public signature: check and normalise the arguments into (inputs, params)."""
        return (x,), {}

    def is_identity(self, inputs, params):
        """True when the call would return its first input unchanged (reshape to the same shape, ...)."""
        return False

    def sparse_form(self, ns, args, params):
        """This op on ``args`` where one is a scipy.sparse matrix (``ops/sparse.py``), in namespace
        ``ns``; None when the op has no sparse form (the caller then says what to write)."""
        return None


class Op(Record):
    """A primitive: forward on numpy arrays, reverse and forward rules, and their text."""

    vjp_text = ""
    jvp_text = ""
    source = ""  # where the formula comes from, for a reader to check
    reads_inputs = True  # the rules read input values (so a constant input must be kept safe)

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def vjp(self, xp, g, inputs, out, needs, **params):
        raise NotImplementedError

    def jvp(self, xp, tangents, inputs, out, **params):
        raise NotImplementedError

    # Forward mode with a batch of tangents, each with a leading axis of B directions (jacfwd pushes
    # every basis direction in one pass): how ``jvp`` handles them.
    #   None       it does not: the engine calls it once per direction and stacks (always right);
    #   "leading"  as it stands (it broadcasts the tangents' leading axis through);
    #   "pad"      once each tangent is padded with 1-axes to the output's rank (broadcasting ops);
    #   "params"   (linear ops) the op applied to the tangents with ``batch_params``.
    # tests/test_rules.py checks every op's batched tangents against one direction at a time.
    batching = None

    def batch_mode(self, inputs, params):
        """``batching`` for these inputs (an op may handle a batch only for some shapes)."""
        return self.batching

    def batch_params(self, xp, tangents, params, shapes, batch):
        """For ``batching = "params"``: (the tangents, the params) that apply this linear op to a batch
        of tangents, each (batch, *shape of its input)."""
        raise NotImplementedError

    # Reverse mode with a batch of cotangents: Z̄ of shape (B, *shape of Z), B directions (jacrev, and
    # hessian as reverse over reverse, push every basis cotangent through one pass): how ``vjp``
    # handles them. Each input's cotangent comes back as (B, *its shape) or broadcasts to it after
    # the batch axis; the engine sums it back over the broadcast axes, never over the batch axis.
    #   None       it does not: the engine calls it once per direction and stacks (always right);
    #   "leading"  as it stands: it broadcasts Z̄'s leading axis through (elementwise and broadcasting
    #              ops, matrix ops that act on the last two axes of a stack);
    #   "params"   given the op's operands and output with a leading batch axis too (read-only views)
    #              and the params ``batch_params`` gives: the rule of the same op applied to a stack;
    #   "rule"     ``batched_vjp``, a rule written for the batch.
    # (Forward mode's "pad" has no reverse twin: Z̄ always has the output's full rank already.)
    # tests/test_batched_reverse.py checks every op's batched cotangents against one direction at a time.
    vjp_batching = None

    def vjp_batch_mode(self, inputs, params):
        """``vjp_batching`` for these inputs (an op may handle a batch only for some shapes)."""
        return self.vjp_batching

    def batched_vjp(self, xp, g, inputs, out, needs, **params):
        """For ``vjp_batching = "rule"``: the cotangents for a batch of output cotangents g (B, *shape)."""
        raise NotImplementedError

    # The numba backend of tm.compile writes each equation of a step's tape as numba source: the op's
    # forward only (the backward pass is made of the same primitives). None: this op has no lowering,
    # and the backend refuses the step, naming the op.
    lowering_limits = ""  # where a lowered op still has none (the op table's numba column says)
    lowering_is_numpy = False  # True: the lowering is plain numpy too, and the numpy backend writes it inline
    may_return_a_view = True  # the forward may give a view of an operand (tm.compile's buffer plan assumes it does)

    @property
    def lowered_op(self):
        """True when the numba backend can write this op (for some operands at least)."""
        return self.ufunc is not None or type(self).lower_forward is not Op.lower_forward

    def lower_forward(self, ins, inputs, params):
        """Numba source of the output, from the operands' source ``ins``, or None (not lowered). An op
        that is a numpy ufunc is numba's version of it."""
        if self.ufunc is not None and not params:
            return f"np.{self.ufunc.__name__}({', '.join(ins)})"
        return None

    def explain(self, error, arrays, params):
        """Turn a numpy error raised by ``forward`` into one that names this op and the shapes."""
        message = str(error)
        if isinstance(error, (ShapeError, SingularMatrixError)) or message.startswith(f"{self.name}:"):
            return error  # already names the op
        if isinstance(error, np.linalg.LinAlgError):
            if "ingular" in message:
                return SingularMatrixError(f"{self.name}: matrix is singular (shape {np.shape(arrays[0])})")
            return ShapeError(f"{self.name}: {message} (shapes {shapes_of(arrays)})")
        if "broadcast" in message:
            return ShapeError(f"{self.name}: shapes {shapes_of(arrays)} cannot be broadcast together")
        if isinstance(error, IndexError):
            return IndexError(f"{self.name}: {message} (shape {np.shape(arrays[0])})")
        if isinstance(error, TypeError):
            return TypeError(f"{self.name}: {message}")
        return ShapeError(f"{self.name}: {message} (shapes {shapes_of(arrays)})")

    def __repr__(self):
        return f"<op {self.name}: {self.vjp_text}; {self.jvp_text}>"


class Elementwise(Op):
    """Z = f(X) entry by entry. Give ``forward``, ``derivative`` (f′ at X, may use Z) and its text."""

    derivative_text = "f′(X)"

    @property
    def vjp_text(self):
        return f"X̄ = Z̄ ⊙ {self.derivative_text}"

    @property
    def jvp_text(self):
        return f"Ż = {self.derivative_text} ⊙ Ẋ"

    def derivative(self, xp, x, out):
        raise NotImplementedError

    # Numba source of f(X) for tm.compile's numba backend: "{x}" stands for X, "{sigmoid}" for the
    # sigmoid kernel of the operand's shape. None: not lowered.
    lowered = None

    def _lower(self, template, ins, inputs):
        sigmoid = "R.sigmoid_number" if shape_of(inputs[0]) == () else "R.sigmoid_array"
        return template.format(x=ins[0], sigmoid=sigmoid)

    @property
    def lowered_op(self):
        return self.lowered is not None or self.ufunc is not None

    def lower_forward(self, ins, inputs, params):
        if self.lowered is None:
            return Op.lower_forward(self, ins, inputs, params)
        return self._lower(self.lowered, ins, inputs)

    batching = "leading"  # f′(X) ⊙ Ẋ broadcasts a leading batch axis of Ẋ
    vjp_batching = "leading"  # and Z̄ ⊙ f′(X) one of Z̄

    def vjp(self, xp, g, inputs, out, needs):
        return (g * self.derivative(xp, inputs[0], out),)

    def jvp(self, xp, tangents, inputs, out):
        return tangents[0] * self.derivative(xp, inputs[0], out)


class Linear(Op):
    """Linear in every input. Give ``forward`` and ``vjp`` (the transpose); the forward rule is the op
    applied to the tangents, a missing (zero) tangent standing in as zeros. The rules read only the
    inputs' shapes, never their values."""

    reads_inputs = False

    @property
    def jvp_text(self):
        return f"Ż = {self.name}(Ẋ, …): the op itself on the tangents (linear)"

    def jvp(self, xp, tangents, inputs, out, **params):
        if all(t is None for t in tangents):
            return None
        filled = [np.zeros(np.shape(x), dtype=np.result_type(x)) if t is None else t
                  for t, x in zip(tangents, inputs)]
        return xp.apply(self, filled, params)


class Binary:
    """Mixin for an elementwise op of two broadcast operands: ``lowered`` is the numba source of the
    output ("{a}", "{b}" for the operands)."""

    lowered = None

    def lower_forward(self, ins, inputs, params):
        return None if self.lowered is None else self.lowered.format(a=ins[0], b=ins[1])

class Bilinear(Op):
    """Z = f(A, B), linear in A and in B. Give ``forward``, ``vjp`` (both transposes) and ``symbol``;
    the forward rule f(Ȧ, B) + f(A, Ḃ) follows."""

    symbol = "·"

    @property
    def jvp_text(self):
        s = f" {self.symbol} " if self.symbol else " "
        return f"Ż = Ȧ{s}B + A{s}Ḃ"

    def jvp(self, xp, tangents, inputs, out):
        (da, db), (a, b) = tangents, inputs
        left = None if da is None else xp.apply(self, (da, b), {})
        right = None if db is None else xp.apply(self, (a, db), {})
        return add_optional(left, right)


class Composite(Record):
    """Not a primitive: ``compute(xp, ...)`` builds it from other records' functions, so its
    derivatives are those of its pieces. ``text`` says how."""

    text = ""

    def compute(self, xp, *args, **kwargs):
        raise NotImplementedError


# ---------------------------------------------------------------- helpers for records


def add_optional(a, b):
    """a + b where None stands for zero."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def shapes_of(arrays):
    return " and ".join(str(np.shape(a)) for a in arrays)


def is_tensor(x):
    """True for a tinygrad_mat Tensor (ops know Tensors only by this attribute, never by import)."""
    return hasattr(x, "requires_grad") and hasattr(x, "_tangents")


def values_of(x):
    """The values where an op takes values, never derivatives (a mask, an index): a Tensor's data
    as it is (a mask has no derivative to lose), anything else as numpy sees it."""
    if is_tensor(x):
        if modes.state.tracer is not None:
            modes.state.tracer.read(x, "a mask, an index or a check from its values")
        return x._data
    if isinstance(x, (list, tuple)):
        return [values_of(v) for v in x]
    return x


def shape_of(x):
    """The shape of a Tensor, array, number or (nested) list, without converting Tensors to arrays."""
    shape = getattr(x, "shape", None)
    if shape is not None:
        return tuple(shape)
    if isinstance(x, (list, tuple)):
        return (len(x),) + (shape_of(x[0]) if x else ())
    return ()


def ndim_of(x):
    return len(shape_of(x))


def dtype_of(x):
    dtype = getattr(x, "dtype", None)
    return dtype if dtype is not None else np.dtype(np.float64)


def normalize_axes(axis, ndim, opname):
    """None, or a sorted tuple of distinct non-negative axes; a clear error otherwise."""
    if axis is None:
        return None
    raw = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = []
    for a in raw:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            raise ShapeError(f"{opname}: axis {a} is out of range for a tensor with {ndim} axes")
        axes.append(operator.index(a) % ndim)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{opname}: repeated axis in {axis}")
    return tuple(sorted(axes))


def normalize_axis(axis, ndim, opname):
    """One axis as a non-negative int."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ShapeError(f"{opname}: axis {axis} is out of range for a tensor with {ndim} axes")
    return operator.index(axis) % ndim


def require_square(name, x):
    if x.ndim < 2:
        raise ShapeError(f"{name}: needs a matrix (at least 2-D), got shape {x.shape}")
    if x.shape[-1] != x.shape[-2]:
        raise ShapeError(f"{name}: needs square matrices in the last two axes, got shape {x.shape}")


def keepdims_shape(in_shape, axis):
    """The shape a reduction over ``axis`` (a tuple or None) gives with keepdims=True."""
    if axis is None:
        return (1,) * len(in_shape)
    return tuple(1 if i in axis else n for i, n in enumerate(in_shape))


def axes_after_batch(axis, ndim):
    """Reduction axes (None: all) of an operand with ``ndim`` axes, for the same operand behind a
    leading batch axis."""
    return tuple(range(1, ndim + 1)) if axis is None else tuple(a + 1 for a in axis)


def index_after_batch(index):
    """An index as it applies behind a leading batch axis."""
    return (slice(None),) + (index if isinstance(index, tuple) else (index,))


def array_parts(index):
    """How many integer or boolean arrays an index holds (numpy moves the result's axes of several)."""
    return sum(isinstance(part, np.ndarray) for part in (index if isinstance(index, tuple) else (index,)))


def reduced_count(in_shape, axis):
    if axis is None:
        return math.prod(in_shape)
    return math.prod(in_shape[i] for i in axis)
