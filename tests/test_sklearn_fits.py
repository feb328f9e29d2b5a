"""LogisticRegression's fits against scikit-learn's on its bundled data (breast_cancer, digits, iris, wine),
and the closed forms the fast fits use (loss and gradient, Hessian-vector products, the dense Hessian)
against the engine's derivatives of the same objective written in tinygrad_mat's losses."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

import tinygrad_mat as tm
from tinygrad_mat import sklearn as ours_module
from tinygrad_mat.optim.second_order import minimize_newton, truncated_cg
from tinygrad_mat.sklearn import LogisticRegression

from helpers import sklearn_objective

LOADERS = {"breast_cancer": load_breast_cancer, "digits": load_digits, "iris": load_iris, "wine": load_wine}
CACHE = {}


def scaled(name):
    if name not in CACHE:
        X, y = LOADERS[name](return_X_y=True)
        CACHE[name] = StandardScaler().fit_transform(X), y
    return CACHE[name]


def fit(model, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return model.fit(X, y, **kwargs)


# ------------------------------------------------------------------- the objective scikit-learn reaches

@pytest.mark.parametrize("C", [1.0, 10.0])
@pytest.mark.parametrize("solver", ["newton-cg", "newton-cholesky"])
@pytest.mark.parametrize("data", list(LOADERS))
def test_newton_solvers_reach_scikit_learns_objective_at_its_default_tol(data, solver, C):
    """Both run to their own stopping rule at scikit-learn's default tol=1e-4: our newton-cg is
    scikit-learn's (its truncated CG, a strong-Wolfe search from the full step), our newton-cholesky
    too (backtracking, the Newton decrement test): the same iterations and objective to 1e-8 (measured:
    ≤ 4e-10, mostly ≤ 1e-15), though these stop up to 2.5e-3 above the minimum (digits, C = 10)."""
    X, y = scaled(data)
    reference = SkLogisticRegression(C=C, solver=solver).fit(X, y)
    ours = fit(LogisticRegression(C=C, solver=solver), X, y)
    theirs = sklearn_objective(reference, X, y, C)
    assert abs(sklearn_objective(ours, X, y, C) - theirs) <= 1e-8 * theirs
    assert ours.n_iter_[0] == reference.n_iter_[0]


@pytest.mark.parametrize("C", [1.0, 10.0])
@pytest.mark.parametrize("data", list(LOADERS))
def test_lbfgs_reaches_scikit_learns_objective_at_a_tight_tol(data, C):
    """Two L-BFGS (PyTorch's, with its strong-Wolfe search, and scipy's L-BFGS-B with More-Thuente's)
    take different paths, so at the default tol=1e-4 each stops where its path is when max|g| ≤ tol:
    up to 1.3e-2 (relative) above the minimum on digits with C = 10, scikit-learn's lbfgs and newton-cg
    differ by as much. So the objectives are compared at tol=1e-10 (to 1e-8; measured ≤ 1e-12), and at
    the default tol ours must be as close to the minimum as scikit-learn's lbfgs, within a factor 3
    (measured: from 0.2× to 2×)."""
    X, y = scaled(data)
    theirs = sklearn_objective(SkLogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y), X, y, C)
    ours = fit(LogisticRegression(C=C, tol=1e-10, max_iter=1000), X, y)
    assert abs(sklearn_objective(ours, X, y, C) - theirs) <= 1e-8 * theirs
    best = min(theirs, sklearn_objective(ours, X, y, C))
    default_ours = sklearn_objective(fit(LogisticRegression(C=C), X, y), X, y, C)
    default_theirs = sklearn_objective(SkLogisticRegression(C=C).fit(X, y), X, y, C)
    assert default_ours - best <= 3 * (default_theirs - best) + 1e-12 * best


def test_newton_is_newton_cg_and_never_forms_the_hessian(monkeypatch):
    """'newton' is 'newton-cg' (the same fit), and neither builds the dense Hessian: only products."""
    X, y = scaled("digits")
    products = []
    original = ours_module._Objective.hessian_product

    def counted(self, coef):
        product = original(self, coef)
        return lambda v: products.append(1) or product(v)

    def refused(self, coef):
        raise AssertionError("newton-cg formed the dense Hessian")

    monkeypatch.setattr(ours_module._Objective, "hessian", refused)
    monkeypatch.setattr(ours_module._Objective, "hessian_product", counted)
    cg = fit(LogisticRegression(solver="newton-cg"), X, y)
    newton = fit(LogisticRegression(solver="newton"), X, y)
    np.testing.assert_array_equal(newton.coef_, cg.coef_)
    assert 0 < len(products) / 2 < 650  # fewer products than parameters: the Hessian was never formed


# --------------------------------------------------------------- the closed forms against the engine

def problems():
    """(name, objective, coef): binary and multinomial, with and without intercept, weights, sparse X."""
    rng = np.random.default_rng(0)
    X2, y2 = scaled("breast_cancer")
    X3, y3 = scaled("wine")
    weights2, weights3 = rng.uniform(0.0, 2.0, len(y2)), rng.uniform(0.0, 2.0, len(y3))
    sparse3 = sp.csr_matrix(np.where(np.abs(X3) < 0.5, 0.0, X3))
    specs = {  # name: (X, y, sample_weight, fit_intercept, C)
        "binary": (X2, y2, None, True, 1.0),
        "binary-weighted-no-intercept": (X2, y2, weights2, False, 0.3),
        "multinomial": (X3, y3, None, True, 1.0),
        "multinomial-weighted": (X3, y3, weights3, True, 2.0),
        "multinomial-no-penalty-no-intercept": (X3, y3, None, False, np.inf),
        "multinomial-sparse": (sparse3, y3, weights3, True, 1.0),
    }
    cases = []
    for name, (X, y, weights, intercept, C) in specs.items():
        objective = LogisticRegression(C=C, fit_intercept=intercept)._problem(X, y, weights)[1]
        cases.append((name, objective, 0.3 * rng.standard_normal(objective.shape)))
    return cases


PROBLEMS = problems()


@pytest.mark.parametrize("name, objective, coef", PROBLEMS, ids=[p[0] for p in PROBLEMS])
def test_closed_form_loss_and_gradient_equal_the_engines(name, objective, coef):
    """The fused loss and gradient (one sigmoid or softmax) against tinygrad_mat's losses on Tensors
    differentiated by reverse mode, and against scikit-learn's own loss and gradient."""
    loss, gradient = objective.loss_and_gradient(coef)
    value, reference = tm.value_and_grad(objective.graph)(coef)
    np.testing.assert_allclose(loss, value, rtol=1e-13)
    np.testing.assert_allclose(gradient, reference, rtol=1e-11, atol=1e-14)
    assert gradient.shape == coef.shape
    # scikit-learn's own LinearModelLoss (its lbfgs's objective, the same coefficient layout)
    from sklearn._loss import loss as loss_module  # scikit-learn is in the test extra: never skipped
    from sklearn.linear_model._linear_loss import LinearModelLoss

    base = (loss_module.HalfBinomialLoss() if objective.binary
            else loss_module.HalfMultinomialLoss(n_classes=objective.shape[0]))
    peer = LinearModelLoss(base, fit_intercept=objective.fit_intercept)
    peer_loss, peer_gradient = peer.loss_gradient(coef, objective.X, objective.labels.astype(float),
                                                  objective.fractions, l2_reg_strength=objective.l2)
    np.testing.assert_allclose(loss, peer_loss, rtol=1e-13)
    np.testing.assert_allclose(gradient, peer_gradient, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("name, objective, coef", PROBLEMS, ids=[p[0] for p in PROBLEMS])
def test_closed_form_hessian_products_equal_forward_over_reverse(name, objective, coef):
    """H v in closed form against tm.hvp (forward mode over the engine's reverse-mode gradient), and the
    dense Hessian against both: equal on every direction that changes the scores; for k classes the
    directions adding one number to every class get a positive eigenvalue (H is positive definite)."""
    rng = np.random.default_rng(1)
    product = objective.hessian_product(coef)
    H = objective.hessian(coef)
    for _ in range(3):
        v = rng.standard_normal(coef.shape)
        expected = tm.hvp(objective.graph, coef, v).reshape(-1)
        np.testing.assert_allclose(product(v.reshape(-1)), expected, rtol=1e-10, atol=1e-13)
        centred = objective.centred(v).reshape(-1)  # no part along the class-sum directions
        np.testing.assert_allclose(H @ centred, product(centred), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-14)
    assert np.linalg.eigvalsh(H).min() > 0
    if objective.binary:
        np.testing.assert_allclose(H, tm.hessian(objective.graph)(coef), rtol=1e-10, atol=1e-13)


# ---------------------------------------------------------------------------------- Newton-CG parts

def test_truncated_cg_is_scikit_learns():
    """Against scikit-learn's own inner solver (sklearn.utils.optimize._cg, 1.9) on positive definite,
    indefinite, singular and ill-conditioned matrices, gradients from 1e-6 to 10 (its stopping rules:
    the residual, a tiny or negative curvature, max_iter)."""
    from sklearn.utils.optimize import _cg as cg  # scikit-learn is in the test extra: never skipped
    rng = np.random.default_rng(2)
    for trial in range(200):
        n = int(rng.integers(2, 12))
        A = rng.standard_normal((n, n))
        kind = trial % 4
        if kind == 0:
            H = A @ A.T + 0.1 * np.eye(n)  # positive definite
        elif kind == 1:
            H = A + A.T  # indefinite
        elif kind == 2:
            Q = np.linalg.qr(A)[0]
            H = Q @ np.diag(np.r_[np.zeros(n // 2), rng.uniform(0.1, 2, n - n // 2)]) @ Q.T  # singular
        else:
            H = A @ A.T * 1e-3 + np.diag(rng.uniform(1e-6, 1, n))  # ill-conditioned
        g = rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 1)
        size = np.abs(g).sum()
        max_iter = int(rng.integers(1, 20))
        expected = cg(lambda v: H @ v, g, maxiter=max_iter, tol=min(0.5, np.sqrt(size)) * size, xp=np, device=None)
        np.testing.assert_allclose(truncated_cg(lambda v: H @ v, g, max_iter), expected, rtol=1e-12, atol=1e-300)


def test_minimize_newton_stops_where_no_decrease_is_found():
    """A direction that is not a descent direction falls back to −g; a loss that cannot decrease (its
    gradient lies) ends with 'stalled', the point unchanged; max_iter ends with 'max_iter'."""
    A = np.array([[2.0, 0.5], [0.5, 1.0]])

    def quadratic(x):
        return 0.5 * x @ A @ x, A @ x

    x, loss, g, iterations, status = minimize_newton(quadratic, [1.0, -1.0], lambda x, g: g, tol=1e-6, max_iter=200)
    assert status == "converged" and np.abs(g).max() <= 1e-6  # +g is uphill: −g taken instead
    x, loss, g, iterations, status = minimize_newton(lambda x: (float(x @ x), -x), [1.0, 2.0],
                                                     lambda x, g: -g, tol=1e-12, max_iter=50)
    assert (status, iterations) == ("stalled", 0) and list(x) == [1.0, 2.0]
    x, loss, g, iterations, status = minimize_newton(quadratic, [1.0, -1.0], lambda x, g: -0.01 * g, tol=1e-12,
                                                     max_iter=3, line_search="backtracking")
    assert (status, iterations) == ("max_iter", 3)
    with pytest.raises(ValueError, match="line_search must be one of 'strong_wolfe', 'backtracking'"):
        minimize_newton(quadratic, [1.0, -1.0], lambda x, g: -g, tol=1e-12, max_iter=3, line_search="armijo")
    with pytest.raises(FloatingPointError, match="minimize_newton: the loss at the starting point is nan"):
        minimize_newton(lambda x: (np.nan, x), [1.0], lambda x, g: -g, tol=1e-12, max_iter=3)
