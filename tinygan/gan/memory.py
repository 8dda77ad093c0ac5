"""Rough memory estimates of a training run and of sampling, to refuse up front what cannot fit.

The estimates count the big arrays (parameters with their gradients and Adam moments, the
activations every layer caches for backward) and round up; they are meant to tell 10 MB from
10 TB, not to be exact. What the machine can give now is ``evaluation.loader.available_memory``.
"""

from __future__ import annotations

import numpy as np

from ..evaluation.loader import available_memory
from .config import GANConfig
from .truncation import draws_needed


def parameter_count(config: GANConfig) -> int:
    """Weights and biases of G and D together."""

    def mlp(widths: list[int]) -> int:
        return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))

    hidden = [config.hidden] * config.depth
    g_input = config.noise_dim + config.latent_codes + config.num_classes
    return mlp([g_input, *hidden, config.data_dim]) + mlp([config.data_dim * config.pack, *hidden, 1])


def training_bytes(config: GANConfig) -> int:
    """Parameters x 5 (data, gradient, two Adam moments, G's average) + cached activations.

    One step runs G on n = batch * pack rows and D on 2 * batch rows; every hidden layer keeps
    its pre- and post-activation (B, H) for backward, and backward makes as many again."""
    itemsize = np.dtype(config.dtype).itemsize
    rows = config.batch_size * config.pack + 2 * config.batch_size
    activations = 4 * rows * config.hidden * config.depth
    return itemsize * (5 * parameter_count(config) + activations)


def sampling_bytes(config: GANConfig, n: int, truncation: float | None = None) -> int:
    """Drawing n samples: the noise, G's cached activations on every draw (and, with Jacobian
    truncation, its backward passes), and the samples themselves (float64 copies included)."""
    q = config.jacobian_truncation if truncation is None else truncation
    draws = draws_needed(int(n), q)
    itemsize = np.dtype(config.dtype).itemsize
    per_draw = config.noise_dim + config.latent_codes + 4 * config.hidden * config.depth + 3 * config.data_dim
    return itemsize * draws * per_draw + 8 * int(n) * config.data_dim


def describe_bytes(nbytes: float) -> str:
    """1234567 -> '1.2 MB'."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if nbytes < 1000 or unit == "PB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return f"{nbytes:.1f} PB"


def require_training_memory(config: GANConfig, what: str) -> None:
    """ValueError "{what}: training needs about N, more than the M of memory available" when one
    training step of ``config`` cannot fit in the memory available now; ``what`` names the flags."""
    need, have = training_bytes(config), available_memory()
    if need > have:
        raise ValueError(
            f"{what}: training needs about {describe_bytes(need)}, more than the {describe_bytes(have)} of memory "
            "available"
        )
