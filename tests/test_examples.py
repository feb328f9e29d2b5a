"""The examples run, and their outcomes are what their tables claim (scikit-learn's bundled data)."""
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def examples():
    sys.path.insert(0, str(EXAMPLES))
    yield lambda name: importlib.import_module(name)
    sys.path.remove(str(EXAMPLES))


def test_least_squares_methods_agree_with_scikit_learn(examples, tmp_path):
    results = examples("least_squares_diabetes").main(plot_dir=tmp_path)
    for name, row in results.items():
        assert row["max rel. diff. to scikit-learn"] < 1e-6, name
    assert len(results) == 6


def test_logistic_solvers_reach_scikit_learns_objective(examples, tmp_path):
    results = examples("logistic_breast_cancer").main(plot_dir=tmp_path, epochs=100)
    for solver in ("lbfgs", "newton"):
        assert abs(results[f"tinygrad_mat {solver}"]["rel. gap to scikit-learn"]) < 1e-6, solver
    assert all(row["accuracy"] > 0.95 for row in results.values())


def test_softmax_regression_is_within_a_point_of_scikit_learn(examples, tmp_path):
    results = examples("softmax_digits").main(plot_dir=tmp_path, epochs=40)
    ours = [row for name, row in results.items() if name.startswith("tinygrad_mat")][0]
    assert abs(ours["test accuracy"] - results["scikit-learn lbfgs"]["test accuracy"]) <= 0.01


def test_ridge_hypergradient_matches_differences_and_the_grid(examples, tmp_path):
    results = examples("ridge_hypergradient").main(plot_dir=tmp_path, steps=200)
    assert results["hypergradient"] == pytest.approx(results["central differences"], rel=1e-6)
    tuned, grid = (row for name, row in results.items() if isinstance(row, dict))
    assert tuned["validation MSE"] <= grid["validation MSE"] * (1 + 1e-4)
    assert np.log(tuned["λ"]) == pytest.approx(np.log(grid["λ"]), abs=0.1)


def test_example_scripts_write_no_file_unless_asked(tmp_path):
    """Run as a newcomer would, from a clean folder: tables on the screen, no file written (a plot only
    where a folder is named on the command line)."""
    import subprocess

    for script in ("least_squares_diabetes.py", "ridge_hypergradient.py", "draw_graph.py"):
        out = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, cwd=tmp_path,
                             timeout=600)
        assert out.returncode == 0, out.stderr
        assert not list(tmp_path.iterdir()), (script, list(tmp_path.iterdir()))
