"""Layers: Dense, Sequential and the ``mlp`` helper (activations live in activations.py).

Read module.py first for the protocol (forward / backward / parameters / zero_grad).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..fast.backend import get_backend
from .activations import ACTIVATIONS, LeakyReLU, ReLU, Sigmoid, Tanh, make_activation
from .module import Module, as_float_dtype, as_generator
from .parameters import FlatParameters, Parameter

INITS = ("torch", "he", "xavier")
__all__ = ["ACTIVATIONS", "Dense", "LeakyReLU", "Module", "ReLU", "Sequential", "Sigmoid", "Tanh"]
__all__ += ["make_activation", "mlp"]


class Dense(Module):
    """Fully connected layer y = x W + b, with W of shape (in, out) and b of shape (out,)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator | int | None = None,
        dtype: Any = None,
        init: str = "torch",
    ) -> None:
        for arg, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{arg} must be a positive int, got {value!r}")
            if value > np.iinfo(np.int64).max:
                raise ValueError(f"{arg} must fit in memory, got {value}")
        if not isinstance(init, str) or init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.dtype = as_float_dtype(dtype)
        self.xp = get_backend().xp
        try:
            weight, bias = _initial_values(self.in_features, self.out_features, init, as_generator(rng))
        except (MemoryError, ValueError):  # ValueError: NumPy's "maximum allowed dimension exceeded"
            raise ValueError(
                f"in_features x out_features = {in_features} x {out_features} weights do not fit in memory"
            ) from None
        self.weight = Parameter(self.xp.asarray(weight.astype(self.dtype)), "weight")
        self.bias = Parameter(self.xp.asarray(bias.astype(self.dtype)), "bias")
        FlatParameters([self.weight, self.bias], self.xp)  # one buffer: one optimizer pass
        self._x = None

    def __repr__(self) -> str:
        return f"Dense({self.in_features}, {self.out_features})"

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [("weight", self.weight), ("bias", self.bias)]

    def forward(self, x: Any) -> Any:
        self._check_input(x, self.in_features, self.dtype)
        self._x = x
        y = x @ self.weight.data  # (B, in) @ (in, out) -> (B, out)
        y += self.bias.data  # (out,) broadcast over the batch
        return y

    def backward(self, grad_out: Any) -> Any:
        """y_bj = sum_i x_bi W_ij + b_j, so by the chain rule over every output y_bj:

        dL/dW_ij = sum_b x_bi dL/dy_bj      ->  dL/dW = x^T  dL/dy     (in, out)
        dL/db_j  = sum_b dL/dy_bj           ->  dL/db = dL/dy summed over the batch
        dL/dx_bi = sum_j dL/dy_bj W_ij      ->  dL/dx = dL/dy W^T      (B, in)
        """
        if not hasattr(grad_out, "shape"):
            raise TypeError(f"{self!r}.backward expects grad_out as an array, got {type(grad_out).__name__}")
        x = self._cached(self._x)
        if tuple(grad_out.shape) != (x.shape[0], self.out_features):
            raise ValueError(
                f"{self!r}.backward expects grad_out of shape {(x.shape[0], self.out_features)}, "
                f"got {tuple(grad_out.shape)}"
            )
        self.weight.grad += x.T @ grad_out  # (in, B) @ (B, out) -> (in, out)
        self.bias.grad += grad_out.sum(axis=0)  # (out,)
        return grad_out @ self.weight.data.T  # (B, out) @ (out, in) -> (B, in)


def _initial_values(fan_in: int, fan_out: int, init: str, rng: np.random.Generator):
    """Host arrays W (fan_in, fan_out) and b (fan_out,) in float64.

    torch:  W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))   (nn.Linear's default, so runs compare)
    he:     W ~ N(0, 2/fan_in), b = 0                    (keeps ReLU activations' variance)
    xavier: W ~ U(-a, a), a = sqrt(6/(fan_in+fan_out)), b = 0
    """
    if init == "torch":
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, (fan_in, fan_out)), rng.uniform(-bound, bound, fan_out)
    if init == "he":
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out)), np.zeros(fan_out)
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, (fan_in, fan_out)), np.zeros(fan_out)


class Sequential(Module):
    """Layers applied in order; backward runs them in reverse (the chain rule, layer by layer).

    Building a Sequential packs all its layers' parameters into one flat buffer (``self.flat``).
    """

    def __init__(self, *layers: Module) -> None:
        if not layers or not all(isinstance(layer, Module) for layer in layers):
            raise TypeError("Sequential takes one or more Module instances")
        self.layers = list(layers)
        self.xp = layers[0].xp
        params = [p for _, p in self.named_parameters()]
        if params:
            FlatParameters(params, self.xp)  # repack every layer's parameters into one buffer

    def __repr__(self) -> str:
        return "Sequential(" + ", ".join(map(repr, self.layers)) + ")"

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers) for name, p in layer.named_parameters()]

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_out: Any) -> Any:
        """L(f_n(...f_1(x))): dL/dx = J_1^T ... J_n^T dL/dy, applied right to left."""
        if not isinstance(grad_out, self.layers[-1].xp.ndarray) or grad_out.dtype.kind != "f":
            raise TypeError(f"grad_out must be a float {self.layers[-1].xp.__name__}.ndarray, got {grad_out!r:.60}")
        for layer in reversed(self.layers):
            grad_out = layer.backward(grad_out)
        return grad_out


def mlp(
    sizes: Sequence[int],
    activation: str = "relu",
    output_activation: str | None = None,
    *,
    negative_slope: float = 0.2,
    rng: np.random.Generator | int | None = None,
    dtype: Any = None,
    init: str = "torch",
) -> Sequential:
    """A multilayer perceptron: Dense(sizes[0], sizes[1]), act, ..., Dense(sizes[-2], sizes[-1]).

    ``mlp([2, 64, 64, 1], "leaky_relu")`` is a discriminator for 2-D points.
    """
    if (
        not isinstance(sizes, (list, tuple, np.ndarray))
        or getattr(sizes, "ndim", 1) != 1
        or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in sizes)
    ):
        raise TypeError(f"sizes must be a list of positive ints (widths), got {sizes!r:.80}")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output width, got {list(sizes)}")
    rng = as_generator(rng)
    layers: list[Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(fan_in, fan_out, rng=rng, dtype=dtype, init=init))
        last = i == len(sizes) - 2
        if not last:
            layers.append(make_activation(activation, negative_slope))
        elif output_activation is not None:
            layers.append(make_activation(output_activation, negative_slope))
    return Sequential(*layers)
