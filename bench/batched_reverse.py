"""jacrev and hessian from one batched reverse pass, against jax.jit of JAX's own transform, interleaved:
each round times every implementation once, and the figure is the median over rounds of each round's
ratio to JAX (the machine's drift cancels in a ratio).

    python bench/batched_reverse.py               # 25 rounds, 1 BLAS thread, X of 4 × 4, 10 × 10, 32 × 32
    python bench/batched_reverse.py --rounds 51 --sizes 10

jacrev of A X A and hessian of log det X (the cases of bench/suites/jacobians.py, built by it), eager and
under ``tm.compile``, with the compositions they replace: one reverse pass per entry of F (jacrev before), forward mode over the
reverse-mode gradient (hessian before).
"""
import argparse
import os
import statistics
import sys
import timeit

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from suites import jacobians  # noqa: E402


def one_pass_per_entry(f, X):
    """The Jacobian of f at X from one reverse pass per entry of f's output (jacrev before)."""
    import tinygrad_mat as tm

    out, vjp_fn = tm.vjp(f, X)
    rows = [vjp_fn(e.reshape(out.shape))[0] for e in np.eye(out.size)]
    return np.stack(rows).reshape(out.shape + X.shape)


def cases(n):
    """{case: {implementation: callable}}, JAX first, every implementation checked against the closed form."""
    import tinygrad_mat as tm
    from tinygrad_mat.jacobians import jacobian

    found = {}
    for fname, transform in (("A X A", "jacrev"), ("log det X", "hessian")):
        impls, expected = jacobians.build((fname, transform, n))
        if "JAX jit" not in impls:
            raise SystemExit("JAX is not installed: this comparison needs it (pip install jax)")
        rng = np.random.default_rng(0)
        A = rng.standard_normal((n, n))
        X = rng.standard_normal((n, n)) + n * np.eye(n)  # as jacobians.build makes them
        chosen = {"JAX jit": impls["JAX jit"], "tinygrad_mat": impls["tinygrad_mat"]}
        if transform == "jacrev":  # the transform under tm.compile: its passes replayed as one tape
            compiled = tm.compile(tm.jacrev(lambda X: A @ X @ A))
        else:
            compiled = tm.compile(tm.hessian(lambda X: tm.log(tm.det(X))))
        chosen["tinygrad_mat compiled"] = lambda compiled=compiled, X=X: compiled(X)  # bound now: the loop rebinds them
        if transform == "jacrev":
            chosen["one pass per entry (before)"] = lambda: one_pass_per_entry(lambda X: A @ X @ A, X)
        else:
            log_det_gradient = tm.grad(lambda X: tm.log(tm.det(X)))
            chosen["forward over reverse (before)"] = lambda: jacobian(log_det_gradient, mode="fwd")(X)
        for name, fn in chosen.items():
            np.testing.assert_allclose(np.asarray(fn()), expected, rtol=1e-8, atol=1e-10, err_msg=name)
        found[f"{transform} of {fname}, {n} × {n}"] = chosen
    return found


def interleaved(implementations, rounds, budget=0.02):
    """{name: (median seconds per call, median ratio to the first implementation)}."""
    for f in implementations.values():  # compiles (JAX), warm caches
        for _ in range(3):
            f()
    numbers = {}
    for name, f in implementations.items():
        once = min(timeit.repeat(f, number=1, repeat=3))
        numbers[name] = max(1, int(budget / max(once, 1e-7)))
    times = {name: [] for name in implementations}
    for _ in range(rounds):
        for name, f in implementations.items():
            times[name].append(min(timeit.repeat(f, number=numbers[name], repeat=3)) / numbers[name])
    base = next(iter(implementations))
    return {name: (statistics.median(t), statistics.median(a / b for a, b in zip(t, times[base])))
            for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 10, 32])
    args = parser.parse_args()
    import platform

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}; "
          f"{os.environ['OPENBLAS_NUM_THREADS']} BLAS thread(s); {args.rounds} interleaved rounds; medians")
    for n in args.sizes:
        for title, implementations in cases(n).items():
            print(f"\n{title}")
            for name, (seconds, ratio) in interleaved(implementations, args.rounds).items():
                print(f"  {name:30s} {seconds * 1e6:10.1f} µs   ×{ratio:.2f} of JAX", flush=True)


if __name__ == "__main__":
    main()
