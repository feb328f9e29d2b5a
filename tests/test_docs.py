"""The docstring examples run, and the demo prints a gradient beside its closed form and central differences."""
import doctest
import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import tinygrad_mat


def test_docstring_examples_run():
    attempted = 0
    for info in pkgutil.walk_packages(tinygrad_mat.__path__, "tinygrad_mat."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, info.name
        attempted += result.attempted
    assert attempted >= 20


def test_demo_shows_agreement():
    out = subprocess.run([sys.executable, "-m", "tinygrad_mat"], check=True, capture_output=True, text=True).stdout
    assert "closed form 2Xᵀ(XW − Y)" in out and "central differences" in out
    differences = [float(x) for x in re.findall(r"max \|reverse − (?:closed form|central differences)\| = (\S+)", out)]
    assert len(differences) == 4 and max(differences) < 1e-6


README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_op_table_is_the_registry():
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- op-table:start -->\n")[1].split("\n<!-- op-table:end -->")[0]
    assert table == tinygrad_mat.ops.rule_table()


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
