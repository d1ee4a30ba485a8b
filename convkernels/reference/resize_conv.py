"""Reference resize-convolution: ``conv2d(interpolate(x, scale_factor=s, mode), w)`` and the
nearest-neighbour phase fold that lets the kernels skip the upsampled image.

The phase fold (one dimension; the two dimensions are independent). The high-resolution
image is ``u[Y] = x[Y // s]``; output row ``o`` of a conv with kernel ``k``, padding ``p`` and
stride ``t`` on ``u`` reads ``u[t*o + dy - p]`` for ``dy < k``, i.e. low-resolution rows
``(t*o + dy - p) // s``. Write ``g = gcd(s, t)``, ``L = s // g`` and ``o = rho + L*j``: then
``t*o = t*rho + (s*t/g)*j`` and the low-res row is ``d(rho, dy) + (t/g)*j`` with
``d(rho, dy) = (t*rho + dy - p) // s``. So the output rows of one residue class ``rho`` are a
plain conv over ``x`` with stride ``t/g`` and a *folded* kernel whose tap ``d - d0(rho)``
(``d0 = min_dy d``) is the sum of the original taps that land on the same low-res row.
Stride 1 gives the familiar ``L = s`` sub-pixel phases; stride ``t`` divisible by ``s``
leaves a single class (every output reads phase 0); in general only the ``L`` phases that
are multiples of ``g`` appear. Zero padding is exact: a high-res row is outside
``[0, s*H)`` iff its low-res row is outside ``[0, H)``, so padded taps become zero taps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from .conv import affine_epilogue


@dataclass(frozen=True)
class PhasePlan:
    """The nearest fold along one dimension (see the module docstring)."""

    classes: int  # L = s / gcd(s, stride): output residue classes
    low_stride: int  # stride / gcd(s, stride): stride of each class's conv on the input
    taps: int  # T: folded kernel extent (shared by every class; short classes get zero taps)
    first_row: tuple[int, ...]  # d0(rho): low-res row of tap 0 for class rho, output j = 0
    tap_of: tuple[tuple[int, ...], ...]  # tap_of[rho][dy]: folded tap of original tap dy


def phase_plan(scale: int, kernel: int, padding: int, stride: int) -> PhasePlan:
    g = math.gcd(scale, stride)
    classes, low_stride = scale // g, stride // g
    first, tap_of, taps = [], [], 1
    for rho in range(classes):
        rows = [(stride * rho + dy - padding) // scale for dy in range(kernel)]
        first.append(rows[0])
        tap_of.append(tuple(r - rows[0] for r in rows))
        taps = max(taps, rows[-1] - rows[0] + 1)
    return PhasePlan(classes, low_stride, taps, tuple(first), tuple(tap_of))


def output_size(size: int, scale: int, kernel: int, padding: int, stride: int) -> int:
    return (scale * size + 2 * padding - kernel) // stride + 1


def _tap_matrix(plan: PhasePlan, kernel: int, dtype, device) -> torch.Tensor:
    """[L, T, k] 0/1 matrix: row (rho, t) sums the original taps folded onto tap t."""
    m = torch.zeros(plan.classes, plan.taps, kernel, dtype=dtype, device=device)
    for rho, taps in enumerate(plan.tap_of):
        for dy, t in enumerate(taps):
            m[rho, t, dy] = 1
    return m


def fold_nearest_weight(weight: torch.Tensor, scale: int, padding: Sequence[int],
                        stride: Sequence[int]) -> torch.Tensor:
    """Phase-folded weight ``[Lh, Lw, K, C, Th, Tw]`` of a nearest-``scale`` resize-conv.

    Differentiable (an einsum with 0/1 matrices), so weight gradients flow through it. The
    sums run in float32 (float64 stays) and are rounded once to the weight's dtype; the
    storage is KRSC within each class (channels innermost), what the tensor-core kernels read.
    """
    K, C, kh, kw = weight.shape
    ph = phase_plan(scale, kh, padding[0], stride[0])
    pw = phase_plan(scale, kw, padding[1], stride[1])
    acc = torch.float64 if weight.dtype == torch.float64 else torch.float32
    mh = _tap_matrix(ph, kh, acc, weight.device)
    mw = _tap_matrix(pw, kw, acc, weight.device)
    folded = torch.einsum("atr,bus,kcrs->abktuc", mh, mw, weight.to(acc))
    return folded.to(weight.dtype).contiguous().permute(0, 1, 2, 5, 3, 4)


def resize_conv2d_fused(input: torch.Tensor, weight: torch.Tensor,
                        scale: Optional[torch.Tensor], shift: Optional[torch.Tensor],
                        scale_factor: int, mode: str, padding: Sequence[int],
                        stride: Sequence[int], align_corners: bool,
                        relu: bool) -> torch.Tensor:
    """act(conv2d(interpolate(input), weight) * scale + shift): the unfused composition.

    This is what a user writes (and the torch backend runs): it materializes the
    upsampled image. ``align_corners`` only matters for bilinear.
    """
    up = F.interpolate(input, scale_factor=scale_factor, mode=mode,
                       align_corners=align_corners if mode == "bilinear" else None)
    y = F.conv2d(up, weight, None, stride, padding)
    return affine_epilogue(y, input, scale, shift, None, relu)


def _class_windows(plan: PhasePlan, size: int, out: int):
    """Per class: (first low-res row, output count, rows of input it spans)."""
    wins = []
    for rho in range(plan.classes):
        n = max(0, -(-(out - rho) // plan.classes))
        span = plan.low_stride * (n - 1) + plan.taps if n else 0
        wins.append((plan.first_row[rho], n, span))
    lo = min([0] + [d for d, n, _ in wins if n])
    hi = max([size] + [d + span for d, n, span in wins if n])
    return wins, -lo, hi - size


def nearest_folded_conv2d(input: torch.Tensor, folded: torch.Tensor,
                          scale: Optional[torch.Tensor], shift: Optional[torch.Tensor],
                          scale_factor: int, padding: Sequence[int], stride: Sequence[int],
                          kernel_size: Sequence[int], relu: bool) -> torch.Tensor:
    """The folded formulation in aten ops: one low-res conv per output residue class.

    Equal to :func:`resize_conv2d_fused` in mode "nearest" (up to the summation order of
    the folded taps); it is what tests check the fold against and what the nearest
    primitives' backward differentiates.
    """
    N, _, H, W = input.shape
    K = folded.shape[2]
    P = output_size(H, scale_factor, kernel_size[0], padding[0], stride[0])
    Q = output_size(W, scale_factor, kernel_size[1], padding[1], stride[1])
    ph = phase_plan(scale_factor, kernel_size[0], padding[0], stride[0])
    pw = phase_plan(scale_factor, kernel_size[1], padding[1], stride[1])
    rows, top, bottom = _class_windows(ph, H, P)
    cols, left, right = _class_windows(pw, W, Q)
    xp = F.pad(input, (left, right, top, bottom))
    out = input.new_zeros((N, K, P, Q))
    for a, (dh, nh, span_h) in enumerate(rows):
        for b, (dw, nw, span_w) in enumerate(cols):
            if nh == 0 or nw == 0:
                continue
            window = xp[:, :, dh + top:dh + top + span_h, dw + left:dw + left + span_w]
            out[:, :, a::ph.classes, b::pw.classes] = F.conv2d(
                window, folded[a, b], None, (ph.low_stride, pw.low_stride))
    return affine_epilogue(out, input, scale, shift, None, relu)


def nearest_folded_conv2d_backward(grad: torch.Tensor, input: torch.Tensor,
                                   folded: torch.Tensor, scale_factor: int,
                                   padding: Sequence[int], stride: Sequence[int],
                                   kernel_size: Sequence[int], need_input: bool,
                                   need_weight: bool):
    """Gradients of :func:`nearest_folded_conv2d` (no epilogue) w.r.t. input and folded
    weight, one ``aten.convolution_backward`` per residue class (cuDNN on a GPU): the
    low-resolution formulation, no upsampled tensor and 1/s^2-ish of the high-res FLOPs."""
    N, _, H, W = input.shape
    P, Q = grad.shape[2], grad.shape[3]
    ph = phase_plan(scale_factor, kernel_size[0], padding[0], stride[0])
    pw = phase_plan(scale_factor, kernel_size[1], padding[1], stride[1])
    rows, top, bottom = _class_windows(ph, H, P)
    cols, left, right = _class_windows(pw, W, Q)
    xp = F.pad(input, (left, right, top, bottom))
    grad_xp = torch.zeros_like(xp) if need_input else None
    grad_folded = torch.zeros(folded.shape, dtype=folded.dtype,
                              device=folded.device) if need_weight else None
    for a, (dh, nh, span_h) in enumerate(rows):
        for b, (dw, nw, span_w) in enumerate(cols):
            if nh == 0 or nw == 0:
                continue
            hs = slice(dh + top, dh + top + span_h)
            ws = slice(dw + left, dw + left + span_w)
            gy = grad[:, :, a::ph.classes, b::pw.classes].contiguous()
            gx, gw, _ = torch.ops.aten.convolution_backward(
                gy, xp[:, :, hs, ws], folded[a, b], None, [ph.low_stride, pw.low_stride],
                [0, 0], [1, 1], False, [0, 0], 1, [need_input, need_weight, False])
            if need_input:
                grad_xp[:, :, hs, ws] += gx
            if need_weight:
                grad_folded[a, b] = gw
    grad_x = grad_xp[:, :, top:top + H, left:left + W] if need_input else None
    return grad_x, grad_folded
