"""The R1 penalty (nn/penalty.py): its value and its parameter gradient, by finite differences in
float64, by PyTorch's double backward, and in GAN training (config r1 / r2).

Finite differences need the ReLU/LeakyReLU kinks out of reach: ``kink_free_central_differences``
takes, entry by entry, the largest step whose evaluations leave every pre-activation on its side.
"""

import functools
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from fused_steps import require_threads, train_on_threads
from hypothesis import given
from hypothesis import strategies as st
from torch_copies import require_torch, torch_copy

import tinygan as tg
from tinygan.nn.features import FourierFeatures
from tinygan.nn.gradcheck import kink_free_central_differences, kink_pattern, relative_error
from tinygan.nn.pack_spread import PackSpread

ACTIVATIONS = ["relu", "leaky_relu", "tanh", "sigmoid"]
seeds = st.integers(0, 2**32 - 1)


def random_network(seed, depth, width, fan_in, activation, output_activation=None, dtype=np.float64):
    """An MLP fan_in -> width x (depth - 1) -> 1 with non-zero biases, and an input batch x in [-2, 2]."""
    rng = np.random.default_rng(seed)
    D = tg.mlp([fan_in] + [width] * (depth - 1) + [1], activation, output_activation, rng=rng, dtype=dtype)
    for p in D.parameters():
        if p.name == "bias":
            p.data[...] = rng.uniform(-0.5, 0.5, size=p.shape)
    return D, rng


def penalty_value(D, x):
    """P alone: r1_penalty with weight 1 adds into the grads, so clear them afterwards."""
    value = tg.r1_penalty(D, x)
    D.zero_grad()
    return value


@given(
    seed=seeds,
    depth=st.integers(1, 3),
    width=st.integers(1, 8),
    fan_in=st.integers(1, 4),
    batch=st.integers(1, 6),
    activation=st.sampled_from(ACTIVATIONS),
    output_activation=st.sampled_from([None, "tanh"]),
)
def test_parameter_gradient_matches_central_differences(
    seed, depth, width, fan_in, batch, activation, output_activation
):
    D, rng = random_network(seed, depth, width, fan_in, activation, output_activation)
    x = rng.uniform(-2, 2, size=(batch, fan_in))
    D.zero_grad()
    tg.r1_penalty(D, x)
    analytic = D.flat.grad.copy()
    indices = [(i,) for i in range(D.flat.size)]
    numeric = kink_free_central_differences(
        lambda: penalty_value(D, x), lambda: kink_pattern(D, x), D.flat.data, indices
    )
    assert relative_error(analytic, numeric) <= 1e-6, (analytic, numeric)


@given(
    seed=seeds,
    depth=st.integers(1, 3),
    width=st.integers(1, 8),
    fan_in=st.integers(1, 4),
    batch=st.integers(1, 6),
    activation=st.sampled_from(ACTIVATIONS),
)
def test_value_is_half_mean_squared_input_gradient(seed, depth, width, fan_in, batch, activation):
    D, rng = random_network(seed, depth, width, fan_in, activation)
    x = rng.uniform(-2, 2, size=(batch, fan_in))
    columns = [(slice(None), j) for j in range(fan_in)]  # column j of every row at once: D's rows do not interact
    grad_x = kink_free_central_differences(lambda: D.forward(x)[:, 0], lambda: kink_pattern(D, x), x, columns).T
    expected = 0.5 * np.mean(np.sum(grad_x**2, axis=1))
    assert penalty_value(D, x) == pytest.approx(expected, rel=1e-6, abs=1e-12)


def assert_grads_match(torch, D, reference):
    """Each Dense layer's grads equal its torch copy's (nn.Linear keeps W as (out, in); None means 0)."""
    linear = [m for m in reference if isinstance(m, torch.nn.Linear)]
    dense = [m for m in D.layers if isinstance(m, tg.Dense)]
    for ours, theirs in zip(dense, linear, strict=True):
        for grad, torch_grad in ((ours.weight.grad, theirs.weight.grad), (ours.bias.grad, theirs.bias.grad)):
            expected = np.zeros_like(grad) if torch_grad is None else torch_grad.numpy().reshape(grad.shape[::-1]).T
            np.testing.assert_allclose(grad, expected, rtol=1e-8, atol=1e-14)


@given(
    seed=seeds,
    depth=st.integers(1, 4),
    width=st.integers(1, 32),
    fan_in=st.integers(1, 5),
    batch=st.integers(1, 16),
    activation=st.sampled_from(ACTIVATIONS),
    output_activation=st.sampled_from([None, "tanh", "sigmoid"]),
)
def test_matches_torch_double_backward(seed, depth, width, fan_in, batch, activation, output_activation):
    torch = require_torch()
    D, rng = random_network(seed, depth, width, fan_in, activation, output_activation)
    x = rng.normal(size=(batch, fan_in))
    reference = torch_copy(torch, D)
    x_t = torch.tensor(x, requires_grad=True)
    (grad_x,) = torch.autograd.grad(reference(x_t).sum(), x_t, create_graph=True)  # (B, in), a graph itself
    penalty_t = 0.5 * (grad_x**2).sum(dim=1).mean()
    penalty_t.backward()

    D.zero_grad()
    value = tg.r1_penalty(D, x)
    assert value == pytest.approx(penalty_t.item(), rel=1e-8, abs=1e-15)
    assert_grads_match(torch, D, reference)


@given(seed=seeds, activation=st.sampled_from(["relu", "leaky_relu"]), batch=st.integers(1, 8))
def test_piecewise_linear_nets_give_biases_no_gradient(seed, activation, batch):
    """With s'' = 0 the input gradient g_0 is a product of weights and kink masks: biases only move kinks."""
    D, rng = random_network(seed, 3, 6, 2, activation)
    D.zero_grad()
    value = tg.r1_penalty(D, rng.normal(size=(batch, 2)))
    biases = [p.grad for p in D.parameters() if p.name == "bias"]
    assert all(np.all(b == 0) for b in biases)
    assert value == 0 or np.any(D.flat.grad != 0)  # the weights do get one, unless D is flat at x


def test_gradient_accumulates_and_scales_with_weight():
    D, rng = random_network(0, 3, 8, 2, "tanh")
    x = rng.normal(size=(5, 2))
    D.zero_grad()
    value = tg.r1_penalty(D, x)
    once = D.flat.grad.copy()
    assert value > 0 and np.any(once != 0)
    before = rng.normal(size=D.flat.size)
    D.flat.grad[...] = before
    assert tg.r1_penalty(D, x, weight=3.0) == pytest.approx(3 * value, rel=1e-12)
    np.testing.assert_allclose(D.flat.grad, before + 3 * once, rtol=1e-12, atol=1e-15)
    D.flat.grad[...] = before
    assert tg.r1_penalty(D, x, weight=0) == 0
    np.testing.assert_array_equal(D.flat.grad, before)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float32_agrees_with_float64(activation):
    D64, rng = random_network(1, 3, 16, 2, activation)
    D32 = tg.mlp([2, 16, 16, 1], activation, dtype=np.float32)
    D32.flat.data[...] = D64.flat.data
    x = rng.normal(size=(32, 2))
    D64.zero_grad()
    value = tg.r1_penalty(D64, x)
    value32 = tg.r1_penalty(D32, x.astype(np.float32))
    assert D32.flat.grad.dtype == np.float32
    assert value32 == pytest.approx(value, rel=1e-4)
    assert relative_error(D32.flat.grad.astype(np.float64), D64.flat.grad) < 1e-4


def test_nested_sequential_is_the_same_network():
    D, rng = random_network(2, 3, 4, 2, "sigmoid")
    x = rng.normal(size=(3, 2))
    D.zero_grad()
    value = tg.r1_penalty(D, x)
    grads = [p.grad.copy() for p in D.parameters()]
    nested = tg.Sequential(tg.Sequential(*D.layers[:2]), *D.layers[2:])  # the same Parameter objects
    nested.zero_grad()
    assert tg.r1_penalty(nested, x) == value
    for grad, p in zip(grads, D.parameters()):
        np.testing.assert_array_equal(p.grad, grad)


def test_refusals_name_the_argument():
    D = tg.mlp([2, 4, 1], "relu", dtype=np.float64)
    x = np.zeros((3, 2))
    with pytest.raises(TypeError, match="^D must be a tinygan Sequential"):
        tg.r1_penalty(D.layers[0], x)
    with pytest.raises(TypeError, match="^D: r1_penalty handles Dense"):
        features = FourierFeatures(2, 3, dtype=np.float64)
        tg.r1_penalty(tg.Sequential(features, tg.Dense(features.out_features, 1, dtype=np.float64)), x)
    with pytest.raises(TypeError, match="^D must contain a Dense layer"):
        tg.r1_penalty(tg.Sequential(tg.Tanh()), np.zeros((3, 1)))
    with pytest.raises(TypeError, match="^x must be a numpy.ndarray"):
        tg.r1_penalty(D, [[0.0, 0.0]])
    with pytest.raises(TypeError, match="^x must have D's dtype float64, got float32"):
        tg.r1_penalty(D, x.astype(np.float32))
    with pytest.raises(TypeError, match="^x must have D's dtype"):
        tg.r1_penalty(D, np.zeros((3, 2), dtype=np.int64))
    for bad in (np.zeros((3, 3)), np.zeros(2), np.zeros((0, 2))):
        with pytest.raises(ValueError, match=r"^x must have shape \(batch >= 1, 2\)"):
            tg.r1_penalty(D, bad)
    with pytest.raises(ValueError, match="^x contains NaN or inf"):
        tg.r1_penalty(D, np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match=r"^D must output one logit per row, shape \(B, 1\)"):
        tg.r1_penalty(tg.mlp([2, 4, 2], "relu", dtype=np.float64), x)
    for weight, error in ((-1.0, ValueError), (np.inf, ValueError), ("1", TypeError), (True, TypeError)):
        with pytest.raises(error, match="^weight must be"):
            tg.r1_penalty(D, x, weight=weight)
    assert np.all(D.flat.grad == 0)  # nothing was added by a refused call


# ---------------------------------------------------------------------------- training with R1 / R2
def small_config(**fields):
    return tg.GANConfig(**({"hidden": 8, "depth": 2, "batch_size": 16, "steps": 10, "dtype": "float64"} | fields))


@pytest.mark.parametrize(
    "fields, error, message",
    [
        ({"r1": -0.1}, ValueError, "^r1 must be >= 0"),
        ({"r2": float("nan")}, ValueError, "^r2 must be finite"),
        ({"r1": "1"}, TypeError, "^r1 must be a number"),
        ({"r2": True}, TypeError, "^r2 must be a number"),
        ({"r2": 1.0, "fourier_features": 4}, ValueError, "^r1 and r2 need D's input to be the points"),
        ({"r1": 1.0, "num_classes": 3}, ValueError, "^r1 and r2 are for unconditional GANs"),
    ],
)
def test_config_refuses_bad_penalties(fields, error, message):
    with pytest.raises(error, match=message):
        small_config(**fields).validate()


def test_penalties_survive_a_checkpoint(tmp_path):
    gan = tg.GAN(tg.mixture("two"), small_config(r1=0.5, r2=0.25, pack=2), seed=0)
    gan.train_step()
    tg.save_checkpoint(gan, tmp_path / "r1.npz")
    loaded = tg.load_checkpoint(tmp_path / "r1.npz", tg.mixture("two"))
    assert (loaded.config.r1, loaded.config.r2) == (0.5, 0.25)
    assert tg.GANConfig.from_dict(gan.config.to_dict()) == gan.config


def numba_twin(D, dtype=np.float64):
    """D's flat buffers as the fused step's Network, its activations by name, and the twin's buffers for it."""
    from tinygan.fast.fused import FusedNet
    from tinygan.fast.fused_penalty import PenaltyBuffers, penalty_buffers

    dense = [layer for layer in D.layers if isinstance(layer, tg.Dense)]
    acts = [type(layer).__name__ for layer in D.layers if not isinstance(layer, (tg.Dense, PackSpread))]
    names = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "Tanh": "tanh", "Sigmoid": "sigmoid"}
    hidden = names[acts[0]] if len(dense) > 1 else "identity"
    output = names[acts[-1]] if len(acts) == len(dense) else "identity"
    sizes = [dense[0].weight.shape[0]] + [layer.weight.shape[1] for layer in dense]
    zeros = np.zeros_like(D.flat.data)
    net = FusedNet(D.flat.data, D.flat.grad, zeros, zeros, sizes, hidden, output).network()

    def buffers(rows):  # one thread's, filled with NaN: a read before a write shows
        return PenaltyBuffers(*(np.full_like(a[0], np.nan) for a in penalty_buffers(net.sizes, rows, dtype, 1)))

    return net, buffers


@given(
    seed=seeds,
    depth=st.integers(1, 4),
    width=st.integers(1, 16),
    fan_in=st.integers(1, 5),
    batch=st.integers(1, 9),
    activation=st.sampled_from(ACTIVATIONS),
    output_activation=st.sampled_from([None, "tanh", "sigmoid"]),
    weight=st.floats(0.01, 10),
    split=st.integers(0, 9),
)
def test_numba_twin_adds_the_same_gradient(seed, depth, width, fan_in, batch, activation, output_activation, weight,
                                           split):  # fmt: skip
    """fast/fused_penalty.r1_penalty_backward against nn/penalty.r1_penalty in float64: the same gradient
    added onto what the grads held, with the batch in one share or cut in two (each share divides by the
    whole batch's B, so the shares' parts add up to the penalty)."""
    pytest.importorskip("numba")
    from tinygan.fast.fused_penalty import r1_penalty_backward

    D, rng = random_network(seed, depth, width, fan_in, activation, output_activation)
    x = rng.normal(size=(batch, fan_in))
    held = rng.normal(size=D.flat.size)  # what the BCE's backward left in the grads
    D.flat.grad[...] = held
    value = tg.r1_penalty(D, x, weight=weight)
    expected = D.flat.grad.copy()
    D.flat.grad[...] = held
    net, buffers = numba_twin(D)
    cut = min(split, batch)
    parts = [
        r1_penalty_backward(net, rows, weight, batch, 0.2, buffers(len(rows)), rows[:, :0], 1, 1.0, 0.0)
        for rows in (x[:cut], x[cut:])
        if len(rows)
    ]
    np.testing.assert_allclose(D.flat.grad, expected, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(expected).max()))
    assert sum(parts) == pytest.approx(value, rel=1e-12, abs=1e-300)
    assert np.any(D.flat.grad != held) or value == 0  # the penalty added something, unless D is flat at x


def spread_network(seed, pack, dim, depth, width, activation, gate):
    """D = [PackSpread(pack, dim) with the given gate, then an MLP pack dim + 1 -> width x (depth - 1) -> 1],
    and the generator that drew its weights."""
    spread = PackSpread(pack, dim, dtype=np.float64)
    spread.gate = gate
    mlp, rng = random_network(seed, depth, width, pack * dim + 1, activation)
    return tg.Sequential(spread, *mlp.layers), rng


spread_cases = given(
    seed=seeds,
    pack=st.integers(2, 3),
    dim=st.integers(1, 2),
    depth=st.integers(1, 3),
    width=st.integers(1, 6),
    batch=st.integers(1, 5),
    activation=st.sampled_from(ACTIVATIONS),
    gate=st.floats(0, 1),
)


@spread_cases
def test_penalty_through_the_pack_spread_matches_central_differences(
    seed, pack, dim, depth, width, batch, activation, gate
):
    """With a PackSpread first, P is on the gradient with respect to the points (through their log spread):
    its value against differences of D in the points, its gradient against differences of P in theta."""
    D, rng = spread_network(seed, pack, dim, depth, width, activation, gate)
    # point k of a pack near 2k in every coordinate: the log spread stays smooth on the differences' scale
    x = (rng.uniform(-0.5, 0.5, size=(batch, pack, dim)) + 2.0 * np.arange(pack)[:, None]).reshape(batch, -1)
    columns = [(slice(None), j) for j in range(pack * dim)]
    grad_x = kink_free_central_differences(lambda: D.forward(x)[:, 0], lambda: kink_pattern(D, x), x, columns).T
    assert penalty_value(D, x) == pytest.approx(0.5 * np.mean(np.sum(grad_x**2, axis=1)), rel=1e-6, abs=1e-12)
    D.zero_grad()
    tg.r1_penalty(D, x)
    analytic = D.flat.grad.copy()
    indices = [(i,) for i in range(D.flat.size)]
    numeric = kink_free_central_differences(
        lambda: penalty_value(D, x), lambda: kink_pattern(D, x), D.flat.data, indices
    )
    assert relative_error(analytic, numeric) <= 1e-6, (analytic, numeric)


@spread_cases
def test_penalty_through_the_pack_spread_matches_torch_double_backward(
    seed, pack, dim, depth, width, batch, activation, gate
):
    torch = require_torch()
    D, rng = spread_network(seed, pack, dim, depth, width, activation, gate)
    x = rng.normal(size=(batch, pack * dim))
    mlp = torch_copy(torch, tg.Sequential(*D.layers[1:]))
    x_t = torch.tensor(x, requires_grad=True)
    centred = x_t.view(batch, pack, dim) - x_t.view(batch, pack, dim).mean(dim=1, keepdim=True)
    spread = (centred**2).sum(dim=2).mean(dim=1, keepdim=True) + D.layers[0].eps  # (B, 1)
    logits = mlp(torch.cat([x_t, gate * torch.log(spread)], dim=1))
    (grad_x,) = torch.autograd.grad(logits.sum(), x_t, create_graph=True)
    penalty_t = 0.5 * (grad_x**2).sum(dim=1).mean()
    penalty_t.backward()

    D.zero_grad()
    assert tg.r1_penalty(D, x) == pytest.approx(penalty_t.item(), rel=1e-8, abs=1e-15)
    assert_grads_match(torch, D, mlp)


@spread_cases
def test_numba_twin_through_the_pack_spread_adds_the_same_gradient(
    seed, pack, dim, depth, width, batch, activation, gate
):
    pytest.importorskip("numba")
    from tinygan.fast.fused_penalty import r1_penalty_backward

    D, rng = spread_network(seed, pack, dim, depth, width, activation, gate)
    points = rng.normal(size=(batch, pack * dim))
    features = D.layers[0].forward(points)  # (B, pack dim + 1): what the MLP part of D sees
    value = tg.r1_penalty(D, points, weight=1.5)
    expected = D.flat.grad.copy()
    D.zero_grad()
    net, buffers = numba_twin(D)
    spread = D.layers[0]
    twin = r1_penalty_backward(net, features, 1.5, batch, 0.2, buffers(batch), points, pack, spread.eps, gate)
    np.testing.assert_allclose(D.flat.grad, expected, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(expected).max()))
    assert twin == pytest.approx(value, rel=1e-12, abs=1e-300)


def test_a_pack_spread_is_taken_only_as_d_first_module():
    f64 = {"rng": 0, "dtype": np.float64}
    late = tg.Sequential(tg.Dense(4, 4, **f64), PackSpread(2, 2, dtype=np.float64), tg.Dense(5, 1, **f64))
    with pytest.raises(TypeError, match="PackSpread only as D's first module"):
        tg.r1_penalty(late, np.zeros((2, 4)))
    assert np.all(late.flat.grad == 0)


CONFIGS_WITH_PENALTIES = [
    {"r1": 1.0},
    {"r1": 1.0, "pack": 2, "pack_spread": True},
    {"r1": 2.0, "r2": 0.5, "pack": 3, "pack_spread": True, "pack_spread_from": 0.5, "d_activation": "tanh"},
    {"r1": 0.5, "r2": 2.0, "pack": 2},
    {"r1": 3.0, "d_activation": "tanh", "pack": 3},
    {"r2": 1.0, "d_activation": "sigmoid", "d_steps": 2, "loss": "minimax"},
    {"r1": 1.0, "d_activation": "relu", "ema": 0.9},
]


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("fields", CONFIGS_WITH_PENALTIES)
def test_fused_step_with_penalties_equals_the_layer_by_layer_step(fields, threads, dtype, tolerance):
    """With r1 / r2 the numba backend trains on the fused step (fused_penalty.py adds the penalties'
    gradients in the D step) and agrees with GAN.train_step on the numpy backend after 12 steps, the
    batch (7 packs) split over 1 or 2 threads; and without the penalties it would have trained otherwise."""
    require_threads(threads)
    results = {}
    for backend, penalties in (("numpy", fields), ("numba", fields), ("numba", {"r1": 0.0, "r2": 0.0})):
        tg.set_backend(backend)
        gan = tg.GAN(tg.mixture("two"), small_config(batch_size=7, dtype=dtype, **(fields | penalties)), seed=5)
        assert (gan.fused is not None) == (backend == "numba")
        losses = train_on_threads(gan, 12, threads)
        results[backend, penalties is fields] = (np.array(losses), gan.G.flat.data.copy(), gan.D.flat.data.copy(),
                                                 gan.opt_D.m[0].copy())  # fmt: skip
    for a, b in zip(results["numpy", True], results["numba", True]):
        np.testing.assert_allclose(b, a, rtol=tolerance, atol=tolerance * max(1.0, float(np.abs(a).max(initial=0))))
    # not a vacuous match: the penalties moved D's first moment far more than the two steps disagree on it
    penalised_m, plain_m, readable_m = results["numba", True][3], results["numba", False][3], results["numpy", True][3]
    assert np.abs(penalised_m - plain_m).max() > 100 * np.abs(penalised_m - readable_m).max()


@pytest.mark.parametrize("pack", [1, 3])
def test_d_step_adds_gamma_times_the_penalty_gradients(pack):
    """D's grads with r1 = gamma_real, r2 = gamma_fake are the plain step's plus gamma_real dP/dtheta on
    the real packs and gamma_fake dP/dtheta on the fake ones; G is untouched by the D step."""
    data, gamma_real, gamma_fake = tg.mixture("two"), 2.0, 0.5
    plain = tg.GAN(data, small_config(pack=pack), seed=3)
    penalised = tg.GAN(data, small_config(pack=pack, r1=gamma_real, r2=gamma_fake), seed=3)
    rng = np.random.default_rng(0)
    n = 16 * pack
    real, z = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    loss = plain.discriminator_forward_backward(real, z)
    assert penalised.discriminator_forward_backward(real, z) == loss  # the reported loss is D's BCE alone
    bce_only = plain.D.flat.grad.copy()
    real_packs, fake_packs = real.reshape(16, -1), plain.generate(z).reshape(16, -1)  # (B, 2 m) each
    plain.D.zero_grad()
    tg.r1_penalty(plain.D, real_packs, weight=gamma_real)
    tg.r1_penalty(plain.D, fake_packs, weight=gamma_fake)
    expected = bce_only + plain.D.flat.grad
    np.testing.assert_allclose(penalised.D.flat.grad, expected, rtol=1e-12, atol=1e-15)
    assert np.any(np.abs(penalised.D.flat.grad - bce_only) > 1e-6)  # the penalties did add something
    assert np.all(penalised.G.flat.grad == 0)


def test_training_with_r1_runs_and_differs():
    config = small_config(r1=1.0, r2=1.0)
    gan, plain = tg.GAN(tg.mixture("two"), config, seed=0), tg.GAN(tg.mixture("two"), small_config(), seed=0)
    for _ in range(5):
        losses = gan.train_step()
        plain.train_step()
    assert np.isfinite(float(losses["d_loss"])) and np.isfinite(float(losses["g_loss"]))
    assert not np.array_equal(gan.D.flat.data, plain.D.flat.data)


# ---------------------------------------------------------------------------- the Dirac GAN (demos/dirac_gan.py)
@functools.cache
def load_dirac_demo():
    path = Path(__file__).resolve().parents[1] / "demos" / "dirac_gan.py"
    spec = importlib.util.spec_from_file_location("dirac_gan_demo", path)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    return demo


@given(psi=st.floats(-5, 5), gamma=st.floats(0, 10))
def test_dirac_penalty_gradient_is_gamma_psi(psi, gamma):
    """logit(x) = psi x has grad_x logit = psi everywhere: R1 = gamma/2 psi^2, whose psi-derivative is gamma psi."""
    assert load_dirac_demo().r1_gradient(psi, gamma) == pytest.approx(gamma * psi, rel=1e-12, abs=1e-300)


def test_dirac_gan_circles_away_without_r1_and_converges_with_it():
    demo = load_dirac_demo()
    plain, penalised = demo.simulate(0.0, 500, 0.1), demo.simulate(1.0, 500, 0.1)
    assert plain[-1] > 1.4 * plain[0]  # |1 + i lr/2| > 1: the step spirals outwards
    assert penalised[-1] < 1e-6 * penalised[0]
    assert np.all(np.abs(demo.step_eigenvalues(0.0, 0.1)) > 1)
    assert np.all(np.abs(demo.step_eigenvalues(1.0, 0.1)) < 1)


def test_dirac_demo_refuses_bad_numbers_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_dirac_demo().main(["--gamma", "-1"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1 and lines[0].startswith("error:") and "--gamma" in lines[0]
