"""Note 000: the gradient of ‖XW − Y‖²_F with respect to W: the element-by-element triple loop exactly
as the note derives it, a loop over rows, numpy's closed form 2Xᵀ(XW − Y), a numba kernel,
tinygrad_mat reverse mode, and the peers when installed."""
import numpy as np

from ._peers import have, profile, threads

NAME = "least-squares gradient"
SIZE = "n (rows of X)"
BASELINE = "numpy closed form"
IMPLEMENTATIONS = ["element-by-element triple loop", "loop over rows (numpy)", "numpy closed form", "numba kernel", "tinygrad_mat",
                   "tinygrad_mat linear_mse_loss", "PyTorch eager", "JAX", "JAX jit", "HIPS autograd"]
# The triple loop does n·d·k multiply-adds in Python (about 8 s at 10⁶): beyond this it is a missing
# column. The loop over rows costs about 10 µs a row whatever d and k are: 10⁵ rows only in the full run.
TRIPLE_LOOP_WORK_LIMIT = 300_000
ROW_LOOP_ROW_LIMIT = {"test": 100, "quick": 10_000, "full": 100_000}


def sizes(profile):
    if profile == "test":
        return [(10, 3, 1)]
    rows = [10, 1_000, 100_000] if profile == "quick" else [10, 100, 1_000, 10_000, 100_000]
    shapes = [(3, 1), (100, 10)] if profile == "quick" else [(3, 1), (3, 10), (100, 1), (100, 10)]
    return [(n, d, k) for d, k in shapes for n in rows]


def variant(size):
    return f"d = {size[1]}, k = {size[2]}"


def x(size):
    return size[0]


_kernel = None


def numba_gradient():
    """One pass over the rows of X, as a careful user writes it: the residual row, then its outer
    product with the row of X added into G. No BLAS: at large d·k numpy's gemm wins, and the table says so."""
    global _kernel
    if _kernel is None:
        from numba import njit

        @njit(cache=True, fastmath=True)
        def gradient(X, W, Y):
            n, d = X.shape
            k = W.shape[1]
            G = np.zeros((d, k))
            if k == 1:  # one output: scalars instead of a residual row (2-3× faster at d = 3)
                w, g = W[:, 0].copy(), np.zeros(d)
                for i in range(n):
                    r = -Y[i, 0]
                    for l in range(d):
                        r += X[i, l] * w[l]
                    r *= 2.0
                    for l in range(d):
                        g[l] += X[i, l] * r
                G[:, 0] = g
                return G
            r = np.empty(k)
            for i in range(n):
                for j in range(k):
                    r[j] = -Y[i, j]
                for l in range(d):
                    x = X[i, l]
                    for j in range(k):
                        r[j] += x * W[l, j]
                for l in range(d):
                    x = 2.0 * X[i, l]
                    for j in range(k):
                        G[l, j] += x * r[j]
            return G

        _kernel = gradient
    return _kernel


def build(size):
    import tinygrad_mat as tm

    n, d, k = size
    rng = np.random.default_rng(0)
    X, W, Y = rng.standard_normal((n, d)), rng.standard_normal((d, k)), rng.standard_normal((n, k))
    reference = 2 * (X.T @ (X @ W - Y))
    impls = {"numpy closed form": lambda: 2 * (X.T @ (X @ W - Y))}  # not (2 * X.T) @ ...: that scales all of X
    if n * d * k <= TRIPLE_LOOP_WORK_LIMIT:
        Xl, Wl, Yl = X.tolist(), W.tolist(), Y.tolist()

        def triple_loop():  # ∂/∂W_pq Σᵢⱼ (Σₗ X_il W_lj − Y_ij)² = Σᵢ 2 X_ip (Σₗ X_il W_lq − Y_iq)
            G = [[0.0] * k for _ in range(d)]
            for p in range(d):
                for q in range(k):
                    total = 0.0
                    for i in range(n):
                        r = -Yl[i][q]
                        for l in range(d):
                            r += Xl[i][l] * Wl[l][q]
                        total += 2.0 * Xl[i][p] * r
                    G[p][q] = total
            return G

        impls["element-by-element triple loop"] = triple_loop
    if n <= ROW_LOOP_ROW_LIMIT[profile()]:
        def row_loop():
            G = np.zeros((d, k))
            for i in range(n):
                G += 2.0 * np.outer(X[i], X[i] @ W - Y[i])
            return G

        impls["loop over rows (numpy)"] = row_loop
    kernel = numba_gradient()
    kernel(X, W, Y)
    impls["numba kernel"] = lambda: kernel(X, W, Y)
    w = tm.tensor(W, requires_grad=True)

    def tinygrad_mat_reverse():
        loss = tm.norm(X @ w - Y) ** 2
        loss.backward()
        g = w.grad
        w.grad = None
        return g.numpy()

    impls["tinygrad_mat"] = tinygrad_mat_reverse
    w_fused = tm.tensor(W, requires_grad=True)

    def tinygrad_mat_fused():  # loss and gradient in one pass over X (kernels/fused.py)
        tm.nn.functional.linear_mse_loss(X, w_fused, None, Y, reduction="sum").backward()
        g = w_fused.grad
        w_fused.grad = None
        return g.numpy()

    impls["tinygrad_mat linear_mse_loss"] = tinygrad_mat_fused
    if have("torch"):
        import torch

        torch.set_num_threads(threads())
        tX, tY, tW = torch.tensor(X), torch.tensor(Y), torch.tensor(W, requires_grad=True)

        def torch_eager():
            loss = ((tX @ tW - tY) ** 2).sum()
            loss.backward()
            g = tW.grad
            tW.grad = None
            return g.numpy()

        impls["PyTorch eager"] = torch_eager
    if have("jax"):
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        jX, jY, jW = jnp.asarray(X), jnp.asarray(Y), jnp.asarray(W)
        grad = jax.grad(lambda W: jnp.sum((jX @ W - jY) ** 2))
        jitted = jax.jit(grad)
        jitted(jW).block_until_ready()
        impls["JAX"] = lambda: np.asarray(grad(jW))
        impls["JAX jit"] = lambda: np.asarray(jitted(jW).block_until_ready())
    if have("autograd"):
        import autograd
        import autograd.numpy as anp

        grad_ag = autograd.grad(lambda W: anp.sum((anp.dot(X, W) - Y) ** 2))
        impls["HIPS autograd"] = lambda: grad_ag(W)
    return impls, reference
