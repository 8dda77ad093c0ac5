"""GANConfig: everything that defines a run, validated; and the learning-rate schedule.

The defaults are a plain starting point (the case study's networks, Adam 2e-4 with betas
(0, 0.9), batch 512); the tuned settings for each built-in mixture are in recipes.py
(``tinygan.recipe(name)``). ``validate`` names the first field that makes no sense.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from ..nn.activations import ACTIVATIONS
from ..nn.losses import GENERATOR_LOSSES
from ..nn.module import as_float_dtype
from .truncation import check_truncation

SCHEDULES = ("constant", "linear", "cosine")
G_OUTPUTS = ("linear", "tanh")


@dataclass
class GANConfig:
    """Everything that defines a run. The tuned settings per mixture: ``tinygan.recipe(name)``."""

    hidden: int = 64  # width of every hidden layer, G and D
    depth: int = 2  # hidden layers per network
    noise_dim: int = 2
    data_dim: int = 2
    g_activation: str = "relu"
    g_output: str = "linear"  # or "tanh": G's last layer, for data scaled into [-1, 1] (images)
    d_activation: str = "leaky_relu"
    negative_slope: float = 0.2
    lr: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.9)
    eps: float = 1e-8
    batch_size: int = 512
    steps: int = 10_000  # the run's total G steps; the learning-rate schedule spans them
    d_steps: int = 1  # D updates per G update
    loss: str = "nonsaturating"  # or "minimax" (the article's log(1 - D(G(z))))
    schedule: str = "linear"  # lr multiplier: constant, linear to final_lr_fraction, or cosine
    decay_start: float = 0.0  # fraction of the run after which the decay begins
    final_lr_fraction: float = 0.0
    pack: int = 1  # PacGAN: D judges `pack` samples at once
    label_smoothing: float = 0.0  # one-sided: real targets 1 - label_smoothing
    data_scale: float = 1.0  # networks see data / data_scale; samples are scaled back
    ema: float = 0.0  # if > 0, sample() uses an exponential moving average of G's weights
    jacobian_truncation: float = 0.0  # sample() leaves out this fraction of noise where G stretches most
    num_classes: int = 0  # > 0: class-conditional; a one-hot label joins G's noise and each of D's inputs
    fourier_features: int = 0  # if > 0, D also sees sin and cos of its input at this many frequencies
    fourier_max_scale: float = 64.0  # highest frequency, cycles per network unit (log-uniform from 1)
    fourier_anneal: float = 0.6  # fraction of the run's steps over which they open, coarse to fine (0: all at once)
    pack_spread: bool = False  # D also sees log of each pack's spread (nn/pack_spread.py); needs pack >= 2
    pack_spread_from: float = 0.0  # it opens after this fraction of the run, over the next 10% (0: open throughout)
    latent_codes: int = 0  # if > 0, G's noise gains a one-hot code of this many equally likely values (codes.py)
    code_info: float = 0.0  # weight of InfoGAN's term that makes the code readable from G's output (needs latent_codes)
    r1: float = 0.0  # gamma of R1, gamma/2 E_real ||grad_x D||^2 added to D's loss (nn/penalty.py); 0: off
    r2: float = 0.0  # gamma of R2, the same on G's samples; 0: off
    dtype: str = "float32"
    extra: dict = field(default_factory=dict)  # free-form notes kept with checkpoints

    def validate(self) -> None:
        """TypeError or ValueError naming the first field that makes no sense."""
        for name in ("hidden", "depth", "noise_dim", "data_dim", "batch_size", "steps", "d_steps", "pack"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
            if value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("lr", "eps", "data_scale", "negative_slope", "decay_start", "final_lr_fraction",
                     "label_smoothing", "ema", "jacobian_truncation"):  # fmt: skip
            _check_real(name, getattr(self, name))
        value = self.fourier_features
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"fourier_features must be an int >= 0, got {value!r}")
        value = self.fourier_max_scale
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 1):
            raise ValueError(f"fourier_max_scale must be a finite number > 1, got {value!r}")
        _check_real("fourier_anneal", self.fourier_anneal)
        if not 0 <= self.fourier_anneal <= 1:
            raise ValueError(f"fourier_anneal must be in [0, 1], got {self.fourier_anneal!r}")
        if not isinstance(self.pack_spread, (bool, np.bool_)):
            raise TypeError(f"pack_spread must be True or False, got {self.pack_spread!r}")
        _check_real("pack_spread_from", self.pack_spread_from)
        if not 0 <= self.pack_spread_from <= 1:
            raise ValueError(f"pack_spread_from must be in [0, 1], got {self.pack_spread_from!r}")
        if self.pack_spread and self.pack < 2:
            raise ValueError(f"pack_spread needs pack >= 2 (the spread of one point is 0), got pack={self.pack}")
        if self.pack_spread and self.fourier_features:
            raise ValueError("pack_spread and fourier_features cannot be combined: choose one of D's input features")
        value = self.latent_codes
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0 or value == 1:
            raise ValueError(f"latent_codes must be 0 (none) or an int >= 2, got {value!r}")
        _check_real("code_info", self.code_info)
        if self.code_info < 0:
            raise ValueError(f"code_info must be >= 0, got {self.code_info!r}")
        if self.code_info and not self.latent_codes:
            raise ValueError("code_info needs latent_codes >= 2: it makes G's code readable from its output")
        self._validate_penalties()
        if self.latent_codes and self.num_classes:
            raise ValueError("latent_codes is for unconditional GANs (num_classes = 0)")
        for name in ("lr", "eps", "data_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)!r}")
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise TypeError(f"betas must be a pair of numbers (beta1, beta2), got {self.betas!r}")
        for i, beta in enumerate(self.betas):
            _check_real(f"betas[{i}]", beta)
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        for name, allowed in (("loss", GENERATOR_LOSSES), ("schedule", SCHEDULES), ("g_output", G_OUTPUTS),
                              ("g_activation", tuple(ACTIVATIONS)), ("d_activation", tuple(ACTIVATIONS))):  # fmt: skip
            if not isinstance(getattr(self, name), str) or getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("decay_start", "final_lr_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema!r}")
        check_truncation(self.jacobian_truncation)
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, (int, np.integer)):
            raise ValueError(f"num_classes must be an int (0: unconditional), got {self.num_classes!r}")
        if self.num_classes == 1 or self.num_classes < 0:
            raise ValueError(f"num_classes must be 0 (unconditional) or at least 2, got {self.num_classes!r}")
        if self.num_classes and self.jacobian_truncation:
            raise ValueError("jacobian_truncation is for unconditional GANs (num_classes = 0)")
        if not 0 <= self.label_smoothing < 0.5:
            raise ValueError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing!r}")
        if not 0 <= self.negative_slope < 1:
            raise ValueError(f"negative_slope must be in [0, 1), got {self.negative_slope!r}")
        if not isinstance(self.extra, dict):
            raise TypeError(f"extra must be a dict, got {type(self.extra).__name__}")
        as_float_dtype(self.dtype)

    def _validate_penalties(self) -> None:
        """r1 and r2: finite numbers >= 0, for a D of Dense layers and activations (after the pack spread, if
        any) judging points alone."""
        for name in ("r1", "r2"):
            _check_real(name, getattr(self, name))
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0: off), got {getattr(self, name)!r}")
        if not (self.r1 or self.r2):
            return
        if self.fourier_features:
            raise ValueError(
                f"r1 and r2 need D's input to be the points (and their pack spread), but fourier_features = "
                f"{self.fourier_features} gives D Fourier features too"
            )
        if self.num_classes:
            raise ValueError(
                "r1 and r2 are for unconditional GANs (num_classes = 0): D's input gradient would include the labels"
            )

    def to_dict(self) -> dict:
        return asdict(self) | {"betas": list(self.betas)}

    @classmethod
    def from_dict(cls, values: dict) -> GANConfig:
        if not isinstance(values, dict):
            raise TypeError(f"config must be a GANConfig or a dict of its fields, got {type(values).__name__}")
        known = {f.name for f in fields(cls)} | {"schedule_steps"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config fields {unknown}")
        values = dict(values)
        if "schedule_steps" in values and "steps" not in values:  # the name in checkpoints before v2
            values["steps"] = values.pop("schedule_steps")
        if "betas" in values and isinstance(values["betas"], list):
            values["betas"] = tuple(values["betas"])
        return cls(**values)


def _check_real(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


def lr_multiplier(config: GANConfig, step: int) -> float:
    """Schedule factor for G step ``step`` (0-based): 1 until decay_start, then down to final.

    It depends only on the step, never on when a run stops, so a run split into pieces and
    resumed from checkpoints follows exactly the same learning rates as one straight run."""
    progress = step / config.steps  # 1 at the run's last step
    if config.schedule == "constant" or progress < config.decay_start:
        return 1.0
    t = min(1.0, (progress - config.decay_start) / max(1e-12, 1.0 - config.decay_start))
    final = config.final_lr_fraction
    if config.schedule == "linear":
        return 1.0 - (1.0 - final) * t
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * t))


def pack_spread_gate(config: GANConfig, step: int) -> float:
    """The pack-spread feature's gate at G step ``step``: 1 throughout if pack_spread_from is 0; else 0
    until pack_spread_from of the run, then linearly to 1 over the next 10% of it."""
    if config.pack_spread_from == 0:
        return 1.0
    return min(1.0, max(0.0, (step / config.steps - config.pack_spread_from) / 0.1))
