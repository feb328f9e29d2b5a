"""sample_weight (all three estimators) and class_weight (LogisticRegression) with scikit-learn's
semantics: the same fits as scikit-learn's estimators, weights equal to repeated or removed rows, and
scikit-learn's errors for bad weights."""
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression as SkLinearRegression
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.linear_model import Ridge as SkRidge
from sklearn.preprocessing import StandardScaler

from tinygrad_mat.sklearn import LinearRegression, LogisticRegression, Ridge


def log_losses(model, X, y):
    """Each row's log-loss under a fitted model, in numpy."""
    scores = X @ model.coef_.T + model.intercept_
    if scores.shape[1] == 1:
        z = scores[:, 0]
        return np.logaddexp(0.0, z) - (y == model.classes_[1]) * z
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), np.searchsorted(model.classes_, y)]


def weighted_objective(model, X, y, C, weights):
    """scikit-learn's objective C·Σ sᵢ·log-lossᵢ + ½‖W‖² with the weights sᵢ given."""
    return C * np.sum(weights * log_losses(model, X, y)) + 0.5 * np.sum(model.coef_**2)


def balanced(y, sample_weight):
    """'balanced' class weights as scikit-learn 1.9 documents them, sample weights included:
    Σs / (n_classes · Σs over the class)."""
    classes = np.unique(y)
    per_class = {c: sample_weight.sum() / (len(classes) * sample_weight[y == c].sum()) for c in classes}
    return np.array([per_class[label] for label in y])


def some_weights(n, seed=0):
    """Positive weights with a few zeros."""
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.2, 3.0, n)
    weights[rng.choice(n, n // 10, replace=False)] = 0.0
    return weights


def scaled(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def converged(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return model.fit(*args, **kwargs)


# ---------------------------------------------------------------------------- against scikit-learn

@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("two_targets", [False, True])
@pytest.mark.parametrize("ours, theirs", [(LinearRegression, SkLinearRegression),
                                          (lambda **k: Ridge(alpha=0.3, **k), lambda **k: SkRidge(alpha=0.3, **k))])
def test_regressions_with_sample_weight_equal_scikit_learns(ours, theirs, two_targets, fit_intercept):
    X, y = load_diabetes(return_X_y=True)
    Y = np.column_stack([y, np.sqrt(y)]) if two_targets else y
    weights = some_weights(len(y))
    reference = theirs(fit_intercept=fit_intercept).fit(X, Y, sample_weight=weights)
    model = ours(fit_intercept=fit_intercept).fit(X, Y, sample_weight=weights)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-9, atol=1e-9 * np.abs(reference.coef_).max())
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), rtol=1e-10)


def digits_subset():
    """The first 500 digits (all ten classes; 650 parameters), to keep the reference fit short."""
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X[:500]), y[:500]


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cholesky", "newton-cg"])
@pytest.mark.parametrize("data", [lambda: scaled(load_breast_cancer), lambda: scaled(load_iris), digits_subset],
                         ids=["breast_cancer", "iris", "digits"])
def test_logistic_regression_with_sample_weight_equals_scikit_learns(data, solver):
    X, y = data()
    weights = some_weights(len(y))
    reference = SkLogisticRegression(C=0.7, tol=1e-10, max_iter=10_000).fit(X, y, sample_weight=weights)
    model = converged(LogisticRegression(C=0.7, solver=solver, tol=1e-9, max_iter=2000), X, y, sample_weight=weights)
    best = weighted_objective(reference, X, y, 0.7, weights)
    assert abs(weighted_objective(model, X, y, 0.7, weights) - best) <= 1e-8 * best
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(model.coef_, reference.coef_, atol=1e-4 * np.abs(reference.coef_).max())
    np.testing.assert_allclose(model.intercept_, reference.intercept_, atol=1e-4 * np.abs(reference.coef_).max())
    # the unweighted objective is another one: its minimum is not this fit
    unweighted = LogisticRegression(C=0.7, tol=1e-9, max_iter=2000).fit(X, y)
    assert weighted_objective(unweighted, X, y, 0.7, weights) > best * (1 + 1e-4)


def imbalanced_iris():
    X, y = scaled(load_iris)
    keep = np.concatenate([np.arange(0, 50), np.arange(50, 75), np.arange(100, 110)])  # 50 / 25 / 10
    return X[keep], y[keep]


def imbalanced_breast_cancer():
    return scaled(load_breast_cancer)  # 212 / 357


@pytest.mark.parametrize("with_sample_weight", [False, True])
@pytest.mark.parametrize("class_weight", ["balanced", {0: 3.0, 1: 0.5, 2: 1.5}])
@pytest.mark.parametrize("data", [imbalanced_iris, imbalanced_breast_cancer])
def test_class_weight_equals_scikit_learns(data, class_weight, with_sample_weight):
    X, y = data()
    if isinstance(class_weight, dict) and len(np.unique(y)) == 2:
        class_weight = {0: 3.0, 1: 0.5}
    sample_weight = some_weights(len(y), seed=1) if with_sample_weight else None
    reference = SkLogisticRegression(C=2.0, class_weight=class_weight, tol=1e-10, max_iter=10_000)
    reference.fit(X, y, sample_weight=sample_weight)
    model = converged(LogisticRegression(C=2.0, class_weight=class_weight, tol=1e-9, max_iter=1000), X, y,
                      sample_weight=sample_weight)
    s = np.ones(len(y)) if sample_weight is None else sample_weight
    weights = s * (balanced(y, s) if class_weight == "balanced" else np.array([class_weight[c] for c in y]))
    best = weighted_objective(reference, X, y, 2.0, weights)
    assert abs(weighted_objective(model, X, y, 2.0, weights) - best) <= 1e-8 * best
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(model.coef_, reference.coef_, atol=1e-4 * np.abs(reference.coef_).max())


def test_class_weight_is_a_sample_weight_per_class():
    X, y = imbalanced_iris()
    class_weight = {0: 0.2, 1: 2.0, 2: 5.0}
    by_class = LogisticRegression(class_weight=class_weight, tol=1e-9, max_iter=1000).fit(X, y)
    by_sample = LogisticRegression(tol=1e-9, max_iter=1000).fit(X, y, sample_weight=[class_weight[c] for c in y])
    np.testing.assert_allclose(by_class.coef_, by_sample.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(by_class.intercept_, by_sample.intercept_, rtol=1e-10, atol=1e-12)


def test_balanced_class_weights_shift_the_decision_towards_the_rare_class():
    X, y = imbalanced_iris()
    plain = LogisticRegression(C=0.05).fit(X, y)
    fair = LogisticRegression(C=0.05, class_weight="balanced").fit(X, y)
    rare = y == 2
    assert fair.predict_proba(X[rare])[:, 2].mean() > plain.predict_proba(X[rare])[:, 2].mean() + 0.05


# ------------------------------------------------------------------- weights as repeated rows

def hand_made(classes):
    """Twelve rows of two features, labels of 2 or 3 classes that overlap (a finite optimum even
    without a penalty), and integer weights with zeros."""
    X = np.array([[2.0, -2.6], [0.4, -0.6], [-0.5, -0.2], [-2.0, -0.2], [-0.9, 3.3], [0.2, -0.4],
                  [-0.3, -0.7], [-1.1, -0.4], [0.5, -0.2], [1.0, -0.2], [0.0, 1.5], [0.5, -0.5]])
    if classes == 2:
        y = np.array([1, 1, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0])
    else:
        y = np.array([2, 2, 2, 1, 2, 2, 2, 0, 1, 1, 0, 1])
    weights = np.array([2, 0, 1, 3, 1, 2, 0, 1, 1, 2, 1, 1])
    return X, y, weights


ESTIMATORS = {  # ours, and scikit-learn's counterpart
    "LinearRegression": (LinearRegression, SkLinearRegression),
    "Ridge": (lambda: Ridge(alpha=0.7), lambda: SkRidge(alpha=0.7)),
    "LogisticRegression-lbfgs": (lambda: LogisticRegression(C=3.0, tol=1e-10, max_iter=500),
                                 lambda: SkLogisticRegression(C=3.0, tol=1e-12, max_iter=10_000)),
    "LogisticRegression-newton": (lambda: LogisticRegression(C=3.0, solver="newton", tol=1e-10),
                                  lambda: SkLogisticRegression(C=3.0, tol=1e-12, max_iter=10_000)),
    "LogisticRegression-no-penalty": (lambda: LogisticRegression(C=np.inf, tol=1e-10, max_iter=500),
                                      lambda: SkLogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000)),
}


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("make, theirs", ESTIMATORS.values(), ids=ESTIMATORS.keys())
def test_integer_weights_equal_repeated_rows_and_zero_weights_removed_rows(make, theirs, classes):
    X, y, weights = hand_made(classes)
    weighted = converged(make(), X, y, sample_weight=weights)
    repeated = converged(make(), np.repeat(X, weights, axis=0), np.repeat(y, weights))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(weighted.intercept_, repeated.intercept_, rtol=1e-7, atol=1e-9)
    reference = theirs().fit(X, y, sample_weight=weights)
    scale = np.abs(reference.coef_).max()  # our lbfgs may stop at a gradient of 1e-8 (√ε), not 1e-10
    np.testing.assert_allclose(weighted.coef_, reference.coef_, rtol=1e-6, atol=1e-7 * scale)
    np.testing.assert_allclose(weighted.intercept_, reference.intercept_, rtol=1e-6, atol=1e-7 * scale)
    # weights of 2 scale the data term: Ridge's Σ 2rᵢ² + α‖w‖² is twice Σ rᵢ² + (α/2)‖w‖², and
    # C·Σ 2·lossᵢ + ½‖W‖² is (2C)·Σ lossᵢ + ½‖W‖² (scikit-learn's scaling; C = inf stays inf)
    doubled = converged(make(), X, y, sample_weight=np.full(len(y), 2.0))
    plain = make()
    if isinstance(plain, Ridge):
        plain.set_params(alpha=plain.alpha / 2)
    if isinstance(plain, LogisticRegression):
        plain.set_params(C=2 * plain.C)
    np.testing.assert_allclose(doubled.coef_, converged(plain, X, y).coef_, rtol=1e-7, atol=1e-9)


# ----------------------------------------------------------------------------------- bad weights

BAD_WEIGHTS = {
    "too long": (np.ones(13), r"sample_weight.shape == \(13,\), expected \(12,\)"),
    "2-d": (np.ones((12, 1)), "Sample weights must be 1D array or scalar"),
    "all zero": (np.zeros(12), "Sample weights must contain at least one non-zero number"),
    "NaN": (np.array([1.0] * 11 + [np.nan]), "Input sample_weight contains NaN"),
    "negative": (np.array([1.0] * 11 + [-1.0]), "Negative values in data passed to `sample_weight`"),
}


@pytest.mark.parametrize("bad", BAD_WEIGHTS, ids=BAD_WEIGHTS.keys())
@pytest.mark.parametrize("ours, theirs", [(LinearRegression, SkLinearRegression), (Ridge, SkRidge),
                                          (LogisticRegression, SkLogisticRegression)])
def test_bad_sample_weights_are_refused_as_scikit_learn_refuses_them(ours, theirs, bad):
    X, y, _ = hand_made(2)
    weights, message = BAD_WEIGHTS[bad]
    with pytest.raises(ValueError, match=message):
        ours().fit(X, y, sample_weight=weights)
    if not (theirs is not SkLinearRegression and bad == "negative"):  # scikit-learn's Ridge takes their √,
        # its LogisticRegression fits with them: an objective unbounded below
        with pytest.raises(ValueError, match=message):
            theirs().fit(X, y, sample_weight=weights)


def test_a_refused_fit_leaves_the_fitted_model_as_it_was():
    X, y, weights = hand_made(3)
    model = LogisticRegression().fit(X, y)
    before = (model.coef_.copy(), model.intercept_.copy(), model.classes_.copy())
    with pytest.raises(ValueError, match="class weights must be"):
        model.set_params(class_weight={"a": 1.0, "b": -1.0, "c": 1.0}).fit(X[:6], np.array(list("abcabc")))
    np.testing.assert_array_equal(model.coef_, before[0])
    np.testing.assert_array_equal(model.classes_, before[2])


def test_bad_class_weights_are_refused():
    X, y, weights = hand_made(3)
    with pytest.raises(ValueError, match=r"The classes, \[2\], are not in class_weight"):
        LogisticRegression(class_weight={0: 1.0, 1: 2.0, 5: 1.0}).fit(X, y)
    with pytest.raises(ValueError, match="class weights must be finite and ≥ 0"):
        LogisticRegression(class_weight={0: 1.0, 1: -2.0, 2: 1.0}).fit(X, y)
    with pytest.raises(ValueError, match="weighted samples sum to zero"):
        LogisticRegression(class_weight={0: 0.0, 1: 0.0, 2: 1.0}).fit(X, y, sample_weight=np.where(y == 2, 0.0, 1.0))


def test_a_scalar_sample_weight_is_every_row_weighted_alike():
    X, y, _ = hand_made(2)
    np.testing.assert_allclose(LinearRegression().fit(X, y, sample_weight=3.0).coef_, LinearRegression().fit(X, y).coef_,
                               rtol=1e-12)
