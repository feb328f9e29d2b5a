"""scikit-learn estimators fitted by tinygrad_mat: ``LinearRegression``, ``Ridge``, ``LogisticRegression``.

Parameters, attributes (``coef_``, ``intercept_``, ``classes_``, ``n_iter_``) and methods (fit with
``sample_weight``, predict, predict_proba, decision_function, score) are named and shaped as
scikit-learn's, so they work in pipelines and grid searches; they pass scikit-learn's estimator checks.
The linear regressions are closed forms through the differentiable ``solve``; logistic regression
minimises scikit-learn's own objective, C·Σᵢ sᵢ·log-lossᵢ + ½‖W‖² (no penalty on the intercept), with
``solver`` in {'lbfgs', 'newton-cg' (alias 'newton'), 'newton-cholesky', 'adam', 'sgd'}. ``X`` may be a
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

from . import linalg, modes, optim
from .optim import second_order
from .nn import functional as losses
from .tensor import Tensor

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

SOLVERS = {"lbfgs": "lbfgs", "newton": "cg", "newton-cg": "cg", "newton-cholesky": "exact",
           "sgd": "sgd", "adam": "adam"}
LBFGS_HISTORY = 10  # scikit-learn's L-BFGS-B keeps 10 pairs (scipy's maxcor)
NEWTON_CG_MAX_INNER = 200  # conjugate-gradient steps per Newton step at most, as scikit-learn's newton-cg
OUTER_PRODUCTS_AT_MOST = 100_000  # newton-cholesky keeps the rows' outer products up to 800 kB
DEFAULT_LEARNING_RATE = {"sgd": 1.0, "adam": 0.3}
ADAM_DECAY_EPOCHS = 3  # Adam's step halves after this many epochs, then decays as 1/t
FLOAT64_FLOOR = math.sqrt(np.finfo(np.float64).eps)  # ≈ 1.5e-8: gradients below it may not lower f in float64


class _Objective:
    """scikit-learn's logistic objective divided by C·Σs (the same minimiser, gradients of order one,
    as scikit-learn's own ``LinearModelLoss``), of one coefficient array ``coef``:

        f(W, b) = Σᵢ sᵢ·lossᵢ / Σs + ‖W‖² / (2·C·Σs)

    ``coef`` is (d + 1,) for two classes: w then b; (k, d + 1) for k > 2 classes: one row per class,
    W then b (scikit-learn's layout); without ``fit_intercept`` the last column is absent. The scores
    are X w + b (n,), or W Xᵀ + b (k, n): class-major, so that the softmax reduces across k rows of
    length n (quick) rather than along n rows of length k. ``weights`` are the sᵢ (sample_weight ×
    class_weight) or None for all ones; ``l2`` is 1/(C·Σs), 0 without a penalty.

    Two evaluations of the same f: ``loss_and_gradient`` (numpy, the loss and its gradient from one
    sigmoid or softmax: what lbfgs and Newton call) and ``graph`` (tinygrad_mat's losses on Tensors,
    differentiated by the engine: sgd and adam's minibatches, and the tests' independent check).
    What does not change during a fit (weights as fractions, signed or one-hot targets) is made once.
    """

    def __init__(self, X, y_index, n_classes, weights, l2, fit_intercept, solver):
        self.X, self.l2, self.solver, self.fit_intercept = X, l2, solver, fit_intercept
        self.n, self.d = X.shape
        self.sparse = _is_sparse(X)
        self.binary = n_classes == 2
        self.shape = (() if self.binary else (n_classes,)) + (self.d + fit_intercept,)
        self.fractions = np.full(self.n, 1.0 / self.n) if weights is None else weights / weights.sum()  # sᵢ / Σs
        self.labels = y_index
        if self.binary:  # lossᵢ = softplus(uᵢ) with uᵢ = ±scoreᵢ (+ for label 0, − for label 1)
            self.signs = 1.0 - 2.0 * y_index
            self.signed_fractions = self.fractions * self.signs
        else:
            self.rows = np.arange(self.n)
            self.weighted_onehot = np.zeros((n_classes, self.n))  # (sᵢ/Σs)·[yᵢ = c], class-major
            self.weighted_onehot[y_index, self.rows] = self.fractions
        self._curvature_at = (None, None)  # (coef, what the Hessian needs there), from the last evaluation
        self._outer = False  # the rows' outer products for newton-cholesky: made on first use

    # -- coefficients and products with X

    def split(self, coef):
        """(W, b) of ``coef`` (b = 0.0 without an intercept); arrays and Tensors."""
        if not self.fit_intercept:
            return coef, 0.0
        return (coef[:self.d], coef[self.d]) if self.binary else (coef[:, :self.d], coef[:, self.d])

    def centred(self, coef):
        """Multinomial scores are unchanged by adding one vector to every class's row of W (one
        number to every intercept), so keep the representative whose classes sum to zero: the scaled
        objective does not increase (the penalty can only drop), and decision_function is unique
        (scikit-learn's too). Two classes: ``coef`` itself."""
        return coef if self.binary else coef - coef.mean(axis=0)

    def _scores(self, W, b):
        """X w + b (n,), or W Xᵀ + b (k, n) for a (k, d) W."""
        if self.sparse:
            scores = np.ascontiguousarray((self.X @ W.T).T)
        else:
            scores = W @ self.X.T
        if self.fit_intercept:
            scores += b if self.binary else b[:, None]
        return scores

    def _times_X(self, R):
        """R X: (d,) for R of shape (n,), (k, d) for (k, n)."""
        return np.ascontiguousarray((self.X.T @ R.T).T) if self.sparse else R @ self.X

    def _assemble(self, R, W):
        """The gradient-shaped array [R X + l2·W, Σ R] (the products of a cotangent R of the scores)."""
        out = np.empty(self.shape)
        out[..., :self.d] = self._times_X(R)
        if self.l2:
            out[..., :self.d] += self.l2 * W
        if self.fit_intercept:
            out[..., self.d] = R.sum(axis=-1)
        return out

    # -- the loss and its gradient (lbfgs, Newton)

    def loss_and_gradient(self, coef):
        """(f, ∂f/∂coef) at ``coef`` (a float64 array of ``self.shape``), from one sigmoid (softmax)."""
        W, b = self.split(coef)
        scores = self._scores(W, b)
        if self.binary:
            u = self.signs * scores
            softplus = np.logaddexp(0.0, u)
            data = float(self.fractions @ softplus)
            sigmoid = np.exp(u - softplus)  # σ(u)
            residual = self.signed_fractions * sigmoid  # ∂data/∂scores
            self._curvature_at = (coef, (sigmoid, softplus))
        else:
            top = scores.max(axis=0)
            exps = np.exp(scores - top)
            totals = exps.sum(axis=0)
            data = float(self.fractions @ (np.log(totals) - (scores[self.labels, self.rows] - top)))
            probabilities = exps / totals
            residual = probabilities * self.fractions - self.weighted_onehot
            self._curvature_at = (coef, probabilities)
        gradient = self._assemble(residual, W)
        loss = data + 0.5 * self.l2 * float(np.vdot(W, W)) if self.l2 else data
        if not math.isfinite(loss):
            self.not_finite(f"the objective became {loss}")
        if not math.isfinite(float(gradient.sum())):  # one reduction: inf or nan anywhere shows
            self.not_finite("its gradient is not finite")
        return loss, gradient

    def evaluate(self, coef):
        """The loss at the Tensor ``coef``, with its gradient in ``coef.grad`` (what L-BFGS's closure
        does): ``loss_and_gradient`` on its array."""
        loss, gradient = self.loss_and_gradient(coef.numpy())
        coef.grad = Tensor._wrap(gradient)  # a new array, given away: no copy
        return loss

    # -- the Hessian (Newton)

    def _curvature(self, coef):
        """What the Hessian at ``coef`` needs: (σ(u), softplus(u)) for two classes, the
        probabilities (k, n) for more; from the last evaluation when it was at ``coef``."""
        at, _ = self._curvature_at
        if at is None or not np.array_equal(at, coef):
            self.loss_and_gradient(coef)
        return self._curvature_at[1]

    def _row_curvature(self, coef):
        """Two classes: hᵢ = (sᵢ/Σs)·σ(uᵢ)·σ(−uᵢ), the second derivative of the data term in scoreᵢ
        (σ(−u) = exp(−softplus(u)): no cancellation in 1 − σ(u))."""
        sigmoid, softplus = self._curvature(coef)
        return self.fractions * sigmoid * np.exp(-softplus)

    def hessian_product(self, coef):
        """v ↦ H v at ``coef`` for flat v, in closed form: [T X + l2·V_W, Σ T] with T = D(V_W Xᵀ + v_b),
        D the second derivative of the data term in the scores: hᵢ for two classes; for more, each
        sample's softmax Hessian (sᵢ/Σs)·(diag pᵢ − pᵢpᵢᵀ)."""
        shape = self.shape
        if self.binary:
            h = self._row_curvature(coef)
        else:
            P = self._curvature(coef)

        def product(v):
            V = v.reshape(shape)
            V_W, v_b = self.split(V)
            U = self._scores(V_W, v_b)
            if self.binary:
                T = h * U
            else:
                PU = P * U
                T = (PU - P * PU.sum(axis=0)) * self.fractions
            return self._assemble(T, V_W).reshape(-1)

        return product

    def hessian(self, coef):
        """The dense Hessian at ``coef`` (entries in coef's C order), built from weighted Gram matrices
        Xₐᵀ D Xₐ (Xₐ = [X, 1]), all in one product where X is small and dense. For k classes the
        directions that add one number to every class (each feature's, the intercepts') carry no
        curvature of the data; they get an identity term of the Hessian's scale: the Newton step is
        unchanged (the gradient at a centred coef has no part along them) and H becomes positive
        definite."""
        if self.binary:
            H = self._weighted_gram(self._row_curvature(coef))
        else:
            P = self._curvature(coef)
            k, size = self.shape
            # the weight of block (a, c): sᵢ/Σs · pₐᵢ(δₐc − p꜀ᵢ), the softmax Hessian's entry
            weights = self.fractions[:, None, None] * P.T[:, :, None] * (np.eye(k) - P.T[:, None, :])
            outer = self._outer_products()
            if outer is not None:  # all k² blocks Xₐᵀ diag(w) Xₐ in one product
                blocks = (weights.reshape(self.n, k * k).T @ outer).reshape(k, k, size, size)
            else:  # one Gram matrix per pair a < c (blocks are symmetric, and each row of blocks sums
                # to zero as the softmax Hessian's rows do: the diagonal blocks are minus the others' sum)
                blocks = np.empty((k, k, size, size))
                for a in range(k):
                    for c in range(a + 1, k):
                        blocks[a, c] = blocks[c, a] = self._weighted_gram(weights[:, a, c])
                for a in range(k):
                    blocks[a, a] = -(blocks[a, :a].sum(axis=0) + blocks[a, a + 1:].sum(axis=0))
            # + c·(11ᵀ/k ⊗ I), c·the projection on those directions: c/k on the diagonal of every block
            diagonal = np.arange(size)
            scale = max(float(np.abs(blocks[np.arange(k), np.arange(k)][:, diagonal, diagonal]).max()), self.l2)
            blocks[:, :, diagonal, diagonal] += scale / k
            H = blocks.transpose(0, 2, 1, 3).reshape(k * size, k * size)
        if self.l2:
            penalised = np.zeros(self.shape)
            penalised[..., :self.d] = self.l2
            H[np.diag_indices_from(H)] += penalised.reshape(-1)
        if not math.isfinite(float(H.sum())):
            self.not_finite("its Hessian is not finite")
        return H

    def _outer_products(self):
        """Each row's x̃x̃ᵀ (x̃ = [x, 1], or x without an intercept), flattened: (n, (d + 1)²), made
        once per fit when X is dense and it has at most ``OUTER_PRODUCTS_AT_MOST`` entries (all k²
        blocks of a multinomial Hessian in one product then; a larger one would not stay in cache, and
        a Gram matrix per pair is quicker); else None."""
        if self._outer is False:
            size = self.shape[-1]
            self._outer = None
            if not self.sparse and self.n * size * size <= OUTER_PRODUCTS_AT_MOST:
                Xa = np.hstack([self.X, np.ones((self.n, 1))]) if self.fit_intercept else self.X
                self._outer = (Xa[:, :, None] * Xa[:, None, :]).reshape(self.n, size * size)
        return self._outer

    def _weighted_gram(self, weight):
        """Xₐᵀ diag(weight) Xₐ for one weight vector, dense or sparse X (X is never densified)."""
        X = self.X
        if self.sparse:
            gram = X.T @ X.multiply(weight[:, None]).tocsr()
            gram = gram.toarray() if _is_sparse(gram) else np.asarray(gram)
        else:
            gram = X.T @ (X * weight[:, None])
        if not self.fit_intercept:
            return gram
        column = np.asarray(X.T @ weight).reshape(-1)
        return np.block([[gram, column[:, None]], [column[None, :], np.array([[weight.sum()]])]])

    # -- the same objective on Tensors (sgd, adam, the tests)

    def graph(self, coef, rows=None):
        """f at the Tensor ``coef`` as tinygrad_mat's losses (the engine differentiates it). On a
        minibatch of ``rows``: the unbiased estimate of f, the data term of the rows scaled by
        n/|rows| (rows drawn uniformly), the penalty whole."""
        X, labels, fractions = self.X, self.labels, self.fractions
        if rows is not None:
            X, labels, fractions = X[rows], labels[rows], fractions[rows] * (self.n / len(rows))
        W, b = self.split(coef)
        scores = X @ W if self.binary else X @ W.mT
        if self.fit_intercept:
            scores = scores + b
        if self.binary:
            data = losses.binary_cross_entropy_with_logits(scores, labels.astype(float), reduction="sum",
                                                           sample_weight=fractions)
        else:
            data = losses.cross_entropy(scores, labels, reduction="sum", sample_weight=fractions)
        return data + (0.5 * self.l2) * (W * W).sum() if self.l2 else data

    # -- checks

    def not_finite(self, what):
        raise FloatingPointError(
            f"LogisticRegression(solver={self.solver!r}): {what} (X @ W overflows float64 with max |X| = "
            f"{abs(self.X).max():.3g}, or the steps diverged): standardise X (e.g. StandardScaler) or, for sgd "
            "and adam, lower learning_rate")

    def largest_gradient(self, coef):
        """max |∂f| on all the data at ``coef`` (an array): the stopping rule of every solver."""
        return float(np.max(np.abs(self.loss_and_gradient(coef)[1]), initial=0.0))


def _cholesky_solve(H, b):
    """H⁻¹b for a symmetric positive definite H by Cholesky; where rounding leaves H not positive
    definite (a separable problem without a penalty), with the smallest damping λI that is
    (from 1e-10 of H's scale, doubling)."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve  # scipy comes with scikit-learn
    scale = max(1.0, float(np.abs(np.diag(H)).max(initial=0.0)))
    damping = 0.0
    for _ in range(60):
        try:
            return cho_solve(cho_factor(H + damping * np.eye(len(H)) if damping else H), b)
        except LinAlgError:
            damping = max(2.0 * damping, 1e-10 * scale)
    return b / scale  # not reached for a finite H: a scaled gradient step


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression (binary, or multinomial for more classes) with scikit-learn's parameters and
    objective, minimised by tinygrad_mat's optimizers:

        C·Σᵢ sᵢ·log-lossᵢ + ½‖W‖²,   sᵢ = sample_weight[i] × class_weight[yᵢ]

    (no penalty on the intercept), the objective of ``sklearn.linear_model.LogisticRegression``
    1.9 with the same ``sample_weight`` and ``class_weight`` (a dict {label: weight} or 'balanced':
    Σs / (n_classes · Σs of the class), sample weights included). Every solver minimises it, scaled
    by 1/(C·Σs) as scikit-learn does internally, and stops when the largest entry of that scaled
    objective's gradient on all the data is ≤ ``tol`` (scikit-learn's rule), or, for lbfgs and
    Newton, when the objective stops decreasing (by 1e-15 or more, at its scale of one) with that
    gradient ≤ √ε ≈ 1.5e-8: a tol below √ε may end there, as scikit-learn's lbfgs ends on its ftol.
    lbfgs and Newton evaluate the objective and its gradient in closed form, from one sigmoid
    (softmax) per evaluation, and Newton's Hessian too; sgd and adam differentiate the objective
    written in ``tm.nn.functional``'s losses (the tests check the closed forms against that):

    - 'lbfgs': L-BFGS (``tm.optim.LBFGS``, PyTorch's) with a strong-Wolfe line search and 10 pairs
      of history (as scikit-learn's L-BFGS-B); ``max_iter`` iterations at most.
    - 'newton-cg' (or 'newton'): scikit-learn's Newton-CG: conjugate gradients on Hessian-vector
      products (closed form; the Hessian is never formed) truncated by its rule, then a strong-Wolfe
      line search from the full step. The same iterations and objective as scikit-learn's newton-cg.
    - 'newton-cholesky': Newton's method with the dense Hessian (one weighted Gram matrix XᵀDX per
      pair of classes) and Cholesky, scikit-learn's backtracking and its second stopping test (the
      Newton decrement ½dᵀHd ≤ ``tol``): the same iterations and objective as its newton-cholesky.
      For few features: the Hessian has (k·(d + 1))² entries. ``max_iter`` Newton steps at most.
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
    formats are converted to one CSR copy) in fit and in the predictions; X is never densified.
    Fit times against scikit-learn's: ``python bench/bench_fits.py``.

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
        return classes, _Objective(X, y_index, len(classes), weights, l2, bool(self.fit_intercept), self.solver)

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
        coef, n_iter, trouble = self._minimise(objective, np.zeros(objective.shape))
        coef = objective.centred(coef)
        if trouble is not None:
            warnings.warn(f"LogisticRegression(solver={self.solver!r}): {trouble}", ConvergenceWarning)
        W, b = objective.split(coef)
        rows = 1 if objective.binary else len(classes)
        self.classes_ = classes
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        self.coef_ = np.array(W).reshape(rows, X.shape[1])
        self.intercept_ = np.array(b, dtype=np.float64).reshape(-1) if self.fit_intercept else np.zeros(rows)
        return self

    def _minimise(self, objective, coef):
        """Run the solver from ``coef``; returns (coef, iterations, None) once converged, else
        (coef, iterations, why not)."""
        method = SOLVERS[self.solver]
        if method == "lbfgs":
            return self._lbfgs(objective, coef)
        if method in ("exact", "cg"):
            return self._newton(objective, coef, method)
        return self._stochastic(objective, coef, method)

    def _out_of_budget(self, unit):
        what = "the gradient and the Newton decrement" if SOLVERS[self.solver] == "exact" else "the gradient"
        return f"max_iter={self.max_iter} {unit} ended the fit before {what} reached tol={self.tol}; increase max_iter"

    def _stalled(self, iterations, largest):
        """None (converged) if a solver that found no further decrease stopped with the gradient at
        float64's floor; otherwise why it stopped."""
        if largest <= max(self.tol, FLOAT64_FLOOR):
            return None
        advice = "standardise X" + (", or try solver='lbfgs'" if self.solver != "lbfgs" else "")
        return (f"no decrease of the objective was found after {iterations} iterations while its gradient is "
                f"still {largest:.3g} > tol={self.tol}: {advice}")

    def _lbfgs(self, objective, coef):
        param = Tensor(coef, requires_grad=True)
        # max_eval leaves max_iter as the only budget (a strong-Wolfe search takes ≤ 25 evaluations);
        # 10 pairs of history, as scikit-learn's L-BFGS-B
        opt = optim.LBFGS([param], max_iter=self.max_iter, max_eval=25 * self.max_iter + 1,
                          line_search_fn="strong_wolfe", tolerance_grad=self.tol, tolerance_change=1e-15,
                          history_size=LBFGS_HISTORY)
        last = {}

        def closure():
            loss = objective.evaluate(param)
            last.update(at=param.numpy(), gradient=param.grad.numpy())
            return loss

        opt.step(closure)
        iterations = opt.state["lbfgs"]["iterations"]
        coef = param.numpy()
        # the gradient at the result: L-BFGS's last evaluation is usually there
        if np.array_equal(coef, last["at"]):
            largest = float(np.max(np.abs(last["gradient"]), initial=0.0))
        else:
            largest = objective.largest_gradient(coef)
        if largest <= self.tol:
            return coef, iterations, None
        if iterations >= self.max_iter:
            return coef, iterations, self._out_of_budget("iterations")
        return coef, iterations, self._stalled(iterations, largest)  # stopped on a change below 1e-15

    def _newton(self, objective, coef, method):
        """Newton's method: 'cg' with scikit-learn's truncated conjugate gradients on closed-form
        Hessian-vector products, 'exact' with the dense Hessian and Cholesky; both centred over the
        classes (rounding would move a step along the directions without curvature)."""
        shape = coef.shape

        def direction(x, gradient):
            coef = x.reshape(shape)
            if method == "cg":
                step = second_order.truncated_cg(objective.hessian_product(coef), gradient, NEWTON_CG_MAX_INNER)
            else:
                step = _cholesky_solve(objective.hessian(coef), -gradient)
            return objective.centred(step.reshape(shape)).reshape(-1)

        def loss_and_gradient(x):
            loss, gradient = objective.loss_and_gradient(x.reshape(shape))
            return loss, gradient.reshape(-1)

        exact = method == "exact"  # scikit-learn's newton-cholesky: backtracking, and the Newton decrement
        x, _, gradient, iterations, status = second_order.minimize_newton(
            loss_and_gradient, coef.reshape(-1), direction, self.tol, self.max_iter,
            line_search="backtracking" if exact else "strong_wolfe", decrement=exact)
        coef = x.reshape(shape)
        if status == "converged":
            return coef, iterations, None
        if status == "max_iter":
            return coef, iterations, self._out_of_budget("iterations")
        return coef, iterations, self._stalled(iterations, float(np.max(np.abs(gradient), initial=0.0)))

    def _stochastic(self, objective, coef, method):
        param = Tensor(coef, requires_grad=True)
        rate = self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATE[method]
        opt = optim.Adam([param], lr=rate) if method == "adam" else optim.SGD([param], lr=rate)
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
                objective.graph(param, order[start:start + batch]).backward()
                opt.step()
            if objective.largest_gradient(param.numpy()) <= self.tol:
                return param.numpy(), epoch, None
        return param.numpy(), self.max_iter, self._out_of_budget("epochs")

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
