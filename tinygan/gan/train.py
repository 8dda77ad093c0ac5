"""The training loop around ``GAN.train_step``: logging, progress bar, checkpoints, divergence.

Every ``log_every`` steps it records the losses and an estimate of V(D, G) on a fixed
evaluation batch (drawn from its own RNG, so logging never changes the training run), and
stops with ``TrainingDiverged`` as soon as a loss or a parameter is NaN/inf. Checkpoints are
written only from a healthy state, so the last one on disk is always good.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..evaluation.metrics import value_function
from ..fast.backend import limit_blas_threads, to_numpy
from .checkpoint import save_checkpoint
from .model import GAN


class TrainingDiverged(RuntimeError):
    """A loss or a parameter became NaN or inf."""


def _healthy(gan: GAN, losses: dict[str, Any]) -> bool:
    finite_losses = all(math.isfinite(float(v)) for v in losses.values())
    xp = gan.xp
    return finite_losses and bool(xp.isfinite(gan.G.flat.data).all()) and bool(xp.isfinite(gan.D.flat.data).all())


def estimate_value(gan: GAN, real: np.ndarray, z: np.ndarray, labels: np.ndarray | None = None) -> float:
    """V(D, G) ~ mean log D(x) + mean log(1 - D(G(z))) on fixed host batches (conditional: G(z, y), D(x, y))."""
    device_labels = None if labels is None else gan.xp.asarray(labels)
    fake = to_numpy(gan.generate(gan.xp.asarray(z), device_labels)) * gan.config.data_scale
    return value_function(gan.logits(real, labels), gan.logits(fake, labels))


def train(
    gan: GAN,
    steps: int,
    *,
    log_every: int = 250,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int = 1000,
    progress: bool = True,
    eval_size: int = 2048,
    threads: int | None = None,
    callback: Callable[[GAN], None] | None = None,
    callback_every: int = 100,
) -> list[dict[str, float]]:
    """Train until ``gan.step == steps`` (the total, counting steps already taken); returns history.

    ``threads`` caps the BLAS thread pools while training (see ``backend.limit_blas_threads``).
    ``callback(gan)`` is called every ``callback_every`` steps (e.g. to capture animation frames);
    it must not draw from ``gan.rng``, or the run would change.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    for name, value in (("log_every", log_every), ("checkpoint_every", checkpoint_every),
                        ("callback_every", callback_every)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if steps < gan.step:
        raise ValueError(f"steps={steps} is below the {gan.step} steps already taken")
    eval_rng = np.random.default_rng([gan.seed, 3])  # the same evaluation batch at every log
    if gan.conditional:  # real points with their labels; the fakes are asked for the same labels
        real, labels = (to_numpy(a) for a in gan.data.sample_labelled(eval_size, eval_rng))
    else:
        real, labels = to_numpy(gan.data.sample(eval_size, eval_rng)), None
    real = real.astype(np.float64)
    z = eval_rng.standard_normal((eval_size, gan.config.noise_dim)).astype(gan.dtype)
    evaluation = (real, z, labels)

    with limit_blas_threads(threads):
        _loop(gan, steps, log_every, checkpoint_path, checkpoint_every, progress, evaluation, callback, callback_every)
    return gan.history


def _loop(gan: GAN, steps: int, log_every: int, checkpoint_path: Any, checkpoint_every: int, progress: bool,
          evaluation: tuple, callback: Any, callback_every: int) -> None:  # fmt: skip
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, initial=gan.step, desc="training", unit="step", mininterval=0.5)
    try:
        while gan.step < steps:
            losses = gan.train_step()
            last = gan.step == steps
            log_now = gan.step % log_every == 0 or last
            save_now = checkpoint_path is not None and (gan.step % checkpoint_every == 0 or last)
            if (log_now or save_now) and not _healthy(gan, losses):  # never log or save a broken state
                raise TrainingDiverged(
                    f"training diverged at step {gan.step}: a loss or a weight is NaN/inf "
                    f"(likely cause: learning rate {gan.config.lr:g} too high; try a smaller --lr)"
                )
            if log_now:
                record = {"step": gan.step, "d_loss": float(losses["d_loss"]), "g_loss": float(losses["g_loss"])}
                record["value"] = estimate_value(gan, *evaluation)
                gan.history.append(record)
                if bar is not None:
                    bar.set_postfix(
                        d=f"{record['d_loss']:.3f}", g=f"{record['g_loss']:.3f}", V=f"{record['value']:.3f}"
                    )
            if save_now:
                save_checkpoint(gan, checkpoint_path)
            if callback is not None and (gan.step % callback_every == 0 or last):
                callback(gan)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
