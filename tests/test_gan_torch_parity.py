"""The whole GAN training step against PyTorch (benchmarks/torch_reference.py) on identical batches.

tinygan and the reference start from the same weights; the batches tinygan draws are replayed from
a copy of ``gan.rng`` (per step: ``data.sample(n, rng)``, then noise for the D step, then noise for
the G step; with latent codes each noise draw is z, then the codes, as ``GAN.draw_noise``) and fed to
torch. Losses must agree step by step, weights (G, D and Q) and Adam moments at the end.
CI sets TINYGAN_REQUIRE_TORCH=1 so these tests fail, not skip, when torch is missing there.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import tinygan as tg
from tinygan.evaluation.data import mixture
from tinygan.evaluation.digits import digits_data
from tinygan.gan.model import GAN, GANConfig
from tinygan.gan.recipes import recipe

if os.environ.get("TINYGAN_REQUIRE_TORCH") == "1":
    import torch
else:
    torch = pytest.importorskip("torch")

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
STEPS = 20
CODES = {"hidden": 16, "latent_codes": 5, "code_info": 0.5, "pack": 2, "ema": 0.9}  # G's codes, read back by Q


def load_benchmark_module(name: str) -> ModuleType:
    """Import benchmarks/<name>.py (a folder of scripts, not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


torch_reference = load_benchmark_module("torch_reference")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The matrices here are tiny: one torch thread is fastest and never stalls on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def small_config(dtype: str, **overrides) -> GANConfig:
    """The case-study architecture, small; a short linear schedule so the lr changes every step."""
    values = dict(hidden=32, depth=2, batch_size=64, g_activation="relu", d_activation="leaky_relu")
    values |= dict(lr=2e-3, betas=(0.5, 0.999), steps=40, schedule="linear", dtype=dtype)
    return GANConfig(**(values | overrides))


def replay_batches(gan: GAN, data, steps: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The (real, z_d, z_g) that gan.train_step will draw in its next ``steps`` steps: real and z_d
    (d_steps, n, 2) and (d_steps, n, noise_width) stacked over the D updates, z_g (n, noise_width);
    n = batch_size * pack, noise_width = noise_dim + latent_codes (the one-hot codes last)."""
    rng = copy.deepcopy(gan.rng)
    c = gan.config
    n, dtype = c.batch_size * c.pack, np.dtype(c.dtype)
    batches = []
    for _ in range(steps):
        real, z_d = [], []
        for _ in range(c.d_steps):
            real.append(np.asarray(data.sample(n, rng) / c.data_scale, dtype=dtype))
            z_d.append(gan.draw_noise(n, rng))
        z_g = gan.draw_noise(n, rng)
        batches.append((np.stack(real), np.stack(z_d), z_g))
    return batches


def flat_moments(reference, optimizer, net: str, key: str) -> np.ndarray:
    """Torch's Adam moment of every parameter, flattened in tinygan's flat-buffer order and layout."""
    parts = []
    for name, param in getattr(reference, net).named_parameters():
        value = optimizer.state[param][key].detach().numpy()
        parts.append((value.T if name.endswith("weight") else value).reshape(-1))
    return np.concatenate(parts)


def tinygan_moments(state: dict, prefix: str) -> np.ndarray:
    """tinygan's Adam buffers '<prefix>.0', '<prefix>.1', ... joined in order."""
    count = sum(1 for k in state if k.startswith(prefix + "."))
    return np.concatenate([np.asarray(state[f"{prefix}.{i}"]).reshape(-1) for i in range(count)])


def run_both(backend: str, config: GANConfig, fused: bool = False, data=None, code_rows: bool = False):
    tg.set_backend(backend)
    data = data or mixture("two", dtype=np.dtype(config.dtype))
    gan = GAN(data, config, seed=3)
    reference = torch_reference.TorchGAN.from_tinygan(gan, fused=fused, code_rows=code_rows)
    batches = replay_batches(gan, data, STEPS)
    ours, theirs = [], []
    for real, z_d, z_g in batches:
        losses = gan.train_step()
        ours.append([float(losses["d_loss"]), float(losses["g_loss"])])
        losses = reference.train_step_on(*(torch.from_numpy(a) for a in (real, z_d, z_g)))
        theirs.append([losses["d_loss"].item(), losses["g_loss"].item()])
    return gan, reference, np.array(ours), np.array(theirs)


CASES = [
    pytest.param("numpy", "float64", {}, False, 1e-9, id="numpy-float64"),
    pytest.param("numba", "float64", {}, False, 1e-9, id="numba-float64"),
    pytest.param("numba", "float64", {}, True, 1e-9, id="numba-float64-torch-fused-adam"),
    pytest.param("numpy", "float64", {"loss": "minimax", "label_smoothing": 0.1}, False, 1e-9, id="numpy-minimax"),
    pytest.param("numba", "float64", {"loss": "minimax", "label_smoothing": 0.1}, False, 1e-9, id="numba-minimax"),
    pytest.param("numpy", "float32", {}, False, 5e-5, id="numpy-float32"),
    pytest.param("numba", "float32", {}, True, 5e-5, id="numba-float32"),
    pytest.param("numba", "float64", {"depth": 3, "pack": 2, "d_steps": 2, "ema": 0.9}, False, 1e-9, id="recipe-like"),
    pytest.param("numpy", "float64", {"pack": 2, "pack_spread": True, "pack_spread_from": 0.2}, False, 1e-9,
                 id="numpy-pack-spread"),
    pytest.param("numba", "float64", {"depth": 3, "pack": 2, "pack_spread": True, "pack_spread_from": 0.2, "ema": 0.9},
                 False, 1e-9, id="numba-pack-spread"),
    pytest.param("numpy", "float64", CODES, False, 1e-9, id="numpy-codes"),
    pytest.param("numba", "float64", CODES | {"pack_spread": True}, True, 1e-9, id="numba-codes-torch-fused-adam"),
    pytest.param("numba", "float64", CODES | {"pack_spread": True}, "rows", 1e-9, id="numba-codes-torch-code-rows"),
]  # fmt: skip


@pytest.mark.parametrize("backend, dtype, overrides, fused, tol", CASES)
def test_training_matches_torch(backend, dtype, overrides, fused, tol):
    """tinygan against the PyTorch reference on the same batches; fused "rows": torch's fused Adam with G's
    first layer picking the code's row of its weight (TorchGAN(code_rows=True))."""
    config = small_config(dtype, **overrides)
    gan, reference, ours, theirs = run_both(backend, config, bool(fused), code_rows=fused == "rows")
    assert reference.code_rows == (fused == "rows")

    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, err_msg="losses [d, g] per step")
    state = gan.state_dict()
    expected = reference.tinygan_state()
    assert set(expected) == {k for k in state if k[:2] in ("G.", "D.", "Q.")}  # every network's weights
    assert gan.step == reference.step == STEPS
    for name, value in expected.items():
        np.testing.assert_allclose(state[name], value, rtol=tol, atol=tol, err_msg=name)
    if config.ema > 0:  # the weight average; torch's (out, in) weights transposed into the flat buffer's order
        averaged = np.concatenate([p.detach().numpy().T.reshape(-1) for p in reference.g_ema])
        np.testing.assert_allclose(state["G_ema"], averaged, rtol=tol, atol=tol, err_msg="G_ema")
    # Adam's moments see the gradients' scale, which Adam's update itself hides.
    optimizers = {"G": reference.opt_G, "D": reference.opt_D, "Q": reference.opt_Q}
    for net, opt in optimizers.items():
        if opt is None:  # no Q
            continue
        for ours_key, torch_key in (("m", "exp_avg"), ("v", "exp_avg_sq")):
            mine = tinygan_moments(state, f"opt_{net}.{ours_key}")
            want = flat_moments(reference, opt, net, torch_key)
            scale = np.abs(want).max()
            np.testing.assert_allclose(mine, want, rtol=tol, atol=tol * scale, err_msg=f"{net} {ours_key}")


def test_parity_would_catch_a_wrong_batch():
    """Sanity check of the replay: feeding torch a batch off by one step breaks the agreement."""
    config = small_config("float64")
    tg.set_backend("numpy")
    data = mixture("two", dtype=np.float64)
    gan = GAN(data, config, seed=3)
    reference = torch_reference.TorchGAN.from_tinygan(gan)
    batches = replay_batches(gan, data, 2)
    gan.train_step()
    real, z_d, _ = batches[0]
    _, _, z_g_next = batches[1]  # the wrong noise for the G step
    reference.train_step_on(*(torch.from_numpy(a) for a in (real, z_d, z_g_next)))
    mine, theirs = gan.state_dict()["G.0.weight"], reference.tinygan_state()["G.0.weight"]
    assert np.abs(mine - theirs).max() > 1e-6


def test_torch_sampling_mode_trains():
    """The timing mode (batches drawn by torch) runs and keeps the losses finite."""
    config = small_config("float32")
    gan = GAN(mixture("two"), config, seed=0)
    reference = torch_reference.TorchGAN.from_tinygan(gan, fused=True)
    for _ in range(5):
        losses = reference.train_step()
    assert np.isfinite(losses["d_loss"].item()) and np.isfinite(losses["g_loss"].item())
    real = reference.mixture.sample(4000, reference.generator).numpy()
    assert abs(real.mean()) < 0.2 and 2.0 < real[:, 0].std() < 2.5  # modes at -2, 2 with unit variance


def test_torch_sampling_mode_draws_latent_codes():
    """With latent codes torch's own noise is [z, onehot(c)], every code drawn, and the step with Q trains."""
    config = small_config("float32", **CODES)
    reference = torch_reference.TorchGAN.from_tinygan(GAN(mixture("two"), config, seed=0))
    noise = reference.sample_noise((2000,)).numpy()
    codes = noise[:, config.noise_dim :]
    assert noise.shape == (2000, config.noise_dim + 5) and (codes.sum(1) == 1).all() and set(codes.max(1)) == {1}
    assert np.bincount(codes.argmax(1), minlength=5).min() > 300  # about 400 of each
    for _ in range(3):
        losses = reference.train_step()
    assert np.isfinite(losses["d_loss"].item()) and np.isfinite(losses["g_loss"].item())


JAX_CASES = [
    pytest.param({"depth": 3, "pack": 2, "d_steps": 2, "ema": 0.9, "pack_spread": True, "pack_spread_from": 0.2},
                 id="recipe-like"),
    pytest.param(CODES | {"pack_spread": True}, id="codes"),
    pytest.param(CODES | {"pack_spread": True, "code_rows": True}, id="codes-as-rows"),
]  # fmt: skip


@pytest.mark.parametrize("overrides", JAX_CASES)
def test_jax_reference_matches_tinygan(overrides):
    """benchmarks/jax_reference.py on the same batches as tinygan, float64 (skipped without JAX)."""
    jax = pytest.importorskip("jax")
    pytest.importorskip("optax")
    jax_reference = load_benchmark_module("jax_reference")
    overrides = dict(overrides)
    code_rows = overrides.pop("code_rows", False)  # G's first layer picks the code's row of its weight
    config = small_config("float64", **overrides)
    data = mixture("two", dtype=np.float64)
    gan = GAN(data, config, seed=5)
    with jax.enable_x64(True):
        model = jax_reference.JaxGAN(config, data, state=gan.state_dict(), code_rows=code_rows)
        assert model.code_rows == code_rows
        ours, theirs = [], []
        for real, z_d, z_g in replay_batches(gan, data, STEPS):
            losses = gan.train_step()
            ours.append([float(losses["d_loss"]), float(losses["g_loss"])])
            losses = model.train_step_on(real, z_d, z_g)
            theirs.append([float(losses["d_loss"]), float(losses["g_loss"])])
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9, err_msg="losses [d, g] per step")
        state, expected = gan.state_dict(), model.tinygan_state()
        assert set(expected) == {k for k in state if k[:2] in ("G.", "D.", "Q.")}  # every network's weights
        for name, value in expected.items():
            np.testing.assert_allclose(state[name], value, rtol=1e-9, atol=1e-9, err_msg=name)
        losses = model.train_step()  # the fully jitted mode, sampling included, runs too
        assert np.isfinite(float(losses["d_loss"])) and np.isfinite(float(losses["g_loss"]))


def digits_like_config() -> GANConfig:
    """The digits recipe (64-D points, noise 16, G ending in tanh, Adam betas (0, 0.9)), made small."""
    values = recipe("digits").to_dict() | dict(hidden=32, steps=40, schedule="linear", dtype="float64")
    return GANConfig.from_dict(values)


def test_digits_recipe_matches_torch():
    config = digits_like_config()
    gan, reference, ours, theirs = run_both("numba", config, data=digits_data(dtype=np.float64))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9, err_msg="losses [d, g] per step")
    state = gan.state_dict()
    for name, value in reference.tinygan_state().items():
        np.testing.assert_allclose(state[name], value, rtol=1e-9, atol=1e-9, err_msg=name)
    samples = reference.G(torch.randn(500, config.noise_dim, dtype=torch.float64)).detach().numpy()
    assert np.abs(samples).max() <= 1.0  # the tanh is there


def test_digits_recipe_matches_jax():
    jax = pytest.importorskip("jax")
    pytest.importorskip("optax")
    jax_reference = load_benchmark_module("jax_reference")
    config = digits_like_config()
    data = digits_data(dtype=np.float64)
    gan = GAN(data, config, seed=5)
    with jax.enable_x64(True):
        model = jax_reference.JaxGAN(config, data, state=gan.state_dict())
        for real, z_d, z_g in replay_batches(gan, data, STEPS):
            ours = gan.train_step()
            theirs = model.train_step_on(real, z_d, z_g)
            for key in ("d_loss", "g_loss"):
                np.testing.assert_allclose(float(ours[key]), float(theirs[key]), rtol=1e-9, atol=1e-9, err_msg=key)
        state = gan.state_dict()
        for name, value in model.tinygan_state().items():
            np.testing.assert_allclose(state[name], value, rtol=1e-9, atol=1e-9, err_msg=name)
        losses = model.train_step()  # the jitted mode, drawing rows of the digits itself
        assert np.isfinite(float(losses["d_loss"])) and np.isfinite(float(losses["g_loss"]))


def test_torch_sampling_mode_draws_rows_of_a_point_set():
    data = digits_data(dtype=np.float32)
    reference = torch_reference.TorchGAN(digits_like_config(), data=data)
    rows = reference.mixture.sample(300, reference.generator).numpy().astype(np.float32)
    assert rows.shape == (300, 64)
    assert all((row == data.points).all(axis=1).any() for row in rows)  # every row is one of the digits


def test_benchmark_flop_count_is_torchs_count_of_the_reference_step():
    """bench_train.config_flops (its matmul list, Q's included) against torch's FLOP counter of one step."""
    from torch.utils.flop_counter import FlopCounterMode

    bench_train = load_benchmark_module("bench_train")
    for config in (small_config("float64", depth=3, pack=2, d_steps=2), small_config("float64", **CODES)):
        reference = torch_reference.TorchGAN(config, data=mixture("two", dtype=np.float64))
        batches = reference.sample_batches()
        with FlopCounterMode(display=False) as counter:
            reference.train_step_on(*batches)
        assert counter.get_total_flops() == bench_train.config_flops(config)
    # with G's first layer picking the code's row, only z's columns are multiplied: the fused step's own count
    config = small_config("float64", **CODES)
    reference = torch_reference.TorchGAN(config, data=mixture("two", dtype=np.float64), code_rows=True)
    batches = reference.sample_batches()  # outside the count: sampling makes a 2x2 bmm
    with FlopCounterMode(display=False) as counter:
        reference.train_step_on(*batches)
    assert (
        counter.get_total_flops() == bench_train.config_flops(config, code_rows=True) < bench_train.config_flops(config)
    )
