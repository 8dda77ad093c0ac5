"""How good are the generated samples? Mode statistics, coverage, energy distance, V(D, G).

All functions take host NumPy arrays of points, shape (n, 2), in data units.

* Modes: each sample belongs to its nearest mixture mean. A sample is *high quality* if it
  lies within 3 std of that mean; a mode is *captured* if at least one high-quality sample
  belongs to it (the PacGAN/VEEGAN definition), and *strictly captured* if it holds at
  least 20% of its fair share of samples (weight_k * n).
* Energy distance (Szekely & Rizzo): E = 2 E|X - Y| - E|X - X'| - E|Y - Y'| >= 0, zero iff
  the distributions are equal. Its *noise floor* is the same statistic between two
  independent real samples of the same size: a perfect generator scores about that.
* V(D, G) = E_data log D(x) + E_g log(1 - D(x)), estimated from D's logits; with the
  optimal D it equals -log 4 + 2 JSD(p_data || p_g) (see docs/theory.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..fast.kernels import sigmoid_numpy

LOG4 = float(np.log(4.0))


def check_points(points: Any, name: str = "samples") -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n, d) with n >= 1, got {points.shape}")
    return points


def assign_modes(points: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest mean for each point (n,), and the distance to it (n,)."""
    points = check_points(points)
    distances = np.linalg.norm(points[:, None, :] - np.asarray(means)[None, :, :], axis=2)  # (n, K)
    nearest = np.argmin(distances, axis=1)
    return nearest, distances[np.arange(len(points)), nearest]


def mode_statistics(points: np.ndarray, mixture: Any) -> dict[str, Any]:
    """Per-mode weight, mean, per-axis std and covariance; quality and coverage counts."""
    points = check_points(points)
    nearest, distance = assign_modes(points, mixture.means)
    stds = mixture.stds  # (K,)
    high_quality = distance <= 3 * stds[nearest]  # (n,)
    k, n = len(mixture.weights), len(points)
    weight, mean, std, cov = [], [], [], []
    for mode in range(k):
        own = points[nearest == mode]
        weight.append(len(own) / n)
        mean.append(own.mean(0).tolist() if len(own) else [float("nan")] * points.shape[1])
        std.append(own.std(0).tolist() if len(own) > 1 else [float("nan")] * points.shape[1])
        cov.append(np.cov(own.T).tolist() if len(own) > 1 else None)
    hq_counts = np.bincount(nearest[high_quality], minlength=k)
    counts = np.bincount(nearest, minlength=k)
    strict = counts >= 0.2 * mixture.weights * n
    return {
        "mode_weight": weight,
        "mode_mean": mean,
        "mode_std": std,
        "mode_cov": cov,
        "high_quality_fraction": float(high_quality.mean()),
        "modes_captured": int(np.sum(hq_counts > 0)),
        "modes_captured_strict": int(np.sum((hq_counts > 0) & strict)),
        "modes_total": k,
    }


def energy_distance(x: np.ndarray, y: np.ndarray, *, chunk: int = 1024) -> float:
    """2 E|X-Y| - E|X-X'| - E|Y-Y'| with all pairs (V-statistic), computed in chunks."""
    x, y = check_points(x, "x"), check_points(y, "y")
    return 2 * _mean_distance(x, y, chunk) - _mean_distance(x, x, chunk) - _mean_distance(y, y, chunk)


def _mean_distance(a: np.ndarray, b: np.ndarray, chunk: int) -> float:
    total = 0.0
    for start in range(0, len(a), chunk):
        block = a[start : start + chunk]  # (c, d)
        total += np.sqrt(np.maximum(_squared_distances(block, b), 0.0)).sum()
    return total / (len(a) * len(b))


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a_i - b_j|^2 = |a_i|^2 + |b_j|^2 - 2 a_i.b_j, shape (len(a), len(b))."""
    return (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T


def log_sigmoid(logits: np.ndarray) -> np.ndarray:
    """log s(z) = -softplus(-z) = -(max(-z, 0) + log(1 + e^{-|z|})), finite for any finite z."""
    return -(np.maximum(-logits, 0) + np.log1p(np.exp(-np.abs(logits))))


def value_function(logits_real: np.ndarray, logits_fake: np.ndarray) -> float:
    """V(D, G) ~ mean log D(x_real) + mean log(1 - D(x_fake)), with log(1 - s(z)) = log s(-z)."""
    return float(np.mean(log_sigmoid(np.asarray(logits_real))) + np.mean(log_sigmoid(-np.asarray(logits_fake))))


def evaluate(gan: Any, mixture: Any, n: int = 5000, *, seed: int = 12345) -> dict[str, Any]:
    """Everything above for a trained GAN, on fresh samples from a fixed evaluation seed."""
    from ..fast.backend import to_numpy

    rng = np.random.default_rng(seed)
    fake = gan.sample(n, rng=rng)
    real = to_numpy(mixture.sample(n, rng)).astype(np.float64)
    result: dict[str, Any] = {"n": n, "finite": bool(np.all(np.isfinite(fake)))}
    if not result["finite"]:
        return result
    if hasattr(mixture, "means"):
        result |= mode_statistics(fake, mixture)
    result["energy_distance"] = energy_distance(fake, real)
    result["energy_noise_floor"] = energy_distance(real, to_numpy(mixture.sample(n, rng)).astype(np.float64))
    result["energy_ratio"] = result["energy_distance"] / result["energy_noise_floor"]
    logits_real, logits_fake = gan.logits(real), gan.logits(fake)
    result["value"] = value_function(logits_real, logits_fake)
    d_real, d_fake = sigmoid_numpy(logits_real), sigmoid_numpy(logits_fake)
    result["mean_d_real"], result["mean_d_fake"] = float(d_real.mean()), float(d_fake.mean())
    return result
