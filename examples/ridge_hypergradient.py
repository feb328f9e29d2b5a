"""Tune the ridge penalty by gradient descent: the validation loss is differentiated with respect to
λ through the closed-form solution w(λ) = (XᵀX + λI)⁻¹Xᵀy (a hypergradient), checked against central
differences, and the tuned λ compared with a grid search.

    python examples/ridge_hypergradient.py [plot folder]     # plots only where asked
"""
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import tinygrad_mat as tm
from tinygrad_mat.nn import functional as F
from _common import print_table, save_plot, timed, plot_dir_from_command_line


def main(plot_dir=None, steps=200):
    X, y = load_diabetes(return_X_y=True)
    X = np.hstack([StandardScaler().fit_transform(X), np.random.default_rng(0).standard_normal((len(X), 30))])
    X_train, X_val, y_train, y_val = train_test_split(X, y - y.mean(), test_size=0.5, random_state=0)

    def validation_loss(log_lambda):
        return F.mse_loss(X_val @ tm.linalg.ridge(X_train, y_train, tm.exp(log_lambda)), y_val)

    # the hypergradient, against central differences
    h, at = 1e-5, np.log(10.0)
    numeric = (float(validation_loss(at + h)) - float(validation_loss(at - h))) / (2 * h)
    exact = float(tm.grad(validation_loss)(at))

    results, curve = {}, []
    with timed(results, f"gradient descent on log λ ({steps} steps, Adam)") as row:
        log_lambda = tm.tensor(0.0, requires_grad=True)
        opt = tm.optim.Adam([log_lambda], lr=0.1)
        for _ in range(steps):
            opt.zero_grad()
            loss = validation_loss(log_lambda)
            loss.backward()
            opt.step()
            curve.append(loss.item())
        row.update(**{"λ": float(np.exp(log_lambda.item())), "validation MSE": float(validation_loss(log_lambda))})
    with timed(results, "grid search, 200 values of λ in [1e-3, 1e4]") as row:
        grid = np.logspace(-3, 4, 200)
        losses = [float(validation_loss(np.log(g))) for g in grid]
        row.update(**{"λ": float(grid[int(np.argmin(losses))]), "validation MSE": min(losses)})
    print(f"hypergradient at λ = 10: {exact:.8f} (central differences {numeric:.8f})")
    print_table("Ridge penalty tuned on a validation set (diabetes + 30 noise features)", results,
                ["λ", "validation MSE", "time"])
    if plot_dir is not None:
        save_plot(f"{plot_dir}/ridge_hypergradient.png", {"validation MSE": curve}, "validation MSE",
                  "ridge: tuning λ by its hypergradient")
    return {"hypergradient": exact, "central differences": numeric, **results}


if __name__ == "__main__":
    main(plot_dir=plot_dir_from_command_line())
