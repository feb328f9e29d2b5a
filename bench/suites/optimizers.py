"""One optimizer step over many float64 parameters: SGD with momentum and Adam, by numpy, tinygrad_mat
(Adam as one fused numba kernel) and PyTorch (foreach and fused, 1 thread)."""
import numpy as np

from ._peers import have, threads

NAME = "optimizer update"
SIZE = "parameters"
BASELINE = "numpy by hand"
IMPLEMENTATIONS = ["numpy by hand", "tinygrad_mat", "PyTorch foreach", "PyTorch fused"]


def sizes(profile):
    ns = {"test": [100], "quick": [10_000, 1_000_000], "full": [10_000, 100_000, 1_000_000]}[profile]
    return [(opt, n) for opt in ("SGD momentum", "Adam") for n in ns]


def variant(size):
    return size[0]


def x(size):
    return size[1]


def build(size):
    import tinygrad_mat as tm

    opt_name, n = size
    rng = np.random.default_rng(0)
    p0, g0 = rng.standard_normal(n), rng.standard_normal(n)
    lr = 1e-3

    def numpy_step(state={"p": p0.copy(), "m": np.zeros(n), "v": np.zeros(n), "t": 0}):
        if opt_name == "SGD momentum":
            state["m"] = 0.9 * state["m"] + g0 if state["t"] else g0.copy()
            state["p"] = state["p"] - lr * state["m"]
        else:
            t = state["t"] + 1
            state["m"] = 0.9 * state["m"] + 0.1 * g0
            state["v"] = 0.999 * state["v"] + 0.001 * g0 * g0
            state["p"] = state["p"] - lr * (state["m"] / (1 - 0.9**t)) / (np.sqrt(state["v"] / (1 - 0.999**t)) + 1e-8)
        state["t"] += 1
        return state["p"]

    impls = {"numpy by hand": numpy_step}
    p = tm.tensor(p0, requires_grad=True)
    p.grad = tm.tensor(g0)
    opt = tm.optim.SGD([p], lr=lr, momentum=0.9) if opt_name == "SGD momentum" else tm.optim.Adam([p], lr=lr)
    impls["tinygrad_mat"] = lambda: (opt.step(), p.numpy())[1]
    if have("torch"):
        import torch

        torch.set_num_threads(threads())
        for flavour in ("foreach", "fused"):
            tp = torch.tensor(p0, requires_grad=True)
            tp.grad = torch.tensor(g0)
            make = (lambda params, **k: torch.optim.SGD(params, lr=lr, momentum=0.9, **k)) if opt_name == "SGD momentum" \
                else (lambda params, **k: torch.optim.Adam(params, lr=lr, **k))
            topt = make([tp], **{flavour: True})
            impls[f"PyTorch {flavour}"] = (lambda topt=topt, tp=tp: (topt.step(), tp.detach().numpy())[1])
    if opt_name == "SGD momentum":
        reference = p0 - lr * g0
    else:
        reference = p0 - lr * (0.1 * g0 / 0.1) / (np.sqrt(0.001 * g0 * g0 / 0.001) + 1e-8)
    return impls, reference
