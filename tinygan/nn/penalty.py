"""The R1 gradient penalty, by double backpropagation written out by hand.

R1 (Mescheder, Geiger & Nowozin, 2018) penalises the discriminator's gradient with respect to its
input on real data, gamma/2 E_real ||grad_x D(x)||^2, where D(x) is D's logit; R2 is the same on
generated samples. Its gradient in D's parameters needs the gradient of a gradient: backprop through
the backward pass itself (Drucker & LeCun, 1992). For a ``Sequential`` of ``Dense`` layers and the
four activations that takes five steps, each a few lines below:

1. forward   z_0 = x, z_k = f_k(z_{k-1})                   keep every module's input z_{k-1}
2. backward  g_K = 1, g_{k-1} = g_k df_k/dz_{k-1}          g_0 = dD/dx, keep every g_k
3. P = 1/(2B) sum_b ||g_0[b]||^2, and its adjoint  gh_0 = dP/dg_0 = g_0 / B
4. the backward pass run backwards (forward in k): gh_k = dP/dg_k, collecting
   - Dense (g_{k-1} = g_k W^T):          dP/dW += gh_{k-1}^T g_k,   gh_k = gh_{k-1} W
   - activation (g_{k-1} = g_k s'(a)):   gh_k = gh_{k-1} s'(a),     and since s'(a) depends on the
     forward pre-activation a = z_{k-1}, a source  zh_{k-1} += gh_{k-1} g_k s''(a)
5. the forward pass run backwards (ordinary backprop from the output, zh_K = 0), with those sources:
   - Dense:       dP/dW += z_{k-1}^T zh_k,  dP/db += sum_b zh_k,  zh_{k-1} = zh_k W^T
   - activation:  zh_{k-1} = zh_k s'(a) + source_{k-1}

For the usual MLP (Dense W_l, then activation s) this is the recursion g_{l-1} = (g_l . s'(h_l)) W_l^T
taken one module at a time, h_l the pre-activations. ReLU and LeakyReLU have s'' = 0 (almost
everywhere): there are no sources, step 5 does nothing, the biases get no gradient and D's Hessian in x
is 0 -- yet dP/dW from step 4 is not, since g_0 is a product of the weights. Tanh and Sigmoid bring
s''(h_l) in through step 5. docs/theory.md derives it in full.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .layers import Dense, Sequential
from .module import Module


def _relu(a: Any, y: Any, layer: Module) -> tuple[Any, Any]:
    """s(a) = max(a, 0): s' = 1[a > 0] (0 at the kink, as ReLU.backward), s'' = 0."""
    d1 = (a > 0).astype(a.dtype)
    return d1, None


def _leaky_relu(a: Any, y: Any, layer: Module) -> tuple[Any, Any]:
    """s(a) = a or c a (slope c for a <= 0): s' = 1 or c, s'' = 0."""
    xp = layer.xp
    d1 = xp.where(a > 0, 1.0, layer.negative_slope).astype(a.dtype)
    return d1, None


def _tanh(a: Any, y: Any, layer: Module) -> tuple[Any, Any]:
    """y = tanh(a): s' = 1 - y^2, s'' = -2 y (1 - y^2)."""
    d1 = 1 - y * y
    return d1, -2 * y * d1


def _sigmoid(a: Any, y: Any, layer: Module) -> tuple[Any, Any]:
    """y = 1 / (1 + e^-a): s' = y (1 - y), s'' = y (1 - y) (1 - 2 y)."""
    d1 = y * (1 - y)
    return d1, d1 * (1 - 2 * y)


# activation class -> (pre-activation a, its output y, the layer) -> (s'(a), s''(a) or None if 0)
DERIVATIVES: dict[type, Callable[[Any, Any, Module], tuple[Any, Any]]] = {
    ReLU: _relu,
    LeakyReLU: _leaky_relu,
    Tanh: _tanh,
    Sigmoid: _sigmoid,
}


def r1_penalty(D: Sequential, x: Any, *, weight: float = 1.0) -> float:
    """P = mean over the batch of 1/2 ||grad_x D(x)||^2, D's logit of shape (B, 1); adds
    ``weight`` * dP/dtheta into each parameter's ``.grad`` (as ``backward`` does) and returns
    ``weight`` * P. R1 with strength gamma is ``r1_penalty(D, real, weight=gamma)``, R2 the same
    on generated samples (``weight`` 1, the default: the penalty P itself and its gradient).

    ``D``: a ``Sequential`` of ``Dense`` layers and ReLU, LeakyReLU, Tanh or Sigmoid, ending in one
    output; ``x`` (B, in) of D's dtype. It runs D's forward, so D's caches then hold x's pass.
    The five sweeps and their derivation: the module docstring; shapes: B rows, n_k = width of z_k.
    """
    layers = _checked_layers(D)
    _check_input(D, layers, x)
    _check_weight(weight)
    zs = _forward(layers, x)  # K + 1 arrays: z_0 = x (B, n_0), ..., z_K = D(x) (B, 1)
    slopes = _slopes(layers, zs)  # per module: (s'(a), s''(a) or None) (B, n) for an activation, None for Dense
    gs = _input_gradient(layers, zs, slopes)  # K + 1 arrays: g_k = dD/dz_k (B, n_k); g_0 = grad_x D
    batch = x.shape[0]
    penalty = 0.5 * float((gs[0] * gs[0]).sum()) / batch  # 1/(2B) sum_b ||g_0[b]||^2
    if weight > 0:
        sources = _backward_of_backward(layers, gs, slopes, gs[0] * (weight / batch))  # seed: weight dP/dg_0
        _forward_adjoint(layers, zs, slopes, sources)
    return weight * penalty


def _forward(layers: list[Module], x: Any) -> list[Any]:
    """Step 1: z_0 = x, z_k = f_k(z_{k-1}); returns [z_0, ..., z_K], each (B, n_k).

    The input of an activation is its pre-activation a; its s' and s'' are read off a and z_k."""
    zs = [x]
    for f in layers:
        zs.append(f.forward(zs[-1]))  # (B, n_k)
    return zs


def _slopes(layers: list[Module], zs: list[Any]) -> list[Any]:
    """s'(a) and s''(a) of every activation at its pre-activation a = z_{k-1} (output z_k); None for Dense."""
    return [None if isinstance(f, Dense) else DERIVATIVES[type(f)](zs[k], zs[k + 1], f) for k, f in enumerate(layers)]


def _input_gradient(layers: list[Module], zs: list[Any], slopes: list[Any]) -> list[Any]:
    """Step 2: g_K = 1 (B, 1), then g_{k-1} = g_k W^T (Dense) or g_k s'(a) (activation); [g_0, ..., g_K]."""
    gs = [None] * len(zs)
    gs[-1] = layers[0].xp.ones_like(zs[-1])  # (B, 1): dD/dD, seeded with ones at the logit
    for k in reversed(range(len(layers))):
        f = layers[k]
        if isinstance(f, Dense):
            gs[k] = gs[k + 1] @ f.weight.data.T  # (B, out) @ (out, in) -> (B, in)
        else:
            gs[k] = gs[k + 1] * slopes[k][0]  # (B, n) * s'(a) (B, n)
    return gs


def _backward_of_backward(layers: list[Module], gs: list[Any], slopes: list[Any], gh: Any) -> list[Any]:
    """Step 4: carry gh_k = dP/dg_k from g_0 towards the output, through the ops of step 2 in reverse.

    Dense, g_{k-1} = g_k W^T:  dP/dW += gh_{k-1}^T g_k (in, out),  gh_k = gh_{k-1} W (B, out).
    Activation, g_{k-1} = g_k s'(a):  gh_k = gh_{k-1} s'(a), and s'(a) depends on the forward pass,
    so a depends on theta: dP/da receives the source gh_{k-1} g_k s''(a) (B, n), returned per module
    (None where s'' = 0). gh_K, the adjoint of the constant seed, is dropped.
    """
    sources: list[Any] = [None] * len(layers)
    for k, f in enumerate(layers):
        if isinstance(f, Dense):
            f.weight.grad += gh.T @ gs[k + 1]  # (in, B) @ (B, out) -> (in, out)
            gh = gh @ f.weight.data  # (B, in) @ (in, out) -> (B, out)
        else:
            d1, d2 = slopes[k]
            if d2 is not None:
                sources[k] = gh * gs[k + 1] * d2  # (B, n): dP/da through s'(a)
            gh = gh * d1  # (B, n)
    return sources


def _forward_adjoint(layers: list[Module], zs: list[Any], slopes: list[Any], sources: list[Any]) -> None:
    """Step 5: ordinary backprop of step 1 from the output down, zh_k = dP/dz_k, fed by the sources.

    zh_K = 0: P does not depend on D's value, only on its slopes. Until the first source (from the top)
    zh stays 0, kept as None. Dense: dP/dW += z_{k-1}^T zh_k, dP/db += sum_b zh_k, zh_{k-1} = zh_k W^T;
    activation: zh_{k-1} = zh_k s'(a) + source.
    """
    zh = None
    for k in reversed(range(len(layers))):
        f = layers[k]
        if isinstance(f, Dense):
            if zh is None:
                continue
            f.weight.grad += zs[k].T @ zh  # (in, B) @ (B, out) -> (in, out)
            f.bias.grad += zh.sum(axis=0)  # (out,)
            zh = zh @ f.weight.data.T if k > 0 else None  # (B, out) @ (out, in) -> (B, in); dP/dx unused
        else:
            zh = None if zh is None else zh * slopes[k][0]  # (B, n)
            if sources[k] is not None:
                zh = sources[k] if zh is None else zh + sources[k]  # (B, n)


def _checked_layers(D: Any) -> list[Module]:
    """D's modules in order (nested Sequentials flattened); TypeError for anything not supported."""
    if not isinstance(D, Sequential):
        raise TypeError(f"D must be a tinygan Sequential of Dense layers and activations, got {type(D).__name__}")
    layers: list[Module] = []
    for layer in D.layers:
        if isinstance(layer, Sequential):
            layers += _checked_layers(layer)
        elif isinstance(layer, Dense) or type(layer) in DERIVATIVES:
            layers.append(layer)
        else:
            raise TypeError(f"D: r1_penalty handles Dense, ReLU, LeakyReLU, Tanh and Sigmoid layers, got {layer!r}")
    if not any(isinstance(layer, Dense) for layer in layers):
        raise TypeError("D must contain a Dense layer: r1_penalty differentiates with respect to its weights")
    return layers


def _check_input(D: Sequential, layers: list[Module], x: Any) -> None:
    """x: a 2-D array of D's dtype (float32 or float64) and input width, finite; D must end in one output
    (activations keep the width, so the first and last Dense layers decide)."""
    dense = [layer for layer in layers if isinstance(layer, Dense)]
    if not isinstance(x, D.xp.ndarray):
        raise TypeError(f"x must be a {D.xp.__name__}.ndarray, got {type(x).__name__}")
    if x.dtype != dense[0].dtype:
        raise TypeError(f"x must have D's dtype {dense[0].dtype.name}, got {x.dtype}")
    width = dense[0].in_features
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != width:
        raise ValueError(f"x must have shape (batch >= 1, {width}), got {tuple(x.shape)}")
    if dense[-1].out_features != 1:
        raise ValueError(f"D must output one logit per row, shape (B, 1); it outputs (B, {dense[-1].out_features})")
    if not bool(D.xp.all(D.xp.isfinite(x))):
        raise ValueError("x contains NaN or inf")


def _check_weight(weight: Any) -> None:
    if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)):
        raise TypeError(f"weight must be a number, got {type(weight).__name__} {weight!r}")
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"weight must be a finite number >= 0, got {weight!r}")
