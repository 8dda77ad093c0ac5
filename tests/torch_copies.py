"""PyTorch as a second oracle: torch itself (or a skip), and a tinygan MLP copied into PyTorch.

CI sets TINYGAN_REQUIRE_TORCH=1 so a missing torch fails there instead of skipping.
"""

import os

import pytest

import tinygan as tg


def require_torch():
    """torch, or skip the test; under TINYGAN_REQUIRE_TORCH=1 a missing torch is an error."""
    if os.environ.get("TINYGAN_REQUIRE_TORCH") == "1":
        import torch

        return torch
    return pytest.importorskip("torch")


def torch_copy(torch, model: tg.Sequential):
    """The same network in PyTorch, float64, sharing no memory; nn.Linear stores W transposed, (out, in)."""
    activations = {"ReLU": torch.nn.ReLU, "Tanh": torch.nn.Tanh, "Sigmoid": torch.nn.Sigmoid}
    layers = []
    for layer in model.layers:
        if isinstance(layer, tg.Dense):
            linear = torch.nn.Linear(layer.in_features, layer.out_features).double()
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.weight.data.T.copy()))
                linear.bias.copy_(torch.from_numpy(layer.bias.data.copy()))
            layers.append(linear)
        elif isinstance(layer, tg.LeakyReLU):
            layers.append(torch.nn.LeakyReLU(layer.negative_slope))
        else:
            layers.append(activations[type(layer).__name__]())
    return torch.nn.Sequential(*layers)
