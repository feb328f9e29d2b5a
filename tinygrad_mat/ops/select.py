"""Selection: ``where``. The condition is a constant mask (it has no derivative)."""
import numpy as np

from .base import Linear, register, values_of


@register
class Where(Linear):
    """``x`` where ``condition`` holds, else ``y``, as ``numpy.where(condition, x, y)`` (broadcasting).

    The condition is a boolean mask (a comparison such as ``t > 0`` gives one); it carries no
    derivative. Each branch gets the cotangent where it was chosen, zero elsewhere.

    >>> import tinygrad_mat as tm
    >>> x = tm.tensor([-1.0, 2.0])
    >>> tm.where(x > 0, x, 0.1 * x)          # leaky relu
    Tensor([-0.1,  2. ])
    """

    name, numpy = "where", {np.where: {}}
    vjp_text = "X̄ = Z̄ ⊙ [C],  Ȳ = Z̄ ⊙ [¬C]"
    jvp_text = "Ż = where(C, Ẋ, Ẏ)"

    def prepare(self, condition, x, y):
        mask = np.asarray(values_of(condition)).astype(bool, copy=False)
        mask.setflags(write=False)
        return (x, y), {"condition": mask}

    def forward(self, x, y, condition):
        return np.where(condition, x, y)

    def vjp(self, xp, g, inputs, out, needs, condition):
        gx = xp.where(condition, g, 0.0) if needs[0] else None
        gy = xp.where(condition, 0.0, g) if needs[1] else None
        return gx, gy
