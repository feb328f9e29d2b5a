"""Compiled steps against numpy by hand, interleaved: each round times every implementation once, and
the figure is the median over rounds of each round's ratio (the machine's drift cancels in a ratio).

    python bench/compiled_steps.py               # 25 rounds, 1 BLAS/numba thread
    python bench/compiled_steps.py --rounds 51

The 10-op chain on 4 × 4 matrices and a logistic-regression step on 32 × 10 data (forward, backward,
SGD update) and least squares on 10⁵ × 100 data (k = 1): eager, ``tm.compile`` and
``tm.compile(backend="numba")``; least squares also through ``linear_mse_loss`` (fused), eager and compiled. The same implementations
are in the benchmark suites (bench/suites/chain.py, training.py), timed there one after another.
"""
import argparse
import os
import sys

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import chain  # noqa: E402
from batched_reverse import interleaved  # noqa: E402  (the same interleaved timing, written once)
from suites import training  # noqa: E402


def chain_cases():
    import tinygrad_mat as tm

    x0, params = chain.problem(n=4)
    return {"numpy by hand": chain.make_numpy(x0, params), "eager": chain.make_tinygrad_mat(x0, params),
            "compiled": tm.compile(chain.make_tinygrad_mat(x0, params)),
            "compiled (numba)": tm.compile(chain.make_tinygrad_mat(x0, params), backend="numba")}


def logistic_cases():
    impls, _ = training.build(("logistic", 32, 10))
    return {"numpy by hand": impls["numpy by hand"], "eager": impls["tinygrad_mat"],
            "compiled": impls["tinygrad_mat compiled"], "compiled (numba)": impls["tinygrad_mat compiled (numba)"]}


def least_squares_cases(n=100_000, d=100):
    import tinygrad_mat as tm

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    state = {"w": np.zeros(d), "b": 0.0}

    def numpy_step():
        r = X @ state["w"] + state["b"] - y
        state["w"] = state["w"] - 0.01 * (2.0 / n) * (X.T @ r)
        state["b"] = state["b"] - 0.01 * (2.0 / n) * r.sum()
        return state["w"]

    def make(fused=False):
        w, b = tm.zeros(d, requires_grad=True), tm.tensor(0.0, requires_grad=True)
        opt = tm.optim.SGD([w, b], lr=0.01)

        def step():
            opt.zero_grad()
            if fused:  # loss and gradients in one pass over X
                loss = tm.nn.functional.linear_mse_loss(X, w, b, y)
            else:
                loss = tm.nn.functional.mse_loss(X @ w + b, y)
            loss.backward()
            opt.step()
            return loss

        return step

    return {"numpy by hand": numpy_step, "eager": make(), "compiled": tm.compile(make()),
            "compiled (numba)": tm.compile(make(), backend="numba"),
            "fused, eager": make(fused=True), "fused, compiled": tm.compile(make(fused=True))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    import platform

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}; "
          f"{os.environ['OPENBLAS_NUM_THREADS']} BLAS/numba thread(s); {args.rounds} interleaved rounds; medians")
    for title, cases in (("10-op chain, 4 × 4", chain_cases()), ("logistic step, 32 × 10", logistic_cases()),
                         ("least squares, 10⁵ × 100, k = 1", least_squares_cases())):
        print(f"\n{title}")
        for name, (seconds, ratio) in interleaved(cases, args.rounds).items():
            print(f"  {name:18s} {seconds * 1e6:10.1f} µs   ×{ratio:.2f}")


if __name__ == "__main__":
    main()
