"""tinygan: a generative adversarial network written from scratch in NumPy.

Read in this order: layers.py (forward/backward), losses.py, optim.py, gan.py.
"""

from .backend import get_backend, set_backend, to_numpy
from .layers import Dense, LeakyReLU, Module, ReLU, Sequential, Sigmoid, Tanh, mlp
from .losses import bce_with_logits, discriminator_loss, generator_loss
from .optim import SGD, Adam
from .parameters import Parameter

__version__ = "0.1.0"

__all__ = [
    "SGD",
    "Adam",
    "Dense",
    "LeakyReLU",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "bce_with_logits",
    "discriminator_loss",
    "generator_loss",
    "get_backend",
    "mlp",
    "set_backend",
    "to_numpy",
]
