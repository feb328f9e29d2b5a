"""The first screen: gradients by tinygrad_mat beside the notes' closed forms and central differences."""
import numpy as np

import tinygrad_mat as tm


def central_difference_gradient(f, x, h=1e-6):
    """∂f/∂x entry by entry from (f(x + h) − f(x − h)) / 2h: a check that knows no calculus."""
    grad = np.zeros_like(x)
    for k in range(x.size):
        step = np.zeros_like(x)
        step.reshape(-1)[k] = h
        grad.reshape(-1)[k] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


def show(title, reverse, closed_form, central, closed_form_text):
    print(title)
    rows = [("tinygrad_mat (reverse mode)", reverse), (f"closed form {closed_form_text}", closed_form),
            ("central differences", central)]
    for label, value in rows:
        text = np.array2string(value, precision=6, suppress_small=True, separator=" ").replace("\n", "\n" + " " * 32)
        print(f"  {label:<29} {text}")
    print(f"  max |reverse − closed form| = {np.max(np.abs(reverse - closed_form)):.1e}   "
          f"max |reverse − central differences| = {np.max(np.abs(reverse - central)):.1e}\n")


def main():
    rng = np.random.default_rng(0)
    X, Y, W = rng.standard_normal((5, 3)), rng.standard_normal((5, 2)), rng.standard_normal((3, 2))
    print("tinygrad_mat: one gradient, three ways (float64)\n")

    # Note N1: f(W) = ‖XW − Y‖²_F, ∂f/∂W = 2Xᵀ(XW − Y).
    w = tm.tensor(W, requires_grad=True)
    loss = tm.norm(X @ w - Y) ** 2
    loss.backward()
    show("f(W) = ‖XW − Y‖²_F   with X 5×3, Y 5×2, W 3×2", w.grad.numpy(), 2 * X.T @ (X @ W - Y),
         central_difference_gradient(lambda W: np.linalg.norm(X @ W - Y) ** 2, W), "2Xᵀ(XW − Y)")

    # Note N12: f(A) = det(A), ∂f/∂A = det(A) A⁻ᵀ.
    A = rng.standard_normal((3, 3))
    grad_det = tm.grad(tm.det)(A)
    show("f(A) = det(A)   with A 3×3", grad_det, np.linalg.det(A) * np.linalg.inv(A).T,
         central_difference_gradient(np.linalg.det, A), "det(A) A⁻ᵀ")

    # Forward mode, same function: one pass carrying a tangent V gives tr(Gᵀ V) (the differential method).
    V = rng.standard_normal((3, 3))
    value, tangent = tm.jvp(tm.det, (A,), (V,))
    print("Forward mode, f(A) = det(A) along a random direction V:")
    print(f"  {'tinygrad_mat (forward mode)':<33} {float(tangent): .12f}")
    print(f"  {'closed form tr((det(A) A⁻ᵀ)ᵀ V)':<33} {np.trace(grad_det.T @ V): .12f}\n")

    print("The rules behind these gradients, from tinygrad_mat's op table:")
    for name in ("matmul", "sub", "euclidean_norm", "pow", "det"):
        op = tm.ops.REGISTRY[name]
        print(f"  {name:<14} reverse  {op.vjp_text}")
        print(f"  {'':<14} forward  {op.jvp_text}")


if __name__ == "__main__":
    main()
