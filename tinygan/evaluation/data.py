"""Data: Gaussian mixtures (the article's case and two mode-coverage benchmarks) and user data.

A data source is anything with ``sample(n, rng) -> (n, dim) array``. Sampling uses only
``rng.random`` and ``rng.standard_normal``, which NumPy's Generator and CuPy's device RNG share,
so the same code draws data on the CPU or on the GPU. Samples are made where their RNG lives:
a NumPy Generator gives NumPy arrays (evaluation batches), the backend's device RNG gives device
arrays (training batches), so a batch never has to cross between host and device.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..fast.backend import get_backend
from .loader import DataFileError, available_memory, describe_size, parse_points, read_points

MIXTURES = ("two", "ring8", "grid25")


def _array_module(rng: Any) -> Any:
    """numpy for a NumPy Generator, else the backend's array module (the device RNG's)."""
    return np if isinstance(rng, np.random.Generator) else get_backend().xp


def check_sample_args(n: Any, rng: Any, dim: int, dtype: np.dtype) -> int:
    """int(n) for ``sample(n, rng)``: n an int >= 0 whose (n, dim) draw fits in memory, rng a Generator."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__} {n!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not (callable(getattr(rng, "random", None)) and callable(getattr(rng, "standard_normal", None))):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    needed = 4 * int(n) * (dim + 2) * max(dtype.itemsize, 8)  # the draw, its components and index, copies
    if needed > 1 << 26 and needed > available_memory():  # training batches (< 64 MB) skip reading meminfo
        raise ValueError(f"n = {n} points need about {describe_size(needed)}, more than the memory available")
    return int(n)


def _real_array(name: str, value: Any) -> np.ndarray:
    """value as a float64 array; TypeError naming ``name`` for strings, None, ragged or complex values."""
    if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be real numbers, got an array of {value.dtype}")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__}") from None


class GaussianMixture:
    """p(x) = sum_k w_k N(x; mu_k, Sigma_k).

    means (K, d); covs (K, d, d) or (K,) isotropic variances or None (identity); weights (K,) or None.
    """

    def __init__(self, means: Any, covs: Any = None, weights: Any = None, *, dtype: Any = np.float32) -> None:
        means = _real_array("means", means)
        if means.ndim != 2 or means.shape[0] < 1 or means.shape[1] < 1:
            raise ValueError(f"means must have shape (components, dim), got {means.shape}")
        if not np.all(np.isfinite(means)):
            raise ValueError("means must be finite")
        k, d = means.shape
        if covs is None:
            covs = np.broadcast_to(np.eye(d), (k, d, d))
        covs = _real_array("covs", covs)
        if covs.shape == (k,):
            covs = covs[:, None, None] * np.eye(d)
        if covs.shape != (k, d, d):
            raise ValueError(f"covs must have shape ({k}, {d}, {d}) or ({k},), got {covs.shape}")
        weights = np.full(k, 1.0 / k) if weights is None else _real_array("weights", weights)
        if weights.shape != (k,) or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise ValueError(f"weights must be {k} non-negative numbers summing to 1, got {weights}")
        try:
            chol = np.linalg.cholesky(covs)  # Sigma = L L^T, so mu + L eps ~ N(mu, Sigma)
        except np.linalg.LinAlgError:
            raise ValueError("every covariance must be symmetric positive definite") from None
        self.means, self.covs, self.weights, self.chol = means, covs, weights, chol
        self.dtype = check_float_dtype(dtype)
        if self.dtype not in (np.float32, np.float64):  # what NumPy's and CuPy's generators draw
            raise TypeError(f"dtype must be float32 or float64 for a mixture (its sampler's), got {self.dtype}")
        self.dim = d
        self._diagonal = bool(np.all(chol == chol * np.eye(d)))  # every Sigma_k diagonal (the built-in ones)
        self._device: dict[int, tuple] = {}

    def __repr__(self) -> str:
        return f"GaussianMixture({len(self.weights)} components in {self.dim}-D)"

    @property
    def stds(self) -> np.ndarray:
        """Per-component scalar std (sqrt of the mean variance): the unit of 'within 3 std'."""
        return np.sqrt(np.trace(self.covs, axis1=1, axis2=2) / self.dim)

    def sample(self, n: int, rng: Any) -> Any:
        """n points as an array of the rng's module; pick component k with probability w_k."""
        n = check_sample_args(n, rng, self.dim, self.dtype)
        xp = _array_module(rng)
        key = id(xp)
        if key not in self._device:  # constants moved to the device once
            constants = (np.cumsum(self.weights)[:-1], self.means, self.chol, np.diagonal(self.chol, axis1=1, axis2=2))
            self._device[key] = tuple(xp.asarray(a.astype(self.dtype)) for a in constants)
        cum_weights, means, chol, chol_diagonal = self._device[key]  # (K-1,), (K, d), (K, d, d), (K, d)
        component = xp.searchsorted(cum_weights, rng.random(n, dtype=self.dtype), side="right")  # (n,)
        eps = rng.standard_normal((n, self.dim), dtype=self.dtype)  # (n, d)
        if self._diagonal:  # L eps is then diag(L) * eps: the same numbers, without (n, d, d) products
            return means.take(component, axis=0) + chol_diagonal.take(component, axis=0) * eps  # (n, d)
        return means[component] + (chol[component] @ eps[:, :, None])[:, :, 0]  # (n, d)

    def density(self, points: np.ndarray) -> np.ndarray:
        """p(x) at points (..., d), on the host in float64 (for plots and theory checks)."""
        points = np.asarray(points, dtype=np.float64)
        total = np.zeros(points.shape[:-1])
        for w, mu, cov in zip(self.weights, self.means, self.covs):
            diff = points - mu
            solved = np.linalg.solve(cov, diff.reshape(-1, self.dim).T).T.reshape(diff.shape)
            norm = np.sqrt((2 * np.pi) ** self.dim * np.linalg.det(cov))
            total += w * np.exp(-0.5 * np.sum(diff * solved, axis=-1)) / norm
        return total


def mixture(name: str, *, dtype: Any = np.float32) -> GaussianMixture:
    """two: 1/2 N((-2,-2), I) + 1/2 N((2,2), I) (the article); ring8: 8 modes on the unit
    circle, std 0.01; grid25: modes on {-4,-2,0,2,4}^2, std 0.05."""
    if not isinstance(name, str):
        raise TypeError(f"mixture must be a name, one of {MIXTURES}, got {type(name).__name__}")
    if name == "two":
        preset = GaussianMixture([[-2.0, -2.0], [2.0, 2.0]], dtype=dtype)
    elif name == "ring8":
        angles = 2 * np.pi * np.arange(8) / 8
        preset = GaussianMixture(np.stack([np.cos(angles), np.sin(angles)], 1), np.full(8, 0.01**2), dtype=dtype)
    elif name == "grid25":
        grid = np.array([(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)], dtype=np.float64)
        preset = GaussianMixture(grid, np.full(25, 0.05**2), dtype=dtype)
    else:
        raise ValueError(f"mixture must be one of {MIXTURES}, got {name!r}")
    preset.name = name  # checkpoints record it, to resume on the same data
    return preset


def check_float_dtype(dtype: Any) -> np.dtype:
    """np.dtype(dtype) if it is a real floating type (float16/32/64); else TypeError naming dtype."""
    try:
        resolved = np.dtype(dtype)
    except (TypeError, ValueError):
        raise TypeError(f"dtype must be a float type such as np.float32, got {dtype!r}") from None
    if resolved.kind != "f":
        raise TypeError(f"dtype must be a float type such as np.float32, got {resolved}")
    return resolved


class EmpiricalData:
    """A user's own points (n, d), any dimension d >= 1, sampled uniformly with replacement.

    ``path`` is the file the points came from (None for an array or an upload); ``note`` says
    what ``load_points`` dropped from it (an index column), or is empty."""

    def __init__(self, points: Any, *, dtype: Any = np.float32) -> None:
        dtype = check_float_dtype(dtype)
        try:
            points = np.asarray(points)
        except (ValueError, TypeError) as error:  # ragged nested lists
            raise ValueError(f"data must be an array of shape (n, d): {str(error).splitlines()[0]}") from None
        if points.dtype.kind not in "fiu":
            raise TypeError(f"data must be numeric, got dtype {points.dtype}")
        if points.ndim != 2 or points.shape[1] < 1:
            raise ValueError(f"data must have shape (n, d) with d >= 1, got {points.shape}")
        if points.shape[0] < 2:
            raise ValueError(f"data needs at least 2 points, got {points.shape[0]}")
        if not np.all(np.isfinite(points)):
            bad = int(np.sum(~np.all(np.isfinite(points), axis=1)))
            raise ValueError(f"data contains NaN or inf in {bad} row(s)")
        limit = np.finfo(dtype).max
        if np.any(np.abs(points) > limit):
            bad = int(np.sum(np.any(np.abs(points) > limit, axis=1)))
            raise ValueError(f"data has {bad} row(s) beyond {np.dtype(dtype).name}'s range (|x| <= {limit:.3g})")
        converted = points.astype(dtype)
        vanished = (converted == 0) & (points != 0)  # below the dtype's smallest subnormal: would become 0
        if np.any(vanished):
            bad = int(np.sum(np.any(vanished, axis=1)))
            smallest = np.finfo(dtype).smallest_subnormal
            raise ValueError(
                f"data has {bad} row(s) with nonzero values too small for {np.dtype(dtype).name} "
                f"(0 < |x| < {smallest:.3g}), which would become 0; rescale the data"
            )
        self.points = converted
        self.path: str | None = None  # the file the points came from, if any (see load_points)
        self.note = ""  # what load_points dropped from the file, if anything
        self.dim = points.shape[1]
        self.dtype = np.dtype(dtype)
        self._device: dict[int, Any] = {}

    def __repr__(self) -> str:
        note = f"; {self.note}" if self.note else ""
        return f"EmpiricalData({len(self.points)} points in {self.dim}-D{note})"

    def sample(self, n: int, rng: Any) -> Any:
        """n of the points, drawn uniformly with replacement, as an array of the rng's module."""
        n = check_sample_args(n, rng, self.dim, self.dtype)
        xp = _array_module(rng)
        if id(xp) not in self._device:  # the points are copied to the device once, not every batch
            self._device[id(xp)] = xp.asarray(self.points)
        points = self._device[id(xp)]
        index = (rng.random(n) * len(self.points)).astype(np.int64)  # uniform in {0..N-1}
        return points[xp.minimum(index, len(self.points) - 1)]


def load_points(path: str | os.PathLike, *, dtype: Any = np.float32, max_bytes: int | None = None) -> EmpiricalData:
    """A user's points from a .csv or .npy file, by the rules of :mod:`tinygan.evaluation.loader`.

    Every refusal is a ``ValueError`` (a ``TypeError`` for an argument of the wrong type) whose
    one line names the file: a missing file, a directory or FIFO, an unknown extension, a file over
    ``max_bytes`` (checked from its size before reading), a CSV row with a non-numeric field (its
    line and column), ragged rows, non-UTF-8 bytes, an unmarked index column, a .npy header that
    is not a numeric (n, d) array or does not match the file's size, or points ``EmpiricalData``
    refuses (NaN, inf, fewer than 2). A header-marked index column is dropped; ``note`` says so.
    """
    check_float_dtype(dtype)  # before reading the file
    points, note = read_points(path, max_bytes=max_bytes)
    return _named_data(points, note, repr(os.fspath(path)), os.fspath(path), dtype)


def points_from_bytes(
    content: bytes, filename: str, *, dtype: Any = np.float32, max_bytes: int | None = None
) -> EmpiricalData:
    """``load_points`` for a file already in memory (an upload): the same rules and errors, naming
    ``filename``; the result's ``path`` is None, as no file on disk holds the points."""
    check_float_dtype(dtype)
    points, note = parse_points(content, filename, max_bytes=max_bytes)
    return _named_data(points, note, repr(filename), None, dtype)


def _named_data(points: np.ndarray, note: str, name: str, path: str | None, dtype: Any) -> EmpiricalData:
    """EmpiricalData of a file's points; its refusals (NaN, too few points, range) name the file."""
    try:
        data = EmpiricalData(points, dtype=dtype)
    except (ValueError, TypeError) as error:
        raise DataFileError(f"data file {name}: {error}") from None
    data.path, data.note = path, note
    return data


def make_data(name: str | None = None, data_path: str | None = None, *, dtype: Any = np.float32) -> Any:
    """The data source for a run: a user's file if given, else the mixture called ``name``."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a mixture name, one of {MIXTURES}, or None, got {type(name).__name__}")
    if data_path is not None:
        return load_points(data_path, dtype=dtype)
    return mixture(name or "two", dtype=dtype)
