"""The Module protocol, parameter packing, initialisation and clear errors for bad input."""

import numpy as np
import pytest

import tinygan as tg
from tinygan.nn.activations import sigmoid
from tinygan.nn.layers import Dense


def test_dense_shapes_and_default_init_bounds():
    layer = Dense(16, 4, rng=0)
    assert layer.weight.shape == (16, 4) and layer.bias.shape == (4,)
    assert layer.weight.data.dtype == np.float32
    bound = 1 / np.sqrt(16)
    assert np.all(np.abs(layer.weight.data) <= bound) and np.all(np.abs(layer.bias.data) <= bound)
    assert layer(np.zeros((3, 16), np.float32)).shape == (3, 4)


def test_he_and_xavier_init_statistics():
    he = Dense(1000, 200, rng=0, init="he", dtype=np.float64)
    assert abs(he.weight.data.std() - np.sqrt(2 / 1000)) < 0.002 and not he.bias.data.any()
    xavier = Dense(300, 100, rng=0, init="xavier")
    assert np.abs(xavier.weight.data).max() <= np.sqrt(6 / 400)


def test_sequential_packs_parameters_into_one_flat_buffer():
    model = tg.mlp([2, 8, 8, 1], rng=0)
    assert model.flat is not None and model.flat.size == 2 * 8 + 8 + 8 * 8 + 8 + 8 + 1
    model.layers[0].weight.data[0, 0] = 123.0  # a view: writing it writes the flat buffer
    assert model.flat.data[0] == 123.0
    assert len(tg.Adam(model.parameters()).slabs) == 1


def test_backward_accumulates_and_zero_grad_clears():
    rng = np.random.default_rng(0)
    model = tg.mlp([3, 5, 2], "tanh", rng=rng, dtype=np.float64)
    x, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    model(x)
    model.backward(g)
    first = model.flat.grad.copy()
    model(x)
    model.backward(g)
    np.testing.assert_allclose(model.flat.grad, 2 * first)
    model.zero_grad()
    assert not model.flat.grad.any()


def test_backward_never_changes_parameters():
    model = tg.mlp([2, 8, 1], rng=0)
    before = model.flat.data.copy()
    model(np.ones((4, 2), np.float32))
    model.backward(np.ones((4, 1), np.float32))
    np.testing.assert_array_equal(model.flat.data, before)


def test_same_seed_same_weights():
    a, b = tg.mlp([2, 16, 1], rng=7), tg.mlp([2, 16, 1], rng=7)
    np.testing.assert_array_equal(a.flat.data, b.flat.data)


def test_state_dict_round_trip_and_mismatch_errors():
    a, b = tg.mlp([2, 8, 1], rng=1), tg.mlp([2, 8, 1], rng=2)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.flat.data, b.flat.data)
    assert set(a.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    with pytest.raises(ValueError, match="missing"):
        b.load_state_dict({"0.weight": np.zeros((2, 8))})
    bad = a.state_dict() | {"0.weight": np.zeros((3, 8))}
    with pytest.raises(ValueError, match=r"0\.weight.*shape"):
        b.load_state_dict(bad)
    with pytest.raises(ValueError, match="NaN"):
        b.load_state_dict(a.state_dict() | {"0.bias": np.full(8, np.nan)})


def test_wrong_trailing_shape_names_layer_and_expected_shape():
    model = tg.mlp([2, 8, 1], rng=0)
    with pytest.raises(ValueError, match=r"Dense\(2, 8\) expects input of shape \(batch, 2\), got \(4, 3\)"):
        model(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="expects input of shape"):
        model(np.zeros(2, np.float32))


def test_backward_before_forward_is_a_runtime_error():
    for module in (Dense(2, 3), tg.ReLU(), tg.LeakyReLU(), tg.Tanh(), tg.Sigmoid()):
        with pytest.raises(RuntimeError, match=r"backward\(\) called before forward\(\)"):
            module.backward(np.zeros((1, 3), np.float32))


def test_bad_dtypes_are_type_errors():
    layer = Dense(2, 3)
    with pytest.raises(TypeError, match="float array"):
        layer(np.zeros((1, 2), np.int64))
    with pytest.raises(TypeError, match="float64 but the parameters are float32"):
        layer(np.zeros((1, 2), np.float64))
    with pytest.raises(TypeError, match="ndarray"):
        layer([[0.0, 0.0]])
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        Dense(2, 3, dtype=np.float16)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"in_features": 0, "out_features": 3}, "in_features"),
        ({"in_features": 2, "out_features": -1}, "out_features"),
        ({"in_features": 2.5, "out_features": 3}, "in_features"),
        ({"in_features": 2, "out_features": 3, "init": "zeros"}, "init"),
    ],
)
def test_bad_dense_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Dense(**kwargs)


def test_bad_activation_arguments():
    with pytest.raises(ValueError, match="negative_slope"):
        tg.LeakyReLU(-0.1)
    with pytest.raises(ValueError, match="activation must be one of"):
        tg.mlp([2, 3, 1], "gelu")
    with pytest.raises(ValueError, match="sizes"):
        tg.mlp([2])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": -1e-3}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"betas": (1.0, 0.999)}, r"betas\[0\]"),
        ({"betas": (0.9, -0.1)}, r"betas\[1\]"),
        ({"betas": (0.9,)}, "betas"),
        ({"eps": 0.0}, "eps"),
    ],
)
def test_bad_adam_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tg.Adam(tg.mlp([2, 3, 1]).parameters(), **kwargs)


def test_bad_sgd_and_param_lists():
    params = tg.mlp([2, 3, 1]).parameters()
    with pytest.raises(ValueError, match="momentum"):
        tg.SGD(params, lr=0.1, momentum=1.0)
    with pytest.raises(TypeError, match="non-empty"):
        tg.Adam([])
    with pytest.raises(ValueError, match="twice"):
        tg.Adam(params + params[:1])


def test_sgd_step_is_plain_gradient_descent():
    model = tg.mlp([2, 3, 1], rng=0, dtype=np.float64)
    model.flat.grad[...] = 1.0
    before = model.flat.data.copy()
    tg.SGD(model.parameters(), lr=0.5).step()
    np.testing.assert_allclose(model.flat.data, before - 0.5)


def test_adam_first_step_moves_each_parameter_by_lr():
    """With bias correction, step 1 is p -= lr * g / (|g| + eps): a move of ~lr whatever |g|."""
    model = tg.mlp([2, 3, 1], rng=0, dtype=np.float64)
    model.flat.grad[...] = np.linspace(-5, 5, model.flat.size) + 0.01
    before = model.flat.data.copy()
    tg.Adam(model.parameters(), lr=0.01).step()
    np.testing.assert_allclose(np.abs(model.flat.data - before), 0.01, rtol=1e-5)


def test_adam_stays_finite_with_zero_gradients():
    model = tg.mlp([2, 3, 1], rng=0)
    optimizer = tg.Adam(model.parameters())
    before = model.flat.data.copy()
    for _ in range(5):
        optimizer.step()
    np.testing.assert_array_equal(model.flat.data, before)


def test_bce_errors():
    with pytest.raises(ValueError, match="targets shape"):
        tg.bce_with_logits(np.zeros((3, 1)), np.zeros((2, 1)))
    with pytest.raises(TypeError, match="logits"):
        tg.bce_with_logits([0.0], 1.0)
    with pytest.raises(ValueError, match="generator loss"):
        tg.generator_loss(np.zeros((2, 1)), "wasserstein")


def test_unknown_backend_is_a_value_error():
    with pytest.raises(ValueError, match="backend must be one of"):
        tg.set_backend("tpu")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_the_logistic_and_never_overflows(dtype):
    """s(x) = 1/(1 + e^-x) where that is finite; s(-x) = 1 - s(x); at +-1e4 exactly 1 and 0, no warning."""
    x = np.linspace(-30, 30, 121).astype(dtype)
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x.astype(np.float64))), rtol=1e-6)
    np.testing.assert_allclose(sigmoid(-x), 1 - sigmoid(x), atol=1e-7)
    with np.errstate(over="raise"):
        extremes = sigmoid(np.array([-1e4, 1e4], dtype))
    assert extremes.dtype == dtype and extremes.tolist() == [0.0, 1.0]
