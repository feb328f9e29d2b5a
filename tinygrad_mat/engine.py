"""The engine: the recorded node of an op, and the reverse walk over nodes.

It knows no op and no Tensor class. The tensor layer runs an op and records a ``Node``; reverse mode
visits the nodes in reverse creation order (a heap, no recursion, so a chain of any length works),
calls each op's ``vjp`` in the namespace it is given, checks what the rule returned, sums cotangents
back to their input's shape and dtype, and releases what the graph saved.

A "tensor" here is anything with ``_node``, ``_data`` and ``requires_grad``.
"""
import heapq
import itertools
import time

import numpy as np

from . import arraylock, modes, observe
from .errors import GraphError, RuleError, in_rule

_state = modes.state
# Every node gets the next number: a node depends only on nodes made before it, so descending
# numbers are a topological order of any graph.
_sequence = itertools.count()
# Takes a number (a C call, no Python frame): every node made after it compares greater.
next_sequence_number = _sequence.__next__


class Node:
    """What an op output remembers for backward: the op, its inputs, the arrays it saw.

    ``inputs`` are the op's operands after conversion (Tensors, or constant arrays and floats);
    ``saved`` holds the input arrays as they were at forward time (Tensor data is read-only, so they
    cannot change under the graph) and ``out`` the output array; ``needs`` says which inputs required
    grad then. A node never references its output Tensor, so graphs hold no reference cycles.
    """

    __slots__ = ("op", "inputs", "saved", "out", "params", "needs", "seq", "pending", "site")
    # ``site`` is set only under tm.track_sites() / tm.detect_anomaly(): an unset slot costs nothing.
    locks = None

    def __init__(self, op, inputs, saved, out, params, needs):
        self.seq = next(_sequence)
        self.op = op
        self.inputs = inputs
        self.saved = saved
        self.out = out
        self.params = params
        self.needs = needs
        self.pending = None  # the cotangent summed so far, during one backward pass

class LockingNode(Node):
    """A node that saved numpy arrays the user passed in as constants: they stay read-only
    (``arraylock``) until the node is released or garbage collected."""

    __slots__ = ("locks",)

    def __init__(self, op, inputs, saved, out, params, needs, constants):
        Node.__init__(self, op, inputs, saved, out, params, needs)
        locks = None
        for array in constants:
            taken = arraylock.lock(array)
            if taken is not None:
                locks = [taken] if locks is None else locks + [taken]
        self.locks = locks

    def unlock(self):
        locks, self.locks = self.locks, None
        for taken in locks or ():
            arraylock.unlock(taken)

    def __del__(self):
        for taken in self.locks or ():
            arraylock.unlock(taken)


# ---------------------------------------------------------------- reverse mode


def _fit(xp, cotangent, like, opname, cotangents):
    """A cotangent checked and summed back to the shape of the input ``like``, in its dtype."""
    position = next(i for i, c in enumerate(cotangents) if c is cotangent)  # for the messages only
    shape = getattr(cotangent, "shape", None)
    if shape is None:
        raise RuleError(
            f"{opname} (backward): the rule returned {type(cotangent).__name__} for input {position}, "
            "not an array"
        )
    if cotangent.dtype.kind != "f":
        raise RuleError(
            f"{opname} (backward): the rule returned a cotangent of dtype {cotangent.dtype} for input "
            f"{position}; cotangents are float arrays"
        )
    if shape != like.shape:
        try:
            cotangent = xp.sum_to(cotangent, like.shape)
        except ValueError as error:
            raise RuleError(
                f"{opname} (backward): cotangent of shape {shape} does not fit input {position} "
                f"of shape {like.shape}"
            ) from error
    if cotangent.dtype != like.dtype:
        cotangent = xp.astype(cotangent, like.dtype)
    return cotangent


def _check_not_rebound(tensor, node):
    """create_graph uses the input Tensors themselves: their data must still be what was saved."""
    for parent, saved in zip(node.inputs, node.saved):
        if getattr(parent, "_data", saved) is not saved:
            raise GraphError(
                f"{node.op.name} (backward): an input's data was replaced (t.data = ...) after the "
                "graph saved it; the gradient would use the new values"
            )
    if tensor._data is not node.out:
        raise GraphError(f"{node.op.name} (backward): its output's data was replaced after the forward pass")


def released_error(node):
    return GraphError(
        f"backward: the graph through {node.op.name} was already released by an earlier "
        "backward(); pass retain_graph=True to the first backward() to run it twice"
    )


def _watched_rule(observers, node, tensor, xp, g, inputs, out, needs):
    """A rule run with observers watching: timed, and shown to each."""
    op, params = node.op, node.params or {}
    started = time.perf_counter()
    try:
        cotangents = op.vjp(xp, g, inputs, out, needs, **params)
    except Exception as error:
        raise in_rule(op.name, "backward", error) from error
    seconds = time.perf_counter() - started
    for observer in observers:
        observer.backward(node, tensor, g, cotangents, seconds)
    return cotangents


def propagate(root, seed, xp, targets=None, retain_graph=False, create_graph=False, created_after=-1,
              traced=False):
    """Push ``seed`` from ``root`` back through the graph, running rules in namespace ``xp``.

    ``traced``: the rules get the input Tensors and run in the Tensor namespace ``xp`` without
    recording a graph, so that every step of the pass is an op a watching tracer sees (tm.compile).

    Returns {id: [tensor, cotangent, the array it saw at forward time]} for every leaf requiring grad
    that was reached (``targets`` None), or for every target reached. With ``targets``, nodes made
    before ``created_after`` are not entered: they cannot lead to the targets.

    The next node is always the pending one made last (a heap on creation numbers); when only one
    node is pending (a chain), it is taken directly, without the heap.
    """
    target_ids = () if targets is None else {id(t) for t in targets}
    floor = created_after
    if root._node.inputs is None:
        raise released_error(root._node)
    root._node.pending = seed
    heap = []
    tensor = root
    following = None
    reached = {}
    observers = _state.observers  # tools watching (explain, anomaly): empty, nothing more is done
    hooks = observe.hooked()
    grad_mode = _state.grad
    _state.grad = create_graph  # a recorded backward records; a plain one must not
    try:
        while tensor is not None:
            node = tensor._node
            g = node.pending
            node.pending = None
            if hooks:  # the gradient of an intermediate: its hooks may replace it, retain_grad keeps it
                g = observe.run_hooks(tensor, g)
            parents = node.inputs
            if targets is None:
                needs = node.needs
            else:
                if id(tensor) in target_ids:
                    reached[id(tensor)] = [tensor, g, node.out]
                needs = tuple([
                    need and (id(p) in target_ids or (p._node is not None and p._node.seq > floor))
                    for p, need in zip(parents, node.needs)
                ])
            if True in needs:  # a list (recorded at forward time) or a tuple
                if create_graph or traced:
                    _check_not_rebound(tensor, node)
                    inputs, out = parents, tensor
                else:
                    inputs, out = node.saved, node.out
                op = node.op
                if observers:
                    cotangents = _watched_rule(observers, node, tensor, xp, g, inputs, out, needs)
                else:
                    try:
                        params = node.params
                        if params:
                            cotangents = op.vjp(xp, g, inputs, out, needs, **params)
                        else:
                            cotangents = op.vjp(xp, g, inputs, out, needs)
                    except Exception as error:
                        raise in_rule(op.name, "backward", error) from error
                if len(cotangents) != len(parents):
                    raise RuleError(
                        f"{op.name} (backward): the rule returned {len(cotangents)} cotangents for "
                        f"{len(parents)} inputs"
                    )
                for parent, like, cotangent, need in zip(parents, node.saved, cotangents, needs):
                    if not need:
                        continue
                    if cotangent is None:  # the rule's zero symbol: the input still gets its (zero) gradient
                        cotangent = xp.constant(np.zeros(like.shape, dtype=like.dtype))
                    # Builtin dtypes are singletons, so `is not` is a cheap first test; _fit checks exactly.
                    try:
                        fits = cotangent.shape == like.shape and cotangent.dtype is like.dtype
                    except AttributeError:  # not an array at all: _fit says so
                        fits = False
                    if not fits:
                        cotangent = _fit(xp, cotangent, like, op.name, cotangents)
                    parent_node = parent._node
                    if parent_node is not None:
                        if parent_node.pending is None:
                            if parent_node.inputs is None:
                                raise released_error(parent_node)
                            parent_node.pending = cotangent
                            if following is None and not heap:
                                following = parent
                            else:
                                heapq.heappush(heap, (-parent_node.seq, parent))
                        else:
                            parent_node.pending = parent_node.pending + cotangent
                        continue
                    key = id(parent)
                    if key in reached:
                        reached[key][1] = reached[key][1] + cotangent
                    else:
                        reached[key] = [parent, cotangent, like]
            if not retain_graph:  # release, inline: this loop is hot
                node.inputs = node.saved = node.out = None
                if node.locks:
                    node.unlock()
            if following is not None:
                if heap:  # others became pending too: the one made last goes first
                    tensor = heapq.heappushpop(heap, (-following._node.seq, following))[1]
                else:
                    tensor = following
                following = None
            else:
                tensor = heapq.heappop(heap)[1] if heap else None
    finally:
        _state.grad = grad_mode
        for _, left in heap:  # left over only when a rule raised
            left._node.pending = None
        if following is not None:
            following._node.pending = None
    return reached


def reaches(tensor, target_ids, created_after):
    """True when ``tensor`` depends, through the recorded graph, on a tensor whose id is in
    ``target_ids``; nodes made before ``created_after`` are not entered. (No recursion.)"""
    stack, seen = [tensor], set()
    while stack:
        t = stack.pop()
        if id(t) in target_ids:
            return True
        node = t._node
        if node is None or node.seq < created_after or id(node) in seen or node.inputs is None:
            continue
        seen.add(id(node))
        stack.extend(p for p, need in zip(node.inputs, node.needs) if need)
    return False
