"""The recorded graph as data: ``tm.graph(y)`` lists the nodes behind y in topological order, prints
them as a small program, and writes Graphviz DOT (rendered by the optional ``graphviz`` package)."""
import contextlib

import numpy as np

from .. import modes, observe
from ..tensor import Tensor


def _shape(x):
    return tuple(np.shape(getattr(x, "_data", x)))


class NodeView:
    """One recorded op: its number in the listing, op, the labels of its inputs, output shape and dtype,
    rule texts, creation site, and (after a captured backward pass) the cotangent that reached it."""

    def __init__(self, index, tensor, labels):
        node = tensor._node
        self.index, self.tensor, self.node = index, tensor, node
        self.op = node.op.name
        self.inputs = labels
        self.input_shapes = [_shape(x) for x in node.saved]
        self.shape, self.dtype = tensor.shape, tensor.dtype
        self.vjp_text, self.jvp_text = node.op.vjp_text, node.op.jvp_text
        self.site = observe.site_of(node)
        self.value = tensor._data
        self.cotangent = None

    def line(self, rules=False):
        args = ", ".join(f"{label} : {shape}" for label, shape in zip(self.inputs, self.input_shapes))
        text = f"%{self.index} = {self.op}({args}) -> {self.shape}"
        if rules:
            text += f"    # reverse: {self.vjp_text}   forward: {self.jvp_text}"
        return text


def op_outputs(root):
    """The op outputs behind ``root`` (a Tensor), in creation order: the order of the listing, so
    ``%k`` is the k-th of them everywhere (``tm.graph``, ``tm.explain``)."""
    tensors, stack, seen = [], [root], set()
    while stack:
        t = stack.pop()
        if id(t) in seen or t._node is None or t._node.inputs is None:
            continue
        seen.add(id(t))
        tensors.append(t)
        stack.extend(x for x in t._node.inputs if isinstance(x, Tensor))
    tensors.sort(key=lambda t: t._node.seq)
    return tensors


def _constant_label(value, named_constants):
    """A constant's name if the caller named it (the same array, or one with the same values: a small
    array is copied into the graph), else its value or shape."""
    value = np.asarray(value)
    for name, array in named_constants:
        if array is value or (array.shape == value.shape and np.array_equal(array, value)):
            return name
    return f"{float(value):g}" if value.size == 1 else f"const{value.shape}"


class Graph:
    """The nodes behind a Tensor, in topological order (see ``tm.graph``)."""

    def __init__(self, root, names=None):
        if not isinstance(root, Tensor):
            raise TypeError(f"graph: needs a Tensor, got {type(root).__name__}")
        if root._node is not None and root._node.inputs is None:
            raise ValueError("graph: this graph was already released by backward(); build the graph before "
                             "calling backward() (or pass retain_graph=True)")
        self.root = root
        self.leaves = {}  # id -> (label, tensor)
        names = names or {}
        named_constants = [(n, np.asarray(v)) for n, v in names.items() if not isinstance(v, Tensor)]
        names = {id(t): n for n, t in names.items() if isinstance(t, Tensor)}
        tensors = op_outputs(root)
        label_of = {}
        self.nodes = []
        for t in tensors:
            labels = []
            for x in t._node.inputs:
                if isinstance(x, Tensor) and x._node is not None:
                    labels.append(label_of[id(x)])
                elif isinstance(x, Tensor):
                    if id(x) not in self.leaves:
                        self.leaves[id(x)] = (names.get(id(x)) or f"{'p' if x.requires_grad else 'x'}{len(self.leaves)}", x)
                    labels.append(self.leaves[id(x)][0])
                else:
                    labels.append(_constant_label(x, named_constants))
            view = NodeView(len(self.nodes) + 1, t, labels)
            label_of[id(t)] = f"%{view.index}"
            self.nodes.append(view)

    def __len__(self):
        return len(self.nodes)

    def __iter__(self):
        return iter(self.nodes)

    def text(self, rules=False):
        """One line per node, like a program; with ``rules``, each line's reverse and forward rules."""
        lines = [f"{label} : {t.shape}{' (requires grad)' if t.requires_grad else ''}" for label, t in self.leaves.values()]
        return "\n".join(lines + [node.line(rules) for node in self.nodes])

    def __str__(self):
        return self.text()

    def __repr__(self):
        return f"<Graph: {len(self.nodes)} nodes, {len(self.leaves)} leaves>\n{self.text()}"

    # -------------------------------------------------------------- cotangents of a backward pass
    @contextlib.contextmanager
    def capture(self):
        """Record the cotangent that reaches each node during a backward pass inside the block.

        >>> import tinygrad_mat as tm
        >>> x = tm.tensor([1.0, 2.0], requires_grad=True)
        >>> y = (x * x).sum()
        >>> g = tm.graph(y, names={"x": x})
        >>> with g.capture():
        ...     y.backward()
        >>> [node.cotangent.tolist() for node in g]
        [[1.0, 1.0], 1.0]
        """
        by_node = {id(view.node): view for view in self.nodes}

        class Capture:
            def forward(self, op, inputs, arrays, result, params=None):
                pass

            def backward(self, node, tensor, g, cotangents, seconds):
                view = by_node.get(id(node))
                if view is not None:
                    view.cotangent = np.array(getattr(g, "_data", g))

            def tangent(self, op, inputs, out, tangent, level):
                pass

        with modes.observing(Capture()):
            yield self

    # -------------------------------------------------------------- Graphviz
    def to_dot(self, show_values=False, show_grads=False, show_rules=True):
        """Graphviz DOT source: leaves as ellipses, ops as boxes (with their rules, values, cotangents)."""
        def fmt(a):
            return np.array2string(np.asarray(a), precision=3, threshold=6, separator=", ").replace("\n", " ")

        def esc(text):
            return text.replace("\\", "\\\\").replace('"', '\\"')

        lines = ["digraph tinygrad_mat {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
        for label, t in self.leaves.values():
            body = f"{label}\\n{t.shape}" + (f"\\n{esc(fmt(t._data))}" if show_values else "")
            if show_grads and t.grad is not None:
                body += f"\\ngrad {esc(fmt(t.grad._data))}"
            style = ', style=filled, fillcolor="#dbe9f6"' if t.requires_grad else ""
            lines.append(f'  "{label}" [shape=ellipse, label="{body}"{style}];')
        for node in self.nodes:
            body = f"%{node.index} {node.op}\\n{node.shape}"
            if show_rules:
                body += f"\\n{esc(node.vjp_text)}\\n{esc(node.jvp_text)}"
            if show_values:
                body += f"\\nvalue {esc(fmt(node.value))}"
            if show_grads and node.cotangent is not None:
                body += f"\\ncotangent {esc(fmt(node.cotangent))}"
            lines.append(f'  "%{node.index}" [shape=box, label="{body}"];')
            for label in node.inputs:
                if label.startswith("%") or any(label == leaf for leaf, _ in self.leaves.values()):
                    lines.append(f'  "{label}" -> "%{node.index}";')
        lines.append("}")
        return "\n".join(lines)

    def render(self, path, **options):
        """Draw the graph to ``path`` (.svg, .png or .pdf) with Graphviz; ``options`` go to ``to_dot``."""
        source = self._graphviz_source(options)
        stem, _, fmt = str(path).rpartition(".")
        if fmt not in ("svg", "png", "pdf"):
            raise ValueError(f"render: the path must end in .svg, .png or .pdf, not {path!r}")
        try:
            source.render(outfile=str(path), format=fmt, cleanup=True)
        except Exception as error:
            if type(error).__name__ != "ExecutableNotFound":
                raise
            raise RuntimeError("render needs Graphviz's dot program (apt-get install graphviz, brew install "
                               "graphviz); g.to_dot() gives the DOT text without it") from error
        return str(path)

    def _graphviz_source(self, options):
        try:
            import graphviz
        except ImportError as error:
            raise ImportError("render needs the graphviz package and the dot program: pip install "
                              "tinygrad_mat[viz] and apt-get install graphviz (or brew install graphviz); "
                              "g.to_dot() gives the DOT text without them") from error
        return graphviz.Source(self.to_dot(**options))

    def _repr_svg_(self):
        try:
            return self._graphviz_source({}).pipe(format="svg").decode()
        except Exception:  # no Graphviz: the notebook falls back to the text
            return None

    def _repr_html_(self):
        svg = self._repr_svg_()
        if svg is not None:
            return svg
        return "<pre>" + self.text(rules=True).replace("&", "&amp;").replace("<", "&lt;") + "</pre>"


def graph(y, names=None):
    """The graph behind ``y`` as data: ``print(tm.graph(y))`` lists it like a program.

    ``names`` labels leaves and numpy constants ({"W": W, "X": X}); other leaves are p0, p1, …
    (requiring grad) or x0, x1, …, other constants their value or shape.

    >>> import numpy as np, tinygrad_mat as tm
    >>> X = tm.tensor(np.ones((50, 3))); W = tm.tensor(np.ones((3, 2)), requires_grad=True)
    >>> print(tm.graph((X @ W).sum(), names={"X": X, "W": W}))
    X : (50, 3)
    W : (3, 2) (requires grad)
    %1 = matmul(X : (50, 3), W : (3, 2)) -> (50, 2)
    %2 = sum(%1 : (50, 2)) -> ()
    """
    return Graph(y, names)
