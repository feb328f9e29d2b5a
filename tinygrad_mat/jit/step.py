"""``tm.compile``: trace a training step once per kind of call, replay it after.

A call's key holds what a trace depends on that is cheap to see: grad mode, the structure of the
arguments, each array's shape and dtype, each Tensor's requires_grad, which arguments are the same
object, and Python scalars (by value; 0.0 and -0.0 apart). Under a key, a trace applies only while its
guards hold: its bindings (shapes and dtypes of the data, gradients and state it reads), the options
it baked in, the values it read, and the optimizers' parameter lists. Otherwise the step is traced
again (a bounded number of traces is kept). A step that cannot be replayed raises a CompileError and
leaves everything as it was before the call.
"""
import builtins
import functools
import math
import warnings
from collections import OrderedDict

import numpy as np

from .. import modes, observe
from ..errors import CompileError
from ..tensor import Tensor
from . import numba_backend, numpy_backend, rewrite
from .trace import Tracer

_state = modes.state
MAX_KEYS = 32         # kinds of call remembered (least recently used forgotten first)
TRACES_PER_KEY = 8    # traces kept for one kind of call (they differ in what they guard on)
WARN_AFTER = 16       # traces of one step before a warning says why it keeps tracing


def _flatten(obj, leaves, key):
    """Append the Tensors and arrays of ``obj`` (nested lists, tuples, dicts) to ``leaves`` and what a
    trace depends on to ``key``."""
    if isinstance(obj, Tensor):
        leaves.append(obj)
        key.append(("T", obj._data.shape, obj._data.dtype.str, obj.requires_grad))
    elif type(obj) is np.ndarray:
        leaves.append(obj)
        key.append(("A", obj.shape, obj.dtype.str))
    elif type(obj) in (list, tuple):
        key.append((type(obj), len(obj)))
        for item in obj:
            _flatten(item, leaves, key)
    elif type(obj) is dict:
        key.append((dict, tuple(obj)))
        for item in obj.values():
            _flatten(item, leaves, key)
    elif type(obj) is float:
        key.append((float, obj, math.copysign(1.0, obj)))  # 0.0 and -0.0 are different steps
    elif obj is None or isinstance(obj, (bool, int, complex, str, np.generic)):
        key.append((type(obj), obj))
    else:
        key.append(("object", id(obj)))  # by identity (a model, an optimizer): kept alive by the trace


def _rebuild(obj, leaves):
    if isinstance(obj, Tensor) or type(obj) is np.ndarray:
        return next(leaves)
    if type(obj) in (list, tuple):
        return type(obj)(_rebuild(item, leaves) for item in obj)
    if type(obj) is dict:
        return {k: _rebuild(v, leaves) for k, v in obj.items()}
    return obj


def _same(current, traced):
    if isinstance(traced, np.ndarray):
        current = np.asarray(current)
        return (current.shape == traced.shape and current.dtype == traced.dtype
                and np.array_equal(current, traced, equal_nan=traced.dtype.kind == "f"))
    return type(current) is type(traced) and current == traced


def _captured(fn):
    """(source reaching it, {placeholder: object}, the object) for what ``fn`` names: its closure cells
    and the globals its code names."""
    code, found = getattr(fn, "__code__", None), []
    if code is None:
        return found
    for cell in fn.__closure__ or ():
        try:
            found.append(("{cell}.cell_contents", {"cell": cell}, cell.cell_contents))
        except ValueError:  # an empty cell
            continue
    namespace = getattr(fn, "__globals__", {})
    for name in code.co_names:
        if name in namespace:
            found.append((f"{{ns}}.get({name!r})", {"ns": namespace}, namespace[name]))
    return found


def capture_guards(fn, tracer):
    """Guards on what ``fn`` names (``_captured``): a replay holds while each name still means the same
    array, Tensor, model or optimizer (an integer or boolean array with the same values: numpy code may
    read labels and masks; a float array is used by reference, so an edit in place reaches the replay),
    the same number, and each model has had no attribute reassigned."""
    from ..nn.modules import Module
    from ..optim.optimizer import Optimizer

    for source, objects, obj in _captured(fn):
        if isinstance(obj, (np.ndarray, Tensor, Module, Optimizer)):
            tracer.guard(f"{source} is {{obj}}", obj=obj, **objects)
            if isinstance(obj, np.ndarray) and obj.dtype.kind not in "fc":
                tracer.guard("_same({obj}, {v})", obj=obj, v=np.array(obj))
            if isinstance(obj, Module):
                for module in obj.modules():
                    tracer.guard(f"{{m}}._version == {module._version}", m=module)
        elif type(obj) in (float, int, bool) or isinstance(obj, (np.floating, np.integer, np.bool_)):
            tracer.guard(f"_scalar_key({source}) == {{v}}", v=_scalar_key(obj), **objects)


def _scalar_key(value):
    if type(value) in (float, int) or isinstance(value, (np.floating, np.integer)):  # -0.0 is not 0.0
        return (type(value), value, math.copysign(1.0, value))
    return (type(value), value)


def _fits(value, shape, dtype):
    return type(value) is np.ndarray and value.shape == shape and value.dtype == dtype and value.flags.writeable


def _is_count(value):
    return value is not None and not isinstance(value, np.ndarray)


_ABSENT = object()


def _options(optimizer, index, keys):
    """A group's options named by ``keys`` (a guard compares them with their traced values), or None."""
    groups = optimizer.param_groups
    if len(groups) <= index:
        return None
    group = groups[index]
    return [group.get(key, _ABSENT) for key in keys]


def _guard_function(guards):
    """One Python function checking every guard of a trace (``Tracer.guard``): no call per guard."""
    from .trace import _parameter_lists

    scope = {"_same": _same, "_scalar_key": _scalar_key, "_fits": _fits, "_is_count": _is_count, "_options": _options,
             "_parameter_lists": _parameter_lists, "_EMPTY": {}}
    names, terms = {}, []
    for expression, objects in guards:
        placeholders = {}
        for placeholder, obj in objects.items():
            if id(obj) not in names:
                names[id(obj)] = f"G{len(names)}"
                scope[names[id(obj)]] = obj
            placeholders[placeholder] = names[id(obj)]
        terms.append(f"({expression.format(**placeholders)})")
    source = "def holds(leaves):\n    return (" + ("\n            and ".join(terms) or "True") + ")\n"
    exec(builtins.compile(source, "<tm.compile guards>", "exec"), scope)
    return scope["holds"], source


class Trace:
    """One traced step: its tape, its replay, and the guards that say when it applies."""

    def __init__(self, tracer, replay, source):
        self.tape, self.replay, self.source = tracer.tape, replay, source
        guards = [b.guard() for b in tracer.bindings.values()]
        guards = [g for g in guards if g is not None] + tracer.guards
        guards.sort(key=lambda g: "_same" in g[0])  # the cheap checks first
        self.holds, self.guard_source = _guard_function(guards)
        self.alive = tracer.alive


class Compiled:
    """A step compiled by ``tm.compile``: call it as the step; ``print`` it to see its tape."""

    def __init__(self, fn, backend="numpy"):
        if backend not in ("numpy", "numba"):
            raise ValueError(f"compile: backend must be 'numpy' or 'numba', not {backend!r}")
        self.fn, self.backend = fn, backend
        self.traces = OrderedDict()  # key -> [Trace], most recent first
        self.refused = {}  # key -> the CompileError of a step the backend cannot write
        self.trace_count = 0
        self.last = None
        self._warned = False
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        leaves, key = [], [_state.grad]
        for a in args:  # the common case, arrays and Tensors only, without the general walk
            kind = type(a)
            if kind is np.ndarray:
                leaves.append(a)
                key.append(("A", a.shape, a.dtype.str))
            elif kind is Tensor:
                leaves.append(a)
                key.append(("T", a._data.shape, a._data.dtype.str, a.requires_grad))
            else:
                leaves, key = [], [_state.grad, "general"]
                _flatten((args, kwargs), leaves, key)
                break
        else:
            if kwargs:
                key.append("keywords")
                _flatten(kwargs, leaves, key)
        if len(leaves) > 1:  # which are the same object
            first = {}
            key.append(tuple([first.setdefault(id(x), i) for i, x in enumerate(leaves)]))
        key = tuple(key)
        if _state.tracer is not None or _state.observers or _state.transforms or observe.hooked():
            return self.fn(*args, **kwargs)  # inside a trace, a transform or a tool: the eager step, as is
        if key in self.refused:
            raise self.refused[key]
        traces = self.traces.get(key)
        if traces is not None:
            self.traces.move_to_end(key)
            for trace in traces:
                if trace.holds(leaves):
                    return trace.replay(leaves)
        return self._trace(args, kwargs, leaves, key)

    def _trace(self, args, kwargs, leaves, key):
        self.trace_count += 1
        if self.trace_count > WARN_AFTER and not self._warned:
            self._warned = True
            warnings.warn(
                f"tm.compile({getattr(self.fn, '__name__', 'step')}): traced {self.trace_count} times; every new kind "
                "of call (argument shapes, dtypes, Python scalars) and every change of what a trace guards on "
                "(values it read, options, state) traces it again. print(step) shows the last tape.",
                RuntimeWarning, stacklevel=3)
        for a in leaves:
            if isinstance(a, Tensor) and a._node is not None:
                raise CompileError(f"compile: an argument was made by {a._node.op.name} with a live graph; the replay "
                                   "builds no graph: pass a leaf (x.detach(), or a Tensor you created)")
        # float arrays reach the step as constant Tensors, so that a read of their values is seen
        given = [Tensor(a) if type(a) is np.ndarray and a.dtype.char in "fd" else a for a in leaves]
        tracer = Tracer(given, leaves)
        capture_guards(self.fn, tracer)
        call_args, call_kwargs = _rebuild((args, kwargs), iter(given))
        previous = (_state.tracer, _state.observers)
        _state.tracer, _state.observers = tracer, previous[1] + (tracer,)
        try:
            output = self.fn(*call_args, **call_kwargs)
            tracer.tape.output = tracer.output(output)
        except CompileError:
            _state.tracer, _state.observers = previous
            tracer.restore()  # a refused step leaves parameters, gradients and state as they were
            raise
        finally:
            _state.tracer, _state.observers = previous
        rewrite.simplify(tracer.tape)
        backend = numba_backend if self.backend == "numba" else numpy_backend
        try:
            replay, source = backend.build(tracer.tape, [isinstance(a, Tensor) for a in leaves])
        except CompileError as error:  # this backend cannot write the step: nothing applied, and said on every such call
            tracer.restore()
            self.refused[key] = CompileError(f"{error}. (Nothing was applied; calls of this kind raise this error "
                                             "without running the step.)")
            raise self.refused[key] from None
        trace = Trace(tracer, replay, source)
        kept = self.traces.setdefault(key, [])
        kept.insert(0, trace)
        del kept[TRACES_PER_KEY:]
        self.traces.move_to_end(key)
        while len(self.traces) > MAX_KEYS:
            self.traces.popitem(last=False)
        self.last = trace
        return output

    @property
    def tape(self):
        """The last trace's tape (``print`` shows it as a jaxpr-like listing)."""
        return None if self.last is None else self.last.tape

    @property
    def source(self):
        """The Python source of the last trace's replay."""
        return None if self.last is None else self.last.source

    def __repr__(self):
        name = getattr(self.fn, "__name__", "step")
        kept = sum(map(len, self.traces.values()))
        lines = [f"tm.compile({name}, backend={self.backend!r}): {kept} trace(s) kept, {self.trace_count} traced call(s)"]
        if self.last is not None:
            lines.append(str(self.last.tape))
        return "\n".join(lines)


def compile(step=None, *, backend="numpy"):
    """Trace ``step`` (forward, backward, optimizer update) once per kind of call, replay it after.

    Returns a callable with the step's signature. Its results, the ``.grad`` it leaves on every leaf,
    the parameters it updates and the optimizer's state equal the eager step's.

    >>> import numpy as np, tinygrad_mat as tm
    >>> w = tm.zeros(3, requires_grad=True)
    >>> opt = tm.optim.SGD([w], lr=0.1)
    >>> @tm.compile
    ... def step(X, y):
    ...     opt.zero_grad()
    ...     loss = tm.nn.functional.mse_loss(X @ w, y)
    ...     loss.backward()
    ...     opt.step()
    ...     return loss
    >>> X, y = np.eye(3), np.ones(3)
    >>> print([f"{step(X, y).item():.4f}" for _ in range(3)])     # traced, then replayed
    ['1.0000', '0.8711', '0.7588']
    """
    if step is None:
        return functools.partial(compile, backend=backend)
    return Compiled(step, backend)
