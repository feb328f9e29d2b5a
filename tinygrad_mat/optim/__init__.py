"""``tm.optim``: optimizers with PyTorch's names and updates, and the notes' preconditioned step.

SGD, Adam, AdamW, RMSprop: ``loss.backward(); opt.step(); opt.zero_grad()``. LBFGS and Newton take a
closure (``opt.step(closure)``). ``lr_scheduler`` has StepLR and CosineAnnealingLR.
"""
from . import lr_scheduler
from .first_order import SGD, Adam, AdamW, Preconditioned, RMSprop
from .optimizer import Optimizer
from .second_order import LBFGS, Newton

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "LBFGS", "Newton", "Preconditioned", "lr_scheduler"]
