"""Jacobian-based truncation: the Jacobian norms from backprop, the choice of samples, its use in GAN.sample."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan.evaluation.data import mixture
from tinygan.gan.model import GAN, GANConfig
from tinygan.gan.truncation import draws_needed, jacobian_norms, keep_smallest, split_by_jacobian
from tinygan.nn.gradcheck import kink_free_central_differences, kink_pattern
from tinygan.nn.layers import Dense, Sequential


def finite_difference_jacobians(net, z: np.ndarray) -> np.ndarray:
    """J(z_i) for every row by central differences, (m, d_out, d_in); rows are independent, so moving
    input coordinate k in every row at once gives column k of every J(z_i). Each step stays clear of
    the ReLU kinks (``kink_free_central_differences``)."""
    columns = [(slice(None), k) for k in range(z.shape[1])]
    jacobians = kink_free_central_differences(lambda: net.forward(z), lambda: kink_pattern(net, z), z, columns)
    return jacobians.transpose(1, 2, 0)  # (d_in, m, d_out) -> (m, d_out, d_in)


@given(
    seed=st.integers(0, 2**32 - 1),
    depth=st.integers(1, 3),
    width=st.integers(1, 32),
    noise_dim=st.integers(1, 4),
    data_dim=st.integers(1, 3),
    activation=st.sampled_from(["relu", "leaky_relu", "tanh", "sigmoid"]),
)
def test_jacobian_norms_match_finite_differences(seed, depth, width, noise_dim, data_dim, activation):
    rng = np.random.default_rng(seed)
    net = tg.mlp([noise_dim] + [width] * depth + [data_dim], activation, rng=rng, dtype=np.float64)
    z = rng.normal(size=(16, noise_dim))
    expected = np.sqrt((finite_difference_jacobians(net, z) ** 2).sum(axis=(1, 2)))  # (m,)
    out, norms = jacobian_norms(net, z)
    np.testing.assert_allclose(out, net.forward(z), rtol=0, atol=0)
    np.testing.assert_allclose(norms, expected, rtol=1e-6, atol=1e-9)
    assert all(not np.any(p.grad) for p in net.parameters()), "parameter gradients must be left at zero"


def clamp_generator(steepness: float) -> Sequential:
    """G(z) = (clip(k z_0, -1, 1), 0): two modes, x = -1 and x = +1, joined by a bridge where |z_0| < 1/k.

    clip(k z, -1, 1) = relu(k z + 1) - relu(k z - 1) - 1; on the bridge dG/dz_0 = k, in the modes 0.
    """
    first, second = Dense(2, 2, dtype=np.float64), Dense(2, 2, dtype=np.float64)
    first.weight.data[...] = [[steepness, steepness], [0.0, 0.0]]
    first.bias.data[...] = [1.0, -1.0]
    second.weight.data[...] = [[1.0, 0.0], [-1.0, 0.0]]
    second.bias.data[...] = [-1.0, 0.0]
    return Sequential(first, tg.ReLU(), second)


def test_truncation_leaves_out_exactly_the_bridge_between_two_modes():
    steepness, n, q = 20.0, 4000, 0.05
    net = clamp_generator(steepness)
    z = np.random.default_rng(0).normal(size=(draws_needed(n, q), 2))
    bridge = np.abs(z[:, 0]) < 1 / steepness  # P(|z_0| < 0.05) = 4.0% < q
    plain = net.forward(z)
    assert 0.03 < bridge.mean() < 0.05 and np.all(np.abs(plain[bridge, 0]) < 1)  # the bridge is there
    kept, left_out = split_by_jacobian(net, z, n)
    assert kept.shape == (n, 2) and left_out.shape == (len(z) - n, 2)
    np.testing.assert_allclose(np.abs(left_out[:, 0]).max(), 1.0)  # the left-out include every bridge sample
    side = np.round(kept[:, 0])
    np.testing.assert_allclose(kept[:, 0], side, rtol=0, atol=1e-12)  # every bridge sample left out:
    assert set(np.unique(side)) == {-1.0, 1.0}  # only the two modes remain
    both_modes = [np.mean(side == mode) for mode in (-1.0, 1.0)]
    assert min(both_modes) > 0.45  # and neither mode lost mass beyond the bridge's


@given(norms=st.lists(st.integers(0, 5), min_size=1, max_size=50), data=st.data())
def test_keep_smallest_keeps_the_n_smallest_in_draw_order(norms, data):
    norms = np.array(norms, dtype=np.float64)  # small integers: plenty of ties
    n = data.draw(st.integers(1, len(norms)))
    kept = keep_smallest(norms, n)
    dropped = np.setdiff1d(np.arange(len(norms)), kept)
    assert len(kept) == n and np.all(np.diff(kept) > 0)
    if len(dropped):
        assert norms[kept].max() <= norms[dropped].min()
        ties = norms[dropped] == norms[kept].max()
        assert np.all(dropped[ties] > kept[norms[kept] == norms[kept].max()].max())  # ties: earliest kept


@given(
    norms=st.lists(st.integers(0, 5), min_size=1, max_size=60),
    groups=st.lists(st.integers(0, 3), min_size=60, max_size=60),
    data=st.data(),
)
def test_keep_smallest_with_groups_leaves_out_the_same_share_of_each_group(norms, groups, data):
    norms = np.array(norms, dtype=np.float64)
    groups = np.array(groups[: len(norms)])
    n = data.draw(st.integers(1, len(norms)))
    kept = keep_smallest(norms, n, groups)
    assert len(kept) == n and np.all(np.diff(kept) > 0)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        mine = np.intersect1d(kept, rows)
        assert abs(len(mine) - len(rows) * n / len(norms)) <= 1  # its share, give or take one row
        dropped = np.setdiff1d(rows, mine)
        if len(mine) and len(dropped):  # within a group, the smallest norms are kept
            assert norms[mine].max() <= norms[dropped].min()


def test_keep_smallest_with_groups_keeps_a_stretched_group_its_weight():
    norms = np.r_[np.full(50, 100.0), np.arange(50.0)]  # group 0 stretches more than all of group 1
    groups = np.repeat([0, 1], 50)
    assert np.sum(keep_smallest(norms, 90) < 50) == 40  # ranked together, group 0 loses 10 of its 50
    kept = keep_smallest(norms, 90, groups)
    assert np.sum(kept < 50) == 45 and np.all(kept[45:] < 95)  # grouped, each loses 5: its own largest
    with pytest.raises(ValueError, match="groups must have one entry per row"):
        keep_smallest(norms, 90, groups[:10])


def trained_gan(**overrides) -> GAN:
    gan = GAN(mixture("grid25"), GANConfig(hidden=16, batch_size=32, steps=100, **overrides), seed=2)
    for _ in range(5):
        gan.train_step()
    return gan


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_sample_with_truncation_is_the_smallest_jacobians_of_the_drawn_noise(ema):
    gan, n, q = trained_gan(ema=ema, data_scale=4.0), 300, 0.1
    got = gan.sample(n, rng=np.random.default_rng(5), jacobian_truncation=q)
    z = np.random.default_rng(5).standard_normal((math.ceil(n / (1 - q)), 2), dtype=np.float32)
    if ema:
        gan.G.flat.data[...] = gan.G_ema
    out, norms = jacobian_norms(gan.G, z)
    np.testing.assert_array_equal(got, out[np.sort(np.argsort(norms, kind="stable")[:n])] * 4.0)
    assert got.shape == (n, 2)


def test_left_out_points_are_the_rest_of_the_drawn_noise():
    gan, n, q = trained_gan(ema=0.9), 200, 0.25
    kept, left_out = gan.sample(n, rng=np.random.default_rng(4), jacobian_truncation=q, return_left_out=True)
    np.testing.assert_array_equal(kept, gan.sample(n, rng=np.random.default_rng(4), jacobian_truncation=q))
    everything = gan.sample(draws_needed(n, q), rng=np.random.default_rng(4), jacobian_truncation=0.0)
    assert left_out.shape == (draws_needed(n, q) - n, 2)
    as_rows = {tuple(row) for row in everything}
    assert {tuple(row) for row in np.concatenate([kept, left_out])} == as_rows  # kept + left out = all drawn
    none_left = gan.sample(n, rng=np.random.default_rng(4), jacobian_truncation=0.0, return_left_out=True)[1]
    assert none_left.shape == (0, 2)


def test_truncation_zero_is_plain_sampling_and_config_sets_the_default():
    gan = trained_gan()
    plain = gan.sample(200, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(gan.sample(200, rng=np.random.default_rng(1), jacobian_truncation=0.0), plain)
    gan.config.jacobian_truncation = 0.2
    truncated = gan.sample(200, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(truncated, gan.sample(200, rng=np.random.default_rng(1), jacobian_truncation=0.2))
    assert not np.array_equal(truncated, plain)


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_sampling_with_truncation_does_not_change_training(any_cpu_backend, ema):
    a, b = trained_gan(ema=ema), trained_gan(ema=ema)
    a.sample(100, rng=np.random.default_rng(3), jacobian_truncation=0.3)
    for _ in range(3):
        a.train_step(), b.train_step()
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key], err_msg=key)


@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan"), "0.1", True])
def test_bad_truncation_is_a_clear_error(bad):
    gan = trained_gan()
    with pytest.raises(ValueError, match="jacobian_truncation"):
        gan.sample(10, jacobian_truncation=bad)
    if not isinstance(bad, (str, bool)):
        with pytest.raises(ValueError, match="jacobian_truncation"):
            GANConfig(jacobian_truncation=bad).validate()


def test_jacobian_norms_over_the_first_columns_ignore_the_rest():
    """columns=c: the norm of the Jacobian's first c columns, the same as a net that sees only them."""
    rng = np.random.default_rng(3)
    net = tg.mlp([5, 8, 2], "tanh", rng=rng, dtype=np.float64)
    z = rng.normal(size=(16, 5))
    expected = np.sqrt((finite_difference_jacobians(net, z)[:, :, :2] ** 2).sum(axis=(1, 2)))  # (m,)
    _, norms = jacobian_norms(net, z, columns=2)
    np.testing.assert_allclose(norms, expected, rtol=1e-6, atol=1e-9)
    assert np.all(norms < jacobian_norms(net, z)[1])  # the other three columns add to the full norm
    for bad in (0, 6, 2.0, True):
        with pytest.raises(ValueError, match="columns must be an int in \\[1, 5\\]"):
            jacobian_norms(net, z, columns=bad)
