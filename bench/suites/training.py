"""Training steps (forward, backward, update): logistic regression (32 × 10 and 10⁴ × 100) and
softmax regression (digits-sized, 1797 × 64, 10 classes), against hand-written numpy and the peers.
Each implementation takes one SGD step from the same start; after that the benchmark keeps stepping."""
import numpy as np

from ._peers import have, threads

NAME = "training step"
SIZE = "entries of X (n × d)"
BASELINE = "numpy by hand"
IMPLEMENTATIONS = ["numpy by hand", "tinygrad_mat", "tinygrad_mat compiled", "tinygrad_mat compiled (numba)",
                   "PyTorch eager", "JAX jit", "HIPS autograd"]
LR = 0.1


def sizes(profile):
    return {"test": [("logistic", 8, 3)], "quick": [("logistic", 32, 10), ("logistic", 10_000, 100), ("softmax", 1797, 64)],
            "full": [("logistic", 32, 10), ("logistic", 1_000, 10), ("logistic", 10_000, 100), ("softmax", 1797, 64)]}[profile]


def variant(size):
    return size[0]


def x(size):
    return size[1] * size[2]


def label(size):
    return f"{size[1]:,} × {size[2]}"


def _data(kind, n, d):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    classes = 1 if kind == "logistic" else 10
    y = (rng.random(n) > 0.5).astype(float) if kind == "logistic" else rng.integers(0, 10, n)
    return X, y, np.zeros((d, classes)), np.zeros(classes)


def build(size):
    kind, n, d = size
    X, y, W0, b0 = _data(kind, n, d)
    onehot = np.eye(10)[y] if kind == "softmax" else None

    def numpy_step(state={"W": W0.copy(), "b": b0.copy()}):
        z = X @ state["W"] + state["b"]
        if kind == "logistic":
            g = (0.5 * (1 + np.tanh(0.5 * z[:, 0])) - y)[:, None] / n
        else:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            g = (e / e.sum(axis=1, keepdims=True) - onehot) / n
        state["W"] = state["W"] - LR * X.T @ g
        state["b"] = state["b"] - LR * g.sum(axis=0)
        return state["W"]

    impls = {"numpy by hand": numpy_step}

    import tinygrad_mat as tm
    from tinygrad_mat.nn import functional as F

    target = y[:, None] if kind == "logistic" else y

    def tinygrad_mat_step():
        model = tm.nn.Linear(d, W0.shape[1])
        model.load_state_dict({"weight": W0.T, "bias": b0})
        opt = tm.optim.SGD(model.parameters(), lr=LR)

        def step():
            opt.zero_grad()
            logits = model(X)
            loss = F.binary_cross_entropy_with_logits(logits, target) if kind == "logistic" else F.cross_entropy(logits, target)
            loss.backward()
            opt.step()
            return model.weight

        return step

    eager_step, compiled_step = tinygrad_mat_step(), tm.compile(tinygrad_mat_step())
    impls["tinygrad_mat"] = lambda: eager_step().numpy().T
    impls["tinygrad_mat compiled"] = lambda: compiled_step().numpy().T
    numba_step = tm.compile(tinygrad_mat_step(), backend="numba")
    impls["tinygrad_mat compiled (numba)"] = lambda: numba_step().numpy().T
    if have("torch"):
        import torch

        torch.set_num_threads(threads())
        tX = torch.tensor(X)
        ty = torch.tensor(y[:, None] if kind == "logistic" else y)
        layer = torch.nn.Linear(d, W0.shape[1], dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(W0.T))
            layer.bias.copy_(torch.tensor(b0))
        topt = torch.optim.SGD(layer.parameters(), lr=LR)
        loss_fn = torch.nn.functional.binary_cross_entropy_with_logits if kind == "logistic" else torch.nn.functional.cross_entropy

        def torch_step():
            topt.zero_grad()
            loss_fn(layer(tX), ty).backward()
            topt.step()
            return layer.weight.detach().numpy().T

        impls["PyTorch eager"] = torch_step
    if have("jax"):
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        jX, jy = jnp.asarray(X), jnp.asarray(y)

        def loss(params):
            z = jX @ params[0] + params[1]
            if kind == "logistic":
                return jnp.mean(jax.nn.softplus(z[:, 0]) - jy * z[:, 0])
            return -jnp.mean(jax.nn.log_softmax(z)[jnp.arange(n), jy])

        @jax.jit
        def update(params):
            g = jax.grad(loss)(params)
            return params[0] - LR * g[0], params[1] - LR * g[1]

        state = [(jnp.asarray(W0), jnp.asarray(b0))]
        update(state[0])[0].block_until_ready()

        def jax_step():
            state[0] = update(state[0])
            return np.asarray(state[0][0].block_until_ready())

        impls["JAX jit"] = jax_step
    if have("autograd"):
        import autograd
        import autograd.numpy as anp
        from autograd.scipy.special import logsumexp

        def ag_loss(params):
            z = anp.dot(X, params[0]) + params[1]
            if kind == "logistic":
                return anp.mean(anp.logaddexp(0.0, z[:, 0]) - y * z[:, 0])
            return -anp.mean(anp.sum((z - logsumexp(z, axis=1, keepdims=True)) * onehot, axis=1))

        ag_grad = autograd.grad(ag_loss)
        ag_state = [(W0.copy(), b0.copy())]

        def autograd_step():
            g = ag_grad(ag_state[0])
            ag_state[0] = (ag_state[0][0] - LR * g[0], ag_state[0][1] - LR * g[1])
            return ag_state[0][0]

        impls["HIPS autograd"] = autograd_step
    # the reference: one step by hand from the same start
    _, _, W, b = _data(kind, n, d)
    reference = build_reference(kind, X, y, W, b, n)
    return impls, reference


def build_reference(kind, X, y, W, b, n):
    z = X @ W + b
    if kind == "logistic":
        g = (1 / (1 + np.exp(-z[:, 0])) - y)[:, None] / n
    else:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        g = (e / e.sum(axis=1, keepdims=True) - np.eye(10)[y]) / n
    return W - LR * X.T @ g
