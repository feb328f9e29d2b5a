"""``tm.nn``: modules and losses for small models, with PyTorch's names.

>>> import numpy as np, tinygrad_mat as tm
>>> tm.random.seed(0)
>>> model = tm.nn.Sequential(tm.nn.Linear(4, 3), tm.nn.ReLU(), tm.nn.Linear(3, 1))
>>> loss = tm.nn.functional.mse_loss(model(np.ones((8, 4))), np.zeros((8, 1)))
>>> loss.backward(); sorted(name for name, _ in model.named_parameters())
['0.bias', '0.weight', '2.bias', '2.weight']
"""
from . import functional
from .modules import Linear, LogSoftmax, Module, Parameter, ReLU, Sequential, Sigmoid, Softmax, Tanh

__all__ = ["Module", "Linear", "Sequential", "Parameter", "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
           "functional"]
