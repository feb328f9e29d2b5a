"""Fit time of ``tinygrad_mat.sklearn.LogisticRegression`` against scikit-learn's, same data, same C, same tol.

    python bench/bench_fits.py                       # the table (one BLAS thread, interleaved rounds, medians)
    python bench/bench_fits.py --rounds 41 --C 1 10 --data digits
    python -m pytest bench/bench_fits.py --benchmark-only --benchmark-json=fits.json

Pairs: our lbfgs against scikit-learn's lbfgs, our newton-cg (= 'newton') against scikit-learn's newton-cg, our
newton-cholesky against scikit-learn's newton-cholesky; on breast_cancer, digits, iris and wine, standardised,
at scikit-learn's default tol (1e-4) and max_iter (100). The script times both fits of a pair in one process,
alternately (ours, theirs, ours, ...), so that the other load on a shared machine falls on both, and quotes
medians. For each pair it also prints the iterations (``n_iter_``), the objectives' relative difference
(ours − theirs)/theirs and each one's relative gap to the minimum (found at tol=1e-12), and the share of our
fit spent evaluating the objective and its gradient (``_Objective.loss_and_gradient``) and, for Newton, its
Hessian (products or the dense matrix); what is left is the optimiser's own work and the fixed cost of fit
(validation, classes, weights).
"""
import argparse
import os
import statistics
import sys
import time
import warnings

if __name__ == "__main__":  # one BLAS thread before numpy loads (threadpool_limits(1) below as well)
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from helpers import sklearn_objective  # noqa: E402  (the tests' numpy oracle of scikit-learn's objective)

DATASETS = ("breast_cancer", "digits", "iris", "wine")
SOLVERS = {"lbfgs": "lbfgs", "newton-cg": "newton-cg", "newton-cholesky": "newton-cholesky"}  # ours: theirs
PROFILE = os.environ.get("BENCH_PROFILE", "quick")
TEST_ROWS = 120  # BENCH_PROFILE=test (tests/test_bench.py): the first rows only, timing off


def load(name, rows=None):
    """A bundled data set, standardised (its first ``rows`` rows when given)."""
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    if rows is not None:
        X, y = X[:rows], y[:rows]
    return StandardScaler().fit_transform(X), y


def estimators(solver, C):
    """(ours, scikit-learn's) estimator factories for one pair."""
    from sklearn.linear_model import LogisticRegression as Theirs

    from tinygrad_mat.sklearn import LogisticRegression as Ours

    return (lambda: Ours(C=C, solver=solver)), (lambda: Theirs(C=C, solver=SOLVERS[solver]))


def fit_quietly(make, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a ConvergenceWarning is counted in n_iter_, not printed
        return make().fit(X, y)


# ------------------------------------------------------------------------------- pytest-benchmark

def load_libraries():
    """Import what the fits load (scikit-learn, scipy's BLAS, tinygrad_mat.sklearn) before the thread
    limit is set: threadpool_limits reaches only the libraries already loaded."""
    import scipy.linalg  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    import tinygrad_mat.sklearn  # noqa: F401


@pytest.fixture(autouse=True)
def one_blas_thread():
    from threadpoolctl import threadpool_limits

    load_libraries()
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize("implementation", ["tinygrad_mat", "scikit-learn"])
@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize("data", DATASETS)
def test_logistic_regression_fit(benchmark, data, solver, implementation):
    X, y = load(data, rows=TEST_ROWS if PROFILE == "test" else None)
    ours, theirs = estimators(solver, 1.0)
    make = ours if implementation == "tinygrad_mat" else theirs
    model = fit_quietly(make, X, y)
    assert model.coef_.shape == fit_quietly(theirs, X, y).coef_.shape  # the same problem
    benchmark.group = f"LogisticRegression.fit, {data}, {solver}, C=1"
    benchmark.pedantic(lambda: fit_quietly(make, X, y), rounds=15, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("how", ["closed_form", "forward_over_reverse"])
@pytest.mark.parametrize("data", ["breast_cancer", "digits"])
def test_hessian_vector_product(benchmark, data, how):
    """One Hessian-vector product of the objective: the closed form Newton-CG uses, against tm.hvp
    (forward mode over the engine's reverse-mode gradient of the same objective written in tm ops)."""
    X, y = load(data, rows=TEST_ROWS if PROFILE == "test" else None)
    product, coef, v = hessian_vector_products(X, y)[how]
    expected = hessian_vector_products(X, y)["closed_form"][0]
    np.testing.assert_allclose(product(), expected(), rtol=1e-9, atol=1e-12)  # the same numbers
    benchmark.group = f"Hessian-vector product, {data}"
    benchmark.pedantic(product, rounds=50, iterations=1, warmup_rounds=2)


def problem(X, y, C=1.0):
    """Our objective of this data (scikit-learn's, scaled by 1/(C·n)), and a point near its minimum."""
    from tinygrad_mat.sklearn import LogisticRegression

    model = LogisticRegression(C=C)
    objective = model._problem(X, y, None)[1]
    return objective, np.random.default_rng(0).standard_normal(objective.shape) * 0.1


def hessian_vector_products(X, y):
    """{how: (call, coef, v)}: H v by the closed form and by tm.hvp of the objective's graph."""
    import tinygrad_mat as tm

    objective, coef = problem(X, y)
    v = np.random.default_rng(1).standard_normal(coef.size)
    closed = objective.hessian_product(coef)
    return {"closed_form": (lambda: closed(v), coef, v),
            "forward_over_reverse": (lambda: tm.hvp(objective.graph, coef, v.reshape(coef.shape)).reshape(-1), coef, v)}


def engine_loss_and_gradient(self, coef):
    """``_Objective.loss_and_gradient`` through the engine: ``graph`` (tm ops) on a Tensor, backward()."""
    import tinygrad_mat as tm

    param = tm.tensor(coef, requires_grad=True)
    loss = self.graph(param)
    loss.backward()
    return loss.item(), param.grad.numpy()


# ------------------------------------------------------------------------------------ the script

def interleaved_medians(makes, X, y, rounds):
    """Median fit time of each factory, the factories run alternately ``rounds`` times."""
    times = [[] for _ in makes]
    for make in makes:
        fit_quietly(make, X, y)  # warm up (imports, numba, caches)
    for _ in range(rounds):
        for make, spent in zip(makes, times):
            started = time.perf_counter()
            fit_quietly(make, X, y)
            spent.append(time.perf_counter() - started)
    return [statistics.median(spent) for spent in times]


def evaluation_share(make, X, y, repeats=5):
    """The fraction of our fit's time inside the objective's evaluations (loss and gradient; Hessian
    products or the Hessian for Newton), timed by wrapping those methods (median over ``repeats`` fits)."""
    from tinygrad_mat import sklearn as ours

    names = ("loss_and_gradient", "hessian_product", "hessian")
    originals = {name: getattr(ours._Objective, name) for name in names}
    inside, depth = [0.0], [0]

    def timing(function):
        """``function`` with its time added to ``inside`` (outermost calls only: hessian may evaluate)."""
        def wrapper(*args, **kwargs):
            depth[0] += 1
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0:
                inside[0] += time.perf_counter() - started
            return timing(result) if callable(result) else result  # hessian_product's product, each call
        return wrapper

    shares = []
    try:
        for name, function in originals.items():
            setattr(ours._Objective, name, timing(function))
        for _ in range(repeats):
            inside[0] = 0.0
            started = time.perf_counter()
            fit_quietly(make, X, y)
            shares.append(inside[0] / (time.perf_counter() - started))
    finally:
        for name, function in originals.items():
            setattr(ours._Objective, name, function)
    return statistics.median(shares)


def minimum(X, y, C):
    """The objective's minimum: the better of scikit-learn's lbfgs and newton-cg at tol=1e-12."""
    from sklearn.linear_model import LogisticRegression as Theirs

    fits = [fit_quietly(lambda: Theirs(C=C, solver=s, tol=1e-12, max_iter=10_000), X, y) for s in ("lbfgs", "newton-cg")]
    return min(sklearn_objective(m, X, y, C) for m in fits)


def row(data, C, solver, X, y, rounds, best):
    ours, theirs = estimators(solver, C)
    mine, reference = fit_quietly(ours, X, y), fit_quietly(theirs, X, y)
    t_ours, t_theirs = interleaved_medians([ours, theirs], X, y, rounds)
    f_ours, f_theirs = sklearn_objective(mine, X, y, C), sklearn_objective(reference, X, y, C)
    return {"data": data, "C": C, "solver": solver, "ours": t_ours, "theirs": t_theirs, "ratio": t_ours / t_theirs,
            "iterations": f"{mine.n_iter_[0]} / {reference.n_iter_[0]}", "difference": (f_ours - f_theirs) / f_theirs,
            "gap ours": (f_ours - best) / best, "gap theirs": (f_theirs - best) / best,
            "evaluation": evaluation_share(ours, X, y)}


def engine_row(data, C, X, y, rounds):
    """lbfgs with the objective evaluated by the engine (``engine_loss_and_gradient``) against the
    closed form and scikit-learn: what tm.compile would have to win back (Newton needs the closed form's
    curvature, so lbfgs only)."""
    from tinygrad_mat import sklearn as ours_module

    ours, theirs = estimators("lbfgs", C)
    closed_form = ours_module._Objective.loss_and_gradient

    def engine():
        ours_module._Objective.loss_and_gradient = engine_loss_and_gradient
        return ours()

    def fused():
        ours_module._Objective.loss_and_gradient = closed_form
        return ours()

    try:
        t_engine, t_fused, t_theirs = interleaved_medians([engine, fused, theirs], X, y, rounds)
        ours_module._Objective.loss_and_gradient = engine_loss_and_gradient
        share = evaluation_share(ours, X, y)
        iterations = fit_quietly(ours, X, y).n_iter_[0]
    finally:
        ours_module._Objective.loss_and_gradient = closed_form
    return {"data": data, "C": C, "engine": t_engine, "fused": t_fused, "theirs": t_theirs, "iterations": iterations,
            "evaluation": share}


def hvp_row(data, X, y, rounds):
    """Median time of one Hessian-vector product: closed form, and tm.hvp of the objective's graph."""
    calls = hessian_vector_products(X, y)
    times = {how: [] for how in calls}
    for _ in range(rounds):
        for how, (call, _, _) in calls.items():
            started = time.perf_counter()
            call()
            times[how].append(time.perf_counter() - started)
    return {"data": data, **{how: statistics.median(spent) for how, spent in times.items()}}


def markdown(rows):
    lines = ["| data | C | solver | ours | scikit-learn | ratio | iterations (ours / theirs) | objective (ours − theirs)/theirs "
             "| gap to min, ours | gap to min, theirs | our fit in evaluation |", "|" + "---|" * 11]
    for r in rows:
        lines.append(f"| {r['data']} | {r['C']:g} | {r['solver']} | {r['ours'] * 1e3:.2f} ms | {r['theirs'] * 1e3:.2f} ms "
                     f"| **{r['ratio']:.2f}×** | {r['iterations']} | {r['difference']:+.1e} | {r['gap ours']:.1e} "
                     f"| {r['gap theirs']:.1e} | {r['evaluation']:.0%} |")
    return "\n".join(lines)


def engine_markdown(rows):
    lines = ["| data | C | lbfgs, evaluation by the engine | by the closed form | scikit-learn | engine / closed form "
             "| engine / scikit-learn | iterations | engine's fit in evaluation |", "|" + "---|" * 9]
    for r in rows:
        lines.append(f"| {r['data']} | {r['C']:g} | {r['engine'] * 1e3:.2f} ms | {r['fused'] * 1e3:.2f} ms "
                     f"| {r['theirs'] * 1e3:.2f} ms | {r['engine'] / r['fused']:.2f}× | {r['engine'] / r['theirs']:.2f}× "
                     f"| {r['iterations']} | {r['evaluation']:.0%} |")
    return "\n".join(lines)


def hvp_markdown(rows):
    lines = ["| data | H v, closed form | H v, tm.hvp (forward over reverse) | ratio |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['data']} | {r['closed_form'] * 1e6:.0f} µs | {r['forward_over_reverse'] * 1e6:.0f} µs "
                     f"| {r['forward_over_reverse'] / r['closed_form']:.0f}× |")
    return "\n".join(lines)


def machine():
    import platform

    import numpy
    import sklearn
    from threadpoolctl import threadpool_info

    blas = ", ".join(f"{i.get('internal_api')} {i.get('version')}: {i.get('num_threads')} thread(s)" for i in threadpool_info())
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {numpy.__version__}, "
            f"scikit-learn {sklearn.__version__}; BLAS: {blas}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=21, help="timed fits of each estimator per row (default 21)")
    parser.add_argument("--C", type=float, nargs="+", default=[1.0, 10.0], help="inverse penalties (default 1 10)")
    parser.add_argument("--data", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--solver", nargs="+", default=list(SOLVERS), choices=list(SOLVERS))
    parser.add_argument("--engine", action="store_true",
                        help="also lbfgs with the objective evaluated by the engine (tm ops + backward), and H v "
                             "by tm.hvp against the closed form")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    load_libraries()
    rows, engine_rows, hvp_rows = [], [], []
    with threadpool_limits(1):
        print(machine(), flush=True)
        for data in args.data:
            X, y = load(data)
            for C in args.C:
                best = minimum(X, y, C)
                for solver in args.solver:
                    rows.append(row(data, C, solver, X, y, args.rounds, best))
                    print(markdown(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
                if args.engine:
                    engine_rows.append(engine_row(data, C, X, y, args.rounds))
            if args.engine:
                hvp_rows.append(hvp_row(data, X, y, args.rounds))
    print(markdown(rows))
    if args.engine:
        print("\n" + engine_markdown(engine_rows) + "\n\n" + hvp_markdown(hvp_rows))
    return rows, engine_rows, hvp_rows


if __name__ == "__main__":
    main()
