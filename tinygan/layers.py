"""Layers: the Module protocol, Dense, four activations, Sequential and the ``mlp`` helper.

The protocol is PyTorch's vocabulary, done by hand:

* ``forward(x)`` computes the output and caches what backward will need;
* ``backward(grad_out)`` takes dL/d(output), *adds* dL/d(parameter) into each ``param.grad``
  and returns dL/d(input). It never changes a parameter: that is the optimizer's job;
* ``parameters()``, ``zero_grad()``, ``state_dict()`` / ``load_state_dict()``; ``model(x)``.

Batches are rows: x has shape (B, features). Every array below is on the backend's array
module ``xp`` (NumPy or CuPy), chosen when the layer is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .backend import get_backend, to_numpy
from .parameters import FlatParameters, Parameter

INITS = ("torch", "he", "xavier")
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Accept a Generator, a seed, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


def as_float_dtype(dtype: Any) -> np.dtype:
    """float32 (the default) or float64; anything else is a TypeError."""
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


class Module:
    """Base class: subclasses implement ``forward`` and ``backward``."""

    xp: Any = np

    def forward(self, x: Any) -> Any:
        raise NotImplementedError

    def backward(self, grad_out: Any) -> Any:
        raise NotImplementedError

    def __call__(self, x: Any) -> Any:
        return self.forward(x)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return []

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    @property
    def flat(self) -> FlatParameters | None:
        """The flat buffer holding exactly this module's parameters, if there is one."""
        params = self.parameters()
        owner = params[0].flat if params else None
        if owner is not None and len(owner.params) == len(params) and all(p.flat is owner for p in params):
            return owner
        return None

    def zero_grad(self) -> None:
        flat = self.flat
        if flat is not None:
            flat.grad[...] = 0  # one pass over the whole grad buffer
        else:
            for p in self.parameters():
                p.grad[...] = 0

    def state_dict(self) -> dict[str, np.ndarray]:
        """Host (NumPy) copies of every parameter, keyed like PyTorch: '0.weight', '0.bias', ..."""
        return {name: to_numpy(p.data).copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Copy values into the existing parameters; keys and shapes must match exactly."""
        own = dict(self.named_parameters())
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(
                f"state_dict keys do not match the model: missing {missing}, unexpected {unexpected}"
            )
        for name, p in own.items():
            value = to_numpy(state[name])
            if tuple(value.shape) != p.shape:
                raise ValueError(
                    f"state_dict[{name!r}] has shape {tuple(value.shape)}, the model expects {p.shape}"
                )
            if value.dtype.kind != "f":
                raise TypeError(f"state_dict[{name!r}] must be a float array, got dtype {value.dtype}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"state_dict[{name!r}] contains NaN or inf")
            p.data[...] = self.xp.asarray(value.astype(p.data.dtype, copy=False))

    def _check_input(self, x: Any, width: int | None = None, dtype: np.dtype | None = None) -> None:
        """Clear errors for the usual mistakes: wrong type, dtype or trailing shape."""
        if not isinstance(x, self.xp.ndarray):
            raise TypeError(f"{self!r}: input must be a {self.xp.__name__}.ndarray, got {type(x).__name__}")
        if x.dtype.kind != "f":
            raise TypeError(f"{self!r}: input must be a float array, got dtype {x.dtype}")
        if dtype is not None and x.dtype != dtype:
            raise TypeError(
                f"{self!r}: input has dtype {x.dtype} but the parameters are {dtype}; "
                f"convert it with x.astype({dtype.name}) or build the model with dtype={dtype.name}"
            )
        if width is not None and (x.ndim != 2 or x.shape[1] != width):
            raise ValueError(f"{self!r} expects input of shape (batch, {width}), got {tuple(x.shape)}")

    def _cached(self, value: Any) -> Any:
        if value is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return value


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
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.dtype = as_float_dtype(dtype)
        self.xp = get_backend().xp
        weight, bias = _initial_values(self.in_features, self.out_features, init, as_generator(rng))
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
        if not (np.isfinite(negative_slope) and 0 <= negative_slope < 1):
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
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return LeakyReLU(negative_slope) if name == "leaky_relu" else ACTIVATIONS[name]()


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
        return [
            (f"{i}.{name}", p) for i, layer in enumerate(self.layers) for name, p in layer.named_parameters()
        ]

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_out: Any) -> Any:
        """L(f_n(...f_1(x))): dL/dx = J_1^T ... J_n^T dL/dy, applied right to left."""
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
