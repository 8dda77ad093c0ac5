"""The GAN step: gradients through D, D untouched by the G step, fused == readable, determinism."""

import numpy as np
import pytest
from fused_steps import require_threads, train_on_threads
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan.evaluation.data import GaussianMixture, mixture
from tinygan.evaluation.metrics import evaluate
from tinygan.gan.model import GAN, GANConfig, lr_multiplier
from tinygan.nn.gradcheck import kink_free_central_differences, kink_pattern, numerical_gradient, relative_error


def small_config(**overrides) -> GANConfig:
    return GANConfig(hidden=16, batch_size=32, steps=200, **overrides)


@given(
    seed=st.integers(0, 2**32 - 1),
    loss=st.sampled_from(["nonsaturating", "minimax"]),
    pack=st.integers(1, 3),
    width=st.integers(1, 24),
    activation=st.sampled_from(["tanh", "leaky_relu"]),
)
def test_generator_gradient_through_discriminator(seed, loss, pack, width, activation):
    """dL_G/dtheta_G from generator_forward_backward vs finite differences of the generator loss."""
    config = GANConfig(hidden=width, batch_size=4, pack=pack, loss=loss, dtype="float64",
                       g_activation="tanh", d_activation=activation)  # fmt: skip
    gan = GAN(mixture("two", dtype=np.float64), config, seed=seed % 1000)
    z = np.random.default_rng(seed).normal(size=(4 * pack, 2))
    gan.generator_forward_backward(z)
    analytic = gan.G.flat.grad.copy()
    assert not gan.D.flat.grad.any()  # D's gradients from the G step are discarded

    def g_loss() -> float:
        logits = gan.D.forward(gan.G.forward(z).reshape(4, -1))
        return float(tg.generator_loss(logits, loss)[0])

    def d_kinks() -> list[np.ndarray]:  # the sides of D's LeakyReLU kinks that G's output reaches
        return kink_pattern(gan.D, gan.G.forward(z).reshape(4, -1))

    indices = [(i,) for i in range(gan.G.flat.size)]
    numeric = kink_free_central_differences(g_loss, d_kinks, gan.G.flat.data, indices)
    assert relative_error(analytic, numeric) <= 1e-6


def test_discriminator_gradient_matches_finite_differences():
    gan = GAN(mixture("two", dtype=np.float64), small_config(dtype="float64", d_activation="tanh"), seed=1)
    rng = np.random.default_rng(0)
    real, z = rng.normal(size=(32, 2)), rng.normal(size=(32, 2))
    gan.discriminator_forward_backward(real, z)
    analytic = gan.D.flat.grad.copy()

    def d_loss() -> float:
        fake = gan.G.forward(z)
        logits = gan.D.forward(np.concatenate([real, fake]))
        return float(tg.discriminator_loss(logits[:32], logits[32:])[0])

    numeric = numerical_gradient(d_loss, gan.D.flat.data, [(i,) for i in range(gan.D.flat.size)], h=1e-6)
    assert relative_error(analytic, numeric) <= 1e-6


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_generator_step_leaves_discriminator_unchanged(backend):
    tg.set_backend(backend)
    gan = GAN(mixture("two"), small_config(), seed=0)
    for _ in range(3):
        gan.train_step()
    d_before = gan.D.flat.data.copy()
    g_before = gan.G.flat.data.copy()
    gan.generator_forward_backward(gan.sample_noise(32))
    gan.opt_G.step()
    np.testing.assert_array_equal(gan.D.flat.data, d_before)
    assert not np.array_equal(gan.G.flat.data, g_before)


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("overrides", [
    {},
    {"pack": 2, "d_steps": 2, "loss": "minimax", "label_smoothing": 0.1, "g_activation": "tanh", "depth": 3},
    {"d_activation": "sigmoid", "g_activation": "leaky_relu", "depth": 1, "data_scale": 4.0},
    {"g_output": "tanh", "pack": 2},
])  # fmt: skip
def test_fused_numba_step_equals_readable_numpy_step(dtype, tolerance, overrides):
    results = {}
    for backend in ("numpy", "numba"):
        tg.set_backend(backend)
        gan = GAN(mixture("two", dtype=dtype), small_config(dtype=dtype, **overrides), seed=3)
        assert (gan.fused is not None) == (backend == "numba")
        losses = [[float(v) for v in gan.train_step().values()] for _ in range(25)]
        results[backend] = (
            np.array(losses),
            gan.G.flat.data.copy(),
            gan.D.flat.data.copy(),
            gan.opt_D.m[0].copy(),
        )
    for a, b in zip(results["numpy"], results["numba"]):
        np.testing.assert_allclose(b, a, rtol=tolerance, atol=tolerance * max(1.0, float(np.abs(a).max())))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_same_seed_is_bit_identical_and_other_seed_differs(backend):
    tg.set_backend(backend)
    runs = []
    for seed in (5, 5, 6):
        gan = GAN(mixture("two"), small_config(), seed=seed)
        for _ in range(20):
            gan.train_step()
        runs.append(gan.sample(100, rng=np.random.default_rng(0)))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_short_training_run_improves_the_metrics():
    tg.set_backend("numba")
    data = mixture("two")
    gan = GAN(data, GANConfig(steps=1500), seed=0)
    before = evaluate(gan, data, n=2000)
    for _ in range(1500):
        gan.train_step()
    after = evaluate(gan, data, n=2000)
    assert after["energy_distance"] < 0.1 * before["energy_distance"]
    assert after["modes_captured_strict"] == 2
    assert abs(after["value"] + np.log(4)) < abs(before["value"] + np.log(4))


def test_learning_rate_schedules():
    linear = GANConfig(steps=100, schedule="linear", final_lr_fraction=0.1, decay_start=0.5)
    assert lr_multiplier(linear, 0) == 1.0 and lr_multiplier(linear, 50) == 1.0
    assert lr_multiplier(linear, 75) == pytest.approx(0.55) and lr_multiplier(linear, 100) == pytest.approx(0.1)
    cosine = GANConfig(steps=100, schedule="cosine", final_lr_fraction=0.0)
    assert lr_multiplier(cosine, 50) == pytest.approx(0.5) and lr_multiplier(cosine, 100) == pytest.approx(0.0)
    assert lr_multiplier(GANConfig(schedule="constant"), 10**6) == 1.0


@pytest.mark.parametrize("field, value", [
    ("hidden", 0), ("batch_size", -1), ("lr", 0.0), ("lr", float("inf")), ("betas", (1.0, 0.9)),
    ("loss", "wgan"), ("schedule", "step"), ("pack", 0), ("label_smoothing", 0.7), ("dtype", "int32"),
])  # fmt: skip
def test_bad_config_names_the_field(field, value):
    with pytest.raises((ValueError, TypeError), match=field if field != "dtype" else "dtype"):
        GAN(mixture("two"), GANConfig(**{field: value}))


def test_bad_seed_and_data_dimension():
    with pytest.raises(ValueError, match="seed"):
        GAN(mixture("two"), small_config(), seed=-1)
    with pytest.raises(ValueError, match="dimension"):
        GAN(GaussianMixture([[0.0, 0.0, 0.0]]), small_config())


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_fused_step_split_over_threads_equals_readable_step(threads):
    """The fused step cuts the batch into one share per Numba thread (here uneven: 33 packs) and adds
    the shares' gradients: equal to the readable step to float64 rounding, whatever the thread count."""
    require_threads(threads)
    config = GANConfig(hidden=16, batch_size=33, pack=2, d_steps=2, ema=0.9, label_smoothing=0.1, dtype="float64")
    results = {}
    for backend in ("numpy", "numba"):
        tg.set_backend(backend)
        gan = GAN(mixture("two", dtype="float64"), config, seed=4)
        losses = train_on_threads(gan, 10, threads)
        if backend == "numba":
            assert gan.fused.work.losses.size == threads  # really split into that many shares
        results[backend] = (np.array(losses), gan.G.flat.data.copy(), gan.D.flat.data.copy(), gan.G_ema.copy())
    for a, b in zip(results["numpy"], results["numba"]):
        np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-12)


def test_averaged_weights_hold_the_average_inside_and_restore_the_trained_weights_after_an_error():
    gan = GAN(tg.mixture("two"), GANConfig(hidden=8, batch_size=8, ema=0.9), seed=0)
    for _ in range(3):
        gan.train_step()
    trained = gan.G.flat.data.copy()
    assert not np.array_equal(trained, gan.G_ema)
    with pytest.raises(RuntimeError, match="inside"):
        with gan.averaged_weights():
            np.testing.assert_array_equal(gan.G.flat.data, gan.G_ema)
            raise RuntimeError("inside")
    np.testing.assert_array_equal(gan.G.flat.data, trained)
