"""Check analytic gradients against central finite differences (use float64).

The recipe, for a module f and input x:

1. pick a fixed random projection R shaped like f(x), so L = sum(R * f(x)) is a scalar whose
   gradient exercises every output (dL/df(x) = R);
2. analytic: ``f.forward(x)``, then ``f.backward(R)`` returns dL/dx and fills each ``param.grad``;
3. numeric: for an entry theta of x or of a parameter,
   dL/dtheta ~ (L(theta + h) - L(theta - h)) / (2h), whose error is O(h^2) for smooth f;
4. compare with the relative error ||analytic - numeric|| / max(||analytic||, ||numeric||).

Piecewise-linear activations (ReLU, LeakyReLU) have kinks at 0: a finite difference that
straddles one is meaningless. ``kink_free_central_differences`` takes, entry by entry, the largest
step whose evaluations cross no kink (``kink_pattern``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .layers import Module


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """||a - n|| / max(||a||, ||n||); 0 when both are exactly zero."""
    scale = max(float(np.linalg.norm(analytic)), float(np.linalg.norm(numeric)))
    return 0.0 if scale == 0.0 else float(np.linalg.norm(analytic - numeric)) / scale


def numerical_gradient(
    f: Callable[[], float], array: np.ndarray, indices: list[tuple[int, ...]], h: float
) -> np.ndarray:
    """Central differences of the scalar f() w.r.t. ``array[index]`` for each index (in place, restored)."""
    grad = np.empty(len(indices))
    for k, index in enumerate(indices):
        old = array[index]
        array[index] = old + h
        f_plus = f()
        array[index] = old - h
        f_minus = f()
        array[index] = old
        grad[k] = (f_plus - f_minus) / (2 * h)
    return grad


def _some_indices(shape: tuple[int, ...], limit: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """All indices of an array, or ``limit`` of them drawn at random when there are more."""
    every = list(np.ndindex(*shape))
    if len(every) <= limit:
        return every
    return [every[i] for i in rng.choice(len(every), size=limit, replace=False)]


def check_module_gradients(
    module: Module,
    x: np.ndarray,
    *,
    h: float = 1e-6,
    max_entries: int = 200,
    rng: np.random.Generator | int | None = 0,
) -> dict[str, float]:
    """Relative errors of dL/dx ('input') and of each parameter's gradient, L = sum(R * module(x)).

    Each array is checked on all its entries, or on ``max_entries`` random ones when larger.
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 input, got {x.dtype}")
    rng = np.random.default_rng(rng)
    x = x.copy()
    projection = rng.normal(size=module.forward(x).shape)

    def loss() -> float:
        return float(np.sum(projection * module.forward(x)))

    module.zero_grad()
    module.forward(x)
    grad_x = module.backward(projection)
    analytic = {"input": grad_x.copy()} | {name: p.grad.copy() for name, p in module.named_parameters()}
    arrays = {"input": x} | {name: p.data for name, p in module.named_parameters()}

    errors = {}
    for name, array in arrays.items():
        indices = _some_indices(array.shape, max_entries, rng)
        numeric = numerical_gradient(loss, array, indices, h)
        errors[name] = relative_error(np.array([analytic[name][i] for i in indices]), numeric)
    return errors


def kink_margin(model: Module, x: np.ndarray) -> float:
    """Smallest |pre-activation| entering a ReLU or LeakyReLU anywhere in a Sequential: a central
    difference with a step well below it cannot straddle a kink (``kink_free_central_differences``
    measures the safe step per entry instead)."""
    return min((float(np.min(np.abs(pre))) for pre in _kink_inputs(model, x)), default=np.inf)


def _kink_inputs(model: Module, x: np.ndarray) -> list[np.ndarray]:
    """The pre-activations entering each ReLU or LeakyReLU of a Sequential, in order."""
    from .activations import LeakyReLU, ReLU

    inputs = []
    for layer in model.layers:
        out = layer.forward(x)
        if isinstance(layer, (ReLU, LeakyReLU)):
            inputs.append(x)
        x = out
    return inputs


def kink_pattern(model: Module, x: np.ndarray) -> list[np.ndarray]:
    """The side of 0 on which every pre-activation entering a ReLU or LeakyReLU of a Sequential lies:
    one boolean array (B, width) per such activation. Within one pattern a ReLU network is a
    polynomial (linear in any single parameter or input entry) and has no kink."""
    return [pre > 0 for pre in _kink_inputs(model, x)]


def kink_free_central_differences(
    f: Callable[[], Any],
    pattern: Callable[[], list[np.ndarray]],
    array: np.ndarray,
    indices: list[Any],
    h: float = 1e-3,
) -> np.ndarray:
    """Fourth-order central differences of f() (a scalar or an array) w.r.t. ``array[index]`` for each
    index (an entry, or a slice moved as one), in place and restored:

        df/dtheta ~ (8 (f(s) - f(-s)) - (f(2s) - f(-2s))) / (12 s),   error O(s^4) for a smooth f.

    Each index takes the largest step s <= h (shrinking 4x at a time) whose four evaluations leave
    ``pattern()`` -- the sides of the ReLU kinks, see ``kink_pattern`` -- as it is at theta. No kink
    then lies within 2s, so a piecewise-linear network's difference has no truncation error at all,
    and the round-off, about eps |f| / s, is smallest for the largest s: the step is measured per
    entry instead of being fixed small for all. Returns (len(indices), *f's shape)."""
    base = pattern()
    numeric = []
    for index in indices:
        old, step = np.copy(array[index]), h
        while True:
            values, kink_crossed = [], False
            for offset in (-2, -1, 1, 2):
                array[index] = old + offset * step
                values.append(np.array(f(), dtype=np.float64))
                kink_crossed |= not all(np.array_equal(a, b) for a, b in zip(base, pattern()))
            array[index] = old
            if not kink_crossed:
                break
            step /= 4
        minus2, minus1, plus1, plus2 = values
        numeric.append((8 * (plus1 - minus1) - (plus2 - minus2)) / (12 * step))  # exactly 0 for a constant f
    return np.array(numeric)
