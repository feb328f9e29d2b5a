"""Metrics for ``tm.train``: f(y_true, y_pred) -> float on numpy arrays (scikit-learn's also work)."""
import numpy as np


def accuracy(y_true, y_pred):
    """The share of correct predictions; ``y_pred`` may be labels, binary logits (N,) or (N, 1)
    (positive above 0), or class scores (N, C) (the largest wins)."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2 and y_pred.shape[1] > 1:
        labels = y_pred.argmax(axis=1)
    elif y_pred.dtype.kind == "f" and not np.all(np.isin(y_pred, (0.0, 1.0))):
        labels = (y_pred.reshape(-1) > 0).astype(int)
    else:
        labels = y_pred.reshape(-1)
    return float(np.mean(labels == y_true))


def r2_score(y_true, y_pred):
    """The coefficient of determination 1 − Σ(y − ŷ)² / Σ(y − ȳ)²."""
    y_true, y_pred = np.asarray(y_true, float).reshape(len(y_true), -1), np.asarray(y_pred, float).reshape(len(y_true), -1)
    return float(1.0 - ((y_true - y_pred) ** 2).sum() / ((y_true - y_true.mean(axis=0)) ** 2).sum())


__all__ = ["accuracy", "r2_score"]
