"""scikit-learn estimators fitted by tinygrad_mat: ``LinearRegression``, ``Ridge``, ``LogisticRegression``.

Parameters, attributes (``coef_``, ``intercept_``, ``classes_``, ``n_iter_``) and methods (fit with
``sample_weight``, predict, predict_proba, decision_function, score) are named and shaped as
scikit-learn's, so they work in pipelines and grid searches; they pass scikit-learn's estimator checks.
The linear regressions are closed forms through the differentiable ``solve``; logistic regression
minimises scikit-learn's own objective, C·Σᵢ sᵢ·log-lossᵢ + ½‖W‖² (no penalty on the intercept), with
``solver`` in {'lbfgs', 'newton-cholesky' (alias 'newton'), 'newton-cg', 'adam', 'sgd'}. ``X`` may be a
scipy.sparse matrix where the estimator's docstring says so (scipy is imported only when one arrives).
Needs scikit-learn (``pip install scikit-learn``); this is the only module that imports it.
"""
import math
import numbers
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils.class_weight import compute_class_weight
    from sklearn.utils.extmath import safe_sparse_dot
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data
except ImportError as error:  # pragma: no cover - the message is the point
    raise ImportError("tinygrad_mat.sklearn needs scikit-learn: pip install scikit-learn") from error

from . import creation, linalg, modes, optim
from .nn import functional as losses

SPARSE_FORMATS = ("csr", "csc")  # other scipy.sparse formats are converted to CSR by validate_data


def _is_sparse(X):
    """True for a scipy.sparse matrix or array; scipy is imported only when X is not a numpy array."""
    if isinstance(X, np.ndarray):
        return False
    from scipy import sparse
    return sparse.issparse(X)


def _checked_sample_weight(sample_weight, X):
    """scikit-learn's validation of ``sample_weight`` (shape (n_samples,) or a number; finite, not all
    zero), plus: no negative weight (a negative weight makes the objective unbounded below)."""
    return _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)


# ----------------------------------------------------------------------------------------- regressions

def _offsets(X, y, sample_weight, fit_intercept):
    """The (weighted) means of X's columns and of y, which the intercept absorbs; zeros without one."""
    if not fit_intercept:
        return np.zeros(X.shape[1]), np.zeros(y.shape[1:])
    if sample_weight is None:
        weights = np.full(X.shape[0], 1.0 / X.shape[0])
    else:
        weights = sample_weight / sample_weight.sum()
    return np.asarray(safe_sparse_dot(X.T, weights)).reshape(-1), weights @ y


class _LinearRegressor(RegressorMixin, BaseEstimator):
    """Shared fit and predict: centre by the (weighted) means, solve for the coefficients, and
    recover the intercept, as scikit-learn's ``_preprocess_data`` and ``_set_intercept`` do."""

    def _check_parameters(self):
        pass

    def _solve(self, X, y):
        """Coefficients for centred, √weight-scaled dense data."""
        raise NotImplementedError

    def _solve_normal(self, gram, moment):
        """Coefficients from the centred weighted Gram matrix XᵀSX and moment XᵀSy (sparse X)."""
        raise NotImplementedError

    def fit(self, X, y, sample_weight=None):
        """Fit to X (n_samples, n_features), dense or scipy.sparse CSR/CSC (never densified: the
        centring goes through the Gram matrix), y (n_samples,) or (n_samples, n_targets), and
        ``sample_weight`` (n_samples,): each squared residual counts sᵢ times, as in scikit-learn."""
        self._check_parameters()
        X, y = validate_data(self, X, y, accept_sparse=SPARSE_FORMATS, y_numeric=True, multi_output=True,
                             dtype=np.float64)
        if sample_weight is not None:
            sample_weight = _checked_sample_weight(sample_weight, X)
        X_offset, y_offset = _offsets(X, y, sample_weight, self.fit_intercept)
        fit = self._coef_sparse if _is_sparse(X) else self._coef_dense
        coef = np.asarray(fit(X, y, sample_weight, X_offset, y_offset))  # (n_features,) or (n_features, n_targets)
        self.coef_ = coef.T
        if self.fit_intercept:
            self.intercept_ = y_offset - X_offset @ coef
        else:
            self.intercept_ = 0.0 if y.ndim == 1 else np.zeros(y.shape[1])
        return self

    def _coef_dense(self, X, y, sample_weight, X_offset, y_offset):
        Xc, yc = X - X_offset, y - y_offset
        if sample_weight is not None:  # Σ sᵢ rᵢ² is the plain least squares of √sᵢ-scaled rows
            root = np.sqrt(sample_weight)
            Xc, yc = Xc * root[:, None], yc * root.reshape((-1,) + (1,) * (y.ndim - 1))
        return self._solve(Xc, yc)

    def _coef_sparse(self, X, y, sample_weight, X_offset, y_offset):
        weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
        total = weights.sum()
        XS = X.multiply(weights[:, None])  # still sparse
        gram = X.T @ XS
        gram = gram.toarray() if _is_sparse(gram) else np.asarray(gram)  # (n_features, n_features)
        moment = np.asarray(XS.T @ y)
        # (X − 1x̄ᵀ)ᵀS(X − 1x̄ᵀ) = XᵀSX − (Σs)·x̄x̄ᵀ, and likewise the moment: X itself is never centred
        gram = gram - total * np.outer(X_offset, X_offset)
        moment = moment - total * np.multiply.outer(X_offset, y_offset)
        return self._solve_normal(gram, moment)

    def predict(self, X):
        """X @ coef_ᵀ + intercept_, for dense or scipy.sparse X."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=SPARSE_FORMATS, reset=False, dtype=np.float64)
        return safe_sparse_dot(X, self.coef_.T) + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = True
        return tags


class LinearRegression(_LinearRegressor):
    """Ordinary least squares, as ``sklearn.linear_model.LinearRegression``: minimises
    Σᵢ sᵢ(yᵢ − xᵢ·w − b)² (sᵢ = ``sample_weight``, 1 by default) through ``tm.linalg.lstsq`` (the
    minimum-norm solution when X is rank-deficient). Sparse X is solved through its centred Gram
    matrix, so its condition number is squared there. ``fit_intercept`` is keyword-only, as in
    scikit-learn; its ``copy_X``, ``tol``, ``n_jobs`` and ``positive`` are not supported.

    >>> import numpy as np
    >>> from tinygrad_mat.sklearn import LinearRegression
    >>> X = np.array([[0.0], [1.0], [2.0]]); y = np.array([1.0, 3.0, 5.0])
    >>> model = LinearRegression().fit(X, y)
    >>> model.coef_.round(12), round(float(model.intercept_), 12)
    (array([2.]), 1.0)
    """

    def __init__(self, *, fit_intercept=True):
        self.fit_intercept = fit_intercept

    def _solve(self, X, y):
        with modes.no_grad():
            return linalg.lstsq(X, y)[0].numpy()

    def _solve_normal(self, gram, moment):
        with modes.no_grad():  # the minimum-norm solution of the normal equations is lstsq's
            return linalg.lstsq(gram, moment)[0].numpy()


class Ridge(_LinearRegressor):
    """Least squares with the penalty alpha·‖w‖², as ``sklearn.linear_model.Ridge``: minimises
    Σᵢ sᵢ(yᵢ − xᵢ·w − b)² + α‖w‖² by (XᵀSX + αI)⁻¹XᵀSy on centred data (``tm.linalg.ridge``,
    differentiable in α: see the hypergradient example). ``alpha`` is one number ≥ 0; scikit-learn's
    ``solver``, ``max_iter``, ``tol``, ``positive`` and per-target alphas are not supported.

    >>> import numpy as np
    >>> from tinygrad_mat.sklearn import Ridge
    >>> X = np.array([[1.0], [-1.0]]); y = np.array([1.0, -1.0])
    >>> float(Ridge(alpha=2.0).fit(X, y).coef_[0])      # Σx² / (Σx² + α) = 2 / 4
    0.5
    """

    def __init__(self, alpha=1.0, *, fit_intercept=True):
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def _check_parameters(self):
        if not isinstance(self.alpha, numbers.Real) or not self.alpha >= 0 or not np.isfinite(self.alpha):
            raise ValueError(f"Ridge: alpha must be a finite number ≥ 0, got {self.alpha!r}")

    def _solve(self, X, y):
        with modes.no_grad():
            return linalg.ridge(X, y, float(self.alpha)).numpy()

    def _solve_normal(self, gram, moment):
        with modes.no_grad():
            return linalg.solve(gram + float(self.alpha) * np.eye(gram.shape[0]), moment).numpy()


# ------------------------------------------------------------------------------------------ logistic

SOLVERS = {"lbfgs": "lbfgs", "newton": "exact", "newton-cholesky": "exact", "newton-cg": "cg",
           "sgd": "sgd", "adam": "adam"}
DEFAULT_LEARNING_RATE = {"sgd": 1.0, "adam": 0.3}
ADAM_DECAY_EPOCHS = 3  # Adam's step halves after this many epochs, then decays as 1/t
FLOAT64_FLOOR = math.sqrt(np.finfo(np.float64).eps)  # ≈ 1.5e-8: gradients below it may not lower f in float64


class _Objective:
    """scikit-learn's logistic objective divided by C·Σs (the same minimiser, gradients of order one,
    as scikit-learn's own ``LinearModelLoss``):

        f(W, b) = Σᵢ sᵢ·lossᵢ / Σs + ‖W‖² / (2·C·Σs)

    ``weights`` are the sᵢ (sample_weight × class_weight) or None for all ones; ``l2`` is 1/(C·Σs),
    0 without a penalty. On a minibatch of ``rows`` it returns the unbiased estimate of f: the data term
    of the rows scaled by n/|rows| (rows drawn uniformly), the penalty whole.
    """

    def __init__(self, X, targets, weights, n_classes, l2, solver):
        self.X, self.targets, self.n, self.l2, self.solver = X, targets, X.shape[0], l2, solver
        self.binary = n_classes == 2
        self.fractions = None if weights is None else weights / weights.sum()  # sᵢ / Σs

    def __call__(self, W, b, rows=None):
        X, targets, fractions = self.X, self.targets, self.fractions
        if rows is not None:
            X, targets = X[rows], targets[rows]
            fractions = None if fractions is None else fractions[rows] * (self.n / len(rows))
        scores = X @ W.mT + b if b is not None else X @ W.mT
        reduction = "mean" if fractions is None else "sum"  # mean: each row weighs 1/n
        if self.binary:
            data = losses.binary_cross_entropy_with_logits(scores[:, 0], targets, reduction=reduction,
                                                           sample_weight=fractions)
        else:
            data = losses.cross_entropy(scores, targets, reduction=reduction, sample_weight=fractions)
        return data + (0.5 * self.l2) * (W * W).sum() if self.l2 else data

    def checked(self, value):
        """``value`` (the objective, a Tensor) if finite; otherwise an error (never a silent fit)."""
        if not np.isfinite(value.item()):
            self.not_finite(f"the objective became {value.item()}")
        return value

    def not_finite(self, what):
        raise FloatingPointError(
            f"LogisticRegression(solver={self.solver!r}): {what} (X @ W overflows float64 with max |X| = "
            f"{abs(self.X).max():.3g}, or the steps diverged): standardise X (e.g. StandardScaler) or, for sgd "
            "and adam, lower learning_rate")

    def largest_gradient(self, params):
        """max |∂f| from the parameters' gradients (an error if not finite)."""
        largest = max(float(np.max(np.abs(p.grad.numpy()), initial=0.0)) for p in params)
        if not np.isfinite(largest):
            self.not_finite(f"a gradient became {largest}")
        return largest

    def gradient_max(self, W, b, params):
        """max |∂f| on all the data at (W, b): the stopping rule of every solver."""
        for p in params:
            p.grad = None
        with modes.enable_grad():
            self.checked(self(W, b)).backward()
        largest = self.largest_gradient(params)
        for p in params:
            p.grad = None
        return largest


def _centre_over_classes(params):
    """Multinomial scores are unchanged by adding one vector to every class's row of W (one number to
    every intercept), so keep the representative whose rows sum to zero: the scaled objective does not
    increase (the penalty can only drop), and decision_function is unique (scikit-learn's too)."""
    for p in params:
        p.data = p.numpy() - p.numpy().mean(axis=0)


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression (binary, or multinomial for more classes) with scikit-learn's parameters and
    objective, minimised by tinygrad_mat's autodiff and optimizers:

        C·Σᵢ sᵢ·log-lossᵢ + ½‖W‖²,   sᵢ = sample_weight[i] × class_weight[yᵢ]

    (no penalty on the intercept), the objective of ``sklearn.linear_model.LogisticRegression``
    1.9 with the same ``sample_weight`` and ``class_weight`` (a dict {label: weight} or 'balanced':
    Σs / (n_classes · Σs of the class), sample weights included). Every solver minimises it, scaled
    by 1/(C·Σs) as scikit-learn does internally, and stops when the largest entry of that scaled
    objective's gradient on all the data is ≤ ``tol`` (scikit-learn's lbfgs rule), or, for lbfgs and
    Newton, when the objective stops decreasing (by 1e-15 or more, at its scale of one) with that
    gradient ≤ √ε ≈ 1.5e-8: a tol below √ε may end there, as scikit-learn's lbfgs ends on its ftol:

    - 'lbfgs': L-BFGS with a strong-Wolfe line search; ``max_iter`` iterations at most.
    - 'newton-cholesky' (or 'newton'): Newton's method with the exact Hessian; 'newton-cg': with
      conjugate gradients on Hessian-vector products. ``max_iter`` Newton steps at most.
    - 'sgd', 'adam': minibatches of ``batch_size`` rows drawn without replacement, each giving an
      unbiased estimate of the gradient (the batch's data term scaled by n/batch, the penalty whole);
      the step decays from ``learning_rate`` η (default 1.0 for sgd, 0.3 for adam; meant for
      standardised features): sgd's as η/(1 + η·t/(C·Σs)) at step t (the 1/(μt) schedule for the
      penalty's strong convexity μ; η/√(1 + t/steps per epoch) without a penalty), adam's as
      η/(1 + t/(3·steps per epoch)). ``max_iter`` counts epochs; the rule is checked after each.
      They need many more epochs than lbfgs needs iterations: on standardised breast_cancer and iris
      (C = 1, tests/test_sklearn.py) with ``tol=1e-4`` both stop before 1,500 epochs with the
      objective within 2e-4 (relative) of its minimum; the default max_iter=100 usually warns.

    When ``max_iter`` ends a fit before the rule holds, or a line search finds no decrease with the
    gradient above that, a ``sklearn.exceptions.ConvergenceWarning`` says so; ``n_iter_`` holds the
    iterations (epochs) run. An objective that overflows (features
    of 1e160, steps that diverge) raises ``FloatingPointError``. ``C=np.inf`` or ``penalty=None``
    fits without a penalty (C is then unused). For more than two classes the rows of ``coef_`` and
    the intercepts sum to zero (scores are unchanged by a common shift; scikit-learn's lbfgs keeps
    the same representative).

    Supported from scikit-learn 1.9's parameters: ``C``, ``l1_ratio`` (0 only: the L2 penalty),
    ``penalty`` ('l2' or None; deprecated by scikit-learn 1.8 in favour of ``l1_ratio`` and
    ``C=np.inf``, accepted here without a warning), ``tol``, ``fit_intercept``, ``class_weight``,
    ``random_state`` (the minibatch order), ``solver``, ``max_iter``, keyword-only after ``penalty``
    as there; not ``dual``, ``intercept_scaling``, ``warm_start``, ``verbose``, ``n_jobs``, nor the
    L1 and elastic-net penalties. Unlike scikit-learn, negative sample weights are refused (they make
    the objective unbounded below). ``X`` may be a scipy.sparse matrix (CSR; CSC and the other
    formats are converted to one CSR copy) in fit and in the predictions: the scores X @ Wᵀ are
    tinygrad_mat's differentiable sparse product, so X is never densified.

    >>> import numpy as np
    >>> from tinygrad_mat.sklearn import LogisticRegression
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([0, 0, 1, 1])
    >>> LogisticRegression().fit(X, y).predict([[-3.0], [3.0]])
    array([0, 1])
    """

    def __init__(self, penalty="l2", *, C=1.0, l1_ratio=0.0, tol=1e-4, fit_intercept=True, class_weight=None,
                 random_state=None, solver="lbfgs", max_iter=100, learning_rate=None, batch_size=32):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.random_state = random_state
        self.solver = solver
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.batch_size = batch_size

    # -- parameters and data

    def _check_parameters(self):
        name = "LogisticRegression"
        if self.solver not in SOLVERS:
            raise ValueError(f"{name}: solver must be one of {', '.join(map(repr, SOLVERS))}, not {self.solver!r} "
                             "(for 'liblinear', 'sag' or 'saga' use scikit-learn's own estimator)")
        if self.penalty not in ("l2", None):
            raise ValueError(f"{name}: penalty must be 'l2' or None, not {self.penalty!r} (only the L2 penalty "
                             "is supported; for L1 or elastic-net use scikit-learn with solver='saga')")
        if self.l1_ratio not in (0, None):
            raise ValueError(f"{name}: l1_ratio must be 0 (the L2 penalty), not {self.l1_ratio!r}: L1 and "
                             "elastic-net penalties are not supported (scikit-learn's solver='saga' has them)")
        if not isinstance(self.C, numbers.Real) or not self.C > 0:
            raise ValueError(f"{name}: C must be positive (np.inf for no penalty), got {self.C!r}")
        if not isinstance(self.tol, numbers.Real) or not self.tol >= 0:
            raise ValueError(f"{name}: tol must be a number ≥ 0, got {self.tol!r}")
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter <= 0:
            raise ValueError(f"{name}: max_iter must be a positive integer, got {self.max_iter!r}")
        if not (self.class_weight is None or isinstance(self.class_weight, dict) or
                (isinstance(self.class_weight, str) and self.class_weight == "balanced")):
            raise ValueError(f"{name}: class_weight must be None, 'balanced' or a dict {{label: weight}}, "
                             f"not {self.class_weight!r}")
        if self.solver in ("sgd", "adam"):
            rate = self.learning_rate
            if rate is not None and (not isinstance(rate, numbers.Real) or not 0 < rate < np.inf):
                raise ValueError(f"{name}: learning_rate must be a positive number or None, got {rate!r}")
            if not isinstance(self.batch_size, numbers.Integral) or self.batch_size <= 0:
                raise ValueError(f"{name}: batch_size must be a positive integer, got {self.batch_size!r}")

    def _penalised(self):
        return self.penalty is not None and self.C != np.inf

    def _weights(self, X, y, classes, y_index, sample_weight):
        """sᵢ = sample_weight × class_weight[yᵢ] as scikit-learn forms them, or None for all ones."""
        if sample_weight is None and self.class_weight is None:
            return None
        weights = _checked_sample_weight(sample_weight, X)
        if self.class_weight is not None:
            with np.errstate(divide="ignore"):  # 'balanced' with a class weighing 0: said below
                per_class = compute_class_weight(self.class_weight, classes=classes, y=y, sample_weight=weights)
            if not (np.all(np.isfinite(per_class)) and np.all(per_class >= 0)):
                raise ValueError(f"LogisticRegression: class weights must be finite and ≥ 0, got {per_class} for the "
                                 f"classes {classes} ('balanced' divides by each class's total sample weight)")
            weights = weights * per_class[y_index]
        if not weights.sum() > 0:
            raise ValueError("LogisticRegression: the weighted samples sum to zero (sample_weight × class_weight); "
                             "give at least one sample a positive weight")
        return weights

    def _problem(self, X, y, sample_weight):
        """The classes, and the scaled objective of this data with its weights."""
        classes, y_index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"LogisticRegression: needs samples of at least 2 classes, got one class: {classes[0]!r}")
        weights = self._weights(X, y, classes, y_index, sample_weight)
        total = X.shape[0] if weights is None else float(weights.sum())
        l2 = 1.0 / (self.C * total) if self._penalised() else 0.0
        targets = y_index.astype(float) if len(classes) == 2 else y_index
        return classes, _Objective(X, targets, weights, len(classes), l2, self.solver)

    # -- fitting

    def fit(self, X, y, sample_weight=None):
        """Fit to X (n_samples, n_features), labels y (n_samples,) and optional ``sample_weight``
        (n_samples,); warns with ``ConvergenceWarning`` if ``max_iter`` ends the fit first."""
        self._check_parameters()
        # CSC arrives as CSR, one copy: minibatches slice rows (X is never densified)
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float64)
        if _is_sparse(X):  # one frozen copy: the sparse products of every evaluation use it uncopied
            X = X.copy()
            for part in (X.data, X.indices, X.indptr):
                part.flags.writeable = False
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        classes, objective = self._problem(X, y, sample_weight)
        rows = 1 if len(classes) == 2 else len(classes)
        W = creation.zeros((rows, X.shape[1]), requires_grad=True)
        b = creation.zeros(rows, requires_grad=True) if self.fit_intercept else None
        params = [W] + ([b] if b is not None else [])
        n_iter, trouble = self._minimise(objective, W, b, params)
        if rows > 1:
            _centre_over_classes(params)
        if trouble is not None:
            warnings.warn(f"LogisticRegression(solver={self.solver!r}): {trouble}", ConvergenceWarning)
        self.classes_ = classes
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        self.coef_ = np.array(W.numpy())
        self.intercept_ = np.array(b.numpy()) if b is not None else np.zeros(rows)
        return self

    def _minimise(self, objective, W, b, params):
        """Run the solver; returns (iterations, None) once converged, else (iterations, why not)."""
        method = SOLVERS[self.solver]
        if method == "lbfgs":
            return self._lbfgs(objective, W, b, params)
        if method in ("exact", "cg"):
            return self._newton(objective, W, b, params, method)
        return self._stochastic(objective, W, b, params, method)

    def _out_of_budget(self, unit):
        return (f"max_iter={self.max_iter} {unit} ended the fit before the gradient reached tol={self.tol}; "
                "increase max_iter")

    def _stalled(self, iterations, largest):
        """None (converged) if a solver that found no further decrease stopped with the gradient at
        float64's floor; otherwise why it stopped."""
        if largest <= max(self.tol, FLOAT64_FLOOR):
            return None
        advice = "standardise X" + (", or try solver='lbfgs'" if self.solver != "lbfgs" else "")
        return (f"no decrease of the objective was found after {iterations} iterations while its gradient is "
                f"still {largest:.3g} > tol={self.tol}: {advice}")

    def _lbfgs(self, objective, W, b, params):
        # max_eval leaves max_iter as the only budget (a strong-Wolfe search takes ≤ 25 evaluations)
        opt = optim.LBFGS(params, max_iter=self.max_iter, max_eval=25 * self.max_iter + 1,
                          line_search_fn="strong_wolfe", tolerance_grad=self.tol, tolerance_change=1e-15,
                          history_size=20)
        last = {}

        def closure():
            loss = objective.checked(objective(W, b))
            loss.backward()
            last.update(at=[p.numpy() for p in params], largest=objective.largest_gradient(params))
            return loss

        opt.step(closure)
        iterations = opt.state["lbfgs"]["iterations"]
        # the gradient at the result: L-BFGS's last evaluation is usually there (an update rebinds the
        # parameters' arrays, so the references kept are the values evaluated)
        at_last = all(np.array_equal(p.numpy(), q) for p, q in zip(params, last["at"]))
        largest = last["largest"] if at_last else objective.gradient_max(W, b, params)
        if largest <= self.tol:
            return iterations, None
        if iterations >= self.max_iter:
            return iterations, self._out_of_budget("iterations")
        return iterations, self._stalled(iterations, largest)  # stopped on a change below 1e-15

    def _newton(self, objective, W, b, params, method):
        opt = optim.Newton(params, method=method)
        for iteration in range(self.max_iter + 1):
            largest = objective.gradient_max(W, b, params)
            if largest <= self.tol:
                return iteration, None
            if iteration == self.max_iter:
                return iteration, self._out_of_budget("iterations")
            before = [p.numpy() for p in params]  # an update rebinds, never writes: no copy needed
            opt.step(lambda: objective.checked(objective(W, b)))
            if all(np.array_equal(p.numpy(), q) for p, q in zip(params, before)):
                return iteration + 1, self._stalled(iteration + 1, largest)  # the line search found no decrease
            if W.shape[0] > 1:  # rounding moves a Newton step along the Hessian's null directions
                _centre_over_classes(params)

    def _stochastic(self, objective, W, b, params, method):
        rate = self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATE[method]
        opt = optim.Adam(params, lr=rate) if method == "adam" else optim.SGD(params, lr=rate)
        n = objective.n
        batch = min(int(self.batch_size), n)
        steps_per_epoch = math.ceil(n / batch)
        schedule = self._schedule(method, rate, objective.l2, steps_per_epoch)
        rng = np.random.default_rng(self.random_state)
        step = 0
        for epoch in range(1, self.max_iter + 1):
            order = rng.permutation(n)
            for start in range(0, n, batch):
                opt.param_groups[0]["lr"] = schedule(step)
                step += 1
                opt.zero_grad()
                objective(W, b, order[start:start + batch]).backward()
                opt.step()
            if objective.gradient_max(W, b, params) <= self.tol:
                return epoch, None
        return self.max_iter, self._out_of_budget("epochs")

    @staticmethod
    def _schedule(method, rate, l2, steps_per_epoch):
        """The step size at step t (from 0) of the stochastic solvers."""
        if method == "adam":
            return lambda t: rate / (1.0 + t / (ADAM_DECAY_EPOCHS * steps_per_epoch))
        if l2:  # 1/(μ(t + t₀)) with μ = l2 the strong convexity of the penalty, t₀ = 1/(μη)
            return lambda t: rate / (1.0 + rate * l2 * t)
        return lambda t: rate / math.sqrt(1.0 + t / steps_per_epoch)

    # -- prediction

    def decision_function(self, X):
        """The scores X @ coef_ᵀ + intercept_: (n_samples,) for two classes, else (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=SPARSE_FORMATS, reset=False, dtype=np.float64)
        scores = safe_sparse_dot(X, self.coef_.T) + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = 0.5 * (1.0 + np.tanh(0.5 * scores))  # the logistic function, without overflow
            return np.stack([1.0 - p, p], axis=1)
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """The logarithm of ``predict_proba``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class label of each row."""
        scores = self.decision_function(X)
        index = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[index]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


__all__ = ["LinearRegression", "Ridge", "LogisticRegression"]
