"""Binary cross-entropy on logits, and the GAN losses built on it.

Every loss returns ``(loss, grad)``: the mean loss (a scalar on the backend's device) and
dloss/dlogits, an array shaped like the logits, ready to hand to ``model.backward``.

Why logits and not probabilities: with s = sigmoid(l) for a logit l, the loss
-t log s - (1-t) log(1-s) simplifies to max(l, 0) - l t + log(1 + e^{-|l|}), which never takes
the log of 0 nor overflows an exp, for any finite l. Its derivative is simply s - t.
(z always means G's noise in tinygan; l is a logit, as in docs/backprop.md.)
"""

from __future__ import annotations

from typing import Any

from ..fast.backend import get_backend

GENERATOR_LOSSES = ("nonsaturating", "minimax")


def bce_with_logits(logits: Any, targets: Any) -> tuple[Any, Any]:
    """Mean BCE of ``logits`` (any shape) against ``targets`` in [0, 1] (same shape, or a scalar).

    loss = mean_i [ max(l_i, 0) - l_i t_i + log(1 + exp(-|l_i|)) ]
    d loss / d l_i = (sigmoid(l_i) - t_i) / N,   N = logits.size

    (Derivation: d/dl [-t log s(l) - (1-t) log(1 - s(l))] with s' = s(1-s) gives
    -t(1-s) + (1-t)s = s - t; the mean contributes the 1/N.)
    """
    xp = get_backend().xp
    if not isinstance(logits, xp.ndarray) or logits.dtype.kind != "f":
        raise TypeError(f"logits must be a float {xp.__name__}.ndarray, got {type(logits).__name__}")
    if logits.size == 0:
        raise ValueError("logits must not be empty")
    if isinstance(targets, xp.ndarray):
        if tuple(targets.shape) != tuple(logits.shape):
            raise ValueError(f"targets shape {tuple(targets.shape)} must equal logits shape {tuple(logits.shape)}")
        if targets.size and not bool(((targets >= 0) & (targets <= 1)).all()):
            raise ValueError("targets must be probabilities in [0, 1]")
        targets = targets.astype(logits.dtype, copy=False)
    else:
        if isinstance(targets, bool) or not isinstance(targets, (int, float)) or not 0 <= targets <= 1:
            raise ValueError(f"targets must be a probability in [0, 1], got {targets!r}")
        targets = xp.full(logits.shape, float(targets), dtype=logits.dtype)
    grad = xp.empty(logits.shape, dtype=logits.dtype)
    loss = get_backend().kernels.bce_with_logits(xp.ascontiguousarray(logits), targets, grad)
    return loss, grad


def discriminator_loss(logits_real: Any, logits_fake: Any, real_target: float = 1.0) -> tuple[Any, Any, Any]:
    """D maximises E[log D(x)] + E[log(1 - D(G(z)))], i.e. minimises BCE(real, 1) + BCE(fake, 0).

    Returns (loss, dloss/dlogits_real, dloss/dlogits_fake). Each half is a mean over its own
    batch, so with real_target = 1 the loss is exactly -V(D, G) estimated on this batch.
    real_target < 1 is one-sided label smoothing (Salimans et al., 2016).
    """
    loss_real, grad_real = bce_with_logits(logits_real, real_target)
    loss_fake, grad_fake = bce_with_logits(logits_fake, 0.0)
    return loss_real + loss_fake, grad_real, grad_fake


def generator_loss(logits_fake: Any, kind: str = "nonsaturating") -> tuple[Any, Any]:
    """The generator's loss on D's logits for G(z), and its gradient w.r.t. those logits.

    nonsaturating: L = -mean log D(G(z)) = BCE(l, 1);  dL/dl = (s - 1)/N
    minimax:       L =  mean log(1 - D(G(z))) = -BCE(l, 0);  dL/dl = -s/N
    (l: the logits of D for the fakes G(z); s = sigmoid(l) = D(G(z)).)
    With s = D(G(z)) near 0 (early training, D wins), the minimax gradient -s/N vanishes
    while the non-saturating one stays near -1/N: that is why the latter is the default.
    """
    if kind == "nonsaturating":
        return bce_with_logits(logits_fake, 1.0)
    if kind == "minimax":
        loss, grad = bce_with_logits(logits_fake, 0.0)
        return -loss, -grad
    raise ValueError(f"generator loss must be one of {GENERATOR_LOSSES}, got {kind!r}")
