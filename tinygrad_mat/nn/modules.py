"""Modules: containers of parameters, as PyTorch's ``torch.nn``.

A ``Module`` registers, by attribute assignment, every leaf Tensor that requires grad (a parameter)
and every sub-module, so that ``parameters()``, ``named_parameters()``, ``zero_grad()``,
``state_dict()`` and ``load_state_dict()`` find them. ``Parameter(data)`` makes such a leaf.
"""
import math
from collections import OrderedDict

import numpy as np

from .. import functions as F
from .. import modes
from .. import random
from ..errors import ShapeError
from ..tensor import Tensor


def Parameter(data, dtype=None):
    """A leaf Tensor that requires grad, holding a copy of ``data`` (PyTorch's ``nn.Parameter``)."""
    return F.tensor(data, requires_grad=True, dtype=dtype)


class Module:
    """Base class: subclasses set parameters and sub-modules as attributes and define ``forward``.

    >>> import numpy as np, tinygrad_mat as tm
    >>> class Affine(tm.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = tm.nn.Parameter(np.ones(2))
    ...     def forward(self, x):
    ...         return x * self.scale
    >>> [name for name, _ in Affine().named_parameters()]
    ['scale']
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_version", 0)  # counts attribute assignments (tm.compile guards on it)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Tensor) and value.requires_grad and value.is_leaf:
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)
        object.__setattr__(self, "_version", self._version + 1)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)
        object.__setattr__(self, "_version", self._version + 1)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -------------------------------------------------------------- traversal
    def named_modules(self, prefix=""):
        """(dotted name, module) for this module and every sub-module, depth first."""
        yield prefix, self
        for name, module in self._modules.items():
            yield from module.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def children(self):
        return iter(self._modules.values())

    def named_parameters(self, prefix=""):
        """(dotted name, parameter) for every parameter, each once even if shared."""
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def zero_grad(self, set_to_none=True):
        """Reset every parameter's gradient (to None, or to zeros)."""
        for p in self.parameters():
            p.grad = None if set_to_none else F.tensor(np.zeros(p.shape, dtype=p.dtype))

    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    # -------------------------------------------------------------- saving and loading
    def state_dict(self):
        """{dotted name: a copy of the parameter's values}."""
        return OrderedDict((name, np.array(p.data)) for name, p in self.named_parameters())

    def load_state_dict(self, state_dict, strict=True):
        """Set the parameters' values from ``state_dict``; every key and shape is checked before any
        parameter changes. A parameter keeps its identity (an optimizer holding it stays valid)."""
        own = OrderedDict(self.named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        updates = []
        for name, p in own.items():
            if name not in state_dict:
                continue
            value = np.asarray(state_dict[name].data if isinstance(state_dict[name], Tensor) else state_dict[name])
            if value.shape != p.shape:
                raise ShapeError(f"load_state_dict: {name} has shape {p.shape}, the state gives {value.shape}")
            updates.append((p, value))
        for p, value in updates:
            p.grad = None
            p.data = value.astype(p.dtype)
        return missing, unexpected

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            lines.append(f"  ({name}): " + repr(m).replace("\n", "\n  "))
        return "\n".join(lines) + (")" if len(lines) == 1 else "\n)")

    def extra_repr(self):
        return ""


class Linear(Module):
    """y = x Wᵀ + b, with W of shape (out_features, in_features), as ``torch.nn.Linear``.

    Initialised as PyTorch does, uniform in ±1/√in_features for W and b, from ``tm.random``'s
    generator (``tm.random.seed`` makes it reproducible).

    >>> import tinygrad_mat as tm
    >>> tm.random.seed(0)
    >>> layer = tm.nn.Linear(3, 2)
    >>> layer(tm.zeros((5, 3))).shape, layer.weight.shape, layer.bias.shape
    ((5, 2), (2, 3), (2,))
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float64):
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear: in_features and out_features must be positive, got {in_features}, {out_features}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        bound = 1.0 / math.sqrt(in_features)
        self.weight = random.uniform(-bound, bound, (out_features, in_features), dtype=dtype, requires_grad=True)
        self.bias = random.uniform(-bound, bound, (out_features,), dtype=dtype, requires_grad=True) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Sequential(Module):
    """Modules applied in order, as ``torch.nn.Sequential``."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)


class _Activation(Module):
    function = None

    def forward(self, x):
        return type(self).function(x)


class ReLU(_Activation):
    """max(x, 0)."""
    function = staticmethod(F.relu)


class Sigmoid(_Activation):
    """1 / (1 + e⁻ˣ)."""
    function = staticmethod(F.sigmoid)


class Tanh(_Activation):
    """tanh(x)."""
    function = staticmethod(F.tanh)


class Softmax(Module):
    """softmax along ``dim`` (PyTorch's name for the axis)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)


class LogSoftmax(Softmax):
    """log_softmax along ``dim``."""

    def forward(self, x):
        return F.log_softmax(x, self.dim)
