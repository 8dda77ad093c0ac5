"""PyTorch autograd as a second oracle (float64, identical weights).

CI sets TINYGAN_REQUIRE_TORCH=1 so these tests fail, not skip, when torch is missing there.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_copies import require_torch, torch_copy

import tinygan as tg

torch = require_torch()
import torch.nn.functional as F  # noqa: E402


@given(
    seed=st.integers(0, 2**32 - 1),
    depth=st.integers(1, 4),
    width=st.integers(1, 64),
    batch=st.integers(1, 32),
    activation=st.sampled_from(["leaky_relu", "relu", "sigmoid", "tanh"]),
)
def test_mlp_matches_autograd(seed, depth, width, batch, activation):
    rng = np.random.default_rng(seed)
    model = tg.mlp([3] + [width] * (depth - 1) + [2], activation, rng=rng, dtype=np.float64)
    reference = torch_copy(torch, model)
    x = rng.normal(size=(batch, 3))
    projection = rng.normal(size=(batch, 2))

    y = model(x)
    grad_x = model.backward(projection)

    x_t = torch.tensor(x, requires_grad=True)
    y_t = reference(x_t)
    (y_t * torch.from_numpy(projection)).sum().backward()

    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    dense = [layer for layer in model.layers if isinstance(layer, tg.Dense)]
    linear = [layer for layer in reference if isinstance(layer, torch.nn.Linear)]
    for ours, theirs in zip(dense, linear):
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy().T, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_bce_matches_torch_including_extreme_logits():
    rng = np.random.default_rng(0)
    logits = np.concatenate([rng.normal(scale=5, size=(60, 1)), [[1e4], [-1e4], [0.0], [700.0], [-700.0]]])
    targets = np.concatenate([rng.uniform(size=(60, 1)), [[0.0], [1.0], [0.5], [0.0], [1.0]]])
    loss, grad = tg.bce_with_logits(logits, targets)

    z = torch.tensor(logits, requires_grad=True)
    loss_t = F.binary_cross_entropy_with_logits(z, torch.from_numpy(targets))
    loss_t.backward()
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(loss, loss_t.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_adam_trajectory_matches_torch(backend):
    """200 Adam steps of an MLP regression: parameters stay equal to torch.optim.Adam's to 1e-8."""
    tg.set_backend(backend)
    rng = np.random.default_rng(1)
    model = tg.mlp([2, 16, 16, 1], "tanh", rng=rng, dtype=np.float64)
    reference = torch_copy(torch, model)
    x = rng.normal(size=(64, 2))
    target = np.sin(x[:, :1]) * x[:, 1:]
    optimizer = tg.Adam(model.parameters(), lr=1e-2, betas=(0.8, 0.99), eps=1e-8)
    optimizer_t = torch.optim.Adam(reference.parameters(), lr=1e-2, betas=(0.8, 0.99), eps=1e-8)
    x_t, target_t = torch.from_numpy(x), torch.from_numpy(target)

    for _ in range(200):
        optimizer.zero_grad()
        y = model(x)
        model.backward(2 * (y - target) / y.size)  # d/dy of mean squared error
        optimizer.step()

        optimizer_t.zero_grad()
        F.mse_loss(reference(x_t), target_t).backward()
        optimizer_t.step()

    linear = [layer for layer in reference if isinstance(layer, torch.nn.Linear)]
    dense = [layer for layer in model.layers if isinstance(layer, tg.Dense)]
    for ours, theirs in zip(dense, linear):
        np.testing.assert_allclose(ours.weight.data, theirs.weight.detach().numpy().T, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(ours.bias.data, theirs.bias.detach().numpy(), rtol=1e-8, atol=1e-10)
