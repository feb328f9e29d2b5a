"""The docstring examples run, and the demo prints a gradient beside its closed form and central differences."""
import doctest
import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tinygrad_mat


def test_pytest_runs_the_package_doctests():
    """`python -m pytest` collects the docstring examples of tinygrad_mat/ (pyproject's pytest options),
    and there are examples to run in every layer that users call."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in Python's standard library from 3.11")
    options = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "tinygrad_mat" in options["testpaths"] and "--doctest-modules" in options["addopts"]
    finder = doctest.DocTestFinder()
    with_examples = set()
    for info in pkgutil.walk_packages(tinygrad_mat.__path__, "tinygrad_mat."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        if any(test.examples for test in finder.find(module)):
            with_examples.add(info.name)
    for module in ("tinygrad_mat.tensor", "tinygrad_mat.functional", "tinygrad_mat.jacobians", "tinygrad_mat.optim.first_order",
                   "tinygrad_mat.data", "tinygrad_mat.metrics", "tinygrad_mat.train", "tinygrad_mat.inspection.graph"):
        assert module in with_examples, module


def test_demo_shows_agreement():
    out = subprocess.run([sys.executable, "-m", "tinygrad_mat"], check=True, capture_output=True, text=True).stdout
    assert "closed form 2Xᵀ(XW − Y)" in out and "central differences" in out
    differences = [float(x) for x in re.findall(r"max \|reverse − (?:closed form|central differences)\| = (\S+)", out)]
    assert len(differences) == 4 and max(differences) < 1e-6


README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_tables_are_generated_from_the_registry():
    """Regenerate with: python -m tinygrad_mat.readme README.md"""
    from tinygrad_mat import readme

    text = README.read_text(encoding="utf-8")
    for name, table in readme.TABLES.items():
        assert f"<!-- {name}:start -->" in text, name
        copy = text.split(f"<!-- {name}:start -->\n")[1].split(f"\n<!-- {name}:end -->")[0]
        assert copy == table(), f"README table {name} is stale: python -m tinygrad_mat.readme README.md"


def test_readme_adding_an_op_example_is_a_working_record(tmp_path):
    """The walk-through's record, added to a copy of the package, gives tm.softsign and its gradient."""
    import shutil
    import subprocess
    import sys

    text = README.read_text(encoding="utf-8")
    record = text.split("## Adding an op")[1].split("```python\n")[1].split("```")[0]
    package = tmp_path / "tinygrad_mat"
    shutil.copytree(Path(tinygrad_mat.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    with open(package / "ops" / "elementwise.py", "a", encoding="utf-8") as module:
        module.write("\n\n" + record)
    script = (
        "import numpy as np, tinygrad_mat as tm\n"
        "x = np.array([-2.0, 0.5])\n"
        "assert np.allclose(tm.tensor(x).softsign().numpy(), x / (1 + np.abs(x)))\n"
        "assert np.allclose(tm.grad(lambda t: tm.softsign(t).sum())(x), 1 / (1 + np.abs(x)) ** 2)\n"
        "assert np.allclose(tm.jvp(tm.softsign, (x,), (np.ones(2),))[1], 1 / (1 + np.abs(x)) ** 2)\n"
        "assert any('softsign' in line for line in tm.ops.rule_table().splitlines())\n"
        "print(tm.__file__)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path), "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(tmp_path))


def test_readme_example_runs(capsys):
    text = README.read_text(encoding="utf-8")
    example = text.split("## Ten lines\n\n```python\n")[1].split("```")[0]
    exec(compile(example, "README example", "exec"), {})
    assert capsys.readouterr().out.strip() == "True"


def test_readme_kronecker_example_is_true():
    text = README.read_text(encoding="utf-8")
    example = text.split("**Worked example: the Kronecker form.**")[1].split("```python\n")[1].split("```")[0]
    import numpy as np

    namespace = {"np": np, "tm": tinygrad_mat}
    exec(compile(example, "README Kronecker example", "exec"), namespace)
    J = namespace["J"]
    expected = np.array([[0, 0, 1, 2], [0, 0, 3, 4], [1, 2, 1, 2], [3, 4, 3, 4]], dtype=float)
    np.testing.assert_array_equal(J, expected)
    np.testing.assert_array_equal(J, np.kron(namespace["B"].T, namespace["A"]))


def test_readme_custom_rule_example_runs():
    import numpy as np

    text = README.read_text(encoding="utf-8")
    example = text.split("### Your own ops: custom rules")[1].split("```python\n")[1].split("```")[0]
    namespace = {"np": np, "tm": tinygrad_mat}
    exec(compile(example.replace("tm.grad(", "result = tm.grad(", 1), "README custom rule", "exec"), namespace)
    np.testing.assert_array_equal(namespace["result"], [1.0, 1.0])


def test_readme_training_example_runs(capsys):
    text = README.read_text(encoding="utf-8")
    example = text.split("## Training small models")[1].split("```python\n")[1].split("```")[0]
    exec(compile(example, "README training example", "exec"), {})
    assert float(capsys.readouterr().out.strip()) < 0.25  # log 3 ≈ 1.1 at the start


def test_readme_compile_example_runs(capsys):
    """The compiled loop of the README runs, is traced once and replayed, and fits its data."""
    import numpy as np

    text = README.read_text(encoding="utf-8")
    example = text.split("### Compiling a step")[1].split("```python\n")[1].split("```")[0]
    namespace = {"np": np, "tm": tinygrad_mat, "F": tinygrad_mat.nn.functional}
    exec(compile(example, "README compile example", "exec"), namespace)
    assert "read SGD.param_groups[0]['lr']" in capsys.readouterr().out
    assert namespace["step"].trace_count == 1
    assert namespace["loss"].item() < 1e-3  # y is constant: 100 steps fit it


def test_readme_graph_listing_is_what_the_code_prints(capsys):
    text = README.read_text(encoding="utf-8")
    block = text.split("**The graph as data.**")[1].split("```python\n")[1].split("```")[0]
    code = "\n".join(line for line in block.splitlines() if not line.startswith("#"))
    expected = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    exec(compile(code, "README graph example", "exec"), {"tm": tinygrad_mat})
    assert capsys.readouterr().out.splitlines() == expected
