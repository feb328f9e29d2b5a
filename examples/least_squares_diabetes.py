"""Least squares on scikit-learn's diabetes data: gradient descent, the notes' preconditioned step, the
closed form and ridge, against scikit-learn's LinearRegression and Ridge.

    python examples/least_squares_diabetes.py [plot folder]     # plots only where asked
"""
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression as SkLinearRegression, Ridge as SkRidge
from sklearn.metrics import r2_score

import tinygrad_mat as tm
from tinygrad_mat.sklearn import Ridge
from _common import print_table, save_plot, timed, plot_dir_from_command_line


def main(plot_dir=None):
    X, y = load_diabetes(return_X_y=True)
    Xb = np.hstack([X, np.ones((len(X), 1))])  # the intercept as a last column
    objective = lambda w: tm.norm(Xb @ w - y) ** 2  # ‖Xw − y‖²
    results, coefficients = {}, {}

    with timed(results, "scikit-learn LinearRegression"):
        sk = SkLinearRegression().fit(X, y)
    coefficients["scikit-learn LinearRegression"] = np.append(sk.coef_, sk.intercept_)

    with timed(results, "gradient descent (Nesterov), centred") as row:
        # Centring separates the intercept: the column of ones would raise the condition number of the
        # Hessian from 470 to 51,631. The intercept is then ȳ − x̄ᵀw.
        Xc, yc = X - X.mean(axis=0), y - y.mean()
        w = tm.zeros(X.shape[1], requires_grad=True)
        lipschitz = 2 * np.linalg.eigvalsh(Xc.T @ Xc).max()
        opt = tm.optim.SGD([w], lr=1.0 / lipschitz, momentum=0.9, nesterov=True)
        curve = []
        for _ in range(3000):
            opt.zero_grad()
            loss = tm.norm(Xc @ w - yc) ** 2
            loss.backward()
            opt.step()
            curve.append(loss.item())
    coefficients["gradient descent (Nesterov), centred"] = np.append(w.numpy(), y.mean() - X.mean(axis=0) @ w.numpy())

    with timed(results, "Preconditioned, α = (2XᵀX)⁻¹, one step"):
        w = tm.zeros(Xb.shape[1], requires_grad=True)
        opt = tm.optim.Preconditioned([w], lr=np.linalg.inv(2 * Xb.T @ Xb))
        objective(w).backward()
        opt.step()
    coefficients["Preconditioned, α = (2XᵀX)⁻¹, one step"] = w.numpy().copy()

    with timed(results, "closed form (normal equations)"):
        coefficients["closed form (normal equations)"] = tm.linalg.normal_equations(Xb, y).numpy()

    with timed(results, "scikit-learn Ridge(alpha=0.1)"):
        sk_ridge = SkRidge(alpha=0.1).fit(X, y)
    coefficients["scikit-learn Ridge(alpha=0.1)"] = np.append(sk_ridge.coef_, sk_ridge.intercept_)
    with timed(results, "tinygrad_mat.sklearn Ridge(alpha=0.1)"):
        ridge = Ridge(alpha=0.1).fit(X, y)
    coefficients["tinygrad_mat.sklearn Ridge(alpha=0.1)"] = np.append(ridge.coef_, ridge.intercept_)

    reference = coefficients["scikit-learn LinearRegression"]
    for name, w in coefficients.items():
        results[name]["objective"] = float(np.sum((Xb @ w - y) ** 2))
        results[name]["R²"] = float(r2_score(y, Xb @ w))
        against = coefficients["scikit-learn Ridge(alpha=0.1)"] if "Ridge" in name else reference
        results[name]["max rel. diff. to scikit-learn"] = float(np.max(np.abs(w - against) / np.abs(against)))
    print_table("Least squares on load_diabetes (442 × 10)", results,
                ["objective", "R²", "max rel. diff. to scikit-learn", "time"])
    if plot_dir is not None:
        save_plot(f"{plot_dir}/least_squares_diabetes.png", {"gradient descent (Nesterov)": curve},
                  "‖Xw − y‖²", "diabetes: gradient descent")
    return results


if __name__ == "__main__":
    main(plot_dir=plot_dir_from_command_line())
