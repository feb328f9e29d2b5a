"""``tm.train``: the training loop a script needs, returning a ``History`` of losses and metrics.

tqdm (a progress bar) and matplotlib (``History.plot``) are optional (``pip install
tinygrad_mat[train]``): without tqdm a plain line is printed per epoch; nothing is required to train.
"""
import math
import time

import numpy as np

from . import modes
from .data import DataLoader
from .metrics import accuracy, r2_score  # noqa: F401  (re-exported for train's users)
from .tensor import Tensor


class History:
    """Losses and metrics per step (``steps``) and per epoch (``epochs``); ``history['val_loss']`` is
    one value per epoch that recorded it. A key no epoch recorded raises KeyError naming the recorded
    ones.

    >>> import tinygrad_mat as tm
    >>> history = tm.History()
    >>> history.epochs += [{"epoch": 0, "loss": 0.5}, {"epoch": 1, "loss": 0.25, "val_loss": 0.3}]
    >>> history["loss"], history["val_loss"]
    ([0.5, 0.25], [0.3])
    >>> history["val_los"]
    Traceback (most recent call last):
    KeyError: "History: no epoch recorded 'val_los'; recorded: ['epoch', 'loss', 'val_loss']"
    """

    def __init__(self):
        self.steps, self.epochs = [], []

    def keys(self):
        """The keys recorded in at least one epoch, in the order they first appear."""
        return list(dict.fromkeys(key for entry in self.epochs for key in entry))

    def __contains__(self, key):
        return any(key in entry for entry in self.epochs)

    def __getitem__(self, key):
        values = [entry[key] for entry in self.epochs if key in entry]
        if not values:
            raise KeyError(f"History: no epoch recorded {key!r}; recorded: {self.keys()}")
        return values

    def __len__(self):
        return len(self.epochs)

    def plot(self, path=None):
        """Loss (per step and per epoch) and the metrics per epoch, with matplotlib; saved to ``path``."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as error:
            raise ImportError("History.plot needs matplotlib: pip install tinygrad_mat[train]") from error
        keys = [k for k in self.epochs[0] if k not in ("epoch", "loss", "val_loss", "time")] if self.epochs else []
        fig, axes = plt.subplots(1, 1 + bool(keys), figsize=(5 * (1 + bool(keys)), 3.5), squeeze=False)
        ax = axes[0, 0]
        steps = np.arange(1, len(self.steps) + 1) / max(1, len(self.steps) / max(1, len(self.epochs)))
        ax.plot(steps, [s["loss"] for s in self.steps], alpha=0.4, label="loss per step")
        ax.plot([e["epoch"] + 1 for e in self.epochs], self["loss"], "o-", label="loss per epoch")
        if "val_loss" in self:
            ax.plot([e["epoch"] + 1 for e in self.epochs if "val_loss" in e], self["val_loss"], "s-", label="validation loss")
        ax.set_xlabel("epoch")
        ax.set_yscale("log" if min(s["loss"] for s in self.steps) > 0 else "linear")
        ax.legend()
        for key in keys:
            axes[0, 1].plot([e["epoch"] + 1 for e in self.epochs if key in e], self[key], "o-", label=key)
        if keys:
            axes[0, 1].set_xlabel("epoch")
            axes[0, 1].legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


class EarlyStopping:
    """Stop when ``monitor`` (e.g. 'val_loss', or a metric's name) has not improved for ``patience``
    epochs in a row, as Keras' ``EarlyStopping``: an epoch improves on the best value when its value
    is below best − ``min_delta`` (``mode='min'``) or above best + ``min_delta`` (``mode='max'``); a
    tie, or a change of ``min_delta`` or less, is no improvement; the first epoch sets the best. A NaN
    value never improves. With ``restore_best``, the parameters of the best epoch come back when it
    stops training.

    >>> import tinygrad_mat as tm
    >>> stopper, history = tm.EarlyStopping("accuracy", patience=2, mode="max", min_delta=0.01), tm.History()
    >>> for epoch, accuracy in enumerate([0.80, 0.85, 0.855, 0.858, 0.87]):
    ...     history.epochs.append({"epoch": epoch, "accuracy": accuracy})
    ...     if stopper(epoch, history, None):
    ...         break
    >>> epoch, stopper.best         # 0.855 and 0.858 are within 0.01 of 0.85: two epochs without improvement
    (3, 0.85)
    """

    def __init__(self, monitor="val_loss", patience=5, mode="min", min_delta=0.0, restore_best=True):
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', not {mode!r}")
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an integer ≥ 0, got {patience!r}")
        if not isinstance(min_delta, (int, float, np.integer, np.floating)) or not math.isfinite(min_delta) or min_delta < 0:
            raise ValueError(f"EarlyStopping: min_delta must be a finite number ≥ 0 (the margin an improvement "
                             f"must exceed; mode gives the direction), got {min_delta!r}")
        self.monitor, self.patience, self.mode, self.min_delta = monitor, int(patience), mode, float(min_delta)
        self.restore_best = restore_best
        self.best, self.best_state, self.waited = None, None, 0

    def improves(self, value):
        """True when ``value`` improves on the best so far by more than ``min_delta``."""
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def __call__(self, epoch, history, model):
        """Record the last epoch's value; True when training should stop (the best parameters are
        then back in ``model`` with ``restore_best``)."""
        value = history.epochs[-1].get(self.monitor)
        if value is None:
            raise KeyError(f"EarlyStopping: {self.monitor!r} is not recorded (recorded: {sorted(history.epochs[-1])})")
        if self.improves(value):
            self.best, self.waited = value, 0
            if self.restore_best and model is not None:
                self.best_state = model.state_dict()
            return False
        self.waited += 1
        if self.waited >= self.patience:
            if self.restore_best and self.best_state is not None:
                model.load_state_dict(self.best_state)
            return True
        return False


def _iterate(loader, progress, epoch, epochs):
    if not progress:
        return loader
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return loader
    return tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", leave=False)


def _value(x):
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def _check_loss(loss, where):
    value = float(_value(loss))
    if not math.isfinite(value):
        raise FloatingPointError(f"train: the loss became {value} {where}; the parameters are left as they "
                                 "were before this step")


def _check_gradients(params, where):
    for index, p in enumerate(params):
        if p.grad is not None and not np.isfinite(p.grad._data).all():
            raise FloatingPointError(f"train: the gradient of parameter {index} (shape {p.shape}) has NaN or inf "
                                     f"{where} (the loss is finite); the parameters are left as they were before "
                                     "this step")


def _check_parameters(params, where):
    for index, p in enumerate(params):
        if not np.isfinite(p._data).all():
            raise FloatingPointError(f"train: the update {where} made parameter {index} (shape {p.shape}) NaN or "
                                     "inf from a finite loss and gradient (a smaller learning rate?); the "
                                     "parameters are put back to their values before this step (the optimizer's "
                                     "state has advanced)")


def _restore(params, arrays):
    for p, array in zip(params, arrays):
        p._data = array


def train(model, loss_fn, optimizer, loader, epochs=1, metrics=None, val=None, progress=True, callbacks=(),
          early_stopping=None, scheduler=None):
    """Train ``model`` on ``loader``'s batches and return a ``History``.

    ``loss_fn(prediction, y_batch)`` returns a scalar Tensor; ``optimizer`` is any ``tm.optim``
    optimizer (L-BFGS and Newton get the closures they need); ``metrics`` is {name: f(y_true, y_pred)}
    computed each epoch on ``val`` = (X_val, y_val) when given, else on the last batch; ``callbacks``
    are called as f(epoch, history) after each epoch and stop training by returning True;
    ``early_stopping`` is an ``EarlyStopping``; ``scheduler`` is stepped once per epoch.

    A NaN or inf loss or gradient (with L-BFGS and Newton: at any point their line searches try), or
    an update that makes a parameter NaN or inf, raises FloatingPointError and leaves the parameters
    as they were before that step.

    >>> import numpy as np, tinygrad_mat as tm
    >>> tm.random.seed(0)
    >>> X = np.random.default_rng(0).standard_normal((64, 3)); y = X @ np.array([1.0, -2.0, 0.5])
    >>> model = tm.nn.Linear(3, 1)
    >>> history = tm.train(model, lambda p, t: tm.nn.functional.mse_loss(p[:, 0], t), tm.optim.Adam(model.parameters(), lr=0.1),
    ...                    tm.data.DataLoader(X, y, batch_size=16, seed=0), epochs=40, progress=False)
    >>> history["loss"][-1] < 1e-3
    True
    """
    if not isinstance(loader, DataLoader) and not hasattr(loader, "__iter__"):
        raise TypeError("train: loader must be a tm.data.DataLoader (or an iterable of (X, y) batches)")
    metrics = metrics or {}
    if callable(metrics):
        metrics = {getattr(metrics, "__name__", "metric"): metrics}
    history = History()
    closure_backward = type(optimizer).__name__ == "LBFGS"
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for epoch in range(int(epochs)):
        started, losses, last = time.perf_counter(), [], None
        for step, batch in enumerate(_iterate(loader, progress, epoch, epochs)):
            Xb, yb = batch if isinstance(batch, tuple) else (batch, None)
            where = f"at epoch {epoch}, batch {step}"

            def closure():
                if closure_backward:
                    optimizer.zero_grad()
                loss = loss_fn(model(Xb), yb)
                _check_loss(loss, where)
                if closure_backward:
                    loss.backward()
                    _check_gradients(params, where)
                return loss

            before = [p._data for p in params]  # updates rebind parameters, never write their arrays
            try:
                if getattr(optimizer, "needs_closure", False):
                    loss = optimizer.step(closure)
                else:
                    optimizer.zero_grad()
                    loss = loss_fn(model(Xb), yb)
                    _check_loss(loss, where)
                    loss.backward()
                    _check_gradients(params, where)
                    optimizer.step()
                _check_parameters(params, where)
            except FloatingPointError:
                _restore(params, before)
                raise
            value = float(_value(loss))
            losses.append(value)
            history.steps.append({"epoch": epoch, "step": step, "loss": value})
            last = (Xb, yb)
        record = {"epoch": epoch, "loss": float(np.mean(losses)), "time": time.perf_counter() - started}
        with modes.no_grad():
            if val is not None:
                X_val, y_val = val
                prediction = model(X_val)
                record["val_loss"] = float(_value(loss_fn(prediction, y_val)))
                target = y_val
            elif metrics and last is not None:
                prediction, target = model(last[0]), last[1]
            for name, metric in metrics.items():
                record[name] = float(metric(_value(target), _value(prediction)))
        history.epochs.append(record)
        if scheduler is not None:
            scheduler.step()
        if progress:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k not in ("epoch", "time"))
            print(f"epoch {epoch + 1}/{epochs}: {shown} ({record['time']:.2f} s)")
        stop = any(bool(callback(epoch, history)) for callback in callbacks)
        if early_stopping is not None and early_stopping(epoch, history, model):
            stop = True
        if stop:
            break
    return history


__all__ = ["train", "History", "EarlyStopping", "accuracy", "r2_score"]
