"""FourierFeatures: backward vs central differences and torch autograd, the window, and its use in D."""

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan.evaluation.data import mixture
from tinygan.gan.model import GAN, GANConfig
from tinygan.nn.features import FourierFeatures
from tinygan.nn.gradcheck import check_module_gradients

seeds = st.integers(0, 2**32 - 1)


@given(seed=seeds, p=st.integers(1, 6), k=st.integers(1, 24), batch=st.integers(1, 16), alpha=st.floats(0.0, 1.3))
def test_fourier_feature_gradients(seed, p, k, batch, alpha):
    rng = np.random.default_rng(seed)
    layer = FourierFeatures(p, k, max_scale=16.0, rng=rng, dtype=np.float64)
    layer.set_window(alpha)
    errors = check_module_gradients(layer, rng.uniform(-1, 1, (batch, p)), h=1e-7, rng=rng)
    assert errors["input"] <= 1e-6, errors


def test_fourier_features_match_torch_autograd():
    if os.environ.get("TINYGAN_REQUIRE_TORCH") == "1":
        import torch
    else:
        torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    layer = FourierFeatures(4, 32, rng=rng, dtype=np.float64)
    layer.set_window(0.7)  # some frequencies half open
    x, projection = rng.normal(size=(8, 4)), rng.normal(size=(8, 4 + 64))
    y, grad_x = layer.forward(x), layer.backward(projection)
    x_t = torch.tensor(x, requires_grad=True)
    z_t = x_t @ torch.from_numpy(layer.F)
    a_t = torch.from_numpy(layer.window)
    y_t = torch.cat([x_t, a_t * torch.sin(z_t), a_t * torch.cos(z_t)], dim=1)
    (y_t * torch.from_numpy(projection)).sum().backward()
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_the_window_opens_from_coarse_to_fine():
    layer = FourierFeatures(2, 200, max_scale=64.0, rng=0, dtype=np.float64)
    scales = np.linalg.norm(layer.F, axis=0) / (2 * np.pi)  # (k,)
    assert scales.min() >= 1 and scales.max() <= 64
    x = np.random.default_rng(1).normal(size=(5, 2))
    layer.set_window(0.0)
    assert np.all(layer.window == 0) and np.all(layer.forward(x)[:, 2:] == 0)  # only x itself
    np.testing.assert_array_equal(layer.forward(x)[:, :2], x)
    layer.set_window(0.5)
    open_scales, shut_scales = scales[layer.window > 0], scales[layer.window == 0]
    assert open_scales.max() < shut_scales.min() and open_scales.max() <= 64**0.5  # low frequencies first
    layer.set_window(1.2)
    assert np.all(layer.window == 1)


@pytest.mark.parametrize("field, value", [("fourier_features", -1), ("fourier_max_scale", 1.0),
                                          ("fourier_anneal", 1.5)])  # fmt: skip
def test_bad_fourier_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        GAN(mixture("two"), GANConfig(**{field: value}))


def test_bad_layer_arguments_name_the_argument():
    for kwargs, name in [({"frequencies": 0}, "frequencies"), ({"max_scale": 0.5}, "max_scale"),
                         ({"width": 0.0}, "width")]:  # fmt: skip
        with pytest.raises(ValueError, match=name):
            FourierFeatures(2, **({"frequencies": 4} | kwargs))


def small_fourier_config(**overrides):
    values = {"hidden": 16, "batch_size": 32, "steps": 20, "pack": 2, "fourier_features": 8,
              "dtype": "float64"}  # fmt: skip
    return GANConfig(**(values | overrides))


def test_the_gan_opens_the_window_over_the_anneal_and_trains_d_through_it():
    gan = GAN(mixture("ring8", dtype=np.float64), small_fourier_config(fourier_anneal=0.5), seed=0)
    assert gan.features is not None and gan.D.layers[0] is gan.features and gan.fused is None
    assert gan.D.layers[1].in_features == 4 + 16  # a pack of two 2-D points and 8 sin + 8 cos
    alphas = []
    for _ in range(12):
        gan.train_step()
        alphas.append(gan.features.alpha)
    assert alphas[0] == 0.0 and alphas[5] == pytest.approx(1.2 * 5 / 10) and alphas[-1] == pytest.approx(1.2)
    assert np.all(np.diff(alphas) >= 0) and np.all(np.isfinite(gan.D.flat.data))


def test_numba_backend_runs_the_same_fourier_gan_as_numpy():
    results = []
    for backend in ("numpy", "numba"):
        tg.set_backend(backend)
        gan = GAN(mixture("ring8", dtype=np.float64), small_fourier_config(), seed=3)
        losses = [[float(v) for v in gan.train_step().values()] for _ in range(15)]
        results.append((np.array(losses), gan.G.flat.data.copy(), gan.D.flat.data.copy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def test_a_fourier_gan_resumes_bit_identically(tmp_path):
    from tinygan.gan.checkpoint import load_checkpoint, save_checkpoint

    data = mixture("ring8")
    config = small_fourier_config(dtype="float32")
    straight = GAN(data, config, seed=1)
    for _ in range(10):
        straight.train_step()
    half = GAN(data, config, seed=1)
    for _ in range(5):
        half.train_step()
    save_checkpoint(half, tmp_path / "c.npz")
    resumed = load_checkpoint(tmp_path / "c.npz", data)
    assert resumed.features.alpha == resumed.fourier_window(5) > half.features.alpha  # D as at step 5
    for _ in range(5):
        resumed.train_step()
    np.testing.assert_array_equal(resumed.D.flat.data, straight.D.flat.data)
    np.testing.assert_array_equal(resumed.sample(50, rng=np.random.default_rng(0)),
                                  straight.sample(50, rng=np.random.default_rng(0)))  # fmt: skip
