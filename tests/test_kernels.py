"""The Numba kernels must give the same numbers as the textbook forms in tinygan/nn they twin."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygan.fast import kernels as K
from tinygan.nn.activations import make_activation
from tinygan.nn.losses import stable_bce
from tinygan.nn.optim import adam_update, sgd_update

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
    pre = rng.normal(scale=3, size=(rows, cols)).astype(dtype)
    b = rng.normal(size=cols).astype(dtype)
    expected = K.bias_act_forward_numpy(pre.copy(), b, act, slope)
    got = K.bias_act_forward_numba(pre.copy(), b, act, slope)
    assert got.dtype == expected.dtype == dtype
    assert_close(got, expected, dtype)


@given(**ELEMENTWISE_CASES)
def test_fused_activation_loops_twin_the_readable_layers(seed, dtype, act, rows, cols, slope):
    """The fused step's act(pre + b) and its backward equal nn/activations.py's modules."""
    rng = np.random.default_rng(seed)
    pre = rng.normal(scale=3, size=(rows, cols)).astype(dtype)
    b = rng.normal(size=cols).astype(dtype)
    grad = rng.normal(size=(rows, cols)).astype(dtype)
    name = {v: k for k, v in K.ACTIVATION_CODES.items()}[act]
    layer = None if name == "identity" else make_activation(name, slope)
    y = layer.forward(pre + b) if layer else pre + b
    got = K.bias_act_forward_numba(pre.copy(), b, act, slope)
    assert_close(got, y, dtype)
    expected_grad = layer.backward(grad.copy()) if layer else grad
    assert_close(K.act_backward_numba(grad.copy(), got, act, slope), expected_grad, dtype)


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
    logits = rng.normal(scale=scale, size=(n, 1)).astype(dtype)
    t = rng.uniform(0, 1, size=(n, 1)).astype(dtype)
    grad_a, grad_b = np.empty_like(logits), np.empty_like(logits)
    loss_a = stable_bce(logits, t, grad_a)
    loss_b = K.bce_with_logits_numba(logits, t, grad_b)
    assert np.isfinite(loss_a) and np.isfinite(loss_b)
    np.testing.assert_allclose(loss_b, loss_a, rtol=TOL[dtype] * 10)
    # grad = (s - t)/n cancels where s ~ t: judge it against the operands' scale (s and t are in [0, 1])
    np.testing.assert_allclose(grad_b, grad_a, rtol=TOL[dtype], atol=TOL[dtype] / logits.size)


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
        adam_update(states[0][0], g, states[0][1], states[0][2], lr, beta1, beta2, 1e-8, step)
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
        sgd_update(pa, g, ba, lr, momentum)
        K.sgd_update_numba(pb, g, bb, lr, momentum)
    assert_close(pb, pa, dtype)
    assert_close(bb, ba, dtype)


def test_bce_finite_at_extreme_logits():
    for kernel in (stable_bce, K.bce_with_logits_numba):
        for dtype in (np.float32, np.float64):
            logits = np.array([[-1e4], [-88.0], [0.0], [88.0], [1e4]], dtype=dtype)
            for t in (0.0, 1.0):
                grad = np.empty_like(logits)
                loss = kernel(logits, np.full_like(logits, t), grad)
                assert np.isfinite(loss) and np.all(np.isfinite(grad))


def folded_adam(p, g, m, v, lr, beta1, beta2, eps, t):
    """Adam as the Numba and CuPy twins compute it: the bias corrections folded into two scalars."""
    m *= beta1
    m += (1.0 - beta1) * g
    v *= beta2
    v += (1.0 - beta2) * (g * g)
    p -= (lr / (1.0 - beta1**t)) * m / (np.sqrt(v / (1.0 - beta2**t)) + eps)


@given(seed=seeds, n=st.integers(1, 500), steps=st.integers(1, 8), beta1=st.floats(0, 0.99),
       beta2=st.floats(0, 0.9999), lr=st.floats(1e-5, 1e-1))  # fmt: skip
def test_folded_adam_is_the_textbook_adam(seed, n, steps, beta1, beta2, lr):
    """lr m_hat / (sqrt(v_hat) + eps) = (lr / (1 - b1^t)) m / (sqrt(v / (1 - b2^t)) + eps), in float64
    to rounding, step after step: the twins' folded form takes Kingma & Ba's step."""
    rng = np.random.default_rng(seed)
    textbook = [rng.normal(size=n), np.zeros(n), np.zeros(n)]
    folded = [a.copy() for a in textbook]
    for t in range(1, steps + 1):
        g = rng.normal(size=n)
        adam_update(textbook[0], g, textbook[1], textbook[2], lr, beta1, beta2, 1e-8, t)
        folded_adam(folded[0], g, folded[1], folded[2], lr, beta1, beta2, 1e-8, t)
    for a, b in zip(textbook, folded):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)
