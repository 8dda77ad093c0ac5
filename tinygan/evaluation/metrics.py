"""How good are the generated samples? Mode statistics, coverage, energy distance, V(D, G).

All functions take host NumPy arrays of points, shape (n, 2), in data units.

* Modes: each sample belongs to its nearest mixture mean. A sample is *high quality* if it
  lies within 3 std of that mean; a mode is *captured* if at least one high-quality sample
  belongs to it (the PacGAN/VEEGAN definition), and *strictly captured* if it holds at
  least 20% of its fair share of samples (weight_k * n).
* Reverse KL over modes (PacGAN, Table 1): the histogram of high-quality samples over the
  modes, normalised, against the mixture's weights: KL(p_g || p_data) = sum_k p_g(k) log(p_g(k) / w_k).
  A mode G never reaches contributes 0 (0 log 0 = 0, as in PacGAN's code), so the sum is
  finite whenever some sample is high quality; all mass in one of K equal modes scores log K.
  With no high-quality sample at all the histogram is undefined and the score is inf.
* Width ratio: for each mode, the per-axis std of its high-quality samples divided by the
  data's per-axis std (sqrt of the covariance's diagonal); reported is the median over modes
  and axes. A generator that draws each mode as a dot scores near 0. A true sampler scores
  sqrt(E[chi2_2 | chi2_2 <= 9] / 2) = 0.974 (cutting at 3 std trims the tails), not 1.
* Energy distance (Szekely & Rizzo): E = 2 E|X - Y| - E|X - X'| - E|Y - Y'| >= 0, zero iff
  the distributions are equal. Its *noise floor* is the same statistic between two
  independent real samples of the same size: a perfect generator scores about that. One draw
  is a noisy yardstick: between two samples of one distribution the statistic (times n) tends
  to a weighted sum of chi-square variables, so its relative spread does not shrink with n
  (for the case study's mixture, n = 5000, a true sampler's ratio exceeds 2 about one time in
  four). ``averaged_energy_ratio`` divides means over R independent draws instead.
* V(D, G) = E_data log D(x) + E_g log(1 - D(x)), estimated from D's logits; with the
  optimal D it equals -log 4 + 2 JSD(p_data || p_g) (see docs/theory.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..fast.kernels import sigmoid_numpy

LOG4 = float(np.log(4.0))


def check_points(points: Any, name: str = "samples") -> np.ndarray:
    """points as a float64 array (n, d) with n >= 1; else an error naming ``name``."""
    try:
        points = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):  # strings, None, ragged lists, complex numbers
        raise TypeError(f"{name} must be an array of real numbers (n, d), got {type(points).__name__}") from None
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
    """Per-mode weight, mean, per-axis std and covariance; quality, coverage, reverse KL and width."""
    points = check_points(points)
    if points.shape[1] != mixture.dim:
        raise ValueError(f"samples must have the mixture's dimension {mixture.dim}, got shape {points.shape}")
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
    widths = mode_width_ratios(points[high_quality], nearest[high_quality], mixture)  # (K, d)
    return {
        "mode_weight": weight,
        "mode_mean": mean,
        "mode_std": std,
        "mode_cov": cov,
        "high_quality_fraction": float(high_quality.mean()),
        "modes_captured": int(np.sum(hq_counts > 0)),
        "modes_captured_strict": int(np.sum((hq_counts > 0) & strict)),
        "modes_total": k,
        "reverse_kl": reverse_kl(hq_counts, mixture.weights),
        "mode_width": [[float(r) for r in row] for row in widths],
        "width_ratio": median_width(widths),
    }


def reverse_kl(counts: np.ndarray, weights: np.ndarray) -> float:
    """KL(p_g || p_data) over modes: sum_k p_g(k) log(p_g(k) / w_k), p_g = counts / counts.sum().

    counts (K,): high-quality samples per mode; weights (K,): the data's mode weights, all > 0.
    Empty modes add 0 (the limit of p log p); no sample at all gives inf.
    """
    counts, weights = np.asarray(counts, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    if counts.shape != weights.shape:
        raise ValueError(f"counts and weights must have the same shape, got {counts.shape} and {weights.shape}")
    if counts.sum() <= 0:
        return math.inf
    p = counts / counts.sum()  # (K,)
    seen = p > 0
    return float(np.sum(p[seen] * np.log(p[seen] / weights[seen])))


def mode_width_ratios(points: np.ndarray, nearest: np.ndarray, mixture: Any) -> np.ndarray:
    """(K, d): per mode and axis, the std of the points assigned to that mode over the data's std.

    NaN for a mode with fewer than 2 points (no spread to measure)."""
    data_std = np.sqrt(np.diagonal(np.asarray(mixture.covs, dtype=np.float64), axis1=1, axis2=2))  # (K, d)
    ratios = np.full(data_std.shape, np.nan)
    for mode in range(len(data_std)):
        own = points[nearest == mode]  # (n_k, d)
        if len(own) > 1:
            ratios[mode] = own.std(0) / data_std[mode]
    return ratios


def median_width(ratios: np.ndarray) -> float:
    """Median over modes and axes of the width ratios, ignoring modes without a measure (NaN if none)."""
    ratios = np.asarray(ratios, dtype=np.float64)
    finite = ratios[np.isfinite(ratios)]
    return float(np.median(finite)) if finite.size else math.nan


DISTANCE_CHUNK = 256  # rows of a distance matrix computed at a time (scipy's cdist)


def energy_distance(x: np.ndarray, y: np.ndarray, *, chunk: int = DISTANCE_CHUNK) -> float:
    """2 E|X-Y| - E|X-X'| - E|Y-Y'| with all pairs (V-statistic), computed in chunks of ``chunk`` rows."""
    x, y = check_points(x, "x"), check_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {x.shape[1]} and {y.shape[1]}")
    return 2 * _mean_distance(x, y, chunk) - _mean_self_distance(x, chunk) - _mean_self_distance(y, chunk)


def averaged_energy_ratio(fakes: list[np.ndarray], reals: list[np.ndarray], others: list[np.ndarray]) -> float:
    """mean_i E(fake_i, real_i) / mean_i E(real_i, other_i) over R independent draws of each.

    The relative spread of each mean falls as 1 / sqrt(R), so a perfect generator scores
    near 1 far more reliably than with one draw (``evaluate``'s energy_ratio)."""
    if not (len(fakes) == len(reals) == len(others) >= 1):
        raise ValueError(f"need R >= 1 draws of each, got {len(fakes)}, {len(reals)} and {len(others)}")
    distance = np.mean([energy_distance(f, r) for f, r in zip(fakes, reals)])
    floor = np.mean([energy_distance(r, o) for r, o in zip(reals, others)])
    return float(distance / floor)


def _mean_distance(a: np.ndarray, b: np.ndarray, chunk: int) -> float:
    """mean over all pairs (i, j) of |a_i - b_j|, a (n, d), b (m, d); scipy's cdist, a chunk of rows at a time."""
    from scipy.spatial.distance import cdist

    total = 0.0
    for start in range(0, len(a), chunk):
        total += cdist(a[start : start + chunk], b).sum()  # (chunk, m) distances
    return total / (len(a) * len(b))


def _mean_self_distance(a: np.ndarray, chunk: int) -> float:
    """mean over all pairs (i, j) of |a_i - a_j|, as _mean_distance(a, a) with half the work: the
    distance matrix is symmetric, so each chunk of rows meets only itself and the rows after it
    (its block on the diagonal counted once, the block to its right twice)."""
    from scipy.spatial.distance import cdist

    total = 0.0
    for start in range(0, len(a), chunk):
        stop = start + chunk
        total += cdist(a[start:stop], a[start:stop]).sum() + 2 * cdist(a[start:stop], a[stop:]).sum()
    return total / (len(a) * len(a))


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
    fake64 = check_points(fake, "fake")
    other = to_numpy(mixture.sample(n, rng)).astype(np.float64)  # a second real draw, for the noise floor
    chunk = DISTANCE_CHUNK
    real_spread = _mean_self_distance(real, chunk)  # E|Y - Y'|, a term of both distances below
    fake_spread, other_spread = _mean_self_distance(fake64, chunk), _mean_self_distance(other, chunk)
    result["energy_distance"] = 2 * _mean_distance(fake64, real, chunk) - fake_spread - real_spread
    result["energy_noise_floor"] = 2 * _mean_distance(real, other, chunk) - real_spread - other_spread
    result["energy_ratio"] = result["energy_distance"] / result["energy_noise_floor"]
    logits_real, logits_fake = gan.logits(real), gan.logits(fake)
    result["value"] = value_function(logits_real, logits_fake)
    d_real, d_fake = sigmoid_numpy(logits_real), sigmoid_numpy(logits_fake)
    result["mean_d_real"], result["mean_d_fake"] = float(d_real.mean()), float(d_fake.mean())
    return result
