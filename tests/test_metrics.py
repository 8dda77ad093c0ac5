"""Reverse KL over modes and the width ratio: known histograms, true and wrong samplers."""

import math

import numpy as np
import pytest

from tinygan.evaluation.data import GaussianMixture, mixture
from tinygan.evaluation.metrics import averaged_energy_ratio, energy_distance, median_width, mode_statistics, reverse_kl

TRUE_WIDTH = math.sqrt((2 - 9 * math.exp(-4.5) / (1 - math.exp(-4.5))) / 2)  # std of N(0, I) cut at 3: 0.974


def rescaled(source: GaussianMixture, std_factor: float = 1.0, weights=None) -> GaussianMixture:
    """The same modes with each std times std_factor (and other weights, if given)."""
    return GaussianMixture(source.means, source.covs * std_factor**2, weights, dtype=np.float64)


def test_reverse_kl_on_known_histograms():
    uniform4 = np.full(4, 0.25)
    assert reverse_kl([10, 10, 10, 10], uniform4) == 0.0
    # empty modes add 0 (0 log 0 = 0, as PacGAN): half the modes, evenly, is log 2
    assert reverse_kl([5, 5, 0, 0], uniform4) == pytest.approx(math.log(2))
    assert reverse_kl([7, 0, 0, 0], uniform4) == pytest.approx(math.log(4))
    weights = np.array([0.5, 0.25, 0.25])
    p = np.array([0.2, 0.3, 0.5])
    assert reverse_kl(100 * p, weights) == pytest.approx(float(np.sum(p * np.log(p / weights))))
    assert reverse_kl([0, 0, 0, 0], uniform4) == math.inf  # no high-quality sample: undefined, worst
    with pytest.raises(ValueError, match="same shape"):
        reverse_kl([1, 2], uniform4)


def test_true_sampler_scores_full_width_and_a_tiny_reverse_kl():
    for name in ("ring8", "grid25"):
        source = mixture(name)
        stats = mode_statistics(source.sample(20_000, np.random.default_rng(0)), source)
        assert stats["width_ratio"] == pytest.approx(TRUE_WIDTH, abs=0.02)
        assert 0.95 <= stats["width_ratio"] <= 1.0
        assert 0 <= stats["reverse_kl"] < 0.005  # sampling noise only: about (K - 1) / (2n)
        assert np.array(stats["mode_width"]).shape == (len(source.weights), 2)


def test_a_sampler_half_as_wide_scores_half_the_width():
    source = mixture("ring8")
    narrow = rescaled(source, 0.5)
    stats = mode_statistics(narrow.sample(20_000, np.random.default_rng(1)), source)
    assert stats["width_ratio"] == pytest.approx(0.5, abs=0.02)
    assert stats["modes_captured"] == 8 and stats["high_quality_fraction"] > 0.99  # the counts cannot see it
    assert stats["reverse_kl"] < 0.005


def test_one_mode_or_uneven_weights_give_a_large_reverse_kl():
    source = mixture("ring8")
    one = GaussianMixture(source.means[:1], source.covs[:1], dtype=np.float64)
    stats = mode_statistics(one.sample(5000, np.random.default_rng(2)), source)
    assert stats["reverse_kl"] == pytest.approx(math.log(8))
    assert stats["modes_captured"] == 1 and np.isnan(np.array(stats["mode_width"])[1:]).all()
    skewed = rescaled(source, weights=[0.3] + [0.1] * 7)
    stats = mode_statistics(skewed.sample(20_000, np.random.default_rng(3)), source)
    expected = 0.3 * math.log(0.3 * 8) + 0.7 * math.log(0.1 * 8)
    assert stats["reverse_kl"] == pytest.approx(expected, abs=0.01) and expected > 0.1


def test_width_ignores_modes_without_a_measure():
    assert median_width(np.array([[0.5, 0.7], [np.nan, np.nan], [0.9, 1.1]])) == pytest.approx(0.8)
    assert math.isnan(median_width(np.full((3, 2), np.nan)))


def test_width_divides_by_each_modes_own_std():
    # modes of different widths: a true sampler scores the same ~0.974 in each, on each axis
    source = GaussianMixture([[-3.0, 0.0], [3.0, 0.0]], [0.01, 0.25], dtype=np.float64)  # stds 0.1 and 0.5
    stats = mode_statistics(source.sample(40_000, np.random.default_rng(4)), source)
    assert np.allclose(stats["mode_width"], TRUE_WIDTH, atol=0.02)


def test_averaged_energy_ratio_is_the_ratio_of_means():
    rng = np.random.default_rng(5)
    fakes, reals, others = ([rng.normal(size=(50, 2)) + shift for _ in range(3)] for shift in (0.3, 0.0, 0.0))
    expected = np.mean([energy_distance(f, r) for f, r in zip(fakes, reals)]) / np.mean(
        [energy_distance(r, o) for r, o in zip(reals, others)]
    )
    assert averaged_energy_ratio(fakes, reals, others) == pytest.approx(expected)
    with pytest.raises(ValueError, match="draws"):
        averaged_energy_ratio(fakes, reals, others[:2])


@pytest.mark.parametrize("name", ["two", "ring8", "grid25"])
def test_a_diagonal_mixture_samples_what_the_general_formula_gives(name):
    """The diagonal shortcut (diag(L) * eps) draws bit for bit what mu + L eps gives."""
    source = mixture(name)
    got = source.sample(4096, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    cum_weights = np.cumsum(source.weights)[:-1].astype(np.float32)
    component = np.searchsorted(cum_weights, rng.random(4096, np.float32), "right")
    eps = rng.standard_normal((4096, 2), dtype=np.float32)
    chol, means = source.chol.astype(np.float32), source.means.astype(np.float32)
    np.testing.assert_array_equal(got, means[component] + (chol[component] @ eps[:, :, None])[:, :, 0])


def test_a_correlated_mixture_has_its_covariance():
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    source = GaussianMixture([[0.0, 0.0]], [cov], dtype=np.float64)
    points = source.sample(200_000, np.random.default_rng(0))
    np.testing.assert_allclose(np.cov(points.T), cov, atol=0.01)
