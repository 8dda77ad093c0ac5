"""tinygan: a generative adversarial network written from scratch in NumPy.

The package is in parts, imports flowing one way (each imports only from those below it):

* ``tinygan.live``: the live view in the browser (Bokeh; ``python -m tinygan.live``);
* ``tinygan.cli``: what the command-line demos share (flags, checks before a run, exit statuses);
* ``tinygan.plot``: every picture (the only module that imports matplotlib);
* ``tinygan.gan``: the GAN, its config and recipes, the training loop, checkpoints, truncation;
* ``tinygan.evaluation``: data sources (mixtures, user points) and the measures of a run;
* ``tinygan.nn``: the textbook engine: modules, layers, activations, losses, optimizers;
* ``tinygan.fast``: the backends and their fast twins (Numba, CuPy, the fused training step).

Reading order, to learn backprop from the code (the same in README.md and docs/backprop.md):
nn/module.py, nn/layers.py, nn/activations.py, nn/losses.py, nn/optim.py, gan/model.py
(``GAN.train_step``), then gan/train.py. ``set_backend("numpy")`` runs exactly that code;
the default ``numba`` backend runs its fused twin, fast/fused.py, tested equal to it.
"""

from .evaluation.data import EmpiricalData, GaussianMixture, load_points, make_data, mixture, points_from_bytes
from .fast.backend import get_backend, set_backend, to_numpy
from .gan.checkpoint import load_checkpoint, save_checkpoint
from .gan.config import GANConfig
from .gan.model import GAN
from .gan.recipes import recipe
from .gan.train import TrainingDiverged, train
from .nn.layers import Dense, LeakyReLU, Module, ReLU, Sequential, Sigmoid, Tanh, mlp
from .nn.losses import bce_with_logits, discriminator_loss, generator_loss
from .nn.optim import SGD, Adam
from .nn.parameters import Parameter

__version__ = "0.1.0"

__all__ = [
    "GAN",
    "SGD",
    "Adam",
    "Dense",
    "EmpiricalData",
    "GANConfig",
    "GaussianMixture",
    "LeakyReLU",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "TrainingDiverged",
    "bce_with_logits",
    "discriminator_loss",
    "generator_loss",
    "get_backend",
    "load_checkpoint",
    "load_points",
    "make_data",
    "mixture",
    "mlp",
    "points_from_bytes",
    "recipe",
    "save_checkpoint",
    "set_backend",
    "to_numpy",
    "train",
]
