"""The Module protocol every layer follows, and small helpers shared by the layers.

The protocol is PyTorch's vocabulary, done by hand:

* ``forward(x)`` computes the output and caches what backward will need;
* ``backward(grad_out)`` takes dL/d(output), *adds* dL/d(parameter) into each ``param.grad``
  and returns dL/d(input). It never changes a parameter: that is the optimizer's job;
* ``parameters()``, ``zero_grad()``, ``state_dict()`` / ``load_state_dict()``; ``model(x)``.

Batches are rows: x has shape (B, features). Every array is on the backend's array module
``xp`` (NumPy or CuPy), chosen when the module is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..fast.backend import to_numpy
from .parameters import FlatParameters, Parameter

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Accept a Generator, a seed, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        if rng is not None and rng < 0:
            raise ValueError(f"rng as a seed must be >= 0, got {rng}")
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


def as_float_dtype(dtype: Any) -> np.dtype:
    """float32 (the default) or float64; anything else is a TypeError."""
    try:
        dt = np.dtype(np.float32 if dtype is None else dtype)
    except (TypeError, ValueError):
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r:.60}") from None
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
            raise ValueError(f"state_dict keys do not match the model: missing {missing}, unexpected {unexpected}")
        for name, p in own.items():
            value = to_numpy(state[name])
            if tuple(value.shape) != p.shape:
                raise ValueError(f"state_dict[{name!r}] has shape {tuple(value.shape)}, the model expects {p.shape}")
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
