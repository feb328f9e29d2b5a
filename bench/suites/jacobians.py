"""Jacobians and Hessians of matrix functions at sizes 3 to 30: tinygrad_mat's jacfwd, jacrev, hessian
and hvp against the closed forms in numpy, jax.jacfwd / jax.jacrev / jax.hessian and torch.func."""
import numpy as np

from ._peers import have, threads

NAME = "jacobians and hessians"
SIZE = "n (X is n × n)"
BASELINE = "numpy closed form"
IMPLEMENTATIONS = ["numpy closed form", "tinygrad_mat", "JAX jit", "torch.func"]


# The two cases of one batched reverse pass (jacrev, and hessian as reverse over reverse) at the sizes
# bench/batched_reverse.py compares interleaved.
BATCHED_REVERSE = {("A X A", "jacrev"), ("log det X", "hessian")}


def sizes(profile):
    ns = {"test": [2], "quick": [3, 10], "full": [3, 10, 30]}[profile]
    batched = {"test": [2], "quick": [4, 10, 32], "full": [4, 10, 32]}[profile]
    cases = [("A X A", "jacfwd"), ("A X A", "jacrev"), ("log det X", "hessian"), ("tr(XᵀAX)", "hessian"),
             ("tr(XᵀAX)", "hvp")]
    return [(f, t, n) for f, t in cases for n in (batched if (f, t) in BATCHED_REVERSE else ns)]


def variant(size):
    return f"{size[0]}, {size[1]}"


def x(size):
    return size[2]


def _functions(lib, A):
    return {
        "A X A": lambda X: A @ X @ A,
        "log det X": lambda X: lib.log(lib.linalg.det(X)) if lib is not None else None,
        "tr(XᵀAX)": lambda X: lib.trace(X.T @ A @ X),
    }


def build(size):
    fname, transform, n = size
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n))
    X = rng.standard_normal((n, n)) + n * np.eye(n)
    V = rng.standard_normal((n, n))
    inv = np.linalg.inv(X)
    closed = {
        ("A X A", "jacfwd"): lambda: np.einsum("ik,lj->ijkl", A, A),
        ("A X A", "jacrev"): lambda: np.einsum("ik,lj->ijkl", A, A),
        ("log det X", "hessian"): lambda: -np.einsum("jk,li->ijkl", inv, inv),
        ("tr(XᵀAX)", "hessian"): lambda: np.einsum("ik,lj->ijkl", A + A.T, np.eye(n)),
        ("tr(XᵀAX)", "hvp"): lambda: (A + A.T) @ V,
    }[(fname, transform)]
    impls = {"numpy closed form": closed}

    import tinygrad_mat as tm

    f = {"A X A": lambda X: A @ X @ A, "log det X": lambda X: tm.log(tm.det(X)),
         "tr(XᵀAX)": lambda X: tm.trace(X.mT @ A @ X)}[fname]
    impls["tinygrad_mat"] = {"jacfwd": lambda: tm.jacfwd(f)(X), "jacrev": lambda: tm.jacrev(f)(X),
                             "hessian": lambda: tm.hessian(f)(X), "hvp": lambda: tm.hvp(f, X, V)}[transform]
    if have("jax"):
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        jA = jnp.asarray(A)
        jf = {"A X A": lambda X: jA @ X @ jA, "log det X": lambda X: jnp.log(jnp.linalg.det(X)),
              "tr(XᵀAX)": lambda X: jnp.trace(X.T @ jA @ X)}[fname]
        jX, jV = jnp.asarray(X), jnp.asarray(V)
        transformed = {"jacfwd": jax.jacfwd(jf), "jacrev": jax.jacrev(jf), "hessian": jax.hessian(jf),
                       "hvp": lambda X: jax.jvp(jax.grad(jf), (X,), (jV,))[1]}[transform]
        jitted = jax.jit(transformed)
        jitted(jX).block_until_ready()
        impls["JAX jit"] = lambda: np.asarray(jitted(jX).block_until_ready())
    if have("torch"):
        import torch
        from torch import func

        torch.set_num_threads(threads())
        tA, tX, tV = torch.tensor(A), torch.tensor(X), torch.tensor(V)
        tf = {"A X A": lambda X: tA @ X @ tA, "log det X": lambda X: torch.logdet(X),
              "tr(XᵀAX)": lambda X: torch.trace(X.T @ tA @ X)}[fname]
        transformed = {"jacfwd": func.jacfwd(tf), "jacrev": func.jacrev(tf), "hessian": func.hessian(tf),
                       "hvp": lambda X: func.jvp(func.grad(tf), (X,), (tV,))[1]}[transform]
        impls["torch.func"] = lambda: transformed(tX).numpy()
    return impls, closed()
