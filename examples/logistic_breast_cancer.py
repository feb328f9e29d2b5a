"""Logistic regression on scikit-learn's breast-cancer data (standardised): L-BFGS and Newton reach
scikit-learn's objective C·Σ log-loss + ½‖w‖²; the estimator's minibatch sgd and adam solvers stop
(tol=1e-4) close to it; full-batch SGD and Adam written with tm.optim approach it (curves plotted).

    python examples/logistic_breast_cancer.py [plot folder]     # plots only where asked
"""
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

import tinygrad_mat as tm
from tinygrad_mat.sklearn import LogisticRegression
from _common import print_table, save_plot, timed, plot_dir_from_command_line

C = 1.0


def objective(coef, intercept, X, y):
    z = X @ coef + intercept
    return float(C * np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * coef @ coef)


def main(plot_dir=None, epochs=300):
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    results, curves = {}, {}
    with timed(results, "scikit-learn lbfgs"):
        sk = SkLogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
    best = objective(sk.coef_[0], sk.intercept_[0], X, y)
    results["scikit-learn lbfgs"].update(objective=best, accuracy=float(sk.score(X, y)))

    for solver in ("lbfgs", "newton"):
        with timed(results, f"tinygrad_mat {solver}") as row:
            model = LogisticRegression(C=C, solver=solver, tol=1e-8, max_iter=200).fit(X, y)
        row.update(objective=objective(model.coef_[0], model.intercept_[0], X, y), accuracy=float(model.score(X, y)))

    for solver in ("sgd", "adam"):  # minibatches of 32, decaying steps, stopped by the full gradient
        with timed(results, f"tinygrad_mat {solver} (minibatch)") as row:
            model = LogisticRegression(C=C, solver=solver, tol=1e-4, max_iter=1500, random_state=0).fit(X, y)
        row.update(objective=objective(model.coef_[0], model.intercept_[0], X, y), accuracy=float(model.score(X, y)),
                   epochs=int(model.n_iter_[0]))

    for name, make in (("sgd", lambda p: tm.optim.SGD(p, lr=1e-3, momentum=0.9)),
                       ("adam", lambda p: tm.optim.Adam(p, lr=0.05))):
        with timed(results, f"tinygrad_mat {name} (full batch, {epochs} steps)") as row:
            w, b = tm.zeros(X.shape[1], requires_grad=True), tm.zeros((), requires_grad=True)
            opt, curve = make([w, b]), []
            for _ in range(epochs):
                opt.zero_grad()
                loss = C * tm.nn.functional.binary_cross_entropy_with_logits(X @ w + b, y.astype(float),
                                                                             reduction="sum") + 0.5 * (w * w).sum()
                loss.backward()
                opt.step()
                curve.append(max(loss.item() - best, 1e-16))
        curves[name] = curve
        row.update(objective=objective(w.numpy(), b.item(), X, y),
                   accuracy=float(np.mean(((X @ w.numpy() + b.item()) > 0) == y)))

    for row in results.values():
        row["rel. gap to scikit-learn"] = (row["objective"] - best) / best
    print_table(f"Logistic regression on load_breast_cancer (569 × 30), C = {C}", results,
                ["objective", "rel. gap to scikit-learn", "accuracy", "epochs", "time"])
    if plot_dir is not None:
        save_plot(f"{plot_dir}/logistic_breast_cancer.png", curves, "objective − scikit-learn's",
                  "breast cancer: SGD and Adam, full batch")
    return results


if __name__ == "__main__":
    main(plot_dir=plot_dir_from_command_line())
