"""Metrics for ``tm.train`` and scripts, with scikit-learn's conventions: f(y_true, y_pred) -> float
on numpy arrays (Tensors give their values). scikit-learn's own metrics work in ``tm.train`` too.

Nothing is guessed: ``accuracy`` compares labels, as ``sklearn.metrics.accuracy_score``; model scores
are passed by name (``logits=`` or ``probabilities=``), so a probability is never read as a logit.
"""
import numpy as np


def _values(x, what):
    data = getattr(x, "_data", None)  # a Tensor's values: metrics carry no derivative
    array = np.asarray(data if data is not None else x)
    if array.dtype == object:
        raise TypeError(f"{what}: cannot read {type(x).__name__} as an array of labels or numbers")
    return array


def _weights(sample_weight, n, opname):
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w.shape != (n,):
        raise ValueError(f"{opname}: sample_weight has {w.size} entries for {n} samples")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{opname}: sample_weight must be finite and non-negative")
    return w


def _labels_from_scores(scores, kind, classes, n):
    """Predicted labels from logits or probabilities: (N,) or (N, 1) binary, or (N, C) (the largest)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim not in (1, 2) or scores.shape[0] != n:
        raise ValueError(f"accuracy: {kind} must have shape ({n},), ({n}, 1) or ({n}, n_classes), "
                         f"got {scores.shape}")
    if kind == "probabilities" and (np.any(scores < 0) or np.any(scores > 1) or np.any(np.isnan(scores))):
        raise ValueError("accuracy: probabilities must lie in [0, 1]; for scores before the sigmoid or "
                         "softmax pass logits=")
    if scores.ndim == 1:  # binary: class 1 above the threshold, as LogisticRegression.predict
        index = (scores > (0.0 if kind == "logits" else 0.5)).astype(np.int64)
        columns = 2
    else:
        index = scores.argmax(axis=1)
        columns = scores.shape[1]
    if classes is None:
        return index
    classes = np.asarray(classes)
    if classes.shape != (columns,):
        raise ValueError(f"accuracy: classes has {classes.size} labels for {columns} classes of {kind}")
    return classes[index]


def accuracy(y_true, y_pred=None, *, logits=None, probabilities=None, classes=None, normalize=True,
             sample_weight=None):
    """The share (or, with ``normalize=False``, the number) of correct predictions.

    Give exactly one of:

    * ``y_pred``: predicted labels, as ``sklearn.metrics.accuracy_score`` takes them (floats must be
      whole numbers: scores are refused, never guessed at);
    * ``logits``: scores before the sigmoid or softmax, (N,) or (N, 1) for two classes (class 1 where
      the logit is > 0) or (N, C) (the largest wins);
    * ``probabilities``: P(class 1) as (N,) or (N, 1) (class 1 where > 0.5), or (N, C) rows.

    With scores, ``classes`` names the label of each column (default 0, 1, …, C − 1), as an
    estimator's ``classes_``. ``sample_weight`` weights each sample, as scikit-learn's.

    >>> import numpy as np, tinygrad_mat as tm
    >>> y = np.array([0, 1, 1, 0])
    >>> tm.metrics.accuracy(y, [0, 1, 0, 0])
    0.75
    >>> tm.metrics.accuracy(y, probabilities=[0.1, 0.9, 0.8, 0.4])
    1.0
    >>> tm.metrics.accuracy(y, logits=[[2.0, -1.0], [0.0, 3.0], [1.0, 1.5], [0.3, 0.1]])
    1.0
    """
    given = [name for name, value in (("y_pred", y_pred), ("logits", logits), ("probabilities", probabilities))
             if value is not None]
    if len(given) != 1:
        raise TypeError("accuracy: give exactly one of y_pred (labels), logits= or probabilities=, "
                        f"got {', '.join(given) or 'none'}")
    y_true = _values(y_true, "accuracy")
    if y_true.ndim == 2 and y_true.shape[1] == 1:
        y_true = y_true[:, 0]
    if y_true.ndim != 1:
        raise ValueError(f"accuracy: y_true must be a vector of labels, got shape {y_true.shape}")
    n = y_true.shape[0]
    if y_pred is not None:
        labels = _values(y_pred, "accuracy")
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise ValueError(f"accuracy: y_pred must be a vector of labels, got shape {labels.shape}; "
                             "for class scores pass logits= or probabilities=")
        if labels.dtype.kind == "f" and not np.all(np.mod(labels, 1) == 0):
            raise ValueError("accuracy: y_pred has non-integer values, so it holds scores, not labels; pass "
                             "logits= (before the sigmoid/softmax) or probabilities= instead")
        if labels.shape[0] != n:
            raise ValueError(f"accuracy: y_true has {n} samples, y_pred {labels.shape[0]}")
    else:
        kind = "logits" if logits is not None else "probabilities"
        labels = _labels_from_scores(_values(logits if logits is not None else probabilities, "accuracy"),
                                     kind, classes, n)
    correct = (labels == y_true).astype(np.float64)
    weights = _weights(sample_weight, n, "accuracy")
    if weights is None:
        return float(correct.mean()) if normalize else float(correct.sum())
    total = float(np.dot(correct, weights))
    return total / float(weights.sum()) if normalize else total


MULTIOUTPUT = ("raw_values", "uniform_average", "variance_weighted")


def r2_score(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """The coefficient of determination 1 − Σ(y − ŷ)² / Σ(y − ȳ)², as ``sklearn.metrics.r2_score``:
    per output column, then averaged (``multioutput``: 'uniform_average', 'variance_weighted',
    'raw_values' or weights per output); a constant y gives 1.0 when predicted exactly, else 0.0.

    >>> import tinygrad_mat as tm
    >>> tm.metrics.r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    0.5
    """
    y_true = _values(y_true, "r2_score").astype(np.float64)
    y_pred = _values(y_pred, "r2_score").astype(np.float64)
    if y_true.ndim == 1:
        y_true = y_true[:, None]
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
    if y_true.ndim != 2 or y_true.shape != y_pred.shape:
        raise ValueError(f"r2_score: y_true of shape {y_true.shape} and y_pred of shape {y_pred.shape} differ")
    if y_true.shape[0] < 2:
        raise ValueError("r2_score: needs at least two samples")
    weights = _weights(sample_weight, y_true.shape[0], "r2_score")
    w = np.ones(y_true.shape[0]) if weights is None else weights
    mean = np.average(y_true, axis=0, weights=w)
    residual = (w[:, None] * (y_true - y_pred) ** 2).sum(axis=0)
    total = (w[:, None] * (y_true - mean) ** 2).sum(axis=0)
    scores = np.ones(y_true.shape[1])
    varying = total != 0
    scores[varying] = 1.0 - residual[varying] / total[varying]
    scores[~varying & (residual != 0)] = 0.0  # a constant target predicted wrongly
    if isinstance(multioutput, str):
        if multioutput not in MULTIOUTPUT:
            raise ValueError(f"r2_score: multioutput must be one of {MULTIOUTPUT} or weights, not {multioutput!r}")
        if multioutput == "raw_values":
            return scores
        if multioutput == "variance_weighted":
            return float(np.average(scores, weights=total)) if total.sum() else float(scores.mean())
        return float(scores.mean())
    output_weights = np.asarray(multioutput, dtype=np.float64)
    if output_weights.shape != (y_true.shape[1],):
        raise ValueError(f"r2_score: multioutput weights have shape {output_weights.shape} for "
                         f"{y_true.shape[1]} outputs")
    return float(np.average(scores, weights=output_weights))


__all__ = ["accuracy", "r2_score"]
