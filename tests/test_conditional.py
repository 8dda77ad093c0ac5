"""The class-conditional GAN: widths, gradients through the one-hot columns, sampling by label, checkpoints."""

import numpy as np
import pytest
from fused_steps import require_threads, train_on_threads
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan.evaluation.data import mixture
from tinygan.evaluation.digits import LabelledData
from tinygan.gan.checkpoint import load_checkpoint, save_checkpoint
from tinygan.gan.model import GAN, GANConfig
from tinygan.nn.gradcheck import numerical_gradient, relative_error


def labelled(n=60, dim=3, classes=4, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    return LabelledData(rng.normal(size=(n, dim)) + labels[:, None], labels, classes, dtype=dtype)


def conditional_gan(dtype="float32", seed=0, **overrides):
    fields = dict(hidden=8, batch_size=4, data_dim=3, noise_dim=2, num_classes=4, g_activation="tanh",
                  d_activation="tanh") | overrides  # fmt: skip
    return GAN(labelled(dtype=np.dtype(dtype)), GANConfig(dtype=dtype, **fields), seed=seed)


def test_widths_take_the_one_hot_label():
    gan = conditional_gan(pack=2)
    assert gan.G.layers[0].in_features == 2 + 4  # noise + one-hot
    assert gan.D.layers[0].in_features == (3 + 4) * 2  # (sample + one-hot) per pack member


@given(seed=st.integers(0, 2**32 - 1), pack=st.integers(1, 2), loss=st.sampled_from(["nonsaturating", "minimax"]))
def test_generator_gradient_flows_through_the_image_columns_only(seed, pack, loss):
    """dL_G/dtheta_G vs finite differences of L_G(G([z, y])) judged as D([G(z, y), y])."""
    gan = conditional_gan("float64", seed % 1000, pack=pack, loss=loss)
    rng = np.random.default_rng(seed)
    n = 4 * pack
    z, labels = rng.normal(size=(n, 2)), rng.integers(0, 4, size=n)
    gan.generator_forward_backward(z, labels)
    analytic = gan.G.flat.grad.copy()
    assert not gan.D.flat.grad.any()
    one_hot = np.eye(4)[labels]

    def g_loss() -> float:
        fake = gan.G.forward(np.concatenate([z, one_hot], axis=1))
        logits = gan.D.forward(np.concatenate([fake, one_hot], axis=1).reshape(4, -1))
        return float(tg.generator_loss(logits, loss)[0])

    numeric = numerical_gradient(g_loss, gan.G.flat.data, [(i,) for i in range(gan.G.flat.size)], h=1e-6)
    floor = 1e-9 / max(float(np.linalg.norm(analytic)), 1e-300)
    assert relative_error(analytic, numeric) <= 1e-6 + floor


def test_discriminator_gradient_with_labels():
    gan = conditional_gan("float64")
    rng = np.random.default_rng(1)
    real, z, labels = rng.normal(size=(4, 3)), rng.normal(size=(4, 2)), np.array([0, 1, 2, 3])
    gan.discriminator_forward_backward(real, z, labels)
    analytic = gan.D.flat.grad.copy()
    one_hot = np.eye(4)[labels]

    def d_loss() -> float:
        fake = gan.G.forward(np.concatenate([z, one_hot], axis=1))
        both = np.concatenate([np.concatenate([real, one_hot], 1), np.concatenate([fake, one_hot], 1)])
        logits = gan.D.forward(both)
        return float(tg.discriminator_loss(logits[:4], logits[4:])[0])

    numeric = numerical_gradient(d_loss, gan.D.flat.data, [(i,) for i in range(gan.D.flat.size)], h=1e-6)
    assert relative_error(analytic, numeric) <= 1e-6


def test_the_label_changes_the_sample_and_sampling_is_reproducible():
    gan = conditional_gan()
    for _ in range(5):
        gan.train_step()
    z = np.random.default_rng(0).normal(size=(1, 2)).repeat(4, axis=0)
    per_class = gan.decode(z, np.arange(4))  # one noise vector, four labels
    assert per_class.shape == (4, 3) and len({tuple(row) for row in per_class}) == 4
    a = gan.sample(8, rng=np.random.default_rng(3))
    b = gan.sample(8, rng=np.random.default_rng(3), labels=gan.balanced_labels(8))
    np.testing.assert_array_equal(a, b)  # default labels: the classes in turn
    assert gan.balanced_labels(6).tolist() == [0, 1, 2, 3, 0, 1]
    assert gan.logits(a, gan.balanced_labels(8)).shape == (8,)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_training_steps_run(backend):
    tg.set_backend(backend)
    gan = conditional_gan()
    assert (gan.fused is not None) == (backend == "numba")  # labels and all, in one jitted call on numba
    history = tg.train(gan, 6, log_every=3, progress=False)
    assert len(history) == 2 and all(np.isfinite(h["value"]) for h in history)


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("overrides", [
    {},
    {"pack": 2, "d_steps": 2, "loss": "minimax", "label_smoothing": 0.1, "ema": 0.9},
    {"pack": 3, "pack_spread": True, "g_output": "tanh"},
])  # fmt: skip
def test_fused_step_equals_the_layer_by_layer_step(overrides, threads, dtype, tolerance):
    """The fused Numba step (fast/fused.py) against GAN.train_step on the numpy backend from one seed:
    the same labels and noise drawn in the same order, so losses, G, D, D's Adam moment and G's weight
    average agree to rounding after 12 steps, with the batch (7 packs) split over 1 or 2 threads."""
    require_threads(threads)
    results = {}
    for backend in ("numpy", "numba"):
        tg.set_backend(backend)
        gan = conditional_gan(dtype, seed=5, batch_size=7, **overrides)
        assert (gan.fused is not None) == (backend == "numba")
        initial_d = gan.D.flat.data.copy()
        losses = train_on_threads(gan, 12, threads)
        if backend == "numba":
            assert gan.fused.work.losses.size == threads
        assert np.abs(gan.D.flat.data - initial_d).max() > 1e-3  # the steps moved D: nothing passes vacuously
        ema = gan.G_ema.copy() if gan.G_ema is not None else np.zeros(0)
        results[backend] = (
            np.array(losses),
            gan.G.flat.data.copy(),
            gan.D.flat.data.copy(),
            gan.opt_D.m[0].copy(),
            ema,
        )
    for a, b in zip(results["numpy"], results["numba"]):
        np.testing.assert_allclose(b, a, rtol=tolerance, atol=tolerance * max(1.0, float(np.abs(a).max(initial=0))))


def test_fused_step_that_skips_the_label_zeros_equals_the_one_that_multiplies_them():
    """FusedStep.skip_code_zeros (the default) skips the zeros of the label ending G's input; as a plain
    matmul G's first layer gives the same step to rounding."""
    pytest.importorskip("numba")
    tg.set_backend("numba")
    results = []
    for skip in (True, False):
        gan = conditional_gan("float64", seed=2, pack=2)
        gan.fused.skip_code_zeros = skip
        losses = [[float(v) for v in gan.train_step().values()] for _ in range(6)]
        results.append((np.array(losses), gan.G.flat.data.copy(), gan.opt_G.v[0].copy(), gan.D.flat.data.copy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_checkpoint_round_trip(tmp_path):
    gan = conditional_gan()
    for _ in range(3):
        gan.train_step()
    save_checkpoint(gan, tmp_path / "c.npz")
    loaded = load_checkpoint(tmp_path / "c.npz", gan.data)
    assert loaded.config.num_classes == 4
    rng = np.random.default_rng
    np.testing.assert_array_equal(gan.sample(5, rng=rng(1)), loaded.sample(5, rng=rng(1)))


def test_bad_labels_and_mismatches_are_named():
    gan = conditional_gan()
    with pytest.raises(ValueError, match="labels must lie in"):
        gan.sample(2, labels=[0, 4])
    with pytest.raises(ValueError, match="labels must be 3 integers"):
        gan.sample(3, labels=[0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="needs the labels"):
        gan.logits(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="must be labelled"):
        GAN(mixture("two"), GANConfig(num_classes=2))
    with pytest.raises(ValueError, match="for class-conditional GANs"):
        GAN(mixture("two"), GANConfig(hidden=4)).sample(2, labels=[0, 1])
    with pytest.raises(ValueError, match="num_classes must be 0"):
        GANConfig(num_classes=1).validate()
    with pytest.raises(ValueError, match="unconditional GANs"):
        GANConfig(num_classes=3, jacobian_truncation=0.1).validate()


def test_tanh_output_bounds_samples_and_runs_on_the_fused_step():
    tg.set_backend("numba")
    gan = GAN(labelled(), GANConfig(hidden=8, batch_size=4, data_dim=3, g_output="tanh"), seed=0)
    assert gan.fused is not None and isinstance(gan.G.layers[-1], tg.Tanh)  # fused.py applies the tanh too
    gan.train_step()
    assert np.all(np.abs(gan.sample(50, rng=np.random.default_rng(0))) <= 1)
    with pytest.raises(ValueError, match="g_output must be one of"):
        GANConfig(g_output="sigmoid").validate()
