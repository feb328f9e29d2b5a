"""The package's declared structure: layered imports, one record per op with every surface derived
from it, and an engine that checks what rules hand back."""
import ast
from pathlib import Path

import numpy as np
import pytest

import tinygrad_mat as tm
from tinygrad_mat import numpy_protocol
from tinygrad_mat.ops import REGISTRY, Composite, Op, Linear
from tinygrad_mat.tensor import Tensor, apply

ROOT = Path(__file__).resolve().parents[1]

# Lower layers first; a module may import only from its own layer or below (and never in a cycle).
LAYERS = [
    {"errors", "modes", "arraylock", "observe", "fastnp", "foreign"},
    {"kernels"},
    {"dispatch"},
    {"ops"},
    {"engine"},
    {"namespaces", "forward", "numpy_protocol"},
    {"tensor"},
    {"functions", "creation", "random"},
    {"functional", "jacobians", "custom", "compiler", "compile_numba", "compile_fusion"},
    {"nn", "optim", "data", "metrics", "linalg", "threads"},
    {"train", "sklearn", "inspection", "jit"},
    {"demo", "readme", "__init__", "__main__"},
]
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def modules():
    """{dotted module name: path} for the package and the kernels it installs as tinygrad_mat.kernels."""
    found = {}
    for path in (ROOT / "tinygrad_mat").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts)] = path
    for path in (ROOT / "kernels").glob("*.py"):
        found["tinygrad_mat.kernels." + path.stem] = path
    return found


def package_of(name, path):
    return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]


def imports_of(name, path):
    """The tinygrad_mat modules ``name`` imports, anywhere in the file (lazy imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = package_of(name, path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tinygrad_mat"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("tinygrad_mat"):
                continue
            for alias in node.names:  # `from . import engine` imports a module, `from .x import y` a name
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in ALL else target)
    return {m for m in found if m != name}


ALL = modules()
GRAPH = {name: imports_of(name, path) for name, path in ALL.items()}


def layer(module):
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    return LAYER_OF[key]


def test_every_module_has_a_layer():
    for module in ALL:
        assert layer(module) is not None, module


def test_the_import_graph_is_acyclic():
    state = {}

    def visit(m, path):
        state[m] = "open"
        for n in GRAPH.get(m, ()):
            if state.get(n) == "open":
                raise AssertionError("import cycle: " + " -> ".join(path + [n]))
            if n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in GRAPH:
        if m not in state:
            visit(m, [m])


def test_imports_point_down_the_layers():
    for module, targets in GRAPH.items():
        for target in targets:
            if target in ALL or target.rsplit(".", 1)[0] in ALL:
                assert layer(target) <= layer(module), f"{module} (layer {layer(module)}) imports {target}"


def test_kernels_engine_and_ops_import_only_what_they_may():
    for module, targets in GRAPH.items():
        if module.startswith("tinygrad_mat.kernels"):
            assert all(t.startswith("tinygrad_mat.kernels") for t in targets), (module, targets)
        if module == "tinygrad_mat.engine":
            assert not any(t.startswith("tinygrad_mat.ops") for t in targets), targets
        if module.startswith("tinygrad_mat.ops"):
            forbidden = ("engine", "tensor", "functions", "functional", "jacobians", "namespaces", "forward")
            assert not any(t.split(".")[1] in forbidden for t in targets if "." in t), (module, targets)


def test_no_module_assigns_into_another_modules_names():
    """``other.x = ...`` or ``setattr(Other, ...)`` on an imported name would hide a dependency."""
    for module, path in ALL.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imported.update((a.asname or a.name).split(".")[0] for a in node.names)
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                    assert target.value.id not in imported, f"{module}:{node.lineno} assigns into {target.value.id}"
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr" and node.args:
                first = node.args[0]
                assert not (isinstance(first, ast.Name) and first.id in imported), f"{module}:{node.lineno}"


# ---------------------------------------------------------------- one record per op, surfaces derived


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_surface_of_a_record_is_derived(name):
    record = REGISTRY[name]
    if record.public:
        fn = getattr(tm, name)
        assert fn.__doc__ == type(record).__doc__ and name in tm.__all__
    for method in ((record.method,) if isinstance(record.method, str) else (record.method or ())):
        assert callable(getattr(Tensor, method)), method
    for func in record.numpy:
        assert numpy_protocol.FUNCTIONS[func][0] == name
    if record.ufunc is not None:
        ufuncs = numpy_protocol.COMPOSITE_UFUNCS if isinstance(record, Composite) else numpy_protocol.UFUNCS
        assert ufuncs[record.ufunc] == name
    if isinstance(record, Op):
        assert record.vjp_text and record.jvp_text, "an op shows its rules"
        assert f"| {name} |" in tm.ops.rule_table()
    else:
        assert isinstance(record, Composite) and f"| {name} |" in tm.ops.composite_table()


def test_declared_structure_writes_fewer_rules():
    """Linear ops write no forward rule and elementwise ops write neither rule by hand."""
    from tinygrad_mat.ops import Elementwise

    for record in REGISTRY.values():
        if isinstance(record, Elementwise):
            assert "vjp" not in type(record).__dict__ and "jvp" not in type(record).__dict__, record.name
        if isinstance(record, Linear) and record.name not in ("add",):  # add's rule is a shortcut
            assert "jvp" not in type(record).__dict__, record.name


def test_help_lists_the_public_api():
    assert {"Tensor", "grad", "jvp", "hessian", "det", "where", "no_grad", "tensor"} <= set(tm.__all__)
    assert all(hasattr(tm, name) for name in tm.__all__)
    assert "alias" not in tm.__all__ and "cofactor_derivative" not in tm.__all__


# ---------------------------------------------------------------- the engine checks what rules return


class _Broken(Op):
    """An unregistered op whose rules misbehave in chosen ways."""

    name = "broken"
    vjp_text = jvp_text = "-"

    def __init__(self, mode):
        self.mode = mode

    def forward(self, x):
        return x * 2.0

    def vjp(self, xp, g, inputs, out, needs):
        return {
            "count": lambda: (g, g),
            "shape": lambda: (np.ones(7),),
            "type": lambda: (3.0,),
            "dtype": lambda: (np.ones(g.shape, dtype=np.int64),),
            "raise": lambda: (xp.inv(np.ones((2, 2))),),
        }[self.mode]()

    def jvp(self, xp, tangents, inputs, out):
        if self.mode == "raise":
            raise ValueError("bad tangent")
        return [1.0]


@pytest.mark.parametrize("mode, message", [
    ("count", r"broken \(backward\): the rule returned 2 cotangents for 1 inputs"),
    ("shape", r"broken \(backward\): cotangent of shape \(7,\) does not fit input 0 of shape \(3,\)"),
    ("type", r"broken \(backward\): the rule returned float for input 0, not an array"),
    ("dtype", r"broken \(backward\): the rule returned a cotangent of dtype int64"),
])
def test_a_bad_rule_is_reported_with_the_op_and_direction(mode, message):
    x = tm.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(tm.RuleError, match=message):
        apply(_Broken(mode), (x,)).sum().backward()


def test_an_exception_inside_a_rule_names_the_op_and_the_direction():
    x = tm.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(tm.SingularMatrixError, match=r"^broken \(backward\): .*[Ss]ingular"):
        apply(_Broken("raise"), (x,)).sum().backward()
    with pytest.raises(ValueError, match=r"^broken \(forward mode\): bad tangent"):
        tm.jvp(lambda t: apply(_Broken("raise"), (t,)), (np.ones(3),), (np.ones(3),))
    with pytest.raises(tm.RuleError, match=r"broken \(forward mode\): the rule returned list"):
        tm.jvp(lambda t: apply(_Broken("count"), (t,)), (np.ones(3),), (np.ones(3),))
