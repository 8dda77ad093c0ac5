"""Jacobian-based truncation: leave out the samples G draws on the bridges between modes.

Why there are bridges. G is a continuous map from a connected noise space (here a 2-D Gaussian)
onto a target made of separate modes. It cannot jump from one mode to the next, so wherever two
regions of noise that map to different modes meet, a thin band of noise is stretched across the
gap between them, and the samples drawn from that band land between the modes. No amount of
training removes them; it can only make the band thinner (Tanielian et al., "Learning
disconnected manifolds: a no GAN's land", ICML 2020).

How to find them. Inside a mode G squeezes a wide region of noise onto a small blob, so its
Jacobian J(z) = dG/dz (data_dim, noise_dim) is small there; on a bridge it stretches a thin band
over a long gap, so J(z) is large. Ranking noise vectors by the Frobenius norm ||J(z)||_F and
leaving out the largest fraction q takes the bridges out first (the paper's "JBT").

How backprop gives J. For the loss L = sum_i g_i . G(z_i) over a batch, G.backward(g) returns
dL/dz_i = J(z_i)^T g_i, row by row (an MLP never mixes the rows of a batch). With g_i = e_j, the
j-th unit vector in every row, it returns row i's d G_j / dz, the j-th row of J(z_i). One pass
per output coordinate gives the whole Jacobian: ||J(z_i)||_F^2 = sum_j ||J(z_i)^T e_j||^2.

With latent codes (codes.py) the noise has a discrete part, and the modes are drawn by codes of equal
weight. Some codes stretch more than others, so leaving out the largest norms overall would take more
from some modes than from others and unbalance their weights. ``keep_smallest(..., groups=codes)``
leaves out the same share of every code instead.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..fast.backend import to_numpy
from ..nn.module import Module


def check_truncation(fraction: float) -> float:
    """The fraction of noise to leave out: a number in [0, 1); ValueError otherwise."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ValueError(f"jacobian_truncation must be a number in [0, 1), got {fraction!r}")
    return float(fraction)


def draws_needed(n: int, fraction: float) -> int:
    """How many noise vectors to draw so that n remain after leaving out ``fraction`` of them."""
    return math.ceil(n / (1.0 - check_truncation(fraction)))


def jacobian_norms(net: Module, z: Any, columns: int | None = None) -> tuple[Any, Any]:
    """net(z) (m, d_out) and ||d net / dz||_F for each row of z, (m,).

    ``columns`` = c: the Jacobian with respect to the first c inputs only, (d_out, c) (for an input
    whose later columns are not continuous noise, such as a one-hot code); None: all of them.
    Leaves net's parameter gradients at zero (the backward passes fill them on the way).
    """
    if columns is not None and (isinstance(columns, bool) or not isinstance(columns, int)
                                or not 1 <= columns <= z.shape[1]):  # fmt: skip
        raise ValueError(f"columns must be an int in [1, {z.shape[1]}] (z's width) or None, got {columns!r}")
    xp = net.xp
    out = net.forward(z)  # (m, d_out); the layers cache what backward needs
    squared = xp.zeros(out.shape[0], dtype=out.dtype)  # (m,)
    for j in range(out.shape[1]):
        unit = xp.zeros_like(out)  # (m, d_out), e_j in every row
        unit[:, j] = 1
        row_j = net.backward(unit)[:, :columns]  # (m, c): row i is dG_j/dz at z_i
        squared += (row_j * row_j).sum(axis=1)
    net.zero_grad()
    return out, xp.sqrt(squared)


def keep_smallest(norms: Any, n: int, groups: Any = None) -> np.ndarray:
    """Indices of the n smallest norms, in increasing index order (so samples keep their draw order).

    Ties are broken by position (a stable sort), so the choice is reproducible.
    ``groups`` (m,) ints, such as each row's latent code: leave out the same share of every group
    instead of the same share overall, so the groups keep their weights. Each row is ranked within
    its group by norm, and the rows are kept in order of (rank + 1/2) / group size, norm breaking
    ties; a group of s rows then keeps s * n / m of them, give or take one.
    """
    norms = to_numpy(norms)  # (m,) on the host: a few kB even on a GPU
    if groups is None:
        order = np.argsort(norms, kind="stable")
    else:
        groups = np.asarray(to_numpy(groups))
        if groups.shape != norms.shape:
            raise ValueError(f"groups must have one entry per row, shape {norms.shape}, got {groups.shape}")
        by_group = np.lexsort((norms, groups))  # (m,) rows sorted by group, then by norm (stable)
        sorted_groups = groups[by_group]
        first = np.searchsorted(sorted_groups, sorted_groups, side="left")  # each row's group start
        size = np.searchsorted(sorted_groups, sorted_groups, side="right") - first
        share = np.empty(len(norms))  # (m,): a row's place within its group, in (0, 1)
        share[by_group] = (np.arange(len(norms)) - first + 0.5) / size
        order = np.lexsort((norms, share))  # by share, then by norm (stable)
    return np.sort(order[:n])


def split_by_jacobian(net: Module, z: Any, n: int, columns: int | None = None, groups: Any = None) -> tuple[Any, Any]:
    """net's outputs split in two: the n rows of z (m >= n) where ||J||_F is smallest, (n, d_out),
    and the m - n left out, (m - n, d_out); each part in draw order. ``columns``: as jacobian_norms;
    ``groups`` (m,): as keep_smallest, the same share left out of every group."""
    if z.shape[0] < n:
        raise ValueError(f"z must have at least n = {n} rows, got {z.shape[0]}")
    out, norms = jacobian_norms(net, z, columns)
    kept = keep_smallest(norms, n, groups)  # (n,) host indices
    left_out = np.setdiff1d(np.arange(z.shape[0]), kept)  # (m - n,)
    return out[net.xp.asarray(kept)], out[net.xp.asarray(left_out)]
