"""Optimizers over flat parameter buffers: Adam and SGD.

An optimizer never computes gradients; it reads each ``param.grad`` that backward filled and
updates ``param.data`` in place. When the parameters it is given fill a model's flat buffer
(see ``parameters.py``), the whole model is updated by one kernel call over that buffer.
Use one optimizer per network, so that moment estimates never mix between G and D.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..fast.backend import get_backend, to_numpy
from .parameters import Parameter


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _check_unit_interval(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (0.0 <= value < 1.0):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def _slabs(params: list[Parameter]) -> list[tuple[Any, Any]]:
    """Group parameters into 1-D (data, grad) slabs: a whole flat buffer where we own all of it."""
    chosen = {id(p) for p in params}
    slabs, done = [], set()
    for p in params:
        flat = p.flat
        if flat is not None and all(id(q) in chosen for q in flat.params):
            if id(flat) not in done:
                done.add(id(flat))
                slabs.append((flat.data, flat.grad))  # (P,), (P,)
        else:
            slabs.append((p.data.reshape(-1), p.grad.reshape(-1)))
    return slabs


class Optimizer:
    """Common parts: the parameter list, its slabs, zero_grad and state save/restore."""

    def __init__(self, params: Iterable[Parameter]) -> None:
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"params must be an iterable of Parameter, got {type(params).__name__}") from None
        if not params or not all(isinstance(p, Parameter) for p in params):
            raise TypeError("params must be a non-empty iterable of Parameter (e.g. model.parameters())")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("params contains the same Parameter twice")
        self.params = params
        self.slabs = _slabs(params)
        self.kernels = get_backend().kernels
        self.xp = get_backend().xp
        self.step_count = 0

    @property
    def lr(self) -> float:
        """The learning rate; it may be changed between steps (schedules do), to any finite number >= 0."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise TypeError(f"lr must be a number, got {type(value).__name__}")
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"lr must be a finite number >= 0, got {value!r}")
        self._lr = float(value)

    def zero_grad(self) -> None:
        for _, grad in self.slabs:
            grad[...] = 0

    def _buffers(self) -> dict[str, list[Any]]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Host copies of the optimizer state: the step count and every moment buffer."""
        state: dict[str, Any] = {"step": np.int64(self.step_count)}
        for key, arrays in self._buffers().items():
            for i, array in enumerate(arrays):
                state[f"{key}.{i}"] = to_numpy(array).copy()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        expected = {"step"} | {f"{k}.{i}" for k, arrays in self._buffers().items() for i in range(len(arrays))}
        if set(state) != expected:
            raise ValueError(f"optimizer state keys {sorted(state)} do not match the expected {sorted(expected)}")
        step = int(np.asarray(state["step"]))
        if step < 0:
            raise ValueError(f"optimizer step must be >= 0, got {step}")
        for key, arrays in self._buffers().items():
            for i, array in enumerate(arrays):
                value = np.asarray(state[f"{key}.{i}"])
                if value.shape != tuple(array.shape):
                    raise ValueError(f"optimizer state {key}.{i} has shape {value.shape}, expected {array.shape}")
                array[...] = self.xp.asarray(value.astype(array.dtype, copy=False))
        self.step_count = step


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction from its own step count t = 1, 2, ...

    m <- b1 m + (1-b1) g          (running mean of gradients)
    v <- b2 v + (1-b2) g^2        (running mean of squared gradients)
    p <- p - lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m/(1-b1^t), v_hat = v/(1-b2^t)
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.lr = _check_positive("lr", lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_check_unit_interval("betas[0]", betas[0]), _check_unit_interval("betas[1]", betas[1]))
        self.eps = _check_positive("eps", eps)
        super().__init__(params)
        self.m = [self.xp.zeros_like(data) for data, _ in self.slabs]
        self.v = [self.xp.zeros_like(data) for data, _ in self.slabs]

    def _buffers(self) -> dict[str, list[Any]]:
        return {"m": self.m, "v": self.v}

    def step(self) -> None:
        self.step_count += 1
        beta1, beta2 = self.betas
        for (data, grad), m, v in zip(self.slabs, self.m, self.v):
            self.kernels.adam_update(data, grad, m, v, self.lr, beta1, beta2, self.eps, self.step_count)


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum (PyTorch's form).

    buf <- momentum buf + g;   p <- p - lr buf      (momentum = 0 gives p <- p - lr g)
    """

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-2, momentum: float = 0.0) -> None:
        self.lr = _check_positive("lr", lr)
        self.momentum = _check_unit_interval("momentum", momentum)
        super().__init__(params)
        self.buf = [self.xp.zeros_like(data) for data, _ in self.slabs]

    def _buffers(self) -> dict[str, list[Any]]:
        return {"buf": self.buf}

    def step(self) -> None:
        self.step_count += 1
        for (data, grad), buf in zip(self.slabs, self.buf):
            self.kernels.sgd_update(data, grad, buf, self.lr, self.momentum)
