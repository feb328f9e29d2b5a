"""The estimators pass scikit-learn's estimator checks, and fit what scikit-learn fits."""
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from tinygrad_mat.sklearn import LinearRegression, LogisticRegression, Ridge


@parametrize_with_checks([LinearRegression(), Ridge(alpha=0.5), LogisticRegression(),
                          LogisticRegression(solver="newton")])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def sklearn_objective(model, X, y, C):
    scores = X @ model.coef_.T + model.intercept_
    if scores.shape[1] == 1:
        z = scores[:, 0]
        data = np.sum(np.logaddexp(0.0, z) - (y == model.classes_[1]) * z)
    else:
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        data = -log_p[np.arange(len(y)), np.searchsorted(model.classes_, y)].sum()
    return C * data + 0.5 * np.sum(model.coef_**2)


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
@pytest.mark.parametrize("loader", [load_breast_cancer, load_iris])
def test_logistic_regression_reaches_scikit_learns_objective(solver, loader):
    X, y = loader(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    reference = SkLogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(X, y)
    ours = LogisticRegression(C=0.5, solver=solver, tol=1e-8, max_iter=300).fit(X, y)
    best = sklearn_objective(reference, X, y, 0.5)
    assert abs(sklearn_objective(ours, X, y, 0.5) - best) <= 1e-6 * best
    assert ours.coef_.shape == reference.coef_.shape and ours.intercept_.shape == reference.intercept_.shape
    np.testing.assert_allclose(ours.predict_proba(X), reference.predict_proba(X), atol=1e-5)


def test_estimators_work_in_pipelines_and_grid_search():
    X, y = load_iris(return_X_y=True)
    search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()), {"logisticregression__C": [0.1, 1.0]}, cv=3)
    search.fit(X, y)
    assert search.best_score_ > 0.9
    assert set(search.best_estimator_.predict(X)) == {0, 1, 2}


def test_bad_parameters_are_refused_at_fit():
    X, y = np.ones((4, 2)), np.array([0, 1, 0, 1])
    for bad, message in [(dict(solver="liblinear"), "solver must be"), (dict(C=0.0), "C must be positive"),
                         (dict(penalty="l1"), "penalty must be")]:
        with pytest.raises(ValueError, match=message):
            LogisticRegression(**bad).fit(X, y)
    with pytest.raises(ValueError, match="alpha must be"):
        Ridge(alpha=-1.0).fit(X, y)
