"""The benchmarks never rot: every benchmark function runs once as a test (tiny sizes, timing off, no
time asserted), `python bench/run.py` runs end to end, and its report is checked on known numbers."""
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))
import run  # noqa: E402  bench/run.py

INFO = {"cpu": "Test CPU", "cores": 2, "memory": "1.0 GiB", "platform": "test", "python": "3.x", "threads": 1,
        "versions": {"numpy": "2"}, "blas": []}


def _env():
    env = dict(os.environ, BENCH_PROFILE="test", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def test_every_benchmark_function_runs_once():
    files = sorted(str(p) for p in BENCH.glob("bench_*.py"))
    out = subprocess.run([sys.executable, "-m", "pytest", *files, "--benchmark-disable", "-p", "no:cacheprovider",
                          "-o", "addopts=", "-q"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", out.stdout).group(1))
    assert passed >= 40 and "failed" not in out.stdout, out.stdout[-2000:]


def test_run_py_end_to_end(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- speed-report:start -->\nold\n<!-- speed-report:end -->\ntail\n", encoding="utf-8")
    out = subprocess.run([sys.executable, str(BENCH / "run.py"), "--smoke", "--out", str(tmp_path),
                          "--readme", str(readme)], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    data = json.loads((tmp_path / "results.json").read_text())
    suites = {b["extra_info"]["suite"] for b in data["benchmarks"]}
    assert suites == {"dot product", "least-squares gradient", "training step", "10-op chain",
                      "jacobians and hessians", "optimizer update"}
    assert set(data["tinygrad_mat"]["startup"]) >= {"import tinygrad_mat (numba not imported)"}
    report = (tmp_path / "REPORT.md").read_text(encoding="utf-8")
    assert "## At a glance" in report and "Python loop takes" in report
    if importlib.util.find_spec("matplotlib"):
        assert len(list(tmp_path.glob("*.png"))) == len(suites)
    text = readme.read_text(encoding="utf-8")
    assert "old" not in text and text.endswith("<!-- speed-report:end -->\ntail\n") and "| dot product |" in text


def _bench(suite, variant, x, name, median, baseline="numpy"):
    return {"name": f"{suite}-{x}-{name}", "fullname": f"bench_suites.py::{suite}-{x}-{name}",
            "stats": {"median": median, "iqr": median / 10},
            "extra_info": {"suite": suite, "variant": variant, "x": x, "row": f"{x:,}", "size": str(x),
                           "axis": "n", "implementation": name, "baseline": baseline}}


def _data():
    rows = []
    # numpy 1 µs, 2 µs, 4 µs; the loop 0.5×, 40×, 400×; tinygrad_mat 3×, 1.05×, 0.95× (never a clear crossing)
    for x, numpy_time in ((10, 1e-6), (1000, 2e-6), (1_000_000, 4e-6)):
        rows.append(_bench("dot product", "", x, "numpy", numpy_time))
        rows.append(_bench("dot product", "", x, "python loop", numpy_time * {10: 0.5, 1000: 40, 1_000_000: 400}[x]))
        rows.append(_bench("dot product", "", x, "tinygrad_mat", numpy_time * {10: 3, 1000: 1.05, 1_000_000: 0.95}[x]))
    rows.append(_bench("dot product", "", 10, "PyTorch", 5e-6))  # a peer measured at one size only
    return {"benchmarks": rows, "tinygrad_mat": {"profile": "quick"}}


def test_report_on_known_numbers(tmp_path):
    text, suites = run.report(_data(), INFO, {"import tinygrad_mat (numba not imported)": 0.25}, tmp_path)
    assert (tmp_path / "REPORT.md").read_text(encoding="utf-8") == text + "\n"
    table = text[text.index("| size | numpy |"):]
    assert table.splitlines()[0] == "| size | numpy | python loop | tinygrad_mat | PyTorch |"  # baseline first
    assert "| 1,000 | 2 µs ±10% ×1 | 80 µs ±10% ×40 | 2.1 µs ±10% ×1.05 | — |" in table
    assert "| 1,000,000 | 4 µs ±10% ×1 | 1.6 ms ±10% ×400 |" in table
    # the loop crosses numpy between 10 and 1,000; tinygrad_mat's ×1.05 → ×0.95 is a tie, not a crossover
    assert "Crossovers: python loop passes numpy between 10 (×0.5) and 1,000 (×40)." in text
    assert "tinygrad_mat passes" not in text
    assert "two 1,000,000-vectors by a Python loop takes **400×**" in text
    assert "| dot product | 10 | ×3 | 1,000,000 | ×0.95 | tinygrad_mat (×0.95) |" in text


def test_report_shows_the_fresh_script_and_the_readme_repeats_it(tmp_path):
    data = _data()
    data["tinygrad_mat"]["fresh"] = {
        "default": {"numpy by hand": 2.5e-4, "tinygrad_mat": 3e-3, "tinygrad_mat compiled": 3e-4},
        "keep": {"numpy by hand": 2.5e-4, "tinygrad_mat": 5e-4, "tinygrad_mat compiled": 2.5e-4}}
    text, suites = run.report(data, INFO, {}, tmp_path)
    assert "| allocator | numpy by hand | tinygrad_mat | tinygrad_mat compiled |" in text
    assert "| glibc's defaults | 250 µs | 3 ms (×12) | 300 µs (×1.2) |" in text
    assert "| freed memory kept (`--malloc keep`) | 250 µs | 500 µs (×2) | 250 µs (×1) |" in text
    readme = tmp_path / "README.md"
    readme.write_text("<!-- speed-report:start --><!-- speed-report:end -->", encoding="utf-8")
    run.update_readme(readme, suites, INFO, tmp_path / "REPORT.md", fresh=data["tinygrad_mat"]["fresh"])
    assert ("a least-squares SGD step on 10⁵ × 3 data: numpy by hand 250 µs; tinygrad_mat eager 3 ms (×12), "
            "compiled 300 µs (×1.2)") in readme.read_text()


def test_report_compares_with_an_earlier_run(tmp_path):
    old = _data()
    for bench in old["benchmarks"]:
        bench["stats"]["median"] *= 2
    text, _ = run.report(_data(), INFO, {}, tmp_path, compare=("old.json", old))
    assert "## Against old.json" in text
    assert "| dot product-1000-numpy | 2 µs | 4 µs | ×0.5 |" in text


def test_readme_markers(tmp_path):
    _, suites = run.report(_data(), INFO, {}, tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("head\n<!-- speed-report:start -->\nstale\n<!-- speed-report:end -->\ntail\n", encoding="utf-8")
    run.update_readme(readme, suites, INFO, tmp_path / "REPORT.md")
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("head\n<!-- speed-report:start -->\nMeasured by `python bench/run.py --quick` on Test CPU, 2 cores")
    assert "stale" not in text and text.endswith("<!-- speed-report:end -->\ntail\n")
    assert "[`REPORT.md`](REPORT.md)" in text and "**400×**" in text
    readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="speed-report:start"):
        run.update_readme(readme, suites, INFO, tmp_path / "REPORT.md")


def test_blas_line_names_each_library_once_with_its_owner():
    lib = {"internal_api": "openblas", "version": "0.3.30", "num_threads": 1, "threading_layer": "pthreads",
           "filepath": "/x/lib/python3.11/site-packages/numpy.libs/libscipy_openblas64_.so"}
    gomp = {"internal_api": "openmp", "version": None, "num_threads": 2,
            "filepath": "/x/site-packages/torch/lib/libgomp.so.1"}
    line = run.blas_line({"blas": [lib, dict(lib), gomp]})
    assert line == "openblas 0.3.30 (numpy, pthreads): 1 thread(s); openmp (torch): 2 thread(s)"
    assert run.blas_line({"blas": []}).startswith("not detected")


def test_a_plain_run_overwrites_no_committed_file():
    """bench/results/ holds the committed report: run.py writes there only when --out names it."""
    default = run.DEFAULT_OUT.resolve()
    assert ROOT / ".benchmarks" in default.parents or default == ROOT / ".benchmarks" / "run"
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".benchmarks/" in ignored
    assert (BENCH / "results") not in [default, *default.parents]
