"""The spread of a pack, on a log scale: a feature that lets D see how wide a mode is drawn.

A packed discriminator (PacGAN) judges ``pack`` samples at once. When two of them fall in the same
narrow mode, how far apart they are says how wide that mode is, but an MLP of ReLUs sees that
distance on a linear scale: 0.004 and 0.01 are nearly the same number to it, so a generator that
draws each mode as a dot fools it. The log of the pack's spread puts every scale at the same
distance apart (a factor of 2 is always log 2), so D can tell a mode half as wide as the data's,
however narrow the data's modes are. It is the minibatch standard deviation of progressive GANs
(Karras et al. 2018), taken within each pack and on a log scale:

    y = [x, log(var + eps)]      x (B, pack d) as B packs of points x_1..x_pack in R^d,   y (B, pack d + 1)
    var = (1/pack) sum_k ||x_k - xbar||^2,   xbar = (1/pack) sum_k x_k

``gate`` (in [0, 1], 1 by default) scales the feature, y = [x, gate log(var + eps)], so that a
schedule can open it part way through a run (GAN.pack_spread_gate) once the modes are found.

eps (1e-8 by default, in the networks' units squared) keeps the log finite when two points
coincide; it is far below the spread of any mode worth resolving (a mode of std 0.01 has var ~ 1e-4).
"""

from __future__ import annotations

import math
from typing import Any

from ..fast.backend import get_backend
from .module import Module, as_float_dtype

PACK_SPREAD_EPS = 1e-8  # the default eps


class PackSpread(Module):
    """x (B, pack d) -> [x, gate log(var + eps)] (B, pack d + 1): each pack's points and the log of their spread."""

    def __init__(self, pack: int, dim: int, *, eps: float = PACK_SPREAD_EPS, dtype: Any = None) -> None:
        for arg, value, least in (("pack", pack, 2), ("dim", dim, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{arg} must be an int >= {least}, got {value!r}")
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
        self.pack, self.dim, self.eps = pack, dim, float(eps)
        self.in_features, self.out_features = pack * dim, pack * dim + 1
        self.gate = 1.0  # how far the feature is open
        self.dtype = as_float_dtype(dtype)
        self.xp = get_backend().xp
        self._cache = None

    def __repr__(self) -> str:
        return f"PackSpread(pack={self.pack}, dim={self.dim})"

    def forward(self, x: Any) -> Any:
        self._check_input(x, self.in_features, self.dtype)
        points = x.reshape(len(x), self.pack, self.dim)  # (B, pack, d)
        centred = points - points.mean(axis=1, keepdims=True)  # x_k - xbar, (B, pack, d)
        spread = (centred * centred).sum(axis=2).mean(axis=1, keepdims=True) + self.eps  # var + eps, (B, 1)
        self._cache = (centred, spread)
        return self.xp.concatenate([x, self.gate * self.xp.log(spread)], axis=1)  # (B, pack d + 1)

    def backward(self, grad_out: Any) -> Any:
        """With g = dL/dy split as [g_x (B, pack d), g_s (B, 1)]:

        dv/dx_k = (2/pack) (x_k - xbar)    (xbar's own dependence on x_k drops out: sum_j (x_j - xbar) = 0)
        dL/dx_k = g_x,k + gate g_s (2/pack) (x_k - xbar) / (var + eps)

        The second term pushes a pack's points apart when D says more spread looks more real, and
        its size does not depend on the scale: halving every distance doubles 1/(var + eps) and halves
        (x_k - xbar).
        """
        centred, spread = self._cached(self._cache)
        if tuple(grad_out.shape) != (centred.shape[0], self.out_features):
            raise ValueError(
                f"{self!r}.backward expects grad_out of shape {(centred.shape[0], self.out_features)}, "
                f"got {tuple(grad_out.shape)}"
            )
        g_x, g_s = grad_out[:, : self.in_features], grad_out[:, self.in_features :]  # (B, pack d), (B, 1)
        scale = (2.0 * self.gate / self.pack) * g_s / spread  # (B, 1)
        return g_x + (scale[:, :, None] * centred).reshape(g_x.shape)  # (B, pack d)

    def tangent(self, u: Any) -> Any:
        """The forward pass's derivative in the direction u (B, pack d) at the cached x: dy = J u, (B, pack d + 1).

        dy = [u, gate (2/pack) sum_k (x_k - xbar) . u_k / (var + eps)]: the same dv/dx_k as ``backward``,
        applied forwards. ``backward`` maps g to J^T g, a linear map whose transpose is J, so J u is
        what carries an adjoint back through ``backward`` itself: the R1 penalty's step 4
        (nn/penalty.py). J depends on x alone, not on any parameter, so nothing else is carried.
        """
        centred, spread = self._cached(self._cache)
        points = u.reshape(centred.shape)  # (B, pack, d)
        d_spread = (2.0 * self.gate / self.pack) * (centred * points).sum(axis=(1, 2))[:, None] / spread  # (B, 1)
        return self.xp.concatenate([u, d_spread.astype(u.dtype, copy=False)], axis=1)  # (B, pack d + 1)
