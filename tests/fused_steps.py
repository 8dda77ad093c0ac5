"""Training a GAN for a few steps on a given number of Numba threads: what the tests that hold the
fused step (tinygan/fast/fused.py) equal to the layer-by-layer one share."""

from __future__ import annotations

import pytest


def require_threads(threads: int):
    """numba, or skip the test: not installed, or fewer than ``threads`` threads allowed here."""
    numba = pytest.importorskip("numba")
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"numba allows {numba.config.NUMBA_NUM_THREADS} threads here")
    return numba


def train_on_threads(gan, steps: int, threads: int) -> list[list[float]]:
    """``steps`` train steps with Numba's thread count set to ``threads`` (restored afterwards);
    each step's losses as floats."""
    numba = require_threads(threads)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        return [[float(v) for v in gan.train_step().values()] for _ in range(steps)]
    finally:
        numba.set_num_threads(previous)
