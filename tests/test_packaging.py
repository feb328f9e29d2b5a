"""The kernels ship as tinygrad_mat.kernels: from the source tree, an editable install, and a built wheel."""
import os
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_kernels_are_a_subpackage_not_a_top_level_module():
    import tinygrad_mat.kernels as kernels

    assert kernels.__name__ == "tinygrad_mat.kernels"
    assert Path(kernels.__file__).resolve().parent == ROOT / "kernels"
    assert "kernels" not in sys.modules  # no bare top-level module was imported


def test_import_does_not_load_numba():
    code = "import sys, tinygrad_mat; assert 'numba' not in sys.modules, 'numba imported at import time'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT.parent)


def test_built_wheel_installs_and_runs_a_kernel(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)],
        check=True,
    )
    (wheel,) = dist.glob("tinygrad_mat-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tinygrad_mat/kernels/__init__.py" in names and "tinygrad_mat/kernels/scatter.py" in names
    assert not any(name.startswith("kernels/") for name in names)

    # A fresh venv with the wheel installed. It borrows numpy and numba from the environment running
    # the tests through a .pth file listing its site-packages; .pth files inside those folders are not
    # read, so the editable install of this checkout stays invisible.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    env_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    Path(env_site, "borrowed_dependencies.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)], check=True)
    script = (
        "import numpy as np, tinygrad_mat, tinygrad_mat.kernels as k\n"
        f"assert tinygrad_mat.kernels.__file__.startswith({str(env_dir)!r}), tinygrad_mat.kernels.__file__\n"
        "x = np.linspace(-5, 5, 11); out = np.empty_like(x); k.sigmoid(x, out)\n"
        "print(float(np.max(np.abs(out - 1 / (1 + np.exp(-x))))))\n"
    )
    result = subprocess.run([str(python), "-c", script], check=True, cwd=tmp_path, capture_output=True, text=True)
    assert float(result.stdout) < 1e-14
    assert np.isfinite(float(result.stdout))
