"""Theory checks: quadrature, D*, JSD, the identity V(D*, G) = -log 4 + 2 JSD, and a trained D vs D*."""

import ast
import inspect

import numpy as np
import pytest

import tinygan
from tinygan.evaluation import theory
from tinygan.evaluation.data import GaussianMixture
from tinygan.fast.backend import limit_threads

LOG2, LOG4 = np.log(2.0), np.log(4.0)


def gaussians(means, stds):
    return GaussianMixture([[m] for m in means], [s**2 for s in stds], dtype=np.float64)


P_DATA, P_G = gaussians([0.0], [1.0]), gaussians([1.5], [0.7])  # the docs' example
MIXTURE = gaussians([-2.0, 2.0], [0.5, 0.5])


@pytest.fixture(scope="module")
def grid():
    points, weights = theory.make_grid([(-10.0, 10.0)], 4001)
    return points, weights


def uniform(points, lo, hi):
    """Density of U(lo, hi) on an (N, d) grid, a box in d dimensions."""
    inside = np.all((points >= lo) & (points <= hi), axis=1)
    return inside / (hi - lo) ** points.shape[1]


# ----------------------------------------------------------------------------- quadrature
def test_trapezoid_is_exact_for_linear_functions_on_uneven_grids():
    x = np.array([0.0, 0.1, 0.5, 0.6, 1.3, 2.0])
    w = theory.trapezoid_weights(x)
    assert np.sum(w * (3 * x + 1)) == pytest.approx(8.0, rel=1e-14)  # integral_0^2 (3x + 1) dx
    assert np.sum(w * x**2) > 8 / 3  # a convex function is overestimated: the rule is not exact there
    with pytest.raises(ValueError):
        theory.trapezoid_weights(np.array([0.0, 1.0, 0.5]))


@pytest.mark.parametrize("dim", [1, 2])
def test_grid_integrates_a_gaussian_to_one(dim):
    points, weights = theory.make_grid([(-10.0, 10.0)] * dim, 401)
    assert points.shape == (401**dim, dim) and weights.shape == (401**dim,)
    density = GaussianMixture([[0.5] * dim], [1.3**2], dtype=np.float64).density(points)
    assert np.sum(weights * density) == pytest.approx(1.0, abs=1e-9)
    mean = np.sum(weights[:, None] * density[:, None] * points, axis=0)
    np.testing.assert_allclose(mean, 0.5, atol=1e-9)


# ----------------------------------------------------------------------------- D* and JSD
def test_optimal_discriminator_is_the_pointwise_argmax():
    rng = np.random.default_rng(0)
    y = np.linspace(1e-4, 1 - 1e-4, 200_001)
    for a, b in rng.uniform(0.01, 3.0, size=(5, 2)):
        best = y[np.argmax(a * np.log(y) + b * np.log(1 - y))]
        assert theory.optimal_discriminator(np.array([a]), np.array([b]))[0] == pytest.approx(best, abs=1e-4)
    np.testing.assert_array_equal(theory.optimal_discriminator(np.zeros(3), np.zeros(3)), 0.5)


def test_jsd_closed_forms_1d():
    # Grid points at half-integer multiples of h, so the uniforms' edges fall midway between points
    # and the quadrature of each piecewise-constant integrand is exact.
    h = 0.01
    points, weights = theory.make_grid([(-3.0 + h / 2, 6.0 - h / 2)], 900)
    p = uniform(points, 0.0, 2.0)
    assert np.sum(weights * p) == pytest.approx(1.0, abs=1e-12)
    assert theory.js_divergence(p, p, weights) == 0.0
    assert theory.js_divergence(p, uniform(points, 3.0, 5.0), weights) == pytest.approx(LOG2, abs=1e-12)
    # U(0, 2) and U(1, 3) overlap on half their mass: JSD = (1 - overlap) log 2 = log(2) / 2.
    q = uniform(points, 1.0, 3.0)
    assert theory.js_divergence(p, q, weights) == pytest.approx(LOG2 / 2, abs=1e-12)
    assert theory.js_divergence(q, p, weights) == pytest.approx(theory.js_divergence(p, q, weights), abs=1e-15)
    assert theory.kl_divergence(p, q, weights) == np.inf  # q = 0 on [0, 1) where p > 0


def test_jsd_of_disjoint_squares_2d_is_log2():
    h = 0.02
    points, weights = theory.make_grid([(-1.0 + h / 2, 3.0 - h / 2)] * 2, 200)
    p, q = uniform(points, 0.0, 1.0), uniform(points, 1.5, 2.5)
    assert np.sum(weights * p) == pytest.approx(1.0, abs=1e-12)
    assert theory.js_divergence(p, q, weights) == pytest.approx(LOG2, abs=1e-12)
    assert theory.js_divergence(p, p, weights) == 0.0


def test_jsd_integral_matches_an_independent_monte_carlo_estimate(grid):
    """JSD = 1/2 E_p log(2p/(p+q)) + 1/2 E_q log(2q/(p+q)): sample instead of integrating."""
    points, weights = grid
    rng = np.random.default_rng(1)
    x, y = P_DATA.sample(200_000, rng), P_G.sample(200_000, rng)
    px, qx, py, qy = P_DATA.density(x), P_G.density(x), P_DATA.density(y), P_G.density(y)
    mc = 0.5 * np.mean(np.log(2 * px / (px + qx))) + 0.5 * np.mean(np.log(2 * qy / (py + qy)))
    jsd = theory.js_divergence(P_DATA.density(points), P_G.density(points), weights)
    assert 0.2 < jsd < 0.4
    assert jsd == pytest.approx(mc, abs=3e-3)  # MC standard error here is about 1e-3


@pytest.mark.parametrize("pair", [(P_DATA, P_G), (MIXTURE, gaussians([0.0], [1.5])), (P_DATA, P_DATA)])
def test_value_at_optimum_is_minus_log4_plus_2jsd(grid, pair):
    points, weights = grid
    a, b = pair[0].density(points), pair[1].density(points)
    v_star = theory.optimal_value(a, b, weights)
    assert v_star == pytest.approx(theory.jsd_value(a, b, weights), abs=1e-9)
    if pair[0] is pair[1]:
        assert v_star == pytest.approx(-LOG4, abs=1e-9)
    else:
        assert v_star > -LOG4 + 0.1  # different distributions: strictly above the minimum


def test_no_discriminator_beats_dstar():
    # On [-4, 6] every D below stays strictly inside (0, 1) in float64, so every V is finite.
    points, weights = theory.make_grid([(-4.0, 6.0)], 2001)
    a, b = P_DATA.density(points), P_G.density(points)
    v_star = theory.optimal_value(a, b, weights)
    assert theory.value_on_grid(theory.optimal_discriminator(a, b), a, b, weights) == pytest.approx(v_star)
    logit_star = np.log(a) - np.log(b)  # logit of D*
    for shift in (-0.5, -0.1, 0.1, 0.5):
        other = 1 / (1 + np.exp(-(logit_star + shift)))
        assert -np.inf < theory.value_on_grid(other, a, b, weights) < v_star - 1e-4
    half = theory.value_on_grid(np.full_like(a, 0.5), a, b, weights)
    assert half == pytest.approx(-LOG4 * np.sum(weights * (a + b)) / 2, abs=1e-12) and half < v_star


# ----------------------------------------------------------------------------- a trained D
def test_monte_carlo_value_of_a_constant_half_discriminator_is_minus_log4():
    D = tinygan.mlp([1, 8, 1], "leaky_relu", rng=0, dtype=np.float64)
    D.layers[-1].weight.data[...] = 0.0
    D.layers[-1].bias.data[...] = 0.0  # logit 0 everywhere: D(x) = 1/2
    rng = np.random.default_rng(0)
    v = theory.value_monte_carlo(D, P_DATA.sample(1000, rng), P_G.sample(500, rng))
    assert v == pytest.approx(-LOG4, abs=1e-12)


@pytest.fixture(scope="module")
def trained():
    """One D per pair, trained on samples only: (D, p_data, p_g)."""
    tinygan.set_backend("numpy")
    kwargs = dict(steps=1500, batch_size=256, lr=5e-3, seed=0)
    with limit_threads(1):
        return {
            "different": (theory.train_discriminator(P_DATA.sample, P_G.sample, 1, **kwargs), P_DATA, P_G),
            "equal": (theory.train_discriminator(P_DATA.sample, P_DATA.sample, 1, **kwargs), P_DATA, P_DATA),
        }


@pytest.mark.parametrize("case", ["different", "equal"])
def test_trained_discriminator_approximates_dstar(grid, trained, case):
    D, p_data, p_g = trained[case]
    points, weights = grid
    a, b = p_data.density(points), p_g.density(points)
    bulk = (a + b) / 2 > 0.01  # where samples land: about x in [-2.8, 3.4] here
    error = np.abs(theory.discriminator_probability(D, points) - theory.optimal_discriminator(a, b))
    assert error[bulk].max() <= 0.05
    if case == "equal":
        assert error[bulk].max() <= 0.02  # D* = 1/2 is the easiest target there is


@pytest.mark.parametrize("case", ["different", "equal"])
def test_monte_carlo_value_of_trained_d_matches_minus_log4_plus_2jsd(grid, trained, case):
    D, p_data, p_g = trained[case]
    points, weights = grid
    rng = np.random.default_rng(2)  # fresh samples, not the training stream
    v = theory.value_monte_carlo(D, p_data.sample(100_000, rng), p_g.sample(100_000, rng))
    target = theory.jsd_value(p_data.density(points), p_g.density(points), weights)
    assert v == pytest.approx(target, abs=0.02)
    if case == "equal":
        assert v == pytest.approx(-LOG4, abs=0.005)


def test_training_is_seeded_and_checks_sampler_shapes():
    def run(seed):
        D = theory.train_discriminator(P_DATA.sample, P_G.sample, 1, steps=5, batch_size=16, seed=seed)
        return D.state_dict()["0.weight"]

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))
    with pytest.raises(ValueError, match="expected"):
        theory.train_discriminator(lambda n, rng: rng.standard_normal(n), P_G.sample, 1, steps=1)


def test_theory_module_does_not_import_matplotlib():
    tree = ast.parse(inspect.getsource(theory))
    names = [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
    names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [n for n in names if n.split(".")[0] == "matplotlib"]
