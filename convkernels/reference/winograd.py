"""Winograd F(m x m, 3 x 3) convolution: transform matrices and the pure-PyTorch algorithm.

Transforms (Lavin & Gray 2016, built by the modified Toom-Cook construction from a set of
interpolation points plus the point at infinity; alpha = m + 2 points):

* ``A^T`` [m, alpha]  output transform:  A^T[i, j] = p_j^i; the infinity column is e_{m-1}.
* ``G``   [alpha, 3]  filter transform:  G[j, k] = p_j^k / N_j, N_j = prod_{l != j} (p_j - p_l);
  the infinity row is [0, 0, 1].
* ``B^T`` [alpha, alpha] input transform: row j = coefficients of prod_{l != j} (x - p_l);
  the infinity row = coefficients of prod_l (x - p_l).

so that for one tile ``Y = A^T [(G g G^T) * (B^T d B)] A`` equals the m x m valid
correlation of the (m+2) x (m+2) patch ``d`` with the 3 x 3 filter ``g``. The matrices are
built exactly (``fractions.Fraction``) and the tests check the identity in float64.

Points (see docs/ops/winograd.md for the measured errors that chose them):

* F(2x2, 3x3): (0, 1, -1, inf), the standard set.
* F(4x4, 3x3): (0, 1, -1, 1/2, -1/2, inf) by default rather than the textbook
  (0, 1, -1, 2, -2, inf). On the real VGG-16 / ResNet-50 layers both give the same mean
  error in fp16/bf16 (measured, docs/ops/winograd.md); the half points win on range: the
  transformed input V = B^T d B grows by at most 9x |d| (100x with the +-2 points) and the
  output transform sums at most 25x |M| (361x), so fp16 V cannot overflow for activations
  below ~7000 (~650 with +-2): the fp16 stability that matters in a real network.

Numerics of :func:`winograd_conv2d` mirror the kernels exactly: the input and filter are
transformed in float32 (float64 stays float64), ``V`` and ``U`` are rounded once to the
input dtype (the operands a tensor core would read; float32 stays float32, TF32 off), the
per-point GEMM over C accumulates in float32, the output transform and the epilogue
(scale, shift, residual, ReLU) run in float32 and the result is rounded once.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from .._layout import output_memory_format

#: tile name -> output tile size m
TILES = {"winograd_2x2": 2, "winograd_4x4": 4}

#: the finite interpolation points of each point set (infinity is always added)
POINT_SETS = {
    "standard_2x2": (Fraction(0), Fraction(1), Fraction(-1)),
    "standard_4x4": (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2)),
    "half_4x4": (Fraction(0), Fraction(1), Fraction(-1), Fraction(1, 2), Fraction(-1, 2)),
}

#: the point set each tile size uses (the choice is measured in tests/test_winograd.py)
DEFAULT_POINTS = {2: "standard_2x2", 4: "half_4x4"}


def _poly_from_roots(roots: Sequence[Fraction]) -> list[Fraction]:
    """Coefficients (lowest degree first) of prod (x - r)."""
    coeffs = [Fraction(1)]
    for r in roots:
        nxt = [Fraction(0)] * (len(coeffs) + 1)
        for i, c in enumerate(coeffs):
            nxt[i + 1] += c
            nxt[i] -= r * c
        coeffs = nxt
    return coeffs


@functools.lru_cache(maxsize=None)
def transform_matrices(m: int, points: Optional[str] = None):
    """Exact (A^T, G, B^T) as nested lists of Fractions for F(m x m, 3 x 3)."""
    name = points or DEFAULT_POINTS[m]
    pts = POINT_SETS[name]
    alpha = m + 2
    if len(pts) != alpha - 1:
        raise ValueError(f"point set {name!r} has {len(pts)} finite points; F({m},3) needs "
                         f"{alpha - 1}")
    at = [[p ** i for p in pts] + [Fraction(int(i == m - 1))] for i in range(m)]
    g = []
    bt = []
    for j, p in enumerate(pts):
        others = [q for i, q in enumerate(pts) if i != j]
        norm = Fraction(1)
        for q in others:
            norm *= p - q
        g.append([p ** k / norm for k in range(3)])
        bt.append(_poly_from_roots(others) + [Fraction(0)])
    g.append([Fraction(0), Fraction(0), Fraction(1)])
    bt.append(_poly_from_roots(pts))
    return at, g, bt


def _build_matrices(m: int, points: Optional[str], dtype: torch.dtype):
    return tuple(torch.tensor([[float(v) for v in row] for row in mat], dtype=dtype)
                 for mat in transform_matrices(m, points))


# Built at import for the default points: torch.compile traces filter_transform, and Dynamo
# cannot trace the exact Fraction arithmetic that builds them (a cold cache inside a compiled
# region failed on the GPU machine); a dict lookup it traces as a constant.
_MATRICES = {(m, None, dtype): _build_matrices(m, None, dtype)
             for m in (2, 4) for dtype in (torch.float32, torch.float64)}


def _matrices(m: int, points: Optional[str], dtype: torch.dtype):
    key = (m, points, dtype)
    if key not in _MATRICES:
        _MATRICES[key] = _build_matrices(m, points, dtype)
    return _MATRICES[key]


def transform_tensors(m: int, points: Optional[str] = None, dtype=torch.float64,
                      device="cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(A^T, G, B^T) as tensors."""
    return tuple(t.to(device) for t in _matrices(m, points, dtype))


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def filter_transform(weight: torch.Tensor, m: int, points: Optional[str] = None
                     ) -> torch.Tensor:
    """U = G g G^T for every (k, c): weight [K, C, 3, 3] -> [alpha^2, K, C].

    Computed in float32 (float64 stays), rounded once to the weight's dtype: the layout
    the kernels read (C contiguous for the k-major B operand of the per-point GEMM).
    """
    acc = _compute_dtype(weight.dtype)
    _, g, _ = transform_tensors(m, points, acc, weight.device)
    u = torch.einsum("ar,kcrs,bs->abkc", g, weight.to(acc), g)
    alpha = m + 2
    return u.reshape(alpha * alpha, weight.shape[0], weight.shape[1]).to(weight.dtype).contiguous()


def tile_counts(P: int, Q: int, m: int) -> tuple[int, int]:
    """Tiles per image along H and W: ragged border tiles are computed whole and cropped."""
    return -(-P // m), -(-Q // m)


def input_chunk_channels(input_shape, K: int, P: int, Q: int, m: int,
                         dtype: torch.dtype) -> int:
    """Channels per slice of the transformed input V so that one slice (alpha^2 x tiles x
    slice, in the compute dtype) stays within 2 x (input + output) bytes."""
    N, C, H, W = input_shape
    alpha = m + 2
    TH, TW = tile_counts(P, Q, m)
    elt = torch.finfo(dtype).bits // 8
    io_bytes = (N * C * H * W + N * K * P * Q) * elt
    per_channel = alpha * alpha * N * TH * TW * (torch.finfo(_compute_dtype(dtype)).bits // 8)
    return max(1, min(C, 2 * io_bytes // max(per_channel, 1)))


def winograd_conv2d(input: torch.Tensor, transformed_weight: torch.Tensor,
                    scale: Optional[torch.Tensor], shift: Optional[torch.Tensor],
                    residual: Optional[torch.Tensor], padding: Sequence[int], m: int,
                    relu: bool, points: Optional[str] = None) -> torch.Tensor:
    """act(conv3x3(input) * scale + shift + residual) by Winograd F(m x m, 3 x 3).

    ``transformed_weight`` is :func:`filter_transform`'s [alpha^2, K, C]. Stride 1,
    dilation 1, groups 1. Output in the input's memory format.
    """
    N, C, H, W = input.shape
    alpha = m + 2
    K = transformed_weight.shape[1]
    ph, pw = padding
    P, Q = H + 2 * ph - 2, W + 2 * pw - 2
    if N * K * P * Q == 0:
        return input.new_empty((N, K, P, Q)).contiguous(memory_format=output_memory_format(input))
    TH, TW = tile_counts(P, Q, m)
    acc = _compute_dtype(input.dtype)
    at, _, bt = transform_tensors(m, points, acc, input.device)
    # Pad so every tile's patch is in range; the extra bottom/right zeros only feed the
    # cropped part of the ragged border tiles.
    xp = F.pad(input.to(acc), (pw, TW * m + 2 - W - pw, ph, TH * m + 2 - H - ph))
    d = xp.unfold(2, alpha, m).unfold(3, alpha, m)  # [N, C, TH, TW, alpha, alpha]
    # The transformed input V is built C-chunk by C-chunk so that it never exceeds
    # 2 x (input + output) bytes (the documented workspace bound), even for one huge image.
    tiles = N * TH * TW
    chunk = input_chunk_channels(input.shape, K, P, Q, m, input.dtype)
    u = transformed_weight.to(acc)  # [alpha^2, K, C]
    mm = None
    for c0 in range(0, C, chunk):
        v = torch.einsum("ai,ncyxij,bj->abnyxc", bt, d[:, c0:c0 + chunk], bt)
        v = v.reshape(alpha * alpha, tiles, -1)
        # The GEMM operands a tensor core reads: V and U in the input dtype, products
        # exact in float32, float32 accumulation.
        v = v.to(input.dtype).to(acc)
        part = torch.bmm(v, u[:, :, c0:c0 + chunk].transpose(1, 2))  # [alpha^2, tiles, K]
        mm = part if mm is None else mm + part
    mm = mm.reshape(alpha, alpha, N, TH, TW, K)
    y = torch.einsum("ia,abnyxk,jb->nkyixj", at, mm, at).reshape(N, K, TH * m, TW * m)
    y = y[:, :, :P, :Q]
    if scale is not None:
        y = y * scale.to(acc).view(1, -1, 1, 1)
    if shift is not None:
        y = y + shift.to(acc).view(1, -1, 1, 1)
    if residual is not None:
        y = y + residual.to(acc)
    if relu:
        y = torch.relu(y)
    return y.to(input.dtype).contiguous(memory_format=output_memory_format(input))
