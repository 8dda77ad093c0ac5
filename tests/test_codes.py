"""Latent codes read back by Q (tinygan/gan/codes.py): config, gradients, the step, sampling, checkpoints."""

import dataclasses

import numpy as np
import pytest
from fused_steps import require_threads, train_on_threads
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygan as tg
from tinygan.gan.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinygan.gan.codes import CodeReader
from tinygan.gan.truncation import jacobian_norms, keep_smallest
from tinygan.nn.gradcheck import numerical_gradient
from tinygan.nn.losses import generator_loss, softmax_cross_entropy

CONFIG = tg.GANConfig(hidden=8, depth=1, batch_size=6, pack=2, steps=40, ema=0.9, latent_codes=5, code_info=0.5)


def small_gan(dtype: str = "float32", seed: int = 0, **fields) -> tg.GAN:
    return tg.GAN(tg.mixture("ring8"), dataclasses.replace(CONFIG, dtype=dtype, **fields), seed=seed)


@pytest.mark.parametrize("fields, match", [
    ({"latent_codes": 1}, "latent_codes"), ({"latent_codes": -2}, "latent_codes"),
    ({"latent_codes": 2.5}, "latent_codes"),
    ({"code_info": -0.1}, "code_info"), ({"code_info": float("nan")}, "code_info"),
    ({"latent_codes": 0, "code_info": 0.2}, "code_info needs latent_codes"),
    ({"num_classes": 3}, "latent_codes is for unconditional"),
])  # fmt: skip
def test_bad_code_settings_name_the_field(fields, match):
    with pytest.raises((ValueError, TypeError), match=match):
        dataclasses.replace(CONFIG, **fields).validate()


def test_noise_ends_in_a_one_hot_code_of_equally_likely_values():
    gan = small_gan()
    noise = gan.draw_noise(5000, np.random.default_rng(1))
    assert noise.shape == (5000, 2 + 5) and gan.G.layers[0].weight.data.shape[0] == 7
    code = noise[:, 2:]
    assert set(np.unique(code)) == {0.0, 1.0} and np.all(code.sum(axis=1) == 1)
    np.testing.assert_allclose(code.mean(axis=0), 0.2, atol=0.02)
    assert abs(noise[:, :2].std() - 1) < 0.05


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), weight=st.floats(0.05, 3.0))
def test_code_gradient_matches_central_differences(seed, weight):
    """lambda dCE/dfake, CE = mean_i -log softmax(Q(fake_i))_{c_i}, against central differences in float64
    (Q's weights before its step), and Q has taken a step afterwards."""
    rng = np.random.default_rng(seed)
    reader = CodeReader(2, 4, weight, lr=1e-3, betas=(0.5, 0.999), eps=1e-8, rng=rng, dtype=np.float64)
    fake = rng.standard_normal((7, 2))
    columns = np.eye(4)[rng.integers(0, 4, 7)]  # (7, 4) one-hot codes
    before = reader.Q.flat.data.copy()

    def loss(x: np.ndarray) -> float:
        return weight * float(softmax_cross_entropy(reader.Q.forward(x), columns.argmax(axis=1))[0])

    numeric = numerical_gradient(lambda: loss(fake), fake, list(np.ndindex(*fake.shape)), 1e-6).reshape(fake.shape)
    expected = loss(fake)
    ce, grad = reader.generator_gradient(fake, columns, lr=1e-3)
    assert weight * float(ce) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-9)
    assert not np.array_equal(reader.Q.flat.data, before)


def test_generator_gradient_is_the_whole_loss_through_d_and_q():
    """G's gradient from one G step equals central differences of g_loss(D(G(z))) + lambda CE(Q(G(z)))
    in G's parameters (float64), Q and D as they were before the step."""
    gan = small_gan("float64", seed=3)
    for _ in range(3):
        gan.train_step()
    z = gan.draw_noise(12, np.random.default_rng(4))  # (12, 7)
    q_before = gan.code_reader.Q.flat.data.copy()
    gan.generator_forward_backward(z)  # G's gradient; Q takes its step
    analytic = gan.G.flat.grad.copy()
    gan.code_reader.Q.flat.data[...] = q_before  # Q as the gradient saw it
    G, D, Q, batch = gan.G, gan.D, gan.code_reader.Q, gan.config.batch_size

    def loss() -> float:
        fake = G.forward(z)
        adversarial = generator_loss(D.forward(fake.reshape(batch, -1)), gan.config.loss)[0]
        return float(adversarial) + 0.5 * float(softmax_cross_entropy(Q.forward(fake), z[:, 2:].argmax(1))[0])

    picks = [(int(i),) for i in np.random.default_rng(5).choice(G.flat.size, 20, replace=False)]
    numeric = numerical_gradient(loss, G.flat.data, picks, 1e-6)
    np.testing.assert_allclose(analytic[[i for (i,) in picks]], numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-11), ("float32", 1e-4)])
@pytest.mark.parametrize("fields", [{}, {"code_info": 0.0}, {"pack": 3, "pack_spread": True, "d_steps": 2}])
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_numba_step_equals_the_readable_step(dtype, tolerance, fields, threads):
    """The fused twin with codes and Q (fast/fused.py) against GAN.train_step on the numpy backend:
    losses, G, D, Q and Q's Adam moments, with the batch split over one or two Numba threads."""
    require_threads(threads)
    results = {}
    for backend in ("numpy", "numba"):
        tg.set_backend(backend)
        gan = small_gan(dtype, seed=2, **fields)
        assert (gan.fused is not None) == (backend == "numba")
        losses = train_on_threads(gan, 8, threads)
        reader = gan.code_reader
        q = (reader.Q.flat.data.copy(), reader.opt.v[0].copy(), reader.opt.step_count) if reader else ()
        results[backend] = (np.array(losses), gan.G.flat.data.copy(), gan.D.flat.data.copy(), *q)
    for a, b in zip(results["numpy"], results["numba"]):
        np.testing.assert_allclose(b, a, rtol=tolerance, atol=tolerance * max(1.0, float(np.abs(a).max())))


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 9), dense=st.integers(0, 4), one_hot=st.integers(1, 12), out=st.integers(1, 7),
       seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(["float64", "float32"]))  # fmt: skip
def test_one_hot_input_layer_is_the_matmul_without_its_zeros(rows, dense, one_hot, out, seed, dtype):
    """fused.one_hot_input_forward / _weight_grad against x W and x^T g, for last columns that are
    one-hot, all zero, or any sparse values (the skip is exact for any x, not only codes)."""
    pytest.importorskip("numba")
    from tinygan.fast.fused_mlp import one_hot_input_forward, one_hot_input_weight_grad

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, dense + one_hot)).astype(dtype)
    x[:, dense:] *= rng.random((rows, one_hot)) < 0.3  # mostly zeros, some rows empty, some with several
    weight = rng.standard_normal((dense + one_hot, out)).astype(dtype)
    g = rng.standard_normal((rows, out)).astype(dtype)
    a = np.full((rows, out), np.nan, dtype)  # written, not added to
    grad_weight = np.full_like(weight, np.nan)
    one_hot_input_forward(x, weight, a, one_hot)
    one_hot_input_weight_grad(x, g, grad_weight, one_hot)
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(a, x.astype(np.float64) @ weight, rtol=tolerance, atol=tolerance * 10)
    np.testing.assert_allclose(grad_weight, x.T.astype(np.float64) @ g, rtol=tolerance, atol=tolerance * 10)


def test_fused_step_that_skips_the_codes_zeros_equals_the_one_that_multiplies_them():
    """FusedStep.skip_code_zeros (the default) against G's first layer as a plain matmul, float64."""
    pytest.importorskip("numba")
    tg.set_backend("numba")
    results = []
    for skip in (True, False):
        gan = small_gan("float64", seed=4)
        gan.fused.skip_code_zeros = skip
        losses = [[float(v) for v in gan.train_step().values()] for _ in range(6)]
        results.append((np.array(losses), gan.G.flat.data.copy(), gan.opt_G.v[0].copy(), gan.D.flat.data.copy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_sampling_with_truncation_ranks_by_the_noise_alone():
    gan = small_gan()
    for _ in range(5):
        gan.train_step()
    kept, left_out = gan.sample(100, rng=0, jacobian_truncation=0.2, return_left_out=True)
    assert kept.shape == (100, 2) and left_out.shape == (25, 2)
    z = gan.draw_noise(125, np.random.default_rng(0))  # the draws behind kept and left_out: (125, 7)
    codes = z[:, 2:].argmax(1)
    with gan.averaged_weights():
        out, norms = jacobian_norms(gan.G, gan.xp.asarray(z), columns=2)
    for code in range(5):  # each code loses a fifth of its draws, its largest Jacobians with respect to z
        rows = np.flatnonzero(codes == code)
        lost = np.setdiff1d(rows, keep_smallest(norms, 100, codes))
        assert abs(len(lost) - len(rows) / 5) <= 1
        assert norms[lost].min() >= np.delete(norms[rows], np.searchsorted(rows, lost)).max()
    np.testing.assert_allclose(
        np.sort(left_out, 0),
        np.sort(out[np.setdiff1d(np.arange(125), keep_smallest(norms, 100, codes))] * gan.config.data_scale, 0),
        rtol=1e-6,
    )
    points = gan.decode(gan.draw_noise(3, np.random.default_rng(0)))
    assert points.shape == (3, 2)
    with pytest.raises(ValueError, match=r"z must have shape \(n, 7\)"):
        gan.decode(np.zeros((3, 2)))


def test_checkpoint_keeps_q_and_resumes_bit_identically(tmp_path):
    straight = small_gan()
    for _ in range(10):
        straight.train_step()
    half = small_gan()
    for _ in range(5):
        half.train_step()
    save_checkpoint(half, tmp_path / "half.npz")
    resumed = load_checkpoint(tmp_path / "half.npz")
    for _ in range(5):
        resumed.train_step()
    np.testing.assert_array_equal(resumed.G.flat.data, straight.G.flat.data)
    np.testing.assert_array_equal(resumed.code_reader.Q.flat.data, straight.code_reader.Q.flat.data)
    with pytest.raises(CheckpointError, match="latent_codes=5.*latent_codes=6"):
        load_checkpoint(tmp_path / "half.npz", config=dataclasses.replace(CONFIG, latent_codes=6))
