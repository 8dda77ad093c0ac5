"""Property-based gradient checks: analytic backward vs central finite differences, float64."""

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

import tinygan as tg
from tinygan.nn.activations import make_activation
from tinygan.nn.gradcheck import (
    check_module_gradients,
    kink_free_central_differences,
    kink_pattern,
    numerical_gradient,
    relative_error,
)
from tinygan.nn.layers import Dense

TOLERANCE = 1e-6
seeds = st.integers(0, 2**32 - 1)


def away_from_zero(rng, shape, margin=0.05, scale=2.0):
    """Inputs in [-scale, -margin] U [margin, scale]: no ReLU kink within reach of h."""
    magnitude = rng.uniform(margin, scale, size=shape)
    return magnitude * rng.choice([-1.0, 1.0], size=shape)


@given(
    seed=seeds,
    fan_in=st.integers(1, 64),
    fan_out=st.integers(1, 64),
    batch=st.integers(1, 32),
    init=st.sampled_from(["torch", "he", "xavier"]),
)
def test_dense_gradients(seed, fan_in, fan_out, batch, init):
    rng = np.random.default_rng(seed)
    layer = Dense(fan_in, fan_out, rng=rng, dtype=np.float64, init=init)
    layer.bias.data[...] = rng.normal(size=fan_out)  # he/xavier start at zero: make b matter
    errors = check_module_gradients(layer, rng.normal(size=(batch, fan_in)), rng=rng)
    assert max(errors.values()) <= TOLERANCE, errors


@given(
    seed=seeds,
    name=st.sampled_from(["relu", "leaky_relu", "tanh", "sigmoid"]),
    rows=st.integers(1, 32),
    cols=st.integers(1, 64),
    slope=st.floats(0.0, 0.9),
)
def test_activation_gradients(seed, name, rows, cols, slope):
    rng = np.random.default_rng(seed)
    activation = tg.LeakyReLU(slope) if name == "leaky_relu" else make_activation(name)
    errors = check_module_gradients(activation, away_from_zero(rng, (rows, cols)), rng=rng)
    assert errors["input"] <= TOLERANCE, errors


@given(
    seed=seeds,
    depth=st.integers(1, 4),
    width=st.integers(1, 64),
    batch=st.integers(1, 32),
    fan_in=st.integers(1, 8),
    fan_out=st.integers(1, 8),
    activation=st.sampled_from(["relu", "leaky_relu", "tanh", "sigmoid"]),
    output_activation=st.sampled_from([None, "tanh", "sigmoid"]),
)
# A width-1 LeakyReLU chain whose nearest kink is 2e-3 away: a fixed small step erred by 1.6e-6 here.
@example(seed=8, depth=4, width=1, batch=3, fan_in=4, fan_out=1, activation="leaky_relu", output_activation=None)
def test_mlp_gradients(seed, depth, width, batch, fan_in, fan_out, activation, output_activation):
    rng = np.random.default_rng(seed)
    sizes = [fan_in] + [width] * (depth - 1) + [fan_out]
    model = tg.mlp(sizes, activation, output_activation, rng=rng, dtype=np.float64)
    # Weights of at least 0.1 in magnitude: a width-1 chain of weights near 0 leaves a gradient so small
    # that the central difference's round-off, eps |L| / h, is a visible fraction of it.
    for layer in model.layers:
        if isinstance(layer, Dense):
            w = layer.weight.data
            w[...] = np.sign(w + (w == 0)) * np.maximum(np.abs(w), 0.1)
    x = rng.uniform(-2, 2, size=(batch, fan_in))
    projection = rng.normal(size=model.forward(x).shape)
    model.zero_grad()
    model.forward(x)
    analytic = {"input": model.backward(projection)} | {name: p.grad.copy() for name, p in model.named_parameters()}
    arrays = {"input": x} | {name: p.data for name, p in model.named_parameters()}
    for name, array in arrays.items():
        indices = list(np.ndindex(*array.shape))
        indices = [indices[i] for i in rng.permutation(len(indices))[:200]]
        numeric = kink_free_central_differences(
            lambda: float(np.sum(projection * model.forward(x))), lambda: kink_pattern(model, x), array, indices, 1e-3
        )
        error = relative_error(np.array([analytic[name][i] for i in indices]), numeric)
        assert error <= TOLERANCE, (name, error)


@given(seed=seeds, rows=st.integers(1, 32), cols=st.integers(1, 4), scale=st.floats(0.1, 30.0))
def test_bce_with_logits_gradient(seed, rows, cols, scale):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=scale, size=(rows, cols))
    targets = rng.uniform(0, 1, size=(rows, cols))
    _, grad = tg.bce_with_logits(logits, targets)

    def loss():
        return float(tg.bce_with_logits(logits, targets)[0])

    indices = list(np.ndindex(*logits.shape))
    numeric = numerical_gradient(loss, logits, indices, h=1e-6)
    assert relative_error(grad.reshape(-1), numeric) <= TOLERANCE


@given(seed=seeds, rows=st.integers(1, 32), kind=st.sampled_from(["nonsaturating", "minimax"]))
def test_generator_loss_gradient(seed, rows, kind):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3, size=(rows, 1))
    _, grad = tg.generator_loss(logits, kind)
    numeric = numerical_gradient(
        lambda: float(tg.generator_loss(logits, kind)[0]), logits, list(np.ndindex(*logits.shape)), 1e-6
    )
    assert relative_error(grad.reshape(-1), numeric) <= TOLERANCE


def test_gradcheck_catches_a_wrong_gradient():
    """The checker itself must fail on a layer whose backward is off (here: bias grad doubled)."""

    class BrokenDense(Dense):
        def backward(self, grad_out):
            grad_in = super().backward(grad_out)
            self.bias.grad *= 2
            return grad_in

    rng = np.random.default_rng(0)
    layer = BrokenDense(3, 4, rng=rng, dtype=np.float64)
    errors = check_module_gradients(layer, rng.normal(size=(5, 3)))
    assert errors["weight"] <= TOLERANCE and errors["bias"] > 0.1
