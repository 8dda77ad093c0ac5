"""Elementwise activations: ReLU, LeakyReLU, Tanh, Sigmoid. Each backward multiplies by f'(x)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..fast.backend import get_backend
from .module import Module


class _Activation(Module):
    """Elementwise y = f(x); backward multiplies by f'(x) elementwise."""

    def __init__(self) -> None:
        self.xp = get_backend().xp
        self._cache = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ReLU(_Activation):
    def forward(self, x: Any) -> Any:
        self._check_input(x)
        y = self.xp.maximum(x, 0)
        self._cache = y
        return y

    def backward(self, grad_out: Any) -> Any:
        """y = max(x, 0): dy/dx = 1 where x > 0, else 0 (we take 0 at the kink x = 0).
        So dL/dx = dL/dy * 1[y > 0]; the output y tells us the sign of x."""
        y = self._cached(self._cache)
        return grad_out * (y > 0)


class LeakyReLU(_Activation):
    def __init__(self, negative_slope: float = 0.2) -> None:
        super().__init__()
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float, np.integer, np.floating)):
            raise TypeError(f"negative_slope must be a number in [0, 1), got {type(negative_slope).__name__}")
        if not (0 <= negative_slope < 1 and np.isfinite(negative_slope)):
            raise ValueError(f"negative_slope must be in [0, 1), got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def __repr__(self) -> str:
        return f"LeakyReLU({self.negative_slope})"

    def forward(self, x: Any) -> Any:
        self._check_input(x)
        self._cache = x
        return self.xp.where(x > 0, x, self.negative_slope * x)

    def backward(self, grad_out: Any) -> Any:
        """y = x for x > 0 and a*x otherwise: dy/dx = 1 or a. dL/dx = dL/dy * (1 or a)."""
        x = self._cached(self._cache)
        return grad_out * self.xp.where(x > 0, 1.0, self.negative_slope).astype(grad_out.dtype)


class Tanh(_Activation):
    def forward(self, x: Any) -> Any:
        self._check_input(x)
        y = self.xp.tanh(x)
        self._cache = y
        return y

    def backward(self, grad_out: Any) -> Any:
        """d tanh(x)/dx = 1 - tanh(x)^2 = 1 - y^2, so dL/dx = dL/dy * (1 - y^2)."""
        y = self._cached(self._cache)
        return grad_out * (1 - y * y)


class Sigmoid(_Activation):
    def forward(self, x: Any) -> Any:
        self._check_input(x)
        e = self.xp.exp(-self.xp.abs(x))  # never overflows
        y = self.xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        self._cache = y
        return y

    def backward(self, grad_out: Any) -> Any:
        """s(x) = 1/(1+e^-x): ds/dx = e^-x/(1+e^-x)^2 = s(1-s), so dL/dx = dL/dy * y(1-y)."""
        y = self._cached(self._cache)
        return grad_out * (y * (1 - y))


ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid}


def make_activation(name: str, negative_slope: float = 0.2) -> Module:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return LeakyReLU(negative_slope) if name == "leaky_relu" else ACTIVATIONS[name]()
