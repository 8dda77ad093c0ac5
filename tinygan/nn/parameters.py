"""Parameters, and packing a model's parameters into one contiguous flat buffer.

A ``Parameter`` is a trainable array ``data`` plus the array ``grad`` that backward passes
accumulate into. When a model is assembled (``Sequential``), all its parameters are copied
into one flat buffer and each ``Parameter`` is rebound to a *view* of it::

    flat.data = [ W0.ravel() | b0 | W1.ravel() | b1 | ... ]      shape (P,)
    flat.grad = [ dW0.ravel() | db0 | ... ]                       shape (P,)

Layers keep using ``weight.data`` with its own shape, while the optimizer updates all
parameters in one vectorised pass over ``flat.data`` (see ``optim.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Parameter:
    """A trainable array and its gradient (same shape, same dtype, same device)."""

    def __init__(self, data: Any, name: str = "") -> None:
        self.data = data
        self.grad = data * 0  # zeros of the same module, shape and dtype
        self.name = name
        self.flat: FlatParameters | None = None  # the buffer holding this parameter, once packed

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.shape}, dtype={self.data.dtype})"


class FlatParameters:
    """One contiguous data buffer and one grad buffer holding a list of parameters."""

    def __init__(self, params: Sequence[Parameter], xp: Any) -> None:
        if not params:
            raise ValueError("FlatParameters needs at least one parameter")
        dtypes = {p.data.dtype for p in params}
        if len(dtypes) != 1:
            raise TypeError(f"all parameters of one model must share a dtype, got {sorted(map(str, dtypes))}")
        dtype = dtypes.pop()
        total = sum(int(p.data.size) for p in params)
        self.data = xp.zeros(total, dtype=dtype)  # (P,)
        self.grad = xp.zeros(total, dtype=dtype)  # (P,)
        self.params = list(params)
        offset = 0
        for p in self.params:
            size, shape = int(p.data.size), p.data.shape
            self.data[offset : offset + size] = p.data.reshape(-1)
            self.grad[offset : offset + size] = p.grad.reshape(-1)
            p.data = self.data[offset : offset + size].reshape(shape)
            p.grad = self.grad[offset : offset + size].reshape(shape)
            p.flat = self
            offset += size

    @property
    def size(self) -> int:
        return int(self.data.size)
