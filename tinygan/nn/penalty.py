"""The R1 gradient penalty, by double backpropagation written out by hand.

R1 (Mescheder, Geiger & Nowozin, 2018) penalises the discriminator's gradient with respect to its
input on real data, gamma/2 E_real ||grad_x logit(x)||^2, where logit(x) is D's logit; R2 is the same
on generated samples. Its gradient in D's parameters needs the gradient of a gradient: backprop through
the backward pass itself (Drucker & LeCun, 1992).

Names, for D a ``Sequential`` of K modules f_1, ..., f_K (``Dense`` layers and activations s):

- h_k      module k's output, h_0 = x, h_K = logit (B, 1); for an activation, h_k = s(pre)
- pre      an activation's input h_{k-1}: its pre-activation (in an MLP, h W + b of the Dense before it)
- g_k      d logit / dh_k, the input gradient chain; g_0 = grad_x logit
- u_bar    dP/du for any intermediate u of the second pass: g_bar_k = dP/dg_k, h_bar_k = dP/dh_k,
           pre_bar = dP/dpre (an h_bar at an activation's input)

It takes five steps, each a few lines below:

1. forward   h_0 = x, h_k = f_k(h_{k-1})                   keep every module's output h_k
2. backward  g_K = 1, g_{k-1} = g_k df_k/dh_{k-1}          g_0 = grad_x logit, keep every g_k
3. P = 1/(2B) sum_b ||g_0[b]||^2, and its adjoint  g_bar_0 = dP/dg_0 = g_0 / B
4. the backward pass run backwards (forward in k): g_bar_k = dP/dg_k, collecting
   - Dense (g_{k-1} = g_k W^T):              dP/dW += g_bar_{k-1}^T g_k,   g_bar_k = g_bar_{k-1} W
   - activation (g_{k-1} = g_k s'(pre)):     g_bar_k = g_bar_{k-1} s'(pre), and since s'(pre) depends
     on the forward pass, a source for pre = h_{k-1}:  pre_bar += g_bar_{k-1} g_k s''(pre)
5. the forward pass run backwards (ordinary backprop from the output, h_bar_K = 0), with those sources:
   - Dense:       dP/dW += h_{k-1}^T h_bar_k,  dP/db += sum_b h_bar_k,  h_bar_{k-1} = h_bar_k W^T
   - activation:  pre_bar = h_bar_{k-1} = h_bar_k s'(pre) + source

D may begin with a ``PackSpread`` (nn/pack_spread.py): its map from x to [x, gate log(var + eps)] has no
parameters, and its Jacobian J depends on x alone. Step 2 passes g through its ``backward`` (J^T g), step 4
through its ``tangent`` (J g_bar: the transpose of that linear map), and no source arises, since J does
not depend on theta; step 5 stops below D's first Dense, as dP/dx is not needed.

For the usual MLP (Dense W_l, then activation s) this is the recursion
g_{l-1} = (g_l . s'(pre_l)) W_l^T taken one module at a time, pre_l the pre-activations. ReLU and
LeakyReLU have s'' = 0 (almost everywhere): there are no sources, step 5 does nothing, the biases get
no gradient and D's Hessian in x is 0 -- yet dP/dW from step 4 is not, since g_0 is a product of the
weights. Tanh and Sigmoid bring s''(pre_l) in through step 5. docs/theory.md derives it in full.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .layers import Dense, Sequential
from .module import Module
from .pack_spread import PackSpread


def _relu(pre: Any, h: Any, layer: Module) -> tuple[Any, Any]:
    """h = max(pre, 0): s' = 1[pre > 0] (0 at the kink, as ReLU.backward), s'' = 0."""
    d1 = (pre > 0).astype(pre.dtype)
    return d1, None


def _leaky_relu(pre: Any, h: Any, layer: Module) -> tuple[Any, Any]:
    """h = pre or c pre (slope c for pre <= 0): s' = 1 or c, s'' = 0."""
    xp = layer.xp
    d1 = xp.where(pre > 0, 1.0, layer.negative_slope).astype(pre.dtype)
    return d1, None


def _tanh(pre: Any, h: Any, layer: Module) -> tuple[Any, Any]:
    """h = tanh(pre): s' = 1 - h^2, s'' = -2 h (1 - h^2)."""
    d1 = 1 - h * h
    return d1, -2 * h * d1


def _sigmoid(pre: Any, h: Any, layer: Module) -> tuple[Any, Any]:
    """h = 1 / (1 + e^-pre): s' = h (1 - h), s'' = h (1 - h) (1 - 2 h)."""
    d1 = h * (1 - h)
    return d1, d1 * (1 - 2 * h)


# activation class -> (its pre-activation pre, its output h, the layer) -> (s'(pre), s''(pre) or None if 0)
DERIVATIVES: dict[type, Callable[[Any, Any, Module], tuple[Any, Any]]] = {
    ReLU: _relu,
    LeakyReLU: _leaky_relu,
    Tanh: _tanh,
    Sigmoid: _sigmoid,
}


def r1_penalty(D: Sequential, x: Any, *, weight: float = 1.0) -> float:
    """P = mean over the batch of 1/2 ||grad_x logit(x)||^2, D's logit of shape (B, 1); adds
    ``weight`` * dP/dtheta into each parameter's ``.grad`` (as ``backward`` does) and returns
    ``weight`` * P. R1 with strength gamma is ``r1_penalty(D, real, weight=gamma)``, R2 the same
    on generated samples (``weight`` 1, the default: the penalty P itself and its gradient).

    ``D``: a ``Sequential`` of ``Dense`` layers and ReLU, LeakyReLU, Tanh or Sigmoid (after a
    ``PackSpread``, if any), ending in one output; ``x`` (B, in) of D's dtype. It runs D's forward,
    so D's caches then hold x's pass.
    The names, the five sweeps and their derivation: the module docstring; shapes: B rows, n_k = width of h_k.
    """
    layers = penalty_layers(D)
    _check_input(D, layers, x)
    _check_weight(weight)
    return float(add_penalty_gradient(layers, x, weight))


def add_penalty_gradient(layers: list[Module], x: Any, weight: float) -> Any:
    """``r1_penalty`` without its checks, for D's modules ``layers`` (``penalty_layers(D)``) and a batch
    x that training made itself: adds weight * dP/dtheta and returns weight * P as a 0-d array of
    D's array module, so that on a GPU nothing waits for the device (``GAN.discriminator_forward_backward``)."""
    hs = _forward(layers, x)  # K + 1 arrays: h_0 = x (B, n_0), ..., h_K = logit (B, 1)
    slopes = _slopes(layers, hs)  # per module: (s'(pre), s''(pre) or None) (B, n) for an activation, None for Dense
    gs = _input_gradient(layers, hs, slopes)  # K + 1 arrays: g_k = d logit/dh_k (B, n_k); g_0 = grad_x logit
    batch = x.shape[0]
    penalty = 0.5 * (gs[0] * gs[0]).sum() / batch  # 1/(2B) sum_b ||g_0[b]||^2, 0-d
    if weight > 0:
        g_bar_0 = gs[0] * (weight / batch)  # weight dP/dg_0 (B, n_0)
        sources = _backward_of_backward(layers, gs, slopes, g_bar_0)
        _forward_adjoint(layers, hs, slopes, sources)
    return weight * penalty


def _forward(layers: list[Module], x: Any) -> list[Any]:
    """Step 1: h_0 = x, h_k = f_k(h_{k-1}); returns [h_0, ..., h_K], each (B, n_k).

    The input h_{k-1} of an activation is its pre-activation pre; its s' and s'' are read off pre and h_k."""
    hs = [x]
    for f in layers:
        hs.append(f.forward(hs[-1]))  # (B, n_k)
    return hs


def _slopes(layers: list[Module], hs: list[Any]) -> list[Any]:
    """s'(pre) and s''(pre) of every activation at its pre-activation pre = h_{k-1} (output h_k); None for
    Dense and PackSpread."""
    return [DERIVATIVES[type(f)](hs[k], hs[k + 1], f) if type(f) in DERIVATIVES else None for k, f in enumerate(layers)]


def _input_gradient(layers: list[Module], hs: list[Any], slopes: list[Any]) -> list[Any]:
    """Step 2: g_K = 1 (B, 1), then g_{k-1} = g_k W^T (Dense) or g_k s'(pre) (activation); [g_0, ..., g_K]."""
    gs = [None] * len(hs)
    gs[-1] = layers[0].xp.ones_like(hs[-1])  # (B, 1): d logit/d logit, seeded with ones at the logit
    for k in reversed(range(len(layers))):
        f = layers[k]
        if isinstance(f, Dense):
            gs[k] = gs[k + 1] @ f.weight.data.T  # (B, out) @ (out, in) -> (B, in)
        elif isinstance(f, PackSpread):  # D's first module: g_0 = J^T g_1 (B, pack d)
            gs[k] = f.backward(gs[k + 1])
        else:
            gs[k] = gs[k + 1] * slopes[k][0]  # (B, n) * s'(pre) (B, n)
    return gs


def _backward_of_backward(layers: list[Module], gs: list[Any], slopes: list[Any], g_bar: Any) -> list[Any]:
    """Step 4: carry g_bar_k = dP/dg_k from g_bar_0 towards the output, through the ops of step 2 in reverse.

    Dense, g_{k-1} = g_k W^T:  dP/dW += g_bar_{k-1}^T g_k (in, out),  g_bar_k = g_bar_{k-1} W (B, out).
    Activation, g_{k-1} = g_k s'(pre):  g_bar_k = g_bar_{k-1} s'(pre), and s'(pre) depends on the forward
    pass, so pre depends on theta: pre_bar = dP/dpre receives the source g_bar_{k-1} g_k s''(pre) (B, n),
    returned per module (None where s'' = 0). g_bar_K, the adjoint of the constant seed, is dropped.
    """
    sources: list[Any] = [None] * len(layers)
    for k, f in enumerate(layers):
        if isinstance(f, Dense):
            f.weight.grad += g_bar.T @ gs[k + 1]  # (in, B) @ (B, out) -> (in, out)
            g_bar = g_bar @ f.weight.data  # (B, in) @ (in, out) -> (B, out)
        elif isinstance(f, PackSpread):  # g_0 = J^T g_1 with J fixed by x: g_bar_1 = J g_bar_0 (B, pack d + 1)
            g_bar = f.tangent(g_bar)
        else:
            d1, d2 = slopes[k]
            if d2 is not None:
                sources[k] = g_bar * gs[k + 1] * d2  # (B, n): the part of pre_bar through s'(pre)
            g_bar = g_bar * d1  # (B, n)
    return sources


def _forward_adjoint(layers: list[Module], hs: list[Any], slopes: list[Any], sources: list[Any]) -> None:
    """Step 5: ordinary backprop of step 1 from the output down, h_bar_k = dP/dh_k, fed by the sources.

    h_bar_K = 0: P does not depend on D's value, only on its slopes. Until the first source (from the top)
    h_bar stays 0, kept as None. Dense: dP/dW += h_{k-1}^T h_bar_k, dP/db += sum_b h_bar_k,
    h_bar_{k-1} = h_bar_k W^T; activation: pre_bar = h_bar_{k-1} = h_bar_k s'(pre) + source.
    """
    h_bar = None
    for k in reversed(range(len(layers))):
        f = layers[k]
        if isinstance(f, PackSpread):  # D's first module, without parameters: nothing below it is needed
            break
        if isinstance(f, Dense):
            if h_bar is None:
                continue
            f.weight.grad += hs[k].T @ h_bar  # (in, B) @ (B, out) -> (in, out)
            f.bias.grad += h_bar.sum(axis=0)  # (out,)
            h_bar = h_bar @ f.weight.data.T if k > 0 else None  # (B, out) @ (out, in) -> (B, in); dP/dx unused
        else:
            h_bar = None if h_bar is None else h_bar * slopes[k][0]  # (B, n)
            if sources[k] is not None:
                h_bar = sources[k] if h_bar is None else h_bar + sources[k]  # (B, n): pre_bar


def penalty_layers(D: Any) -> list[Module]:
    """D's modules in order (nested Sequentials flattened); TypeError for anything not supported."""
    if not isinstance(D, Sequential):
        raise TypeError(f"D must be a tinygan Sequential of Dense layers and activations, got {type(D).__name__}")
    layers: list[Module] = []
    for layer in D.layers:
        if isinstance(layer, Sequential):
            layers += penalty_layers(layer)
        elif isinstance(layer, (Dense, PackSpread)) or type(layer) in DERIVATIVES:
            layers.append(layer)
        else:
            raise TypeError(
                f"D: r1_penalty handles Dense, ReLU, LeakyReLU, Tanh and Sigmoid layers (and a PackSpread first), "
                f"got {layer!r}"
            )
    if any(isinstance(layer, PackSpread) for layer in layers[1:]):
        raise TypeError("D: r1_penalty takes a PackSpread only as D's first module, where its input is the points")
    if not any(isinstance(layer, Dense) for layer in layers):
        raise TypeError("D must contain a Dense layer: r1_penalty differentiates with respect to its weights")
    return layers


def _check_input(D: Sequential, layers: list[Module], x: Any) -> None:
    """x: a 2-D array of D's dtype (float32 or float64) and input width, finite; D must end in one output
    (activations keep the width, so D's first module, a PackSpread or a Dense, and its last Dense decide)."""
    dense = [layer for layer in layers if isinstance(layer, Dense)]
    if not isinstance(x, D.xp.ndarray):
        raise TypeError(f"x must be a {D.xp.__name__}.ndarray, got {type(x).__name__}")
    if x.dtype != dense[0].dtype:
        raise TypeError(f"x must have D's dtype {dense[0].dtype.name}, got {x.dtype}")
    width = layers[0].in_features if isinstance(layers[0], PackSpread) else dense[0].in_features
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != width:
        raise ValueError(f"x must have shape (batch >= 1, {width}), got {tuple(x.shape)}")
    if dense[-1].out_features != 1:
        raise ValueError(f"D must output one logit per row, shape (B, 1); it outputs (B, {dense[-1].out_features})")
    if not bool(D.xp.isfinite(x).all()):
        raise ValueError("x contains NaN or inf")


def _check_weight(weight: Any) -> None:
    if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)):
        raise TypeError(f"weight must be a number, got {type(weight).__name__} {weight!r}")
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"weight must be a finite number >= 0, got {weight!r}")
