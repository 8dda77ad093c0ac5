"""The theory of the GAN objective, computed: D*, JSD and V(D*, G) on a grid, and a trained D to compare.

For a generator distribution p_g and data distribution p_data, the value function is

    V(D, G) = E_{x ~ p_data} log D(x) + E_{x ~ p_g} log(1 - D(x))
            = integral of  p_data(x) log D(x) + p_g(x) log(1 - D(x))  dx.

For fixed G it is maximised pointwise by D*(x) = p_data(x) / (p_data(x) + p_g(x)), and then

    V(D*, G) = -log 4 + 2 JSD(p_data || p_g)          (see docs/theory.md for the derivation).

The helpers below evaluate these integrals with the trapezoid rule on a 1-D or 2-D grid, given
the two densities' values at the grid points; ``train_discriminator`` trains a tinygan MLP on
samples of the two densities, so that a learned D can be checked against D*. Everything is float64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.special import xlogy  # xlogy(a, b) = a log b, and 0 where a = 0 (the 0 log 0 = 0 convention)

from ..fast.backend import get_backend, to_numpy
from ..nn.layers import Sequential, mlp
from ..nn.losses import discriminator_loss
from ..nn.optim import Adam
from .metrics import LOG4

Sampler = Callable[[int, np.random.Generator], Any]  # sample(n, rng) -> (n, d) points


# ----------------------------------------------------------------------------- grids and integrals
def trapezoid_weights(axis: np.ndarray) -> np.ndarray:
    """Weights w (n,) such that sum_i w_i f(x_i) is the trapezoid rule for the integral of f.

    On a sorted axis x_0 < ... < x_{n-1} with gaps h_i = x_{i+1} - x_i, each gap contributes
    h_i (f(x_i) + f(x_{i+1})) / 2, so w_i = (h_{i-1} + h_i) / 2 (one half-gap at each end).
    """
    axis = np.asarray(axis, dtype=np.float64)
    if axis.ndim != 1 or axis.size < 2 or not np.all(np.diff(axis) > 0):
        raise ValueError("axis must be a strictly increasing 1-D array of at least 2 points")
    gaps = np.diff(axis)  # (n-1,)
    weights = np.zeros_like(axis)
    weights[:-1] += gaps / 2
    weights[1:] += gaps / 2
    return weights


def make_grid(bounds: Sequence[tuple[float, float]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """A regular grid over a box in 1-D or 2-D, and its trapezoid weights.

    bounds: ((lo, hi),) or ((lo_x, hi_x), (lo_y, hi_y)); n points per axis.
    Returns points (n**d, d) and weights (n**d,) with  integral f dx  ~=  sum_k weights_k f(points_k).
    In 2-D the weight of point (i, j) is w_i w_j (the trapezoid rule along each axis in turn).
    """
    if len(bounds) not in (1, 2):
        raise ValueError(f"bounds must describe a 1-D or 2-D box, got {len(bounds)} intervals")
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    axes = [np.linspace(lo, hi, n) for lo, hi in bounds]
    weights = [trapezoid_weights(a) for a in axes]
    if len(axes) == 1:
        return axes[0][:, None], weights[0]
    gx, gy = np.meshgrid(axes[0], axes[1], indexing="ij")  # (n, n) each
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)  # (n*n, 2), x varies slowest
    return points, np.outer(weights[0], weights[1]).ravel()


def _check(*arrays: np.ndarray) -> list[np.ndarray]:
    out = [np.asarray(a, dtype=np.float64) for a in arrays]
    if len({a.shape for a in out}) != 1 or out[0].ndim != 1:
        raise ValueError(f"density values and weights must be 1-D arrays of one length, got {[a.shape for a in out]}")
    if any(np.any(a < 0) for a in out):
        raise ValueError("densities and quadrature weights must be non-negative")
    return out


# ----------------------------------------------------------------------------- D*, divergences, V
def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), elementwise; 1/2 where both densities are 0.

    Derivation: at each x, V's integrand is a log y + b log(1 - y) with a = p_data(x), b = p_g(x).
    Its derivative a/y - b/(1 - y) vanishes at y = a/(a + b), and it is concave in y, so that is
    the maximum. Where a = b = 0 the integrand is 0 for every y: any value is optimal.
    """
    p_data, p_g = (np.asarray(p, dtype=np.float64) for p in (p_data, p_g))
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full(total.shape, 0.5), where=total > 0)


def kl_divergence(p: np.ndarray, q: np.ndarray, weights: np.ndarray) -> float:
    """KL(p || q) = integral of p log(p / q), by quadrature; inf if q = 0 somewhere p > 0."""
    p, q, weights = _check(p, q, weights)
    if np.any((q == 0) & (p > 0) & (weights > 0)):
        return float("inf")
    ratio = np.divide(p, q, out=np.ones_like(p), where=p > 0)
    return float(np.sum(weights * xlogy(p, ratio)))


def js_divergence(p: np.ndarray, q: np.ndarray, weights: np.ndarray) -> float:
    """JSD(p || q) = KL(p || m)/2 + KL(q || m)/2 with m = (p + q)/2, by quadrature.

    Symmetric, finite (0 <= JSD <= log 2 for normalised densities, log 2 exactly when p and q
    have disjoint supports), and 0 only when p = q.
    """
    p, q, weights = _check(p, q, weights)
    m = (p + q) / 2
    return 0.5 * kl_divergence(p, m, weights) + 0.5 * kl_divergence(q, m, weights)


def value_on_grid(d: np.ndarray, p_data: np.ndarray, p_g: np.ndarray, weights: np.ndarray) -> float:
    """V(D, G) = integral of p_data log D + p_g log(1 - D), for D given by its values d on the grid.

    -inf if D = 0 somewhere p_data > 0, or D = 1 somewhere p_g > 0 (a certain and wrong D).
    """
    d = np.asarray(d, dtype=np.float64)
    p_data, p_g, weights = _check(p_data, p_g, weights)
    return float(np.sum(weights * (xlogy(p_data, d) + xlogy(p_g, 1.0 - d))))


def optimal_value(p_data: np.ndarray, p_g: np.ndarray, weights: np.ndarray) -> float:
    """V(D*, G) = integral of p_data log D* + p_g log(1 - D*), integrated directly (not through
    the JSD identity, so that the two can be compared).

    1 - D* is computed as p_g / (p_data + p_g), not as 1 minus D*: in the tails of p_g, D* rounds
    to 1.0 and 1 - D* to 0, while p_g is still positive, which would give p_g log 0 = -inf.
    """
    p_data, p_g, weights = _check(p_data, p_g, weights)
    total = p_data + p_g
    d_real = np.divide(p_data, total, out=np.full(total.shape, 0.5), where=total > 0)  # D*
    d_fake = np.divide(p_g, total, out=np.full(total.shape, 0.5), where=total > 0)  # 1 - D*
    return float(np.sum(weights * (xlogy(p_data, d_real) + xlogy(p_g, d_fake))))


def jsd_value(p_data: np.ndarray, p_g: np.ndarray, weights: np.ndarray) -> float:
    """The right-hand side of the identity V(D*, G) = -log 4 + 2 JSD(p_data || p_g)."""
    return -LOG4 + 2.0 * js_divergence(p_data, p_g, weights)


# ----------------------------------------------------------------------------- a trained D
def discriminator_logits(D: Sequential, x: Any, chunk: int = 65536) -> np.ndarray:
    """D's logits for points x (N, d), in chunks (a bounded memory footprint); host (N,) float64."""
    xp = get_backend().xp
    x = np.asarray(to_numpy(x), dtype=np.float64)
    parts = [to_numpy(D.forward(xp.asarray(x[i : i + chunk])))[:, 0] for i in range(0, len(x), chunk)]
    return np.concatenate(parts)


def discriminator_probability(D: Sequential, x: Any) -> np.ndarray:
    """D(x) = sigmoid(logit) for points x (N, d); host (N,) float64."""
    return 1.0 / (1.0 + np.exp(-discriminator_logits(D, x)))


def value_monte_carlo(D: Sequential, x_real: Any, x_fake: Any) -> float:
    """V(D, G) ~= mean_i log D(x_i) + mean_j log(1 - D(x~_j)), x ~ p_data (N, d), x~ ~ p_g (M, d).

    This is exactly minus ``discriminator_loss`` (BCE(real, 1) + BCE(fake, 0), each a mean):
    the discriminator's training loss *is* -V estimated on a batch.
    """
    xp = get_backend().xp
    real = xp.asarray(discriminator_logits(D, x_real)[:, None])  # (N, 1)
    fake = xp.asarray(discriminator_logits(D, x_fake)[:, None])  # (M, 1)
    loss, _, _ = discriminator_loss(real, fake)
    return -float(loss)


def train_discriminator(
    sample_data: Sampler,
    sample_g: Sampler,
    dim: int,
    *,
    hidden: int = 64,
    depth: int = 2,
    steps: int = 3000,
    batch_size: int = 512,
    lr: float = 2e-3,
    seed: int = 0,
) -> Sequential:
    """Train D = mlp([dim, hidden x depth, 1], LeakyReLU 0.2) toward D* for two fixed distributions.

    Each step draws fresh x ~ p_data and x~ ~ p_g (batch_size each, shape (B, dim)) and takes one
    Adam step on BCE(D(x), 1) + BCE(D(x~), 0) = -V(D, G) (batch estimate). G never moves, so D
    converges toward the maximiser of V, which is D*. The learning rate decays linearly to 0 over
    the second half, which averages out the noise of the batches. Float64, seeded throughout.
    """
    xp = get_backend().xp
    init_rng, data_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    D = mlp([dim, *[hidden] * depth, 1], "leaky_relu", rng=init_rng, dtype=np.float64)
    opt = Adam(D.parameters(), lr=lr, betas=(0.9, 0.999))

    def draw(sampler: Sampler) -> Any:
        x = np.asarray(to_numpy(sampler(batch_size, data_rng)), dtype=np.float64)
        if x.shape != (batch_size, dim):
            raise ValueError(f"a sampler returned shape {x.shape}, expected {(batch_size, dim)}")
        return xp.asarray(x)

    for step in range(steps):
        opt.lr = lr * min(1.0, 2.0 * (1.0 - step / steps))  # constant, then linear to 0
        both = xp.concatenate([draw(sample_data), draw(sample_g)])  # (2B, dim)
        logits = D.forward(both)  # (2B, 1)
        _, grad_real, grad_fake = discriminator_loss(logits[:batch_size], logits[batch_size:])
        D.zero_grad()
        D.backward(xp.concatenate([grad_real, grad_fake]))  # (2B, 1) in; fills D's grads
        opt.step()
    return D
