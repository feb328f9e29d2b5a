"""The 10-op chain with an earlier commit's tinygrad_mat and the working tree's, side by side in one process.

    python bench/compare_commits.py HEAD~1 [--rounds 300]

The earlier commit's package is exported with ``git archive`` into a temporary folder and imported under
another name (its imports are relative), beside the current one. Each round times both, and numpy by hand,
back to back in alternating order; the ratio reported is the median of the per-round ratios, which cancels
the drift of a shared machine.
"""
import argparse
import importlib
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import timeit
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import chain  # noqa: E402


def export(rev, folder):
    """The package and kernels of ``rev`` as a package named tinygrad_mat_old in ``folder``."""
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                          cwd=HERE, check=True).stdout.strip()
    archive = subprocess.run(["git", "archive", rev, "tinygrad_mat", "kernels"], capture_output=True,
                             cwd=root, check=True).stdout
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(folder)
    package = Path(folder) / "tinygrad_mat"
    (package / "kernels").mkdir(exist_ok=True)
    for kernel in (Path(folder) / "kernels").glob("*.py"):
        kernel.rename(package / "kernels" / kernel.name)
    package.rename(Path(folder) / "tinygrad_mat_old")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev")
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    export(args.rev, folder)
    sys.path.insert(0, folder)
    old, new = importlib.import_module("tinygrad_mat_old"), importlib.import_module("tinygrad_mat")
    x0, params = chain.problem()
    steps = {label: chain._eager_step(tm.tensor(x0), [tm.tensor(w, requires_grad=True) for w in params],
                                      np.ones_like(x0))
             for label, tm in ((args.rev, old), ("working tree", new))}
    steps["numpy by hand"] = chain.make_numpy(x0, params)
    for step in steps.values():
        for _ in range(300):
            step()
    times = {label: [] for label in steps}
    for r in range(args.rounds):
        for label in (list(steps) if r % 2 else list(steps)[::-1]):
            times[label].append(min(timeit.repeat(steps[label], number=20, repeat=3)) / 20)
    numpy_median = statistics.median(times["numpy by hand"])
    for label, values in times.items():
        median = statistics.median(values)
        print(f"{label:14s} {median / chain.N_OPS * 1e6:7.3f} µs/op   ×{median / numpy_median:.2f} numpy by hand")
    ratios = sorted(c / p for c, p in zip(times["working tree"], times[args.rev]))
    quartile = lambda f: ratios[int(f * (len(ratios) - 1))]
    print(f"working tree / {args.rev}: median {quartile(0.5):.3f} (quartiles {quartile(0.25):.3f}–{quartile(0.75):.3f}, "
          f"{args.rounds} rounds)")


if __name__ == "__main__":
    main()
