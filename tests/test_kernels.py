"""The Numba kernels must give the same numbers as their readable NumPy twins."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygan.fast import kernels as K

pytestmark = pytest.mark.skipif(K.NUMBA_KERNELS is None, reason="numba not installed")

TOL = {np.float64: 1e-12, np.float32: 1e-6}
dtypes = st.sampled_from([np.float64, np.float32])
seeds = st.integers(0, 2**32 - 1)
acts = st.sampled_from(sorted(K.ACTIVATION_CODES.values()))
# one (rows, cols) activation array, for the elementwise kernels' twin tests
ELEMENTWISE_CASES = dict(
    seed=seeds, dtype=dtypes, act=acts, rows=st.integers(1, 40), cols=st.integers(1, 40), slope=st.floats(0, 0.9)
)


def assert_close(got, expected, dtype):
    """Relative to each entry, and to the array's scale where an entry cancels to near zero."""
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(got, expected, rtol=TOL[dtype], atol=TOL[dtype] * scale)


@given(**ELEMENTWISE_CASES)
def test_bias_act_forward_twins(seed, dtype, act, rows, cols, slope):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3, size=(rows, cols)).astype(dtype)
    b = rng.normal(size=cols).astype(dtype)
    expected = K.bias_act_forward_numpy(z.copy(), b, act, slope)
    got = K.bias_act_forward_numba(z.copy(), b, act, slope)
    assert got.dtype == expected.dtype == dtype
    assert_close(got, expected, dtype)


@given(**ELEMENTWISE_CASES)
def test_act_backward_twins(seed, dtype, act, rows, cols, slope):
    rng = np.random.default_rng(seed)
    y = K.bias_act_forward_numpy(rng.normal(size=(rows, cols)).astype(dtype), np.zeros(cols, dtype), act, slope)
    grad = rng.normal(size=(rows, cols)).astype(dtype)
    expected = K.act_backward_numpy(grad.copy(), y, act, slope)
    got = K.act_backward_numba(grad.copy(), y, act, slope)
    assert_close(got, expected, dtype)


@given(seed=seeds, dtype=dtypes, n=st.integers(1, 500), scale=st.sampled_from([0.1, 3.0, 50.0, 1e4]))
def test_bce_twins(seed, dtype, n, scale):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=scale, size=(n, 1)).astype(dtype)
    t = rng.uniform(0, 1, size=(n, 1)).astype(dtype)
    grad_a, grad_b = np.empty_like(z), np.empty_like(z)
    loss_a = K.bce_with_logits_numpy(z, t, grad_a)
    loss_b = K.bce_with_logits_numba(z, t, grad_b)
    assert np.isfinite(loss_a) and np.isfinite(loss_b)
    np.testing.assert_allclose(loss_b, loss_a, rtol=TOL[dtype] * 10)
    # grad = (s - t)/n cancels where s ~ t: judge it against the operands' scale (s and t are in [0, 1])
    np.testing.assert_allclose(grad_b, grad_a, rtol=TOL[dtype], atol=TOL[dtype] / z.size)


@given(
    seed=seeds,
    dtype=dtypes,
    n=st.integers(1, 2000),
    steps=st.integers(1, 5),
    beta1=st.floats(0, 0.99),
    beta2=st.floats(0, 0.9999),
    lr=st.floats(1e-5, 1e-1),
)
def test_adam_twins(seed, dtype, n, steps, beta1, beta2, lr):
    rng = np.random.default_rng(seed)
    states = []
    for _ in range(2):
        inner = np.random.default_rng(seed)
        states.append([inner.normal(size=n).astype(dtype), np.zeros(n, dtype), np.zeros(n, dtype)])
    for step in range(1, steps + 1):
        g = rng.normal(size=n).astype(dtype)
        K.adam_update_numpy(states[0][0], g, states[0][1], states[0][2], lr, beta1, beta2, 1e-8, step)
        K.adam_update_numba(states[1][0], g, states[1][1], states[1][2], lr, beta1, beta2, 1e-8, step)
    for a, b in zip(*states):
        assert_close(b, a, dtype)


@given(seed=seeds, dtype=dtypes, n=st.integers(1, 2000), momentum=st.floats(0, 0.99), lr=st.floats(1e-4, 1.0))
def test_sgd_twins(seed, dtype, n, momentum, lr):
    rng = np.random.default_rng(seed)
    p = rng.normal(size=n).astype(dtype)
    pa, pb, ba, bb = p.copy(), p.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
    for _ in range(3):
        g = rng.normal(size=n).astype(dtype)
        K.sgd_update_numpy(pa, g, ba, lr, momentum)
        K.sgd_update_numba(pb, g, bb, lr, momentum)
    assert_close(pb, pa, dtype)
    assert_close(bb, ba, dtype)


def test_bce_finite_at_extreme_logits():
    for kernel in (K.bce_with_logits_numpy, K.bce_with_logits_numba):
        for dtype in (np.float32, np.float64):
            z = np.array([[-1e4], [-88.0], [0.0], [88.0], [1e4]], dtype=dtype)
            for t in (0.0, 1.0):
                grad = np.empty_like(z)
                loss = kernel(z, np.full_like(z, t), grad)
                assert np.isfinite(loss) and np.all(np.isfinite(grad))
