"""Bad input, property-based: every mistake gets a clear error naming what was expected."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan.evaluation.data import EmpiricalData, GaussianMixture, mixture
from tinygan.gan.model import GAN, GANConfig
from tinygan.nn.layers import Dense

non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
bad_dtypes = st.sampled_from([np.int8, np.int32, np.int64, np.uint8, np.bool_, np.complex64, np.complex128])


@given(in_features=st.integers(1, 8), width=st.integers(1, 8), batch=st.integers(1, 5), extra=st.integers(0, 2))
def test_dense_rejects_every_wrong_trailing_shape(in_features, width, batch, extra):
    layer = Dense(in_features, 3)
    shape = (batch, width) if extra == 0 else (batch, width, extra)
    if shape == (batch, in_features):
        return
    with pytest.raises(ValueError, match=rf"expects input of shape \(batch, {in_features}\)"):
        layer(np.zeros(shape, np.float32))


@given(dtype=bad_dtypes, module=st.sampled_from(["dense", "relu", "leaky", "tanh", "sigmoid"]))
def test_non_float_inputs_are_type_errors(dtype, module):
    layer = {"dense": lambda: Dense(2, 3), "relu": tg.ReLU, "leaky": tg.LeakyReLU, "tanh": tg.Tanh,
             "sigmoid": tg.Sigmoid}[module]()  # fmt: skip
    with pytest.raises(TypeError, match="float array"):
        layer(np.zeros((2, 2), dtype))


@given(rows=st.integers(2, 30), row=st.data(), value=non_finite, column=st.integers(0, 1))
def test_user_data_with_nan_or_inf_is_rejected(rows, row, value, column):
    points = np.random.default_rng(rows).normal(size=(rows, 2))
    points[row.draw(st.integers(0, rows - 1)), column] = value
    with pytest.raises(ValueError, match=r"NaN or inf in 1 row"):
        EmpiricalData(points)


@given(shape=st.sampled_from([(0, 2), (1, 2), (5,), (5, 0), (2, 2, 2), (1, 64)]))
def test_user_data_with_wrong_shape_or_too_few_points(shape):
    with pytest.raises(ValueError, match=r"shape \(n, d\) with d >= 1|at least 2 points"):
        EmpiricalData(np.zeros(shape))


@given(dim=st.integers(1, 70), rows=st.integers(2, 20))
def test_user_data_of_any_dimension_keeps_its_dimension(dim, rows):
    points = np.random.default_rng(dim).normal(size=(rows, dim))
    data = EmpiricalData(points)
    batch = data.sample(7, np.random.default_rng(0))
    assert data.dim == dim and batch.shape == (7, dim)
    assert all(any(np.array_equal(row, p) for p in data.points) for row in batch)  # rows drawn whole


@given(
    field=st.sampled_from(["hidden", "depth", "batch_size", "steps", "d_steps", "pack"]),
    value=st.one_of(st.integers(-5, 0), st.floats(0.5, 3.5), st.just(True)),
)
def test_non_positive_integer_fields_are_named(field, value):
    expected = ValueError if isinstance(value, int) and not isinstance(value, bool) else TypeError
    with pytest.raises(expected, match=field):
        GAN(mixture("two"), GANConfig(**{field: value}))


@given(field=st.sampled_from(["lr", "eps", "data_scale"]), value=st.one_of(st.floats(max_value=0.0), non_finite))
def test_non_positive_or_non_finite_float_fields_are_named(field, value):
    with pytest.raises(ValueError, match=field):
        GAN(mixture("two"), GANConfig(**{field: value}))


@given(beta=st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0), non_finite), which=st.integers(0, 1))
def test_betas_outside_the_unit_interval(beta, which):
    betas = [0.5, 0.9]
    betas[which] = beta
    with pytest.raises(ValueError, match="betas"):
        tg.Adam(tg.mlp([2, 2]).parameters(), betas=tuple(betas))
    with pytest.raises(ValueError, match="betas"):
        GAN(mixture("two"), GANConfig(betas=tuple(betas)))


def test_unknown_names():
    with pytest.raises(ValueError, match="mixture must be one of"):
        mixture("ring9")
    with pytest.raises(ValueError, match="loss must be one of"):
        GAN(mixture("two"), GANConfig(loss="hinge"))
    with pytest.raises(ValueError, match="activation must be one of"):
        GAN(mixture("two"), GANConfig(g_activation="gelu"))


def test_mixture_parameters_are_checked():
    with pytest.raises(ValueError, match="positive definite"):
        GaussianMixture([[0.0, 0.0]], [[[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture([[0.0, 0.0], [1.0, 1.0]], weights=[0.7, 0.7])
    with pytest.raises(ValueError, match="finite"):
        GaussianMixture([[0.0, np.nan]])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_and_sigmoid_are_finite_at_extreme_logits(backend, dtype):
    tg.set_backend(backend)
    info = np.finfo(dtype)
    logits = np.array([[-info.max], [-1e4], [-100], [-info.tiny], [0], [info.tiny], [100], [1e4], [info.max]], dtype)
    for target in (0.0, 0.3, 1.0):
        loss, grad = tg.bce_with_logits(logits, target)
        assert np.isfinite(loss) and np.all(np.isfinite(grad))
        assert np.all(np.abs(grad) <= 1.0 / len(logits) + 1e-7)
    for kind in ("nonsaturating", "minimax"):
        loss, grad = tg.generator_loss(logits, kind)
        assert np.isfinite(loss) and np.all(np.isfinite(grad))
    sigmoid = tg.Sigmoid()
    s = sigmoid(logits)
    assert np.all(np.isfinite(s)) and s.min() >= 0 and s.max() <= 1
    assert np.all(np.isfinite(sigmoid.backward(np.ones_like(logits))))


@given(steps=st.integers(1, 20))
def test_adam_with_zero_gradients_never_moves_or_goes_nan(steps):
    model = tg.mlp([2, 4, 1], rng=0)
    optimizer = tg.Adam(model.parameters(), lr=0.1, eps=1e-12)
    before = model.flat.data.copy()
    for _ in range(steps):
        optimizer.step()
    np.testing.assert_array_equal(model.flat.data, before)
    assert np.all(np.isfinite(optimizer.v[0]))


def test_discriminate_refuses_points_that_are_not_finite():
    gan = tg.GAN(tg.mixture("two"), tg.GANConfig(hidden=8, batch_size=8), seed=0)
    for bad in ([[np.nan, 0.0]], [[0.0, np.inf]]):
        with pytest.raises(ValueError, match="x must hold finite numbers"):
            gan.discriminate(bad)
    assert gan.discriminate([[0.0, 0.0]]).shape == (1,)


def test_a_checkpoint_of_points_from_no_file_says_how_to_resume(tmp_path):
    """Points given as an array (the digits demo's) cannot be reloaded from a path: the refusal says
    which script to resume with, instead of asking for data the command line cannot pass."""
    points = np.random.default_rng(0).normal(size=(50, 3))
    gan = tg.GAN(tg.EmpiricalData(points), tg.GANConfig(hidden=8, batch_size=8, data_dim=3), seed=0)
    tg.save_checkpoint(gan, tmp_path / "c.npz")
    with pytest.raises(ValueError, match="from no file; resume it with the script that trained it"):
        tg.load_checkpoint(tmp_path / "c.npz")
    assert tg.load_checkpoint(tmp_path / "c.npz", tg.EmpiricalData(points)).step == 0
