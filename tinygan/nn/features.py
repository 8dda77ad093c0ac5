"""Random Fourier features of a layer's input, with a coarse-to-fine window (Tancik et al. 2020).

An MLP of ReLUs learns smooth functions first and fine detail slowly (its spectral bias), so a
discriminator built from one barely sees structure at the scale of a narrow mode: a generator
that draws each mode as a dot fools it. Feeding it sin and cos of the input at many fixed
frequencies lets it resolve fine scales. Shown from the start they let D separate the modes
too early and G collapses; a window that opens from the lowest frequency to the highest
(as in BARF, Lin et al. 2021) keeps the coarse game first and sharpens it later.

    y = [x, window sin(x F), window cos(x F)]     x (B, p), F (p, k) fixed, window (k,), y (B, p + 2k)

F's column j is 2 pi s_j d_j: a random unit direction d_j and a scale s_j, log-uniform in
[1, max_scale] cycles per unit. The window weight of frequency j, with u_j = log s_j / log max_scale
in [0, 1], is window_j = (1 - cos(pi clip((alpha - u_j) / width, 0, 1))) / 2: alpha = 0 shows only
x, alpha = 1 + width shows every frequency fully. F and the window are constants, not parameters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..fast.backend import get_backend
from .module import Module, as_float_dtype, as_generator


class FourierFeatures(Module):
    """x (B, p) -> [x, window sin(x F), window cos(x F)] (B, p + 2k); see the module docstring."""

    def __init__(
        self,
        in_features: int,
        frequencies: int,
        max_scale: float = 64.0,
        *,
        width: float = 0.2,
        rng: np.random.Generator | int | None = None,
        dtype: Any = None,
    ) -> None:
        for arg, value in (("in_features", in_features), ("frequencies", frequencies)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{arg} must be a positive int, got {value!r}")
        if not (isinstance(max_scale, (int, float)) and math.isfinite(max_scale) and max_scale > 1):
            raise ValueError(f"max_scale must be a finite number > 1, got {max_scale!r}")
        if not (isinstance(width, (int, float)) and 0 < width <= 1):
            raise ValueError(f"width must be in (0, 1], got {width!r}")
        rng = as_generator(rng)
        self.in_features, self.frequencies, self.width = int(in_features), int(frequencies), float(width)
        self.out_features = self.in_features + 2 * self.frequencies
        self.dtype = as_float_dtype(dtype)
        self.xp = get_backend().xp
        directions = rng.standard_normal((self.in_features, self.frequencies))  # (p, k)
        directions /= np.linalg.norm(directions, axis=0, keepdims=True)
        self.level = rng.uniform(0.0, 1.0, self.frequencies)  # u_j, (k,)
        scales = float(max_scale) ** self.level  # s_j in [1, max_scale], log-uniform
        self.F = self.xp.asarray((2 * np.pi * directions * scales).astype(self.dtype))  # (p, k)
        self.alpha = 1.0 + self.width
        self.window = self.xp.ones(self.frequencies, dtype=self.dtype)  # (k,): every frequency open
        self._cache = None

    def __repr__(self) -> str:
        return f"FourierFeatures({self.in_features}, {self.frequencies})"

    def set_window(self, alpha: float) -> None:
        """Open the frequencies with u_j < alpha (fully once alpha >= u_j + width)."""
        self.alpha = float(alpha)
        t = np.clip((self.alpha - self.level) / self.width, 0.0, 1.0)
        self.window = self.xp.asarray((0.5 * (1.0 - np.cos(np.pi * t))).astype(self.dtype))

    def forward(self, x: Any) -> Any:
        self._check_input(x, self.in_features, self.dtype)
        phase = x @ self.F  # (B, p) @ (p, k) -> (B, k)
        sin, cos = self.xp.sin(phase), self.xp.cos(phase)
        self._cache = (sin, cos)
        return self.xp.concatenate([x, self.window * sin, self.window * cos], axis=1)  # (B, p + 2k)

    def backward(self, grad_out: Any) -> Any:
        """With phase = x F, y = [x, window sin(phase), window cos(phase)] and g = dL/dy split as
        [g_x, g_s, g_c]:

        dL/dphase_bj = window_j (g_s,bj cos phase_bj - g_c,bj sin phase_bj)   (B, k)
        dL/dx        = g_x + dL/dphase F^T                                  (B, k) @ (k, p) -> (B, p)
        """
        sin, cos = self._cached(self._cache)
        if tuple(grad_out.shape) != (sin.shape[0], self.out_features):
            raise ValueError(
                f"{self!r}.backward expects grad_out of shape {(sin.shape[0], self.out_features)}, "
                f"got {tuple(grad_out.shape)}"
            )
        p, k = self.in_features, self.frequencies
        g_x, g_s, g_c = grad_out[:, :p], grad_out[:, p : p + k], grad_out[:, p + k :]
        grad_phase = self.window * (g_s * cos - g_c * sin)  # (B, k)
        return g_x + grad_phase @ self.F.T  # (B, p)
