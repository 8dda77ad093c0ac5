"""PackSpread: backward vs central differences and torch autograd, what it measures, and its use in D."""

import dataclasses
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan.evaluation.data import mixture
from tinygan.gan.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinygan.gan.config import pack_spread_gate
from tinygan.gan.model import GAN, GANConfig
from tinygan.nn.gradcheck import check_module_gradients
from tinygan.nn.pack_spread import PackSpread


@given(seed=st.integers(0, 2**32 - 1), pack=st.integers(2, 5), dim=st.integers(1, 4), batch=st.integers(1, 12),
       scale=st.sampled_from([1e-2, 1.0, 10.0]), gate=st.floats(0.0, 1.0))  # fmt: skip
def test_pack_spread_gradients(seed, pack, dim, batch, scale, gate):
    rng = np.random.default_rng(seed)
    layer = PackSpread(pack, dim, dtype=np.float64)
    layer.gate = gate
    x = scale * rng.uniform(-1, 1, (batch, pack * dim))
    errors = check_module_gradients(layer, x, h=1e-6 * scale, rng=rng)
    assert errors["input"] <= 1e-6, errors


def test_pack_spread_matches_torch_autograd():
    if os.environ.get("TINYGAN_REQUIRE_TORCH") == "1":
        import torch
    else:
        torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    layer = PackSpread(3, 2, dtype=np.float64)
    layer.gate = 0.7
    x, projection = rng.normal(size=(8, 6)), rng.normal(size=(8, 7))
    y, grad_x = layer.forward(x), layer.backward(projection)
    x_t = torch.tensor(x, requires_grad=True)
    points = x_t.reshape(8, 3, 2)
    spread = ((points - points.mean(1, keepdim=True)) ** 2).sum(2).mean(1, keepdim=True)
    y_t = torch.cat([x_t, 0.7 * torch.log(spread + 1e-8)], dim=1)
    (y_t * torch.from_numpy(projection)).sum().backward()
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_the_feature_is_the_log_of_the_packs_spread():
    layer = PackSpread(2, 2, dtype=np.float64)
    x = np.array([[0.0, 0.0, 0.02, 0.0], [1.0, 1.0, 1.0, 1.0]])  # two points 0.02 apart; two equal points
    y = layer.forward(x)
    np.testing.assert_array_equal(y[:, :4], x)
    assert y[0, 4] == pytest.approx(np.log(0.01**2 + 1e-8))  # v = mean ||x_k - xbar||^2 = 0.01^2
    assert y[1, 4] == pytest.approx(np.log(1e-8))
    narrow = layer.forward(x[:1] / 2)[0, 4]
    assert y[0, 4] - narrow == pytest.approx(np.log(4.0), rel=1e-3)  # half the width: log 4 lower, at any scale


def test_bad_arguments_name_the_argument():
    for kwargs, name in [({"pack": 1}, "pack"), ({"dim": 0}, "dim"), ({"eps": 0.0}, "eps")]:
        with pytest.raises(ValueError, match=name):
            PackSpread(**({"pack": 2, "dim": 2} | kwargs))
    for fields, error, message in [({"pack_spread": True}, ValueError, "pack_spread needs pack >= 2"),
                                   ({"pack": 2, "pack_spread": 1}, TypeError, "pack_spread must be True or False"),
                                   ({"pack": 2, "pack_spread": True, "fourier_features": 4}, ValueError,
                                    "cannot be combined")]:  # fmt: skip
        with pytest.raises(error, match=message):
            GAN(mixture("two"), GANConfig(**fields))


CONFIG = GANConfig(hidden=16, batch_size=32, steps=20, pack=2, pack_spread=True, dtype="float64")


def test_d_sees_the_spread_and_g_gets_its_gradient():
    gan = GAN(mixture("ring8", dtype=np.float64), CONFIG, seed=0)
    assert isinstance(gan.D.layers[0], PackSpread) and gan.D.layers[1].in_features == 4 + 1
    before = gan.G.flat.data.copy()
    for _ in range(5):
        gan.train_step()
    assert np.all(np.isfinite(gan.D.flat.data)) and not np.array_equal(before, gan.G.flat.data)
    z = np.random.default_rng(1).normal(size=(2 * 32, 2))
    gan.generator_forward_backward(z)
    with_spread = gan.G.flat.grad.copy()
    gan.D.layers[0].backward = lambda g: g[:, :4]  # drop the spread's term: G's gradient changes
    gan.generator_forward_backward(z)
    assert not np.allclose(with_spread, gan.G.flat.grad)


def test_the_fused_numba_step_runs_the_same_spread_gan_as_numpy():
    results = []
    for backend in ("numpy", "numba"):
        tg.set_backend(backend)
        config = dataclasses.replace(CONFIG, d_steps=2, pack_spread_from=0.25)  # opens over steps 5-7 of 20
        gan = GAN(mixture("ring8", dtype=np.float64), config, seed=3)
        assert (gan.fused is not None) == (backend == "numba")
        losses = [[float(v) for v in gan.train_step().values()] for _ in range(15)]
        results.append((np.array(losses), gan.G.flat.data.copy(), gan.D.flat.data.copy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def test_the_gate_opens_after_pack_spread_from_of_the_run():
    always = GAN(mixture("ring8"), CONFIG, seed=0)
    assert [pack_spread_gate(always.config, step) for step in (0, 10, 20)] == [1.0, 1.0, 1.0]
    late = GAN(mixture("ring8"), dataclasses.replace(CONFIG, steps=100, pack_spread_from=0.3), seed=0)
    gates = [pack_spread_gate(late.config, step) for step in (0, 30, 35, 40, 100)]
    assert gates == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
    for _ in range(35):
        late.train_step()
    assert late.spread.gate == pytest.approx(0.4)  # the last step ran as step 34: (0.34 - 0.3) / 0.1
    with pytest.raises(ValueError, match="pack_spread_from must be in"):
        GAN(mixture("ring8"), dataclasses.replace(CONFIG, pack_spread_from=1.5))


def test_a_checkpoint_records_the_feature(tmp_path):
    data = mixture("ring8")
    config = dataclasses.replace(CONFIG, dtype="float32")
    gan = GAN(data, config, seed=1)
    gan.train_step()
    save_checkpoint(gan, tmp_path / "c.npz")
    resumed = load_checkpoint(tmp_path / "c.npz", data)
    np.testing.assert_array_equal(resumed.D.flat.data, gan.D.flat.data)
    with pytest.raises(CheckpointError, match="pack_spread=True.*pack_spread=False"):
        load_checkpoint(tmp_path / "c.npz", data, config=dataclasses.replace(config, pack_spread=False))


def test_arrows_of_a_packed_gan_are_the_per_pack_gradient_of_g_loss():
    """sample_gradients pairs consecutive samples as training does: its arrows are B dL_G/dfake."""
    from tinygan.nn.losses import generator_loss

    gan = GAN(mixture("two", dtype=np.float64), dataclasses.replace(CONFIG, batch_size=4), seed=2)
    for _ in range(3):
        gan.train_step()
    z = np.random.default_rng(5).normal(size=(8, 2))
    points, arrows = gan.sample_gradients(z)  # 4 packs of 2
    fake = gan.G.forward(z)

    def loss(f):
        return float(generator_loss(gan.D.forward(f.reshape(4, -1)), "nonsaturating")[0])

    for i, j in [(0, 0), (1, 1), (6, 0)]:
        step = np.zeros_like(fake)
        step[i, j] = 1e-6
        numeric = (loss(fake + step) - loss(fake - step)) / 2e-6
        assert arrows[i, j] == pytest.approx(4 * numeric, rel=1e-6, abs=1e-9)
    np.testing.assert_allclose(points, fake)
    with pytest.raises(ValueError, match="multiple of pack=2"):
        gan.sample_gradients(z[:7])


def test_a_packed_d_judges_a_point_beside_fixed_real_mates():
    gan = GAN(mixture("two", dtype=np.float64), CONFIG, seed=2)
    x = np.array([[0.0, 0.0], [2.0, 2.0], [-2.0, -2.0]])
    logits = gan.logits(x)
    np.testing.assert_array_equal(logits, gan.logits(x))  # the same mates every call: no flicker
    expected = np.mean([gan.D.forward(np.concatenate([x, np.tile(m.reshape(1, -1), (3, 1))], axis=1))[:, 0]
                        for m in gan._pack_mates()], axis=0)  # fmt: skip
    np.testing.assert_allclose(logits, expected)
