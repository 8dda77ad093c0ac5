"""The pack spread (nn/pack_spread.py) as Numba loops over the rows of packs, for the fused step.

One row holds a pack's points x_1 ... x_pack (pack d values, point k at columns k d ... k d + d - 1);
v = (1/pack) sum_k ||x_k - xbar||^2 is its spread, and D sees [x, gate log(v + eps)].
"""

from __future__ import annotations

import math

from .kernels import njit


@njit
def _coordinate_mean(row, pack, dim, j):
    """xbar_j: coordinate j's mean over the pack's points of one pack row (pack d,)."""
    mean = 0.0
    for k in range(pack):
        mean += row[k * dim + j]
    return mean / pack


@njit
def _spread(row, pack, dim):
    """v = (1/pack) sum_k ||x_k - xbar||^2 over the pack's points of one pack row (pack d,)."""
    total = 0.0
    for j in range(dim):
        mean = _coordinate_mean(row, pack, dim, j)
        for k in range(pack):
            centred = row[k * dim + j] - mean
            total += centred * centred
    return total / pack


@njit
def pack_spread_forward(packed, out, pack, eps, gate):
    """out (rows, pack d + 1) = [packed, gate log(v + eps)] for each row's points (packed
    (rows, pack d)): nn/pack_spread.py's forward. Returns out."""
    width = packed.shape[1]
    for r in range(packed.shape[0]):
        out[r, :width] = packed[r]
        out[r, width] = gate * math.log(_spread(packed[r], pack, width // pack) + eps)
    return out


@njit
def pack_spread_backward(packed, grad_features, pack, eps, gate, grad_packed):
    """grad_packed (rows, pack d) = dL/dx from dL/dy = grad_features (rows, pack d + 1), as
    nn/pack_spread.py: g_x,k + gate g_s (2/pack) (x_k - xbar) / (v + eps)."""
    width = packed.shape[1]
    dim = width // pack
    for r in range(packed.shape[0]):
        row = packed[r]
        scale = (2.0 * gate / pack) * grad_features[r, width] / (_spread(row, pack, dim) + eps)
        for j in range(dim):
            mean = _coordinate_mean(row, pack, dim, j)
            for k in range(pack):
                i = k * dim + j
                grad_packed[r, i] = grad_features[r, i] + scale * (row[i] - mean)


@njit
def pack_spread_tangent(packed, u, pack, eps, gate, out):
    """out (rows, pack d + 1) = [u, gate (2/pack) sum_k (x_k - xbar) . u_k / (v + eps)]: the forward's
    derivative at the packs ``packed`` (rows, pack d) in the direction u (rows, pack d), as
    nn/pack_spread.py's ``tangent``; what carries the R1 penalty's adjoint through the feature."""
    width = packed.shape[1]
    dim = width // pack
    for r in range(packed.shape[0]):
        row = packed[r]
        total = 0.0
        for j in range(dim):
            mean = _coordinate_mean(row, pack, dim, j)
            for k in range(pack):
                i = k * dim + j
                total += (row[i] - mean) * u[r, i]
        out[r, :width] = u[r]
        out[r, width] = (2.0 * gate / pack) * total / (_spread(row, pack, dim) + eps)
