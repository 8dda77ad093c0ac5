"""Check analytic gradients against central finite differences (use float64).

The recipe, for a module f and input x:

1. pick a fixed random projection R shaped like f(x), so L = sum(R * f(x)) is a scalar whose
   gradient exercises every output (dL/df(x) = R);
2. analytic: ``f.forward(x)``, then ``f.backward(R)`` returns dL/dx and fills each ``param.grad``;
3. numeric: for an entry theta of x or of a parameter,
   dL/dtheta ~ (L(theta + h) - L(theta - h)) / (2h), whose error is O(h^2) for smooth f;
4. compare with the relative error ||analytic - numeric|| / max(||analytic||, ||numeric||).

Piecewise-linear activations (ReLU, LeakyReLU) have kinks at 0: keep every pre-activation
further than h from 0, or the finite difference straddles the kink and is meaningless.
"""

from __future__ import annotations

from collections.abc import Callable

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
    """Smallest |pre-activation| entering a ReLU or LeakyReLU anywhere in a Sequential.

    Finite differences with step h are only meaningful where this margin exceeds h times
    the size of the input-to-pre-activation map; tests skip inputs that come too close."""
    from .activations import LeakyReLU, ReLU

    margin = np.inf
    for layer in model.layers:
        out = layer.forward(x)
        if isinstance(layer, (ReLU, LeakyReLU)):
            margin = min(margin, float(np.min(np.abs(x))))
        x = out
    return margin
