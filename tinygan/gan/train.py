"""The training loop around ``GAN.train_step``: logging, progress bar, checkpoints, divergence.

Every ``log_every`` steps it records the losses and an estimate of V(D, G) on a fixed
evaluation batch (drawn from its own RNG, so logging never changes the training run). Before
every log and every checkpoint it checks the run's health, and stops with ``TrainingDiverged``
when it fails. Healthy means more than finite: a GAN that blows up with too high a learning rate
often stays finite for thousands of steps while its losses climb to 1e3...1e36, so the losses,
D's logits and the weights must also stay within bounds a working GAN never leaves (below).
Checkpoints are written only from a healthy state, so the last one on disk is always good.
The message names the cause the evidence points to (``likely_cause``): data far from unit scale,
a large learning rate, or, at a modest learning rate, weights driven off by the data.

Ctrl-C stops at the end of the current step; with a checkpoint path the run is saved there
first, then ``TrainingInterrupted`` says where.
"""

from __future__ import annotations

import math
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..evaluation.metrics import value_function
from ..fast.backend import limit_threads, to_numpy
from .checkpoint import save_checkpoint
from .model import GAN

# A working GAN's losses are near log 4 ~ 1.39 (D's) and a few units at most; a mean BCE of 100 means D
# gives the right answer a probability of e^-100 on average. Logits of 1e3 saturate any sigmoid
# a million-fold; weights start below 1 and Adam moves each by about lr per step.
LOSS_LIMIT = 100.0
LOGIT_LIMIT = 1e3
WEIGHT_LIMIT = 1e4
# Layers initialised for inputs of size ~1 cope with a few orders of magnitude; beyond them the first
# layer's outputs (and D's logits) start huge whatever the learning rate. An Adam step moves each
# weight by about lr, so lr >= 1e-2 crosses a working GAN's weights (~0.1) within tens of steps.
DATA_SCALE_LIMITS = (1e-2, 1e2)
HIGH_LR = 1e-2


class TrainingDiverged(RuntimeError):
    """The run left the bounds of a healthy GAN: a loss, a logit or a weight is NaN, inf or huge."""


class TrainingInterrupted(RuntimeError):
    """Ctrl-C stopped training at the end of a step; ``checkpoint`` is where the run was saved (or None)."""

    def __init__(self, step: int, checkpoint: str | None) -> None:
        self.step, self.checkpoint = step, checkpoint
        saved = f"; saved to {checkpoint}" if checkpoint else " (no checkpoint path given: not saved)"
        super().__init__(f"interrupted at step {step}{saved}")


def health_problem(gan: GAN, losses: dict[str, Any], logits: np.ndarray | None = None) -> str | None:
    """What makes this state unhealthy, in words, or None if it is healthy (see LOSS_LIMIT and co)."""
    for name, value in losses.items():
        value = float(value)
        if not math.isfinite(value) or abs(value) > LOSS_LIMIT:
            return f"{name} = {value:.3g} (a working GAN stays within +-{LOSS_LIMIT:g})"
    if logits is not None and not np.all(np.abs(logits) <= LOGIT_LIMIT):
        return f"D's logits reach {np.nanmax(np.abs(logits)):.3g} (a working GAN stays within +-{LOGIT_LIMIT:g})"
    for name, net in (("G", gan.G), ("D", gan.D)):
        if not bool((gan.xp.abs(net.flat.data) <= WEIGHT_LIMIT).all()):  # also catches NaN
            largest = float(np.nanmax(np.abs(to_numpy(net.flat.data))))
            return f"a weight of {name} reaches {largest:.3g} (a working GAN stays within +-{WEIGHT_LIMIT:g})"
    return None


def estimate_value(
    gan: GAN, real: np.ndarray, z: np.ndarray, labels: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """V(D, G) ~ mean log D(x) + mean log(1 - D(G(z))) on fixed host batches, and the logits (2n,).

    Conditional GANs: the fakes are G(z, y) and D judges (x, y), with the real points' labels y."""
    device_labels = None if labels is None else gan.xp.asarray(labels)
    fake = to_numpy(gan.generate(gan.xp.asarray(z), device_labels)) * gan.config.data_scale
    logits_real, logits_fake = gan.logits(real, labels), gan.logits(fake, labels)
    return value_function(logits_real, logits_fake), np.concatenate([logits_real, logits_fake])


def train(
    gan: GAN,
    steps: int | None = None,
    *,
    log_every: int = 500,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int = 1000,
    progress: bool = True,
    eval_size: int = 2048,
    threads: int | None = None,
    callback: Callable[[GAN], None] | None = None,
    callback_every: int = 100,
    checkpoint_force: bool = False,
) -> list[dict[str, float]]:
    """Train until ``gan.step == steps`` (counting steps already taken); returns history.

    ``steps`` defaults to the run's total, ``gan.config.steps`` (the learning-rate schedule spans
    it); a smaller value stops early, to resume later. To train longer, raise ``config.steps``.

    ``threads`` caps the CPU threads while training: BLAS and Numba (see ``backend.limit_threads``).
    ``callback(gan)`` is called every ``callback_every`` steps (e.g. to capture animation frames);
    it must not draw from ``gan.rng``, or the run would change. ``checkpoint_force``: the checkpoint may
    replace a file that is not a tinygan checkpoint (``save_checkpoint(force=True)``; the ``--force`` flag).
    """
    if steps is None:
        steps = gan.config.steps
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if steps > gan.config.steps:
        raise ValueError(
            f"steps={steps} is beyond the run's total, config.steps={gan.config.steps}, over which the "
            "learning-rate schedule runs; to train longer, raise config.steps"
        )
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
    z = gan.with_codes(z, eval_rng)  # and the latent codes, if G has them (codes.py)
    evaluation = (real, z, labels)

    with limit_threads(threads):
        save = (
            None if checkpoint_path is None else lambda: save_checkpoint(gan, checkpoint_path, force=checkpoint_force)
        )
        _loop(gan, steps, log_every, checkpoint_path, save, checkpoint_every, progress, evaluation, callback,
              callback_every)  # fmt: skip
    return gan.history


def _loop(gan: GAN, steps: int, log_every: int, checkpoint_path: Any, save: Any, checkpoint_every: int, progress: bool,
          evaluation: tuple, callback: Any, callback_every: int) -> None:  # fmt: skip
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, initial=gan.step, desc="training", unit="step", mininterval=0.5)
    interrupted = _CtrlC()
    saved_step = None
    try:
        while gan.step < steps:
            losses = gan.train_step()
            last = gan.step == steps
            log_now = gan.step % log_every == 0 or last
            save_now = checkpoint_path is not None and (gan.step % checkpoint_every == 0 or last)
            if log_now or save_now or interrupted.is_set():  # never log or save a broken state
                # One BLAS thread: a second one would spin on for a while after this small job,
                # and on a machine whose cores Numba's threads fill, slow the next ~100 steps.
                with limit_threads(1):
                    value, logits = estimate_value(gan, *evaluation)
                problem = health_problem(gan, losses, logits)
                if problem is not None:
                    cause = likely_cause(gan.config.lr, evaluation[0] / gan.config.data_scale)
                    raise TrainingDiverged(_diverged_message(gan, problem, cause, checkpoint_path, saved_step))
            if log_now:
                record = {"step": gan.step, "d_loss": float(losses["d_loss"]), "g_loss": float(losses["g_loss"])}
                record["value"] = value
                gan.history.append(record)
                if bar is not None:
                    bar.set_postfix(
                        d=f"{record['d_loss']:.3f}", g=f"{record['g_loss']:.3f}", V=f"{record['value']:.3f}"
                    )
            if save_now or (interrupted.is_set() and checkpoint_path is not None):
                save()
                saved_step = gan.step
            if interrupted.is_set():
                raise TrainingInterrupted(gan.step, None if checkpoint_path is None else os.fspath(checkpoint_path))
            if callback is not None and (gan.step % callback_every == 0 or last):
                callback(gan)
            if bar is not None:
                bar.update(1)
    finally:
        interrupted.restore()
        if bar is not None:
            bar.close()


def likely_cause(lr: float, real: np.ndarray) -> str:
    """Why a run diverged, as the evidence says, in words. ``real``: a batch of the data as the networks
    see it (divided by ``data_scale``). In this order: the data's root-mean-square size outside
    ``DATA_SCALE_LIMITS`` (the layers expect values of size ~1) -> the data's scale; ``lr >= HIGH_LR``
    -> the learning rate; otherwise (a modest learning rate, data of unit scale) -> the weights,
    driven off by the data (outliers) or by a learning rate still too high for this run."""
    size = float(np.sqrt(np.mean(np.square(real, dtype=np.float64))))
    low, high = DATA_SCALE_LIMITS
    if not low <= size <= high:
        return (
            f"the data's scale: its values are of size ~{size:.3g} (root mean square), far from the ~1 the "
            "networks expect; standardise it (subtract the mean, divide by the standard deviation)"
        )
    if lr >= HIGH_LR:
        return f"learning rate {lr:g} too high (working GANs use 1e-4 to 1e-3)"
    peak = float(np.max(np.abs(real)))
    return (
        f"the weights grew out of bounds at a modest learning rate {lr:g}: look for outliers in the data "
        f"(largest |x| {peak:.3g}, as the networks see it) or try a smaller learning rate"
    )


def _diverged_message(gan: GAN, problem: str, cause: str, checkpoint_path: Any, saved_step: int | None) -> str:
    message = f"training diverged at step {gan.step}: {problem}; likely cause: {cause}"
    if checkpoint_path is None:
        return message
    if saved_step is not None:
        return f"{message}; kept the checkpoint {os.fspath(checkpoint_path)} from step {saved_step}"
    if os.path.exists(checkpoint_path):
        return f"{message}; kept the earlier checkpoint {os.fspath(checkpoint_path)}"
    return f"{message}; no checkpoint written"


class _CtrlC:
    """While training, the first Ctrl-C only sets a flag (the loop stops at the end of the step); a
    second one interrupts at once. Outside the main thread signals cannot be caught: nothing changes."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self._event.is_set():
            raise KeyboardInterrupt
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
