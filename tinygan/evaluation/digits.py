"""Handwritten digits: scikit-learn's 1,797 8x8 images (bundled with the package, no download).

Each image is a row of 64 pixels with grey levels 0..16, scaled to [-1, 1] (x / 8 - 1), and a
label 0..9. ``digits_split`` cuts them once, the same way every time, into a train split (what
the GAN and the classifier learn from) and a held-out split (the real-data baseline of every
metric): 30% of each class is held out.

``LabelledData`` is a data source like ``EmpiricalData`` whose points carry a class label, for
the class-conditional GAN: ``sample`` gives points, ``sample_labelled`` gives (points, labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import EmpiricalData, _array_module

IMAGE_SHAPE = (8, 8)
NUM_CLASSES = 10
HELD_OUT_FRACTION = 0.3
SPLIT_SEED = 2024


@dataclass(frozen=True)
class DigitsSplit:
    """Images as rows in [-1, 1], float64, and their labels (int64)."""

    train_x: np.ndarray  # (1258, 64)
    train_y: np.ndarray  # (1258,)
    held_out_x: np.ndarray  # (539, 64)
    held_out_y: np.ndarray  # (539,)


def load_digits_scaled() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits: images (1797, 64) in [-1, 1] and labels (1797,)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover
        raise ImportError("the digits come with scikit-learn: pip install scikit-learn") from None
    digits = load_digits()
    return digits.data.astype(np.float64) / 8.0 - 1.0, digits.target.astype(np.int64)


def digits_split() -> DigitsSplit:
    """The fixed train / held-out split: per class, a seeded shuffle, and the first 30% held out."""
    images, labels = load_digits_scaled()
    rng = np.random.default_rng(SPLIT_SEED)
    held_out = np.zeros(len(labels), dtype=bool)
    for digit in range(NUM_CLASSES):
        members = rng.permutation(np.flatnonzero(labels == digit))
        held_out[members[: round(HELD_OUT_FRACTION * len(members))]] = True
    return DigitsSplit(images[~held_out], labels[~held_out], images[held_out], labels[held_out])


class LabelledData(EmpiricalData):
    """Points (n, d) with integer class labels (n,) in {0, ..., num_classes - 1}."""

    def __init__(self, points: Any, labels: Any, num_classes: int, *, dtype: Any = np.float32) -> None:
        super().__init__(points, dtype=dtype)
        labels = np.asarray(labels)
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        if labels.shape != (len(self.points),) or labels.dtype.kind not in "iu":
            raise ValueError(f"labels must be {len(self.points)} integers (one per point), got {labels.shape}")
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"labels must lie in [0, {num_classes - 1}], got {labels.min()}..{labels.max()}")
        self.labels = labels.astype(np.int64)
        self.num_classes = int(num_classes)

    def __repr__(self) -> str:
        return f"LabelledData({len(self.points)} points in {self.dim}-D, {self.num_classes} classes)"

    def sample_labelled(self, n: int, rng: Any) -> tuple[Any, Any]:
        """n rows drawn uniformly with replacement: points (n, d) and their labels (n,)."""
        xp = _array_module(rng)
        key = ("labelled", id(xp))
        if key not in self._device:  # copied to the device once
            self._device[key] = (xp.asarray(self.points), xp.asarray(self.labels))
        points, labels = self._device[key]
        index = xp.minimum((rng.random(n) * len(self.points)).astype(np.int64), len(self.points) - 1)
        return points[index], labels[index]

    def sample_labels(self, n: int, rng: Any) -> Any:
        """n labels drawn from the data's own class frequencies, (n,)."""
        return self.sample_labelled(n, rng)[1]


def digits_data(split: DigitsSplit | None = None, *, dtype: Any = np.float32) -> LabelledData:
    """The train split as a data source for the GAN (labels kept for the conditional GAN)."""
    split = split or digits_split()
    return LabelledData(split.train_x, split.train_y, NUM_CLASSES, dtype=dtype)
