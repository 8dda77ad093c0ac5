"""A digit classifier made of tinygan's own layers: the judge of the image metrics.

An MLP 64 -> 128 -> 64 -> 10 (ReLU), trained with softmax cross-entropy and Adam on the train
split only, so held-out digits are as new to it as generated ones. It gives two things:

* ``logits(x)`` (n, 10): which digit an image looks like (class coverage, conditional accuracy);
* ``features(x)`` (n, 64): the last hidden layer, the space of the Frechet distance (as the
  Inception network's pool features are for FID on photographs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..fast.backend import get_backend, limit_threads, to_numpy
from ..nn.layers import mlp
from ..nn.losses import softmax_cross_entropy
from ..nn.optim import Adam

SIZES = (64, 128, 64, 10)


class DigitClassifier:
    """``train`` it once, then ``logits``, ``predict`` and ``features`` take host arrays (n, 64)."""

    def __init__(self, *, seed: int = 0, sizes: tuple[int, ...] = SIZES) -> None:
        self.xp = get_backend().xp
        self.rng = np.random.default_rng([seed, 7])
        self.net = mlp(list(sizes), "relu", rng=self.rng, dtype=np.float64, init="he")
        self.sizes = tuple(sizes)

    def train(self, x: np.ndarray, y: np.ndarray, *, epochs: int = 40, batch_size: int = 64, lr: float = 1e-3):
        """Minibatch Adam on softmax cross-entropy; returns the mean loss of each epoch."""
        x, y = self._check(x), np.asarray(y, dtype=np.int64)
        if y.shape != (len(x),):
            raise ValueError(f"y must have shape ({len(x)},), got {y.shape}")
        optimizer = Adam(self.net.parameters(), lr=lr)
        losses = []
        with limit_threads(1):  # small matrices: extra BLAS threads only contend for the cores
            for _ in range(epochs):
                losses.append(self._epoch(x, y, optimizer, batch_size))
        return losses

    def _epoch(self, x: np.ndarray, y: np.ndarray, optimizer: Adam, batch_size: int) -> float:
        """One pass over (x, y) in a fresh random order; returns the mean loss."""
        order = self.rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), batch_size):
            rows = order[start : start + batch_size]
            logits = self.net.forward(self.xp.asarray(x[rows]))  # (b, 10)
            loss, grad = softmax_cross_entropy(logits, self.xp.asarray(y[rows]))
            self.net.zero_grad()
            self.net.backward(grad)
            optimizer.step()
            total += float(loss) * len(rows)
        return total / len(x)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return to_numpy(self.net.forward(self.xp.asarray(self._check(x))))  # (n, 10)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.logits(x), axis=1)  # (n,)

    def features(self, x: np.ndarray) -> np.ndarray:
        """The last hidden layer's activations (n, 64): every layer but the final Dense."""
        h = self.xp.asarray(self._check(x))
        for layer in self.net.layers[:-1]:
            h = layer.forward(h)
        return to_numpy(h)

    def _check(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"images must have shape (n, {self.sizes[0]}), got {x.shape}")
        return x


def train_digit_classifier(x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> DigitClassifier:
    """A classifier trained on (x, y) with the default settings."""
    classifier = DigitClassifier(seed=seed)
    classifier.train(x, y)
    return classifier
