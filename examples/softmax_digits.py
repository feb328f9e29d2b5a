"""Softmax regression on scikit-learn's digits: minibatch Adam through tm.train, against scikit-learn's
multinomial LogisticRegression at the same C (test accuracy on a held-out quarter).

    python examples/softmax_digits.py [plot folder]     # plots only where asked
"""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import tinygrad_mat as tm
from tinygrad_mat.nn import functional as F
from _common import print_table, timed, plot_dir_from_command_line

C = 0.1


def main(plot_dir=None, epochs=40):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    n = len(y_train)
    results = {}
    with timed(results, "scikit-learn lbfgs") as row:
        sk = SkLogisticRegression(C=C, max_iter=5000).fit(X_train, y_train)
    row["test accuracy"] = float(sk.score(X_test, y_test))

    with timed(results, f"tinygrad_mat Adam, minibatches of 64, {epochs} epochs") as row:
        tm.random.seed(0)
        model = tm.nn.Linear(64, 10)

        def loss_fn(logits, labels):  # scikit-learn's objective divided by C·n: the same minimiser
            return F.cross_entropy(logits, labels) + (model.weight * model.weight).sum() / (2 * C * n)

        history = tm.train(model, loss_fn, tm.optim.Adam(model.parameters(), lr=0.01),
                           tm.data.DataLoader(X_train, y_train, batch_size=64, shuffle=True, seed=0), epochs=epochs,
                           metrics={"accuracy": lambda y, z: tm.metrics.accuracy(y, logits=z)}, val=(X_test, y_test), progress=False)
    row["test accuracy"] = history["accuracy"][-1]
    print_table(f"Softmax regression on load_digits (1797 × 64, 10 classes), C = {C}", results,
                ["test accuracy", "time"])
    if plot_dir is not None:
        try:
            history.plot(f"{plot_dir}/softmax_digits.png")
            print(f"plot: {plot_dir}/softmax_digits.png")
        except ImportError as error:
            print(f"({error})")
    return results


if __name__ == "__main__":
    main(plot_dir=plot_dir_from_command_line())
