"""scikit-learn estimators fitted by tinygrad_mat: ``LinearRegression``, ``Ridge``, ``LogisticRegression``.

Parameters, attributes (``coef_``, ``intercept_``, ``classes_``, ``n_iter_``) and methods (fit,
predict, predict_proba, decision_function, score) are named and shaped as scikit-learn's, so they
work in pipelines and grid searches; they pass scikit-learn's estimator checks. The linear
regressions are closed forms through the differentiable ``solve``; logistic regression minimises
scikit-learn's own objective, C·Σ log-loss + ½‖W‖² (no penalty on the intercept), with
``solver`` in {'lbfgs', 'newton', 'adam', 'sgd'}. Needs scikit-learn (``pip install scikit-learn``);
this is the only module that imports it.
"""
import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as error:  # pragma: no cover - the message is the point
    raise ImportError("tinygrad_mat.sklearn needs scikit-learn: pip install scikit-learn") from error

from . import creation, linalg, modes, optim
from .nn import functional as losses


def _centre(X, y, fit_intercept):
    if not fit_intercept:
        return X, y, np.zeros(X.shape[1]), np.zeros(y.shape[1:])
    X_mean, y_mean = X.mean(axis=0), y.mean(axis=0)
    return X - X_mean, y - y_mean, X_mean, y_mean


class _LinearRegressor(RegressorMixin, BaseEstimator):
    def _solve(self, X, y):
        raise NotImplementedError

    def fit(self, X, y):
        X, y = validate_data(self, X, y, y_numeric=True, multi_output=True, dtype=np.float64)
        Xc, yc, X_mean, y_mean = _centre(X, y, self.fit_intercept)
        coef = np.asarray(self._solve(Xc, yc))  # (n_features,) or (n_features, n_targets)
        self.coef_ = coef.T
        self.intercept_ = y_mean - X_mean @ coef if self.fit_intercept else (0.0 if y.ndim == 1 else np.zeros(y.shape[1]))
        return self

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_.T + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class LinearRegression(_LinearRegressor):
    """Ordinary least squares, as ``sklearn.linear_model.LinearRegression`` (through ``tm.linalg.lstsq``).

    >>> import numpy as np
    >>> from tinygrad_mat.sklearn import LinearRegression
    >>> X = np.array([[0.0], [1.0], [2.0]]); y = np.array([1.0, 3.0, 5.0])
    >>> model = LinearRegression().fit(X, y)
    >>> model.coef_.round(12), round(float(model.intercept_), 12)
    (array([2.]), 1.0)
    """

    def __init__(self, fit_intercept=True):
        self.fit_intercept = fit_intercept

    def _solve(self, X, y):
        with modes.no_grad():
            return linalg.lstsq(X, y)[0].numpy()


class Ridge(_LinearRegressor):
    """Least squares with the penalty alpha·‖w‖², as ``sklearn.linear_model.Ridge``: (XᵀX + αI)⁻¹Xᵀy
    by ``tm.linalg.ridge`` (differentiable in α: see the hypergradient example)."""

    def __init__(self, alpha=1.0, fit_intercept=True):
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def _solve(self, X, y):
        if not np.isscalar(self.alpha) or self.alpha < 0:
            raise ValueError(f"Ridge: alpha must be a number ≥ 0, got {self.alpha!r}")
        with modes.no_grad():
            return linalg.ridge(X, y, float(self.alpha)).numpy()


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression (binary, or multinomial for more classes) with scikit-learn's parameters and
    objective C·Σᵢ log-loss + ½‖W‖², minimised by tinygrad_mat: ``solver`` 'lbfgs' (L-BFGS with a
    strong-Wolfe search, as scikit-learn's default), 'newton' (exact Hessian), 'adam' or 'sgd'
    (minibatches of ``batch_size``; ``learning_rate``; ``max_iter`` epochs).

    >>> import numpy as np
    >>> from tinygrad_mat.sklearn import LogisticRegression
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([0, 0, 1, 1])
    >>> LogisticRegression().fit(X, y).predict([[-3.0], [3.0]])
    array([0, 1])
    """

    def __init__(self, C=1.0, penalty="l2", fit_intercept=True, max_iter=100, tol=1e-4, solver="lbfgs",
                 learning_rate=0.01, batch_size=32, random_state=None):
        self.C = C
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.random_state = random_state

    def _check_parameters(self):
        if self.solver not in ("lbfgs", "newton", "adam", "sgd"):
            raise ValueError(f"LogisticRegression: solver must be 'lbfgs', 'newton', 'adam' or 'sgd', not {self.solver!r}")
        if self.penalty not in ("l2", None):
            raise ValueError(f"LogisticRegression: penalty must be 'l2' or None, not {self.penalty!r}")
        if not np.isscalar(self.C) or self.C <= 0:
            raise ValueError(f"LogisticRegression: C must be positive, got {self.C!r}")
        if int(self.max_iter) != self.max_iter or self.max_iter <= 0:
            raise ValueError(f"LogisticRegression: max_iter must be a positive integer, got {self.max_iter!r}")

    def objective(self, X, y_index, W, b):
        """scikit-learn's objective at (W, b): C·Σ log-loss + ½‖W‖² (a Tensor)."""
        scores = X @ W.mT + b if b is not None else X @ W.mT
        if W.shape[0] == 1:
            data = losses.binary_cross_entropy_with_logits(scores[:, 0], y_index.astype(float), reduction="sum")
        else:
            data = losses.cross_entropy(scores, y_index, reduction="sum")
        penalty = 0.5 * (W * W).sum() if self.penalty == "l2" else 0.0
        return self.C * data + penalty

    def fit(self, X, y):
        self._check_parameters()
        X, y = validate_data(self, X, y, dtype=np.float64)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"LogisticRegression: needs samples of at least 2 classes, got one class: {self.classes_[0]!r}")
        rows = 1 if len(self.classes_) == 2 else len(self.classes_)
        W = creation.zeros((rows, X.shape[1]), requires_grad=True)
        b = creation.zeros(rows, requires_grad=True) if self.fit_intercept else None
        params = [W] + ([b] if b is not None else [])
        self.n_iter_ = np.array([self._minimise(X, y_index, W, b, params)])
        self.coef_ = np.array(W.numpy())
        self.intercept_ = np.array(b.numpy()) if b is not None else np.zeros(rows)
        return self

    def _minimise(self, X, y_index, W, b, params):
        closure_loss = lambda: self.objective(X, y_index, W, b)
        if self.solver == "lbfgs":
            opt = optim.LBFGS(params, max_iter=self.max_iter, line_search_fn="strong_wolfe",
                              tolerance_grad=self.tol * 1e-3, tolerance_change=1e-15, history_size=20)

            def closure():
                loss = closure_loss()
                loss.backward()
                return loss

            opt.step(closure)
            return max(1, opt.state["lbfgs"]["iterations"])
        if self.solver == "newton":
            opt = optim.Newton(params)
            for iteration in range(1, self.max_iter + 1):
                before = [p.numpy().copy() for p in params]
                opt.step(closure_loss)
                change = max(float(np.max(np.abs(p.numpy() - q), initial=0.0)) for p, q in zip(params, before))
                if change <= self.tol * 1e-3:
                    return iteration
            return self.max_iter
        n = len(y_index)
        opt = (optim.Adam if self.solver == "adam" else optim.SGD)(params, lr=self.learning_rate)
        rng = np.random.default_rng(self.random_state)
        batch = min(int(self.batch_size), n)
        for epoch in range(1, self.max_iter + 1):
            order = rng.permutation(n)
            for start in range(0, n, batch):
                rows = order[start:start + batch]
                opt.zero_grad()
                part = self.objective(X[rows], y_index[rows], W, b)
                # the data term of one batch, scaled to the whole set; the penalty once per epoch's worth
                (part * (len(rows) / n) if self.penalty is None else part).backward()
                opt.step()
        return self.max_iter

    def decision_function(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        scores = X @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X):
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = 0.5 * (1.0 + np.tanh(0.5 * scores))  # the logistic function, without overflow
            return np.stack([1.0 - p, p], axis=1)
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        scores = self.decision_function(X)
        index = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[index]


__all__ = ["LinearRegression", "Ridge", "LogisticRegression"]
