"""scipy.sparse X in fit and the predictions of the three estimators: the same fits as dense X (and
scikit-learn's), without ever making X dense."""
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression as SkLinearRegression
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.linear_model import Ridge as SkRidge
from sklearn.preprocessing import StandardScaler

import tinygrad_mat as tm
from tinygrad_mat.sklearn import LinearRegression, LogisticRegression, Ridge

FORMATS = [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.csc_array]


def sparsified(X, threshold):
    """X with its small entries set to zero (the same matrix, dense or sparse)."""
    X = X.copy()
    X[np.abs(X) < threshold] = 0.0
    return X


def some_weights(n):
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.2, 3.0, n)
    weights[:: 9] = 0.0
    return weights


@pytest.mark.parametrize("form", FORMATS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("two_targets", [False, True])
@pytest.mark.parametrize("ours, theirs", [(LinearRegression, SkLinearRegression),
                                          (lambda **k: Ridge(alpha=0.3, **k), lambda **k: SkRidge(alpha=0.3, **k))],
                         ids=["LinearRegression", "Ridge"])
def test_regressions_on_sparse_X_equal_the_dense_fit(ours, theirs, two_targets, fit_intercept, weighted, form):
    X, y = load_diabetes(return_X_y=True)
    X = sparsified(X, 0.03)  # about 60 % zeros
    Y = np.column_stack([y, np.sqrt(y)]) if two_targets else y
    weights = some_weights(len(y)) if weighted else None
    reference = theirs(fit_intercept=fit_intercept).fit(X, Y, sample_weight=weights)  # dense, exact
    model = ours(fit_intercept=fit_intercept).fit(form(X), Y, sample_weight=weights)
    scale = np.abs(reference.coef_).max()
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-8, atol=1e-9 * scale)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-8, atol=1e-9 * scale)
    np.testing.assert_allclose(model.predict(form(X)), model.predict(X), rtol=1e-12)
    np.testing.assert_allclose(model.predict(form(X)), reference.predict(X), rtol=1e-9)


def peak_bytes(run):
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("make", [LinearRegression, lambda: Ridge(alpha=0.5),
                                  lambda: LogisticRegression(max_iter=5, tol=1e-12)],
                         ids=["LinearRegression", "Ridge", "LogisticRegression"])
def test_sparse_X_is_never_made_dense(make):
    """100,000 × 40 with 20,000 non-zeros: dense it would take 32 MB; the fit and the predictions
    (weights and an intercept included) stay below half that (what they hold is O(n), the vectors of
    the objective's graph for LogisticRegression: about 9 MB)."""
    rng = np.random.default_rng(0)
    X = sp.random(100_000, 40, density=0.005, format="csr", random_state=0)
    y = (np.asarray(X.sum(axis=1)).ravel() + 0.1 * rng.standard_normal(100_000) > 0.02).astype(float)
    weights = rng.uniform(0.5, 2.0, 100_000)
    model = make()

    def fit_and_predict(rows):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # 5 iterations: the memory is the point
            model.fit(X[:rows], y[:rows], sample_weight=weights[:rows])
        model.predict(X[:rows])

    fit_and_predict(1000)  # imports and numba compilations first, outside the count
    peak = peak_bytes(lambda: fit_and_predict(100_000))
    assert peak < 0.5 * X.shape[0] * X.shape[1] * 8, f"{peak / 1e6:.1f} MB"


def scaled_sparse(loader, threshold):
    X, y = loader(return_X_y=True)
    return sparsified(StandardScaler().fit_transform(X), threshold), y


@pytest.mark.parametrize("form", FORMATS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("solver", ["lbfgs", "newton-cholesky", "newton-cg"])
@pytest.mark.parametrize("loader", [load_breast_cancer, load_iris])
def test_logistic_regression_on_sparse_X_equals_the_dense_fit_and_scikit_learns(loader, solver, form):
    X, y = scaled_sparse(loader, 0.5)  # about 40 % zeros
    weights = some_weights(len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        dense = LogisticRegression(C=0.5, solver=solver, tol=1e-9).fit(X, y, sample_weight=weights)
        model = LogisticRegression(C=0.5, solver=solver, tol=1e-9).fit(form(X), y, sample_weight=weights)
    np.testing.assert_allclose(model.coef_, dense.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(model.intercept_, dense.intercept_, rtol=1e-7, atol=1e-9)
    for method in ("decision_function", "predict_proba", "predict"):
        np.testing.assert_allclose(getattr(model, method)(form(X)), getattr(model, method)(X), rtol=1e-12, atol=1e-14)
    reference = SkLogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(form(X), y, sample_weight=weights)
    np.testing.assert_allclose(model.predict_proba(form(X)), reference.predict_proba(form(X)), atol=1e-5)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_stochastic_solvers_on_sparse_X_take_the_dense_steps(solver):
    X, y = scaled_sparse(load_iris, 0.5)
    settings = dict(solver=solver, tol=1e-3, max_iter=500, random_state=0)
    dense = LogisticRegression(**settings).fit(X, y)
    for form in FORMATS:
        model = LogisticRegression(**settings).fit(form(X), y)
        assert model.n_iter_[0] == dense.n_iter_[0]
        np.testing.assert_allclose(model.coef_, dense.coef_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("form", FORMATS, ids=lambda f: f.__name__)
def test_the_sparse_scores_are_differentiable_in_the_weights(form):
    """The product LogisticRegression differentiates: ∂/∂W Σ G ∘ (X Wᵀ) = Gᵀ X, written here."""
    rng = np.random.default_rng(1)
    dense = sparsified(rng.standard_normal((7, 4)), 0.6)
    W = tm.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    G = rng.standard_normal((7, 3))
    scores = form(dense) @ W.mT
    assert isinstance(scores, tm.Tensor) and scores.requires_grad
    (scores * G).sum().backward()
    np.testing.assert_allclose(W.grad.numpy(), G.T @ dense, rtol=1e-13, atol=1e-15)
