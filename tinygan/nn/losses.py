"""Binary cross-entropy on logits, the GAN losses built on it, and softmax cross-entropy (classifiers).

Every loss returns ``(loss, grad)``: the mean loss (a scalar on the backend's device) and
dloss/dlogits, an array shaped like the logits, ready to hand to ``model.backward``.

Why logits and not probabilities: with s = sigmoid(l) for a logit l, the loss
-t log s - (1-t) log(1-s) simplifies to max(l, 0) - l t + log(1 + e^{-|l|}), which never takes
the log of 0 nor overflows an exp, for any finite l. Its derivative is simply s - t.
(z always means G's noise in tinygan; l is a logit, as in docs/backprop.md.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

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


def _check_logits(name: str, logits: Any) -> None:
    """TypeError naming the argument unless logits is a float array of the backend."""
    xp = get_backend().xp
    if not isinstance(logits, xp.ndarray) or logits.dtype.kind != "f":
        raise TypeError(f"{name} must be a float {xp.__name__}.ndarray, got {type(logits).__name__}")
    if logits.size == 0:
        raise ValueError(f"{name} must not be empty")


def discriminator_loss(logits_real: Any, logits_fake: Any, real_target: float = 1.0) -> tuple[Any, Any, Any]:
    """D maximises E[log D(x)] + E[log(1 - D(G(z)))], i.e. minimises BCE(real, 1) + BCE(fake, 0).

    Returns (loss, dloss/dlogits_real, dloss/dlogits_fake). Each half is a mean over its own
    batch, so with real_target = 1 the loss is exactly -V(D, G) estimated on this batch.
    real_target < 1 is one-sided label smoothing (Salimans et al., 2016).
    """
    _check_logits("logits_real", logits_real)
    _check_logits("logits_fake", logits_fake)
    if isinstance(real_target, bool) or not isinstance(real_target, (int, float, np.integer, np.floating)):
        raise TypeError(f"real_target must be a number in [0, 1], got {type(real_target).__name__}")
    if not 0 <= real_target <= 1:
        raise ValueError(f"real_target must be a number in [0, 1], got {real_target!r}")
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
    _check_logits("logits_fake", logits_fake)
    if not isinstance(kind, str):
        raise ValueError(f"generator loss kind must be one of {GENERATOR_LOSSES}, got {type(kind).__name__}")
    if kind == "nonsaturating":
        return bce_with_logits(logits_fake, 1.0)
    if kind == "minimax":
        loss, grad = bce_with_logits(logits_fake, 0.0)
        return -loss, -grad
    raise ValueError(f"generator loss must be one of {GENERATOR_LOSSES}, got {kind!r}")


def softmax_cross_entropy(logits: Any, labels: Any, *, check_labels: bool = True) -> tuple[Any, Any]:
    """Mean cross-entropy of class ``logits`` (N, K) against integer ``labels`` (N,) in [0, K).

    With p = softmax(l), p_k = e^{l_k} / sum_j e^{l_j}, sample i's loss is -log p_{i,y_i}:

        loss_i = -l_{i,y_i} + log sum_j e^{l_ij}
               = -l_{i,y_i} + m_i + log sum_j e^{l_ij - m_i},   m_i = max_j l_ij

    The second form is the stable log-sum-exp: every exponent is <= 0, so nothing overflows,
    and the largest term is e^0 = 1, so the sum is >= 1 and its log is finite.

    Gradient. d/dl_ik log sum_j e^{l_ij} = e^{l_ik} / sum_j e^{l_ij} = p_ik, and
    d/dl_ik l_{i,y_i} = 1[k = y_i]. So d loss_i / d l_ik = p_ik - 1[k = y_i]. (The same through
    the softmax Jacobian dp_j/dl_k = p_j (1[j = k] - p_k), off-diagonal terms included:
    d(-log p_y)/dl_k = -(1/p_y) p_y (1[y = k] - p_k) = p_k - 1[k = y].) The mean over N rows
    divides by N:

        d loss / d l = (softmax(l) - onehot(y)) / N        (N, K)

    Returns (loss, grad) like ``bce_with_logits``: a scalar on the backend's device and an
    array shaped like the logits. ``check_labels=False`` skips the range check of the labels, which
    on a GPU waits for the device (for labels in range by construction, such as an argmax).
    """
    xp = get_backend().xp
    if not isinstance(logits, xp.ndarray) or logits.dtype.kind != "f" or logits.ndim != 2:
        raise TypeError(f"logits must be a 2-D float {xp.__name__}.ndarray (N, K), got {type(logits).__name__}")
    n, k = logits.shape
    if n == 0 or k < 2:
        raise ValueError(f"logits must have at least one row and two classes, got shape {tuple(logits.shape)}")
    labels = xp.asarray(labels)
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be {n} integers (one per row of logits), got shape {tuple(labels.shape)}")
    if check_labels and (int(labels.min()) < 0 or int(labels.max()) >= k):
        raise ValueError(f"labels must lie in [0, {k - 1}], got {int(labels.min())}..{int(labels.max())}")
    rows = xp.arange(n)
    shifted = logits - logits.max(axis=1, keepdims=True)  # (N, K), every entry <= 0
    exp = xp.exp(shifted)  # (N, K)
    total = exp.sum(axis=1)  # (N,), >= 1
    loss = (xp.log(total) - shifted[rows, labels]).mean()
    grad = exp / total[:, None]  # softmax, (N, K)
    grad[rows, labels] -= 1.0
    grad /= n
    return loss, grad
